"""Regenerate the golden hidden states in ``test/sample_hidden_states/``.

    python -m test.regenerate_goldens            # every offline entry and every checkpoint builder
    python -m test.regenerate_goldens fbank mfcc # only these golden names
    python -m test.regenerate_goldens --list     # what exists, and where each golden comes from

Two kinds of golden files, both written through ``utility/extract_feat.py``'s code path
(:func:`s3prl.extract.extract_sample_speech`, i.e. :func:`s3prl.util.extract.hidden_states_of_files`
on the bundled sample speech):

* offline entries: every entry that needs no checkpoint (see :func:`offline_entries`);
  golden ``<entry>.pt``;
* checkpoint builders: ``test/checkpoint_builders/<family>.py`` modules expose
  ``BUILDERS = {golden_name: fn}`` with ``fn(dst_dir: Path) -> (entry_name, ckpt_path)``
  writing a seeded, reduced-size checkpoint in the official layout; golden ``<golden_name>.pt``.

Regenerate only when a change is *meant* to change the numbers (a fixed bug, a corrected
feature setting), say so and why in the commit message, and never to make a failing test
pass. The script prints the max abs difference against the previous golden for the commit.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

import torch

TEST_DIR = Path(__file__).resolve().parent
GOLDEN_DIR = TEST_DIR / "sample_hidden_states"
BUILDERS_DIR = TEST_DIR / "checkpoint_builders"


def is_offline(fn: Callable) -> bool:
    """An entry runs offline when it has no official checkpoint (``fn.info.ckpt == ""``) and
    can be called with no argument (so ``*_local`` / ``*_url`` / ``*_custom`` entries, which
    require ``ckpt`` or a config path, are excluded)."""
    info = getattr(fn, "info", None)
    if info is None or info.ckpt:
        return False
    for p in inspect.signature(fn).parameters.values():
        if p.default is inspect.Parameter.empty and p.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            return False
    return True


def offline_entries() -> list[str]:
    """Sorted names of the entries that run without any checkpoint (see :func:`is_offline`)."""
    import s3prl.hub as hub

    return [name for name in hub.options() if is_offline(getattr(hub, name))]


def builder_modules() -> list[str]:
    """Module names of ``test/checkpoint_builders/*.py`` (``__init__`` and ``_private`` excluded)."""
    if not BUILDERS_DIR.is_dir():
        return []
    return [
        f"test.checkpoint_builders.{p.stem}"
        for p in sorted(BUILDERS_DIR.glob("*.py"))
        if not p.stem.startswith("_")
    ]


def collect_builders() -> tuple[dict[str, tuple[str, Callable]], dict[str, str]]:
    """Import every builder module.

    Returns:
        ``(builders, errors)``: ``builders[golden_name] = (module, fn)``; ``errors[module]`` is
        the traceback of a module that failed to import, has no ``BUILDERS`` dict, or reuses a
        golden name already taken (by another module or an offline entry).
    """
    builders: dict[str, tuple[str, Callable]] = {}
    errors: dict[str, str] = {}
    offline = set(offline_entries())
    for mod_name in builder_modules():
        try:
            module = importlib.import_module(mod_name)
            table = getattr(module, "BUILDERS", None)
            if not isinstance(table, dict):
                raise TypeError(f"{mod_name} must define BUILDERS = {{golden_name: fn(dst_dir)}}")
            for golden, fn in table.items():
                if golden in builders or golden in offline:
                    other = builders[golden][0] if golden in builders else "an offline entry"
                    raise ValueError(f"golden name {golden!r} of {mod_name} is also used by {other}")
                if not callable(fn):
                    raise TypeError(f"{mod_name}.BUILDERS[{golden!r}] is not callable")
                builders[golden] = (mod_name, fn)
        except Exception:  # noqa: BLE001 - reported by the test for that module
            errors[mod_name] = traceback.format_exc()
    return builders, errors


def build_model(fn: Callable, dst_dir: Path):
    """Run a builder and load its checkpoint through the hub: returns ``(entry_name, model)``."""
    import s3prl.hub as hub

    entry_name, ckpt = fn(Path(dst_dir))
    return entry_name, hub.load(entry_name, ckpt=str(ckpt))


def golden_result(model) -> dict:
    """The golden content for ``model``: hidden states of the bundled sample speech."""
    from s3prl.util.audio import sample_speech_files
    from s3prl.util.extract import hidden_states_of_files

    return hidden_states_of_files(model.eval(), sample_speech_files())


def _max_diff(old: dict, new: dict) -> str:
    if old.get("files") != new.get("files"):
        return "files changed"
    worst = 0.0
    for a_layers, b_layers in zip(old["hidden_states"], new["hidden_states"]):
        if len(a_layers) != len(b_layers):
            return f"layer count {len(a_layers)} -> {len(b_layers)}"
        for a, b in zip(a_layers, b_layers):
            if a.shape != b.shape:
                return f"shape {tuple(a.shape)} -> {tuple(b.shape)}"
            worst = max(worst, (a.float() - b.float()).abs().max().item())
    return f"max abs diff vs previous golden {worst:.3g}"


def regenerate(name: str, model) -> str:
    """Write ``GOLDEN_DIR/<name>.pt`` for ``model`` and describe the change."""
    from s3prl.extract import extract_sample_speech

    path = GOLDEN_DIR / f"{name}.pt"
    old = torch.load(path, weights_only=True) if path.is_file() else None
    extract_sample_speech(model.eval(), name, GOLDEN_DIR, overwrite=True, device="cpu")
    new = torch.load(path, weights_only=True)
    size = path.stat().st_size / 1e6
    return f"{path.relative_to(TEST_DIR.parent)} ({size:.2f} MB): " + (
        "new" if old is None else _max_diff(old, new)
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m test.regenerate_goldens", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help="golden names (default: all)")
    p.add_argument("--list", action="store_true", help="list the golden sources and exit")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    import s3prl.hub as hub

    offline = offline_entries()
    builders, errors = collect_builders()
    for mod_name, err in errors.items():
        print(f"error in {mod_name}:\n{err}", file=sys.stderr)
    if args.list:
        for name in offline:
            print(f"{name}: offline entry")
        for golden, (mod_name, _) in sorted(builders.items()):
            print(f"{golden}: {mod_name}")
        return 1 if errors else 0
    known = set(offline) | set(builders)
    wanted = args.names or sorted(known)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        print(f"unknown golden names {unknown}; known: {sorted(known)}", file=sys.stderr)
        return 2
    status = 1 if errors else 0
    for name in wanted:
        torch.manual_seed(0)  # as test/conftest.py does before every test
        try:
            if name in builders:
                with tempfile.TemporaryDirectory() as tmp:
                    _, model = build_model(builders[name][1], Path(tmp))
                    print(regenerate(name, model))
            else:
                print(regenerate(name, hub.load(name)))
        except Exception:  # noqa: BLE001 - report and go on with the others
            print(f"{name}: FAILED\n{traceback.format_exc()}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
