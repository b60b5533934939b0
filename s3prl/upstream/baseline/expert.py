"""The baseline upstream: classic acoustic features as one hidden state.

Kaldi fbank / MFCC / spectrogram and log mel / log linear spectrograms, defined
by a yaml file with the fields of the original s3prl baseline
(``s3prl/upstream/baseline/*.yaml`` in https://github.com/s3prl/s3prl) and
computed in plain torch by :mod:`s3prl.upstream.baseline.features` on the
input's device, each wav on its own valid samples only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from s3prl.upstream.interface import UpstreamBase
from s3prl.util.yaml_file import read_yaml_mapping

from .features import FeatureExtractor

CONFIG_DIR = Path(__file__).resolve().parent


def load_feature_config(model_config: str | os.PathLike | Mapping[str, Any]) -> dict:
    """Read a baseline feature config: a yaml path, or an already parsed mapping.

    Raises:
        TypeError: ``model_config`` is neither a path nor a mapping.
        FileNotFoundError: the yaml file does not exist (names it).
        ValueError: the yaml cannot be parsed or is not a mapping (names the file).
    """
    return read_yaml_mapping(model_config, "baseline feature config", "model_config")


class UpstreamExpert(UpstreamBase):
    """Baseline acoustic features as an upstream with one hidden state.

    Args:
        model_config: path of a yaml feature config (or the parsed dict); see
            :func:`s3prl.upstream.baseline.features.check_feature_config` for
            the fields.
        compute_dtype: computation dtype (float64 by default for Kaldi-exact
            numbers; ``None``: the input's dtype). Output is float32 for
            float32 input.

    Input: list of 1-D float waveforms at 16 kHz (amplitude as given, no int16
    scaling), each at least :attr:`receptive_field` samples (400 for the Kaldi
    features, 201 for ``mel`` / ``linear``).

    Output: one hidden state ``(batch, frames, dim)``: ``frames = 1 + (T - 400) // 160``
    (Kaldi, snip edges) or ``1 + T // 160`` (centred STFT for ``mel`` /
    ``linear``).

    Raises:
        ValueError: unknown or missing config fields (named), bad values.
    """

    def __init__(
        self,
        model_config: str | os.PathLike | Mapping[str, Any],
        compute_dtype: torch.dtype | None = torch.float64,
        **kwargs,
    ):
        super().__init__()
        if kwargs:
            raise TypeError(f"baseline upstream got unexpected options: {sorted(kwargs)}")
        config = load_feature_config(model_config)
        where = model_config if not isinstance(model_config, Mapping) else "the config dict"
        try:
            self.extracter = FeatureExtractor(config, compute_dtype=compute_dtype)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from err
        self.config = config
        self.downsample_rate = self.extracter.downsample_rate
        self.receptive_field = self.extracter.receptive_field
        self.hidden_sizes = [self.extracter.output_dim]

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs``: (batch, samples), ``wavs_len``: (batch,) -> [(batch, frames, dim)], (batch,)."""
        feats, frames_len = self.extracter(wavs, wavs_len)
        return [feats], frames_len
