"""DeCoAR 1.0 upstream (Ling et al., 2020, https://arxiv.org/abs/1912.01679).

Facts (s3prl 0.4.18 ``upstream/decoar`` and ``upstream/decoar_layers``, the PyTorch port
of the released model), re-implemented here:

* input: Kaldi fbank, 80 mel bins, **hamming** window, ``torchaudio.compliance.kaldi.fbank``
  defaults otherwise (25 ms / 10 ms, no dither, pre-emphasis 0.97, snip edges), on the
  float waveform as given; per-utterance CMVN ``(x - mean) / (1e-10 + std)`` (unbiased std
  over time). 10 ms frames: stride 160 samples, receptive field 400.
* model: ``post_extract_proj`` (Linear 80 -> 1024); ``forward_lstm``: a 4-layer
  unidirectional LSTM (1024) over the projected frames; ``backward_lstm``: the same over
  each utterance reversed in time (its outputs reversed back); every layer's output is
  ``[forward, backward]`` (2048).
* hidden states: ``decoar``: the last layer's 2048-dim output (1 hidden state);
  ``decoar_layers``: the 4 layers' outputs (4 hidden states).

Checkpoint layout: ``{"model": state_dict}`` with ``post_extract_proj.{weight,bias}`` and
``{forward,backward}_lstm.{weight_ih,weight_hh,bias_ih,bias_hh}_l{0..3}`` (a multi-layer
``nn.LSTM``). The original loads it with ``strict=False``; here every one of those keys
must be present with the right shape, dtype and finite values
(:func:`s3prl.util.checkpoint.load_state_dict_strict`), and keys under other prefixes are
ignored (logged once).
"""

from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import Tensor, nn

from s3prl.modules.lstm import LSTMStack, reverse_padded
from s3prl.upstream.baseline.features import cmvn, kaldi_fbank
from s3prl.upstream.interface import UpstreamBase
from s3prl.util.checkpoint import (
    CheckpointKeyError,
    load_checkpoint,
    load_state_dict_strict,
    note_unused_entries,
)

__all__ = ["DeCoAR", "UpstreamExpert", "decoar_features", "stack_key", "USED_PREFIXES"]

NUM_MEL_BINS, HIDDEN, LAYERS = 80, 1024, 4


def decoar_features(wavs: Tensor, wavs_len: Tensor, num_mel_bins: int = NUM_MEL_BINS) -> tuple[Tensor, Tensor]:
    """80-bin hamming Kaldi fbank with per-utterance CMVN: ``(batch, frames, 80)`` (in
    ``wavs.dtype``, computed in float64) and ``(batch,)`` frames ``1 + (samples - 400) // 160``."""
    feats, n = kaldi_fbank(wavs.double(), wavs_len, num_mel_bins=num_mel_bins, window_type="hamming")
    return cmvn(feats, n, eps=1e-10).to(wavs.dtype), n


class DeCoAR(nn.Module):
    """Projection + forward and backward LSTM stacks; ``forward(feats, lengths)`` -> list of
    ``num_layers`` tensors ``(batch, frames, 2 * hidden)``."""

    def __init__(self, input_size: int = NUM_MEL_BINS, hidden: int = HIDDEN, num_layers: int = LAYERS):
        super().__init__()
        self.post_extract_proj = nn.Linear(input_size, hidden)
        self.forward_lstm = LSTMStack(hidden, hidden, num_layers)
        self.backward_lstm = LSTMStack(hidden, hidden, num_layers)

    def forward(self, feats: Tensor, lengths: Tensor) -> list[Tensor]:
        x = self.post_extract_proj(feats)
        forward = self.forward_lstm(x, lengths)
        backward = self.backward_lstm(reverse_padded(x, lengths), lengths)
        return [torch.cat([f, reverse_padded(b, lengths)], dim=-1) for f, b in zip(forward, backward)]


