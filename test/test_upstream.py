"""Golden hidden states on the bundled real speech, for every upstream the suite can run.

* every offline entry (no checkpoint needed: baseline features, ``example``; the rule is
  :func:`test.regenerate_goldens.is_offline`) against ``sample_hidden_states/<entry>.pt``;
* every checkpoint builder (``test/checkpoint_builders/*.py``, ``BUILDERS = {golden: fn}``):
  the seeded checkpoint is rebuilt in its official layout, loaded through the hub, and
  compared to ``sample_hidden_states/<golden>.pt``.

Always compared numerically (atol 1e-4; layer count and shapes exact). Regenerate with
``python -m test.regenerate_goldens NAME`` only when a change is meant to change the numbers.

``S3PRL_TEST_NETWORK=1`` (``tox -e slow``) also downloads every official checkpoint.
"""

from __future__ import annotations

import os

import pytest
import torch

import s3prl.hub as hub
from s3prl.util.audio import sample_speech_files
from test.regenerate_goldens import (
    GOLDEN_DIR,
    build_model,
    collect_builders,
    golden_result,
    offline_entries,
)
from test.utils import assert_matches_golden, env_flag, sample_wavs

OFFLINE = offline_entries()
BUILDERS, BUILDER_ERRORS = collect_builders()


def test_offline_rule_finds_the_example():
    assert "example" in OFFLINE
    # entries that need a checkpoint argument are never offline
    assert not [n for n in OFFLINE if n.endswith(("_local", "_url", "_custom"))]


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_entry_matches_golden(name):
    model = hub.load(name).eval()
    assert_matches_golden(name, golden_result(model))


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_entry_metadata_matches_registry(name):
    """The facts on the generated docs page are those of the model."""
    info = getattr(hub, name).info
    model = hub.load(name)
    if info.layers is not None:
        assert model.num_layers == info.layers
    if info.hidden_size is not None:
        assert model.hidden_sizes[-1] == info.hidden_size
    if info.stride is not None:
        assert model.downsample_rate == info.stride
    golden = torch.load(GOLDEN_DIR / f"{name}.pt", weights_only=True)
    assert golden["downsample_rate"] == model.downsample_rate
    assert [h.shape[1] for h in golden["hidden_states"][0]] == list(model.hidden_sizes)


def test_builder_modules_import():
    """Every test/checkpoint_builders/*.py imports and exposes a valid BUILDERS dict."""
    assert not BUILDER_ERRORS, "\n".join(f"{m} cannot be used:\n{e}" for m, e in BUILDER_ERRORS.items())


@pytest.mark.parametrize("golden", sorted(BUILDERS))
def test_checkpoint_builder_matches_golden(golden, tmp_path):
    _, fn = BUILDERS[golden]
    entry_name, model = build_model(fn, tmp_path)
    assert entry_name in hub.options()
    # the entry's registry facts hold for the model it built (reduced sizes: only the
    # facts an entry declares for any checkpoint, e.g. the stride of a _local entry)
    info = getattr(hub, entry_name).info
    if info.stride is not None:
        assert model.downsample_rate == info.stride
    if info.layers is not None:
        assert model.num_layers == info.layers
    if info.hidden_size is not None:
        assert model.hidden_sizes[-1] == info.hidden_size
    assert_matches_golden(golden, golden_result(model))


def test_golden_files_have_a_source():
    """Every golden file is regenerable: it belongs to an offline entry or a builder."""
    sources = set(OFFLINE) | set(BUILDERS)
    orphans = sorted(p.stem for p in GOLDEN_DIR.glob("*.pt") if p.stem not in sources)
    if BUILDER_ERRORS:
        pytest.skip("a builder module failed to import (reported separately)")
    assert not orphans, f"golden files without an offline entry or builder: {orphans}"


def test_golden_files_are_small():
    big = {p.name: p.stat().st_size for p in GOLDEN_DIR.glob("*.pt") if p.stat().st_size > 2_000_000}
    assert not big, f"golden files over 2 MB (use reduced model sizes): {big}"


NETWORK_ENTRIES = [n for n in hub.options() if getattr(getattr(hub, n), "info", None) and getattr(hub, n).info.ckpt]


@pytest.mark.slow
@pytest.mark.parametrize("name", NETWORK_ENTRIES)
def test_official_checkpoint(name, monkeypatch):
    """Download the official checkpoint and check the registry facts (network: tox -e slow)."""
    if not env_flag("S3PRL_TEST_NETWORK"):
        pytest.skip("set S3PRL_TEST_NETWORK=1 to download official checkpoints")
    cache = os.environ.get("S3PRL_TEST_CACHE")
    if cache:
        monkeypatch.setenv("S3PRL_CACHE", cache)
    info = getattr(hub, name).info
    model = hub.load(name).eval()
    names, wavs = sample_wavs()
    with torch.no_grad():
        out = model(wavs)
    assert len(out["hidden_states"]) == model.num_layers
    if info.layers is not None:
        assert model.num_layers == info.layers
    if info.hidden_size is not None:
        assert out["hidden_states"][-1].shape[-1] == info.hidden_size
    if info.stride is not None:
        assert model.downsample_rate == info.stride
    for i, wav in enumerate(wavs):
        n = int(out["hidden_states_len"][i])
        assert abs(n - wav.numel() / model.downsample_rate) <= 3, (names[i], n)
        assert all(torch.isfinite(h[i, :n]).all() for h in out["hidden_states"])
    assert len(sample_speech_files()) == len(wavs)
