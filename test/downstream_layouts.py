"""Helpers for the downstream task tests: real speech clips and tiny dataset layouts."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from s3prl.util.audio import SAMPLE_SPEECH_DIR

REPO = Path(__file__).resolve().parents[1]
LIBRI_10SPK = REPO / "sample_data" / "librispeech-10spk"
_SOURCES = [
    SAMPLE_SPEECH_DIR / "librispeech_3005-163389-0007.flac",
    SAMPLE_SPEECH_DIR / "librispeech_3331-159605-0004.flac",
    SAMPLE_SPEECH_DIR / "commonvoice_fr_17299458.wav",
]


def _speech() -> np.ndarray:
    parts = [sf.read(str(p), dtype="int16")[0] for p in _SOURCES]
    return np.concatenate(parts)


class Clips:
    """Consecutive windows of real 16 kHz speech (the bundled sample speech), as int16."""

    def __init__(self):
        self.audio = _speech()
        self.pos = 0

    def next(self, samples: int) -> np.ndarray:
        if self.pos + samples > len(self.audio):
            self.pos = 0
        clip = self.audio[self.pos : self.pos + samples]
        self.pos += samples // 3 + 1
        return clip

    def write(self, path: Path, seconds: float) -> Path:
        """Write a 16 kHz PCM16 wav of ``seconds`` of real speech at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), self.next(int(seconds * 16000)), 16000, subtype="PCM_16")
        return path


def task_config(task: str, **datarc) -> dict:
    """The task's shipped ``downstream_expert`` section with ``datarc`` entries replaced."""
    path = REPO / "s3prl" / "downstream" / task / "config.yaml"
    conf = yaml.safe_load(path.read_text())["downstream_expert"]
    conf["datarc"].update({"num_workers": 0, **datarc})
    conf["modelrc"]["projector_dim"] = 8
    return conf


class Logger:
    """SummaryWriter-like: keeps ``{tag: (value, step)}``."""

    def __init__(self):
        self.values = {}

    def add_scalar(self, tag, value, global_step=None):
        self.values[tag] = (value, global_step)


def records() -> collections.defaultdict:
    return collections.defaultdict(list)


def force_prediction(expert, bias) -> None:
    """Make the expert's head output ``bias`` for every utterance (zero weights)."""
    import torch

    linear = expert.head.model.linear
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
