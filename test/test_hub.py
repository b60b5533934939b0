"""Hub discovery and verbs: s3prl.hub, the root hubconf.py, torch.hub.load(source="local").

Every check iterates over the entries present at run time, so it stays valid as
upstreams are added. The import time of ``import s3prl.hub`` over ``import torch``
is measured in fresh interpreters and printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import subprocess
import sys
import textwrap
import types
import uuid
from pathlib import Path

import pytest
import torch

import s3prl.hub as hub
from s3prl.util.registry import EntryInfo

REPO_DIR = Path(__file__).resolve().parents[1]
UPSTREAM_DIR = REPO_DIR / "s3prl" / "upstream"
VERBS = [
    "options",
    "help",
    "load",
    "get_dir",
    "set_dir",
    "download_url_to_file",
    "load_state_dict_from_url",
]
HEAVY = [
    "transformers",
    "tensorboard",
    "tensorboardX",
    "yaml",
    "requests",
    "filelock",
    "tqdm",
    "soundfile",
    "scipy",
    "librosa",
    "soxr",
    "fairseq",
    "omegaconf",
]


def _declared_entries() -> set:
    """Union of ``__all__`` of every s3prl/upstream/*/hubconf.py, read statically (ast)."""
    names: set = set()
    for path in sorted(UPSTREAM_DIR.glob("*/hubconf.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = [
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ]
        assert len(found) == 1, f"{path} must assign __all__ exactly once"
        names |= set(ast.literal_eval(found[0]))
    return names


