"""Hidden states of whole audio files (shared by ``utility/extract_feat.py`` and the tests)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from .audio import load_audio

__all__ = ["hidden_states_of_files"]


def hidden_states_of_files(
    model: torch.nn.Module,
    files: Sequence[str | os.PathLike],
    device: str | torch.device = "cpu",
    layers: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
) -> dict:
    """Run ``model`` on audio files (one padded batch) and cut each file's valid frames.

    Args:
        model: an upstream (``UpstreamBase``), already on ``device``.
        files: audio files; read as 16 kHz mono with :func:`load_audio`.
        device: where to run.
        layers: indices of the hidden states to keep (default: all).
        names: names to record for the files (default: the file names).

    Returns:
        A dict, the format of ``test/sample_hidden_states/<name>.pt``: ``files`` (the names),
        ``hidden_states`` (per file, a list with one ``(frames_i, dim)`` float32 CPU tensor
        per layer) and ``downsample_rate`` (int).
    """
    wavs = [load_audio(f).to(device) for f in files]
    model.eval()
    with torch.inference_mode():
        out = model(wavs)
    lens = out["hidden_states_len"].tolist()
    hs = out["hidden_states"]
    keep = range(len(hs)) if layers is None else layers
    per_file = [[hs[k][i, : lens[i]].float().cpu().clone() for k in keep] for i in range(len(wavs))]
    return {
        "files": list(names) if names is not None else [Path(f).name for f in files],
        "hidden_states": per_file,
        "downsample_rate": int(getattr(model, "downsample_rate", 0)),
    }
