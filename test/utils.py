"""Shared test helpers: sample speech, golden hidden states, padding checks."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
import torch

from s3prl.util.audio import load_audio, sample_speech_files


def optional_import(name: str):
    """The module ``name``, or ``None`` when it is not installed (an optional test dependency)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def needs(name: str):
    """A per-test skip marker for an optional test dependency: only the tests that compare
    with it are skipped without it, never their module's other tests."""
    return pytest.mark.skipif(optional_import(name) is None, reason=f"{name} is not installed")


GOLDEN_DIR = Path(__file__).resolve().parent / "sample_hidden_states"


def sample_wavs() -> tuple[list[str], list[torch.Tensor]]:
    """The bundled sample speech as 16 kHz mono float32 tensors, sorted by name."""
    files = sample_speech_files()
    return [f.name for f in files], [load_audio(f) for f in files]


def assert_matches_golden(name: str, result: dict, atol: float = 1e-4) -> None:
    """Compare an ``extract_feat``-style result to ``sample_hidden_states/<name>.pt``.

    ``result`` has ``files`` (names) and ``hidden_states`` (per file, a list of
    ``(frames, dim)`` tensors, one per layer). Layer count and shapes must be
    exact; values within ``atol``.
    """
    path = GOLDEN_DIR / f"{name}.pt"
    assert path.is_file(), (
        f"no golden file {path}; generate it with utility/extract_feat.py (see README)"
    )
    golden = torch.load(path, weights_only=True)
    assert golden["files"] == result["files"]
    for fname, g_layers, r_layers in zip(golden["files"], golden["hidden_states"], result["hidden_states"]):
        assert len(g_layers) == len(r_layers), f"{name}/{fname}: layer count"
        for k, (g, r) in enumerate(zip(g_layers, r_layers)):
            assert g.shape == r.shape, f"{name}/{fname} layer {k}: {tuple(g.shape)} != {tuple(r.shape)}"
            diff = (g.float() - r.float().cpu()).abs().max().item()
            assert diff <= atol, f"{name}/{fname} layer {k}: max abs diff {diff:.3g} > {atol}"


def assert_padding_invariant(model, wavs: list[torch.Tensor], atol: float = 1e-4) -> float:
    """Each wav alone and inside the padded batch give the same valid frames;
    padded frames are zero. Returns the max abs difference."""
    model.eval()
    worst = 0.0
    # Test forward_padded on the mixed batch itself: switch regrouping off.
    saved = model.max_padding_waste
    model.max_padding_waste = None
    try:
        with torch.no_grad():
            batch = model(wavs)
    finally:
        model.max_padding_waste = saved
    with torch.no_grad():
        lens = batch["hidden_states_len"]
        assert lens.dtype == torch.long and lens.shape == (len(wavs),)
        assert batch["last_hidden_state"] is batch["hidden_states"][-1]
        for i, wav in enumerate(wavs):
            alone = model([wav])
            n = int(alone["hidden_states_len"][0])
            assert int(lens[i]) == n, f"wav {i}: {int(lens[i])} frames in batch, {n} alone"
            for k, (hb, ha) in enumerate(zip(batch["hidden_states"], alone["hidden_states"])):
                assert ha.shape[1] == n
                d = (hb[i, :n] - ha[0, :n]).abs().max().item()
                worst = max(worst, d)
                assert d <= atol, f"wav {i} layer {k}: batched vs alone max abs diff {d:.3g}"
                if hb.shape[1] > n:
                    assert hb[i, n:].abs().max().item() == 0.0, f"wav {i} layer {k}: padding not zero"
    return worst


def assert_same_hidden_states(model_a, model_b, wavs: list[torch.Tensor]) -> None:
    """Two upstreams give bit-identical outputs on ``wavs`` (e.g. a checkpoint loaded
    through its ``_url`` entry and through its ``_local`` entry): same frame counts,
    same number of hidden states, ``torch.equal`` tensors (no tolerance)."""
    with torch.no_grad():
        a, b = model_a(wavs), model_b(wavs)
    assert torch.equal(a["hidden_states_len"], b["hidden_states_len"])
    assert len(a["hidden_states"]) == len(b["hidden_states"]), "number of hidden states"
    for k, (x, y) in enumerate(zip(a["hidden_states"], b["hidden_states"])):
        assert x.shape == y.shape, f"hidden state {k}: {tuple(x.shape)} != {tuple(y.shape)}"
        assert torch.equal(x, y), f"hidden state {k} differs (max abs diff {(x - y).abs().max().item():.3g})"


def mixed_length_wavs(seed: int = 0, seconds=(0.5, 10.0, 3.2)) -> list[torch.Tensor]:
    """Seeded noise-like 'speech' of the given durations at 16 kHz."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(int(s * 16000), generator=gen) * 0.1 for s in seconds]


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")