def _root_hubconf():
    spec = importlib.util.spec_from_file_location(f"_root_hubconf_{uuid.uuid4().hex}", REPO_DIR / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torch_hub_list(module) -> list:
    """What ``torch.hub.list`` shows for a hubconf module (torch/hub.py's rule)."""
    return sorted(f for f in dir(module) if callable(getattr(module, f)) and not f.startswith("_"))


# ----------------------------------------------------------------------------------------------
# entries


def test_options_are_exactly_the_declared_entries_sorted():
    names = hub.options()
    assert names == sorted(names) and len(names) == len(set(names))
    assert set(names) == _declared_entries()
    assert "example" in names
    for name in names:
        assert not name.startswith("_")
        assert name not in VERBS
        fn = getattr(hub, name)
        assert isinstance(fn, types.FunctionType), f"{name} is not an entry function"


def test_no_helper_leaks_from_hubconf_modules():
    entries = set(hub.options())
    for path in sorted(UPSTREAM_DIR.glob("*/hubconf.py")):
        module = importlib.import_module(f"s3prl.upstream.{path.parent.name}.hubconf")
        public = set(module.__all__)
        helpers = {n for n in vars(module) if not n.startswith("_") and n not in public}
        assert not (helpers & entries), f"{module.__name__} helpers listed as entries: {helpers & entries}"
    for leak in ["Path", "FileLock", "entry", "torch", "os", "annotations", "VERBS"]:
        assert leak not in entries


def test_every_entry_has_registry_info_and_a_full_docstring():
    problems = []
    for name in hub.options():
        fn = getattr(hub, name)
        doc = fn.__doc__ or ""
        if not isinstance(getattr(fn, "info", None), EntryInfo):
            problems.append(f"{name}: not decorated with @entry")
        if not doc.strip():
            problems.append(f"{name}: empty docstring")
            continue
        low = doc.lower()
        for fact in ("stride", "hidden size", "hidden states"):
            if fact not in low:
                problems.append(f"{name}: docstring does not give the {fact}")
        assert hub.help(name).startswith(doc.rstrip("\n"))
    assert not problems, "\n".join(problems)


def test_options_wildcards():
    names = hub.options()
    assert hub.options("*") == names
    assert hub.options("example") == ["example"]
    assert hub.options("exampl?") == ["example"]
    assert hub.options("ex*") == [n for n in names if n.startswith("ex")]
    assert hub.options("*_local") == [n for n in names if n.endswith("_local")]
    assert hub.options("[e]xample") == ["example"]
    assert hub.options("no_such_entry_*") == []
    with pytest.raises(TypeError, match="pattern"):
        hub.options(3)


def test_verbs_exist_and_are_not_entries():
    for verb in VERBS:
        assert callable(getattr(hub, verb)), verb
        assert verb not in hub.options()
    assert hub.download_url_to_file.__module__ == "s3prl.util.download"
    params = inspect.signature(hub.download_url_to_file).parameters
    assert list(params)[:4] == ["url", "dst", "hash_prefix", "progress"]
    assert params["hash_prefix"].default is None and params["progress"].default is True


def test_unknown_entry_lists_close_names():
    with pytest.raises(ValueError) as info:
        hub.load("exampel")
    assert "'exampel'" in str(info.value) and "example" in str(info.value)
    with pytest.raises(ValueError, match="example"):
        hub.help("Example")
    with pytest.raises(ValueError, match="unknown upstream entry 'zzzzzz'"):
        hub.load("zzzzzz")
    with pytest.raises(TypeError, match="str"):
        hub.load(None)


def test_load_passes_options():
    model = hub.load("example", hidden_size=8, seed=3)
    assert model.hidden_sizes == [8, 8, 8]
    with pytest.raises(TypeError, match="unexpected"):
        hub.load("example", no_such_option=1)


def test_get_dir_and_set_dir(tmp_path, monkeypatch):
    from s3prl.util import download

    monkeypatch.setattr(download, "_dir_override", None)
    monkeypatch.delenv("S3PRL_CACHE")
    hub.set_dir(tmp_path / "hubcache")
    assert hub.get_dir() == tmp_path / "hubcache"
    assert download.cache_path_for_url("http://x/y.pt").parent == tmp_path / "hubcache" / "download"
    monkeypatch.setenv("S3PRL_CACHE", str(tmp_path / "env"))
    assert hub.get_dir() == tmp_path / "env"


# ----------------------------------------------------------------------------------------------
# root hubconf and torch.hub


def test_root_hubconf_lists_exactly_the_entries():
    module = _root_hubconf()
    assert _torch_hub_list(module) == hub.options()
    assert isinstance(module.dependencies, list) and "torch" in module.dependencies
    for dep in module.dependencies:
        assert importlib.util.find_spec(dep) is not None, dep
    for name in hub.options():
        assert getattr(module, name) is getattr(hub, name)
        # torch.hub.help prints the docstring; ours adds the Code: section after it
        assert hub.help(name).startswith(getattr(module, name).__doc__.rstrip("\n"))
    for verb in VERBS:
        assert verb not in _torch_hub_list(module)


def test_torch_hub_load_local_returns_the_model():
    wav = torch.randn(16000, generator=torch.Generator().manual_seed(0))
    model = torch.hub.load(str(REPO_DIR), "example", source="local", hidden_size=12)
    assert isinstance(model, torch.nn.Module) and model.hidden_sizes == [12] * 3
    direct = hub.load("example", hidden_size=12)
    with torch.no_grad():
        a, b = model([wav]), direct([wav])
    assert len(a["hidden_states"]) == 3 and a["hidden_states"][0].shape == (1, 98, 12)
    for x, y in zip(a["hidden_states"], b["hidden_states"]):
        assert torch.equal(x, y)
    with pytest.raises(RuntimeError, match="Cannot find callable"):
        torch.hub.load(str(REPO_DIR), "options", source="local")


# ----------------------------------------------------------------------------------------------
# discovery rules (on a throw-away package, not the real tree)


def _fake_upstreams(tmp_path, monkeypatch, hubconfs: dict) -> tuple:
    pkg = f"fakehub_{uuid.uuid4().hex[:8]}"
    root = tmp_path / pkg
    (root / "upstream").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "upstream" / "__init__.py").write_text("")
    for folder, src in hubconfs.items():
        (root / "upstream" / folder).mkdir()
        (root / "upstream" / folder / "__init__.py").write_text("")
        (root / "upstream" / folder / "hubconf.py").write_text(textwrap.dedent(src))
    (root / "upstream" / "no_hubconf_here").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    return root / "upstream", f"{pkg}.upstream"


GOOD = """
    from pathlib import Path
    __all__ = ["alpha", "beta"]
    def alpha():
        "alpha entry"
    def beta():
        "beta entry"
    def helper():
        return Path(".")
    _private = alpha
"""


