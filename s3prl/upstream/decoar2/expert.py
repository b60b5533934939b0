"""DeCoAR 2.0 upstream (Ling & Liu, 2020, https://arxiv.org/abs/2012.06659).

Checkpoint: https://speech-representation.s3.us-west-2.amazonaws.com/checkpoint_decoar2.pt
(awslabs/speech-representations; the original s3prl toolkit uses a copy,
https://huggingface.co/s3prl/converted_ckpts/resolve/main/checkpoint_decoar2.pt).

Facts used (awslabs/speech-representations ``src/speech_reps/models/decoar2.py``
and the original s3prl ``upstream/decoar2``), re-implemented here:

* input features: Kaldi fbank (``torchaudio.compliance.kaldi.fbank`` defaults,
  i.e. 25 ms / 10 ms frames, no dither, pre-emphasis 0.97, snip edges) with
  80 mel bins and a **hamming** window, on the float waveform as given; then
  per-utterance CMVN ``(x - mean) / (1e-10 + std)`` (unbiased std over time);
  then every second frame ``feats[::2]``: **20 ms frames (downsample rate 320)**.
  Computed with the baseline feature code (:mod:`s3prl.upstream.baseline.features`).
* model: ``post_extract_proj`` (Linear 80 -> 768), then fairseq's wav2vec 2.0
  ``TransformerEncoder`` with ``layer_norm_first=False``: convolutional
  relative position embedding ``encoder.pos_conv.0`` (kernel 128, 16 groups,
  weight norm over dim 2, padding 64, last frame dropped, GELU) added to the
  input, ``encoder.layer_norm``, then 12 post-LN transformer layers (768, 12
  heads, FFN 3072, GELU).
* hidden states (the original s3prl hooks): the input of each of the 12
  layers (after the position embedding and layer norm) and the encoder output:
  13 states of 768.

Checkpoint layout: ``{"model": state_dict, ...}`` with keys
``post_extract_proj.*``, ``encoder.pos_conv.0.{weight_g,weight_v,bias}``,
``encoder.layer_norm.*``, ``encoder.layers.{i}.self_attn.{q,k,v,out}_proj.*``,
``encoder.layers.{i}.{self_attn_layer_norm,fc1,fc2,final_layer_norm}.*``.
The architecture sizes are read from the weight shapes (number of attention
heads: 12, not recorded in the file; ``attention_heads`` overrides it). The
release is a training checkpoint that the original loads with
``strict=False``: parameters outside ``post_extract_proj.*`` and ``encoder.*``
(the pre-training heads) are ignored; under those prefixes every key must
match exactly.

Padding: fbank frames, CMVN statistics and attention keys use each wav's own
valid frames; padded frames are zeroed before the position convolution.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.modules.bert import BertLayer
from s3prl.upstream.baseline.features import cmvn, kaldi_fbank
from s3prl.upstream.conv import conv1d
from s3prl.upstream.interface import UpstreamBase, padding_mask
from s3prl.util.checkpoint import (
    CheckpointKeyError,
    load_checkpoint,
    load_state_dict_strict,
    note_unused_entries,
)

__all__ = ["UpstreamExpert", "decoar2_features", "USED_PREFIXES"]

#: Parameters under these prefixes form the representation model; others are pre-training heads.
USED_PREFIXES = ("post_extract_proj.", "encoder.")


def decoar2_features(wavs: Tensor, wavs_len: Tensor, num_mel_bins: int = 80) -> tuple[Tensor, Tensor]:
    """DeCoAR 2.0 input features: 80-bin hamming Kaldi fbank, per-utterance CMVN, every 2nd frame.

    Args:
        wavs: ``(batch, samples)`` float, 16 kHz, zero padded.
        wavs_len: ``(batch,)`` long, valid samples.

    Returns:
        ``(feats, frames_len)``: ``(batch, frames, num_mel_bins)`` in ``wavs.dtype``
        (computed in float64) and ``(batch,)`` long, ``ceil(n / 2)`` with
        ``n = 1 + (samples - 400) // 160`` fbank frames.
    """
    feats, n = kaldi_fbank(wavs.double(), wavs_len, num_mel_bins=num_mel_bins, window_type="hamming")
    feats = cmvn(feats, n, eps=1e-10)
    feats = feats[:, ::2]
    return feats.to(wavs.dtype), torch.div(n + 1, 2, rounding_mode="floor")


class DeCoAR2(nn.Module):
    """``post_extract_proj`` + wav2vec 2.0-style post-LN transformer encoder."""

    def __init__(self, in_dim: int, dim: int, ffn: int, layers: int, heads: int, pos_kernel: int, pos_groups: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"DeCoAR 2.0 hidden size {dim} is not divisible by attention_heads={heads}")
        self.post_extract_proj = nn.Linear(in_dim, dim)
        self.encoder = nn.Module()
        self.pos_kernel, self.pos_groups = pos_kernel, pos_groups
        self.pos_weight_g = nn.Parameter(torch.ones(1, 1, pos_kernel))
        self.pos_weight_v = nn.Parameter(torch.zeros(dim, dim // pos_groups, pos_kernel))
        self.pos_bias = nn.Parameter(torch.zeros(dim))
        self.encoder.layer_norm = nn.LayerNorm(dim)
        self.encoder.layers = nn.ModuleList([BertLayer(dim, ffn, heads) for _ in range(layers)])

    def pos_conv(self, x: Tensor) -> Tensor:  # (B, T, C) -> (B, T, C)
        v = self.pos_weight_v
        w = self.pos_weight_g * v / v.norm(dim=(0, 1), keepdim=True)  # weight norm, dim=2
        h = conv1d(x.transpose(1, 2), w, self.pos_bias, padding=self.pos_kernel // 2, groups=self.pos_groups)
        if self.pos_kernel % 2 == 0:
            h = h[:, :, :-1]  # fairseq SamePad
        return F.gelu(h).transpose(1, 2)

    def forward(self, feats: Tensor, mask: Tensor) -> list[Tensor]:
        x = self.post_extract_proj(feats) * mask[..., None].to(feats.dtype)
        x = self.encoder.layer_norm(x + self.pos_conv(x))
        hidden = []
        for layer in self.encoder.layers:
            hidden.append(x)
            x = layer(x, mask)
        hidden.append(x)
        return hidden


#: The position-conv parameters' internal names (weight-norm g/v, either pickling style).
_POS_CONV_ALIAS = {
    "encoder.pos_conv.0.weight_g": "pos_weight_g",
    "encoder.pos_conv.0.weight_v": "pos_weight_v",
    "encoder.pos_conv.0.parametrizations.weight.original0": "pos_weight_g",
    "encoder.pos_conv.0.parametrizations.weight.original1": "pos_weight_v",
    "encoder.pos_conv.0.bias": "pos_bias",
}


class UpstreamExpert(UpstreamBase):
    """DeCoAR 2.0 upstream from its released checkpoint (``{'model': state_dict}``).

    Args:
        ckpt: local path of the checkpoint (resolve URLs first).
        attention_heads: number of attention heads (12 in the release; not stored in the file).

    Input: list of 1-D float waveforms at 16 kHz, each >= 400 samples.
    Output: 13 hidden states (input of each transformer layer, encoder output)
    of ``(batch, frames, 768)``, one frame per 320 samples (every 2nd 10 ms fbank frame).

    Raises:
        ValueError: not a DeCoAR 2.0 checkpoint.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights under
            ``post_extract_proj.`` / ``encoder.`` missing, unexpected, misshapen, non-floating or
            non-finite (the file and the keys named).
    """

    downsample_rate = 320
    receptive_field = 400

    def __init__(self, ckpt: str | Path, attention_heads: int = 12, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"DeCoAR 2.0 upstream got unexpected options: {sorted(kwargs)}")
        state = load_checkpoint(ckpt)
        if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
            raise ValueError(f"{ckpt}: not a DeCoAR 2.0 checkpoint (expected a dict with a 'model' state dict)")
        note_unused_entries(ckpt, [k for k in state if k != "model"])
        sd = {k: v for k, v in state["model"].items() if str(k).startswith(USED_PREFIXES)}
        for need in ("post_extract_proj.weight", "encoder.layers.0.fc1.weight"):
            if not isinstance(sd.get(need), Tensor) or sd[need].dim() != 2:
                raise CheckpointKeyError(
                    f"checkpoint {ckpt}: {need!r} is missing or not a 2-D tensor: not a DeCoAR 2.0 model state dict"
                )
        dim, in_dim = sd["post_extract_proj.weight"].shape
        ffn = sd["encoder.layers.0.fc1.weight"].shape[0]
        layer_ids = {int(m.group(1)) for k in sd if (m := re.match(r"encoder\.layers\.(\d+)\.", k))}
        n_layers = max(layer_ids) + 1
        v = sd.get("encoder.pos_conv.0.weight_v", sd.get("encoder.pos_conv.0.parametrizations.weight.original1"))
        if not isinstance(v, Tensor) or v.dim() != 3:
            raise CheckpointKeyError(f"checkpoint {ckpt}: missing keys ['encoder.pos_conv.0.weight_v']")
        pos_kernel, pos_groups = v.shape[2], dim // v.shape[1]
        self.model = DeCoAR2(in_dim, dim, ffn, n_layers, attention_heads, pos_kernel, pos_groups)
        load_state_dict_strict(self.model, sd, where=ckpt, rename=_POS_CONV_ALIAS, what="DeCoAR 2.0")
        self.model.eval()
        self.num_mel_bins = in_dim
        self.hidden_sizes = [dim] * (n_layers + 1)

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) float, ``wavs_len`` (batch,) long -> 13 x (batch, frames, 768), frames."""
        feats, frames_len = decoar2_features(wavs, wavs_len, self.num_mel_bins)
        mask = padding_mask(frames_len, feats.size(1))
        return self.model(feats, mask), frames_len
