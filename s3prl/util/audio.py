"""Audio reading for s3prl: ``soundfile`` to decode, ``soxr`` to resample."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["load_audio", "SAMPLE_SPEECH_DIR", "sample_speech_files"]

#: Real recorded speech shipped with the repository (see its README.md).
SAMPLE_SPEECH_DIR = Path(__file__).resolve().parents[2] / "sample_speech"


def sample_speech_files() -> list[Path]:
    """Sorted audio files of the bundled sample speech (``sample_speech/``)."""
    return sorted(
        p for p in SAMPLE_SPEECH_DIR.iterdir() if p.suffix.lower() in (".wav", ".flac")
    )


def load_audio(path: str | os.PathLike, sample_rate: int = 16000) -> torch.Tensor:
    """Read an audio file as a mono float32 waveform at ``sample_rate``.

    Multi-channel audio is mixed down by averaging the channels; other rates
    are resampled with ``soxr`` (high quality).

    Args:
        path: any format ``soundfile`` (libsndfile) reads: wav, flac, ogg, ...
        sample_rate: target rate in Hz (16000 for every upstream).

    Returns:
        1-D float32 tensor of samples in [-1, 1].

    Raises:
        RuntimeError: the file cannot be decoded (message names the file).
    """
    import soundfile as sf
    import soxr

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # noqa: BLE001 - libsndfile raises several types
        raise RuntimeError(f"cannot read audio file {path}: {err}") from err
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))