def test_discovery_takes_only_all(tmp_path, monkeypatch):
    upstream, package = _fake_upstreams(tmp_path, monkeypatch, {"a": GOOD, "b": '__all__ = ["gamma"]\ndef gamma(): pass\n'})
    entries = hub._discover(upstream, package)
    assert sorted(entries) == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize(
    "src, message",
    [
        ("def alpha(): pass\n", "must define __all__"),
        ('__all__ = ["_hidden"]\ndef _hidden(): pass\n', "private name '_hidden'"),
        ('__all__ = ["load"]\ndef load(): pass\n', "'load', which is a hub verb"),
        ('__all__ = ["missing"]\n', "'missing', which the module does not define"),
        ('__all__ = ["K"]\nK = 3\n', "'K', which is not an entry function"),
        ('__all__ = ["alpha"]\ndef alpha(): pass\n', "defined twice"),
    ],
)
def test_discovery_rejects_bad_hubconfs(tmp_path, monkeypatch, src, message):
    upstream, package = _fake_upstreams(tmp_path, monkeypatch, {"a": GOOD, "z": src})
    with pytest.raises(ImportError, match=message):
        hub._discover(upstream, package)


# ----------------------------------------------------------------------------------------------
# import cost




def _fresh_python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_DIR, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO_DIR)},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_s3prl_hub_is_light():
    """What ``import s3prl.hub`` loads, exactly (deterministic; the import time itself is a
    benchmark, ``benchmarks/bench_import.py``, target <= 0.3 s over ``import torch``): the hub,
    the registry and download helpers, each family's package and ``hubconf`` (no model code),
    and otherwise only the standard library."""
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import s3prl.hub\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    mods = json.loads(_fresh_python(code).strip().splitlines()[-1])
    families = sorted(p.parent.name for p in (REPO_DIR / "s3prl" / "upstream").glob("*/hubconf.py"))
    expected = {"s3prl", "s3prl.hub", "s3prl.upstream", "s3prl.util", "s3prl.util.registry",
                "s3prl.util.download"}
    expected |= {f"s3prl.upstream.{f}" for f in families}
    expected |= {f"s3prl.upstream.{f}.hubconf" for f in families}
    ours = {m for m in mods if m.split(".")[0] == "s3prl"}
    assert sorted(ours - expected) == [], "import s3prl.hub loads more of s3prl"
    assert sorted(expected - ours) == [], "a family's hubconf was not imported"
    others = sorted(m for m in mods if m.split(".")[0] != "s3prl"
                    and m.split(".")[0].lstrip("_") not in sys.stdlib_module_names
                    and m.split(".")[0] not in sys.stdlib_module_names)
    assert others == [], f"import s3prl.hub imports non-standard-library modules: {others}"
    heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert heavy == [] and "torch" not in mods and "numpy" not in mods


def test_help_names_family_entry_and_model_code():
    """hub.help(name) leads from a name to the files: family, entry function, model module."""
    text = hub.help("vq_apc_360hr")
    code = text[text.index("    Code:"):]
    assert "    family: vq_apc\n" in code
    assert "s3prl.upstream.vq_apc.hubconf.vq_apc_360hr (" in code
    assert str(REPO_DIR / "s3prl" / "upstream" / "vq_apc" / "hubconf.py") in code
    # VQ-APC runs APC's model code
    assert f"model code: s3prl.upstream.apc.expert ({REPO_DIR / 's3prl' / 'upstream' / 'apc' / 'expert.py'})" in code
    assert "family: hf" in hub.help("hf_custom") and "s3prl.upstream.hf.expert" in hub.help("hf_custom")
    for name in hub.options():
        lines = dict(row.strip().split(": ", 1) for row in hub.help(name).split("    Code:\n")[1].splitlines())
        assert lines["family"] == getattr(hub, name).info.family, name
        entry_file, entry_line = lines["entry"].split(" (")[1].rstrip(")").split(", line ")
        assert Path(entry_file).is_file() and f"def {name}(" in Path(entry_file).read_text().splitlines()[
            int(entry_line) - 1 + _decorator_lines(Path(entry_file), int(entry_line))], name
        model_module, model_file = lines["model code"].rstrip(")").split(" (")
        assert Path(model_file).is_file(), name
        assert Path(model_file).with_suffix("").parts[-4:] == tuple(model_module.split(".")), name


def _decorator_lines(path: Path, line: int) -> int:
    """Lines of decorators from ``line`` (1-based) to the ``def`` of the entry."""
    lines = path.read_text().splitlines()
    n = 0
    while not lines[line - 1 + n].lstrip().startswith("def "):
        n += 1
    return n
