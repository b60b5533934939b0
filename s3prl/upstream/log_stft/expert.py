"""STFT magnitude features (the ``stft_mag`` baseline of s3prl 0.4.18, ``upstream/log_stft``).

Per wav: ``|STFT|`` with a periodic Hann window of ``win_length`` samples, ``n_fft`` points,
``hop_length`` samples between frames, ``center=True`` (the wav is reflect-padded by
``n_fft // 2`` on both sides, so frame ``t`` is centred on sample ``t * hop_length`` and a
wav of ``L`` samples gives ``1 + L // hop_length`` frames), not normalised; optionally
``log(max(|X|, 1e-8))``. One hidden state of ``n_fft // 2 + 1`` bins.

Padding: the reflect padding at a wav's end reads that wav's own last samples, so each wav
is transformed on its own valid samples (a batched STFT over zero padding would differ in
the last frames).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import torch
from torch import Tensor

from s3prl.upstream.interface import UpstreamBase
from s3prl.util.yaml_file import read_yaml_mapping

__all__ = ["UpstreamExpert", "read_stft_config"]

_FIELDS = {"n_fft", "hop_length", "win_length", "window", "center", "log"}


def read_stft_config(model_config: str | os.PathLike | Mapping[str, Any]) -> dict:
    """Read an STFT config (s3prl 0.4.18 schema: ``{feat_type, spectrogram: {n_fft,
    hop_length, win_length, window, center, log}}``) from a yaml path or a mapping.

    Returns:
        the ``spectrogram`` section, validated.

    Raises:
        FileNotFoundError: no such yaml file.
        ValueError: missing / unknown fields, a window other than ``hann``,
            ``center: false`` (not supported), ``win_length > n_fft`` (the message
            names the file and the field).
    """
    where = "the config" if isinstance(model_config, Mapping) else str(model_config)
    model_config = read_yaml_mapping(model_config, "stft_mag: config file", "model_config")
    spec = model_config.get("spectrogram")
    if not isinstance(spec, Mapping):
        raise ValueError(f"stft_mag: {where} has no 'spectrogram' section")
    missing, unknown = _FIELDS - set(spec), set(spec) - _FIELDS
    if missing or unknown:
        raise ValueError(f"stft_mag: {where}: missing fields {sorted(missing)}, unknown fields {sorted(unknown)}")
    spec = dict(spec)
    if spec["window"] != "hann":
        raise ValueError(f"stft_mag: {where}: window {spec['window']!r} is not supported (only 'hann')")
    if not spec["center"]:
        raise ValueError(f"stft_mag: {where}: center: false is not supported")
    for k in ("n_fft", "hop_length", "win_length"):
        if not isinstance(spec[k], int) or spec[k] <= 0:
            raise ValueError(f"stft_mag: {where}: {k} must be a positive integer, got {spec[k]!r}")
    if spec["win_length"] > spec["n_fft"]:
        raise ValueError(f"stft_mag: {where}: win_length {spec['win_length']} > n_fft {spec['n_fft']}")
    return spec


class UpstreamExpert(UpstreamBase):
    """STFT magnitude upstream (no parameters).

    Args:
        model_config: yaml path or mapping, see :func:`read_stft_config`.

    Input: 1-D 16 kHz waveforms of at least ``n_fft // 2 + 1`` samples (reflect padding
    needs more samples than it pads). Output: one hidden state ``(batch, frames,
    n_fft // 2 + 1)``, ``frames = 1 + samples // hop_length``; stride ``hop_length``.
    """

    def __init__(self, model_config, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"stft_mag got unexpected options: {sorted(kwargs)}")
        self.spec = read_stft_config(model_config)
        self.n_fft, self.hop = self.spec["n_fft"], self.spec["hop_length"]
        self.register_buffer("window", torch.hann_window(self.spec["win_length"]), persistent=False)
        self.downsample_rate = self.hop
        self.receptive_field = self.n_fft // 2 + 1
        self.hidden_sizes = [self.n_fft // 2 + 1]

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) zero padded, ``wavs_len`` (batch,) -> ([(batch, frames,
        bins)], (batch,) frames)."""
        frames_len = 1 + torch.div(wavs_len, self.hop, rounding_mode="floor")
        out = wavs.new_zeros(wavs.size(0), int(frames_len.max()), self.hidden_sizes[0])
        for i, n in enumerate(wavs_len.tolist()):
            spec = torch.stft(
                wavs[i, :n].float(), n_fft=self.n_fft, hop_length=self.hop,
                win_length=self.spec["win_length"], window=self.window.float(), center=True,
                pad_mode="reflect", normalized=False, return_complex=True,
            ).abs().transpose(0, 1)
            if self.spec["log"]:
                spec = spec.clamp(min=1e-8).log()
            out[i, : spec.size(0)] = spec.to(out.dtype)
        return [out], frames_len