#: the weights the upstream reads; a checkpoint's others are training-only (logged once)
USED_PREFIXES = ("post_extract_proj.", "forward_lstm.", "backward_lstm.")
_MULTILAYER = re.compile(r"^(forward_lstm|backward_lstm)\.(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)$")
_STACKED = re.compile(r"\b(forward_lstm|backward_lstm)\.layers\.(\d+)\.(weight_ih|weight_hh|bias_ih|bias_hh)_l0\b")


def stack_key(key: str) -> str:
    """A multi-layer ``nn.LSTM`` key of the checkpoint -> :class:`DeCoAR`'s name
    (``forward_lstm.weight_ih_l2`` -> ``forward_lstm.layers.2.weight_ih_l0``); others unchanged."""
    m = _MULTILAYER.match(key)
    return f"{m[1]}.layers.{m[3]}.{m[2]}_l0" if m else key


def _read_state(ckpt) -> tuple[dict, tuple[int, int, int]]:
    """The checkpoint's weights (its ``model`` entry, names as in the file) and ``(input_size,
    hidden, num_layers)`` read from their shapes. Other top-level entries are logged once."""
    state = load_checkpoint(ckpt)
    if not isinstance(state, Mapping) or not isinstance(state.get("model"), Mapping):
        keys = sorted(map(str, state)) if isinstance(state, Mapping) else type(state).__name__
        raise ValueError(f"DeCoAR checkpoint {ckpt} is not {{'model': state_dict}} (found {keys})")
    note_unused_entries(ckpt, [k for k in state if k != "model"])
    model = {str(k): v for k, v in state["model"].items()}
    proj = model.get("post_extract_proj.weight")
    if not isinstance(proj, Tensor) or proj.dim() != 2:
        raise CheckpointKeyError(f"checkpoint {ckpt}: no post_extract_proj.weight matrix (not a DeCoAR model)")
    num_layers = 0
    while f"forward_lstm.weight_ih_l{num_layers}" in model:
        num_layers += 1
    if num_layers == 0:
        raise CheckpointKeyError(f"checkpoint {ckpt}: missing keys ['forward_lstm.weight_ih_l0']")
    return model, (int(proj.shape[1]), int(proj.shape[0]), num_layers)


class UpstreamExpert(UpstreamBase):
    """DeCoAR 1.0 from a local checkpoint.

    Args:
        ckpt: local path of ``{"model": state_dict}``.
        all_layers: return every layer's output (``decoar_layers``) instead of the last
            layer's only (``decoar``). Sizes are read from the weight shapes.
        dtype: parameter dtype (default fp32).

    Input: 1-D 16 kHz waveforms of at least 400 samples. Output: 1 (or 4) hidden states
    ``(batch, frames, 2048)``, ``frames = 1 + (samples - 400) // 160``.

    Raises:
        ValueError: not ``{"model": ...}``.
        CheckpointKeyError: (a ``ValueError``) weights missing, unexpected, misshapen,
            non-floating or non-finite (the file and the keys named as in the file).
    """

    downsample_rate = 160
    receptive_field = 400

    def __init__(self, ckpt, all_layers: bool = False, dtype=None):
        super().__init__()
        state, (input_size, hidden, num_layers) = _read_state(ckpt)
        self.model = DeCoAR(input_size, hidden, num_layers)
        self.num_mel_bins = input_size
        unused = [k for k in state if not k.startswith(USED_PREFIXES)]
        note_unused_entries(ckpt, unused, what="training-only weights")
        try:
            load_state_dict_strict(self.model, state, where=ckpt, rename=stack_key, ignore_keys=unused,
                                   what=f"DeCoAR ({num_layers} layers of {hidden})")
        except CheckpointKeyError as err:  # name the keys as the file does (multi-layer LSTM)
            raise CheckpointKeyError(_STACKED.sub(r"\1.\3_l\2", str(err))) from None
        self.all_layers = all_layers
        self.hidden_sizes = [2 * hidden] * (num_layers if all_layers else 1)
        self.cast_parameters(dtype)
        self.eval()

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        feats, frames_len = decoar_features(wavs, wavs_len, self.num_mel_bins)
        layers = self.model(feats, frames_len)
        return (layers if self.all_layers else layers[-1:]), frames_len
