"""MR-HuBERT upstream (multi-resolution HuBERT; Shi et al., ICLR 2024,
https://openreview.net/forum?id=kUuKFW7DIF), read without fairseq.

Model (facts from s3prl 0.4.18 ``upstream/multires_hubert/hubert_model.py``, the authors'
``MultiresHubertModel``): a U-net of wav2vec 2.0 transformer blocks over resolutions::

    conv feature encoder -> LayerNorm -> post_extract_proj          (base rate, stride 320)
    for i < R-1: x = encoders[i](x); keep x; x = downsample_modules[i](x)
    x = x + middle_encoder(x)                                        (coarsest rate)
    for i < R-1: x = upsample_modules[i](x); x = decoders[i](x); x = x[:n] + kept[R-2-i][:n]

``label_rate_ratios`` ``[u0, d0, u1, d1, ...]`` gives each (up, down) pair: a resolution step
multiplies the frame rate by ``u / d``. Every block is fairseq's ``TransformerEncoder``
(zero padded frames, [positional conv: ``encoders[0]`` only], [LayerNorm first if post-LN],
layers, [final LayerNorm if pre-LN]); block ``i`` has ``override_encoder_layers[i]`` layers
(else ``encoder_layers``), the decoders mirror the encoders. Resolution adapters
(``conv_adapator_kernal`` k, residual scale ``sqrt(0.4)``):

* ``ConvAdapter`` (default): ``ConvTranspose1d(k, stride u, output_padding u-1, no bias)
  -> GroupNorm(1) -> GELU``, plus ``repeat_interleave(x, u)`` (skip), then
  ``Conv1d(k, stride d, padding (k-1)//2, no bias) -> GroupNorm(1) -> GELU`` plus
  ``x[::d]`` (skip), plus the highway ``repeat_interleave(x_in, u)[::d]``; each sum cut to
  the shorter operand and scaled by ``sqrt(0.4)``;
* ``use_plain_updownsample``: ``ConvDownsampler`` (the down half) / ``ConvUpsampler`` (the up
  half, no highway).

Hidden states (s3prl 0.4.18's hooks): for ``encoders[0..R-2]``, ``middle_encoder``,
``decoders[0..R-2]`` in that order, the input of every layer and the block's output, each
repeated in time (``repeat_interleave``) up to the base frame rate, all cut to the shortest.

Padding (not in the original, whose group norms and convolutions read padded frames):
every wav's frames are computed as for the wav alone: the adapters' inputs are zeroed past
each wav's frames, their GroupNorm statistics use each wav's own frames (the lengths the
wav alone would have), transformer blocks mask padded keys, and each wav's length follows
the alone arithmetic through every step.

Checkpoint: the original s3prl toolkit's converted layout (``upstream/multires_hubert/convert.py``,
the released files): ``{"task_cfg", "model_cfg", "model_weight", "dictionaries_symbols"}``, or
fairseq main's own ``{"cfg": {"model", "task", ...}, "model", ...}``; the model config holds
fairseq main's ``MultiresHubertConfig`` fields (``label_rate_ratios`` required;
``override_encoder_layers`` "" means ``encoder_layers`` in every block). Training-only
``mask_emb``, ``final_projs.*``, ``label_embs_concat.*``, ``target_glus.*`` are dropped.
"""

from __future__ import annotations

import ast
import math
import os
import re
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.upstream.interface import UpstreamBase, padding_mask_or_none
from s3prl.upstream.wav2vec2.loading import (
    config_from_fairseq,
    load_weights,
    read_fairseq_checkpoint,
    rename_fairseq_keys,
)
from s3prl.upstream.wav2vec2.modules import (
    ConvFeatureEncoder,
    TransformerEncoder,
    Wav2Vec2Config,
    normalize_waveforms,
)

__all__ = ["ResolutionAdapter", "MultiresHubertModel", "UpstreamExpert"]

_SCALE = math.sqrt(0.4)


def _masked_group_norm_1(x: Tensor, lengths: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """``GroupNorm(1, C)`` of ``x`` (B, C, T) with each sequence's statistics over its first
    ``lengths[b]`` frames (all channels), in fp32."""
    dtype, xf = x.dtype, x.float()
    valid = (torch.arange(x.size(-1), device=x.device)[None, :] < lengths[:, None])[:, None, :]
    count = (lengths.clamp(min=1).float() * x.size(1))[:, None, None]
    mean = (xf * valid).sum(dim=(1, 2), keepdim=True) / count
    var = (((xf - mean) * valid) ** 2).sum(dim=(1, 2), keepdim=True) / count
    out = (xf - mean) * torch.rsqrt(var + eps) * weight.float()[None, :, None] + bias.float()[None, :, None]
    return out.to(dtype)


def _zero_past(x: Tensor, lengths: Tensor) -> Tensor:
    """Zero frames past each sequence's length; ``x`` (B, C, T)."""
    valid = torch.arange(x.size(-1), device=x.device)[None, :] < lengths[:, None]
    return x * valid[:, None, :].to(x.dtype)


class _ConvNorm(nn.Module):
    """``Sequential(conv, Dropout, GroupNorm(1, C), GELU)`` with fairseq's index names ``0`` and ``2``."""

    def __init__(self, conv: nn.Module, channels: int):
        super().__init__()
        self.add_module("0", conv)
        self.add_module("2", nn.GroupNorm(1, channels))

    def forward(self, x: Tensor, out_lengths: Tensor) -> Tensor:
        norm = getattr(self, "2")
        return F.gelu(_masked_group_norm_1(getattr(self, "0")(x), out_lengths, norm.weight, norm.bias))


class ResolutionAdapter(nn.Module):
    """MR-HuBERT's resolution change by ``up / down`` (``ConvAdapter``; ``ConvDownsampler``
    when ``mode="down"`` (up = 1), ``ConvUpsampler`` when ``mode="up"`` (down = 1)).

    ``forward(x, lengths) -> (y, new_lengths)``: ``x`` (B, T, C), ``lengths`` (B,) frames;
    lengths follow the arithmetic of each wav alone (see the module docstring).
    """

    def __init__(self, channels: int, kernel: int, up: int, down: int, mode: str = "both"):
        super().__init__()
        self.k, self.up, self.down, self.mode = kernel, up, down, mode
        if mode in ("both", "up"):
            self.upsample_conv = _ConvNorm(
                nn.ConvTranspose1d(channels, channels, kernel, stride=up, bias=False, output_padding=up - 1), channels)
        if mode in ("both", "down"):
            self.downsample_conv = _ConvNorm(
                nn.Conv1d(channels, channels, kernel, stride=down, bias=False, padding=(kernel - 1) // 2), channels)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = _zero_past(x.transpose(1, 2), lengths)  # (B, C, T)
        n = lengths
        if self.mode in ("both", "up"):
            residual_up = torch.repeat_interleave(x, self.up, dim=2)
            conv_len = (n - 1) * self.up + self.k + self.up - 1
            h = self.upsample_conv(x, conv_len)
            n = torch.minimum(conv_len, n * self.up)
            size = min(h.size(2), residual_up.size(2))
            x = _zero_past((h[..., :size] + residual_up[..., :size]) * _SCALE, n)
            highway, highway_len = residual_up, lengths * self.up
        if self.mode in ("both", "down"):
            p = (self.k - 1) // 2
            conv_len = torch.div(n + 2 * p - self.k, self.down, rounding_mode="floor") + 1
            h = self.downsample_conv(x, conv_len)
            residual_down = x[..., :: self.down]
            n_new = torch.minimum(conv_len, torch.div(n + self.down - 1, self.down, rounding_mode="floor"))
            size = min(h.size(2), residual_down.size(2))
            x = (h[..., :size] + residual_down[..., :size]) * _SCALE
            n = n_new
            if self.mode == "both":
                highway = highway[..., :: self.down]
                highway_len = torch.div(highway_len + self.down - 1, self.down, rounding_mode="floor")
                size = min(x.size(2), highway.size(2))
                x = (x[..., :size] + highway[..., :size]) * _SCALE
                n = torch.minimum(n, highway_len)
        return x.transpose(1, 2), n


class _NoPosConv(nn.Module):
    def forward(self, x: Tensor, valid: Optional[Tensor] = None):
        return 0.0


def _block(config: Wav2Vec2Config, num_layers: int, pos_conv: bool) -> TransformerEncoder:
    import dataclasses

    block = TransformerEncoder(dataclasses.replace(config, num_layers=num_layers))
    if not pos_conv:
        block.pos_conv = _NoPosConv()
    return block


class MultiresHubertModel(nn.Module):
    """Waveforms -> MR-HuBERT hidden states (see the module docstring).

    Args:
        config: the shared block / feature-encoder architecture.
        ratios: ``[(up, down), ...]`` per resolution step.
        layers: transformer layers of the ``2 * len(ratios) + 1`` blocks in U order
            (encoders, middle, decoders).
        kernel: adapter kernel size. plain: ``use_plain_updownsample``.
    """

    def __init__(self, config: Wav2Vec2Config, ratios: list, layers: list, kernel: int, plain: bool):
        super().__init__()
        self.config, self.ratios = config, ratios
        conv_dim = config.conv_layers[-1][0]
        self.feature_extractor = ConvFeatureEncoder(config.conv_layers, config.extractor_mode, config.conv_bias,
                                                    config.layer_norm_eps)
        self.layer_norm = nn.LayerNorm(conv_dim, eps=config.layer_norm_eps)
        self.post_extract_proj = nn.Linear(conv_dim, config.embed_dim) if conv_dim != config.embed_dim else None
        r = len(ratios)
        dim = config.embed_dim
        self.encoders = nn.ModuleList(_block(config, layers[i], pos_conv=(i == 0)) for i in range(r))
        self.middle_encoder = _block(config, layers[r], pos_conv=(r == 0))
        self.decoders = nn.ModuleList(_block(config, layers[2 * r - i], pos_conv=False) for i in range(r))
        self.downsample_modules = nn.ModuleList(
            ResolutionAdapter(dim, kernel, u, d, "down" if plain else "both") for u, d in ratios)
        self.upsample_modules = nn.ModuleList(
            ResolutionAdapter(dim, kernel, d, u, "up" if plain else "both") for u, d in ratios)
        base = math.prod(s for _, _, s in config.conv_layers)
        rates = [base]
        for u, d in ratios:
            rates.append(rates[-1] * d // u)
        lcm = int(np.lcm.reduce(rates))
        up = [lcm // x for x in rates][::-1]  # s3prl's factors (exact for integer rate ratios)
        self.factors = up[:r] + [up[r]] + up[::-1][1:][:r]

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        if self.config.normalize:
            wavs = normalize_waveforms(wavs, wavs_len)
        features, n = self.feature_extractor(wavs, wavs_len)
        x = self.layer_norm(features.transpose(1, 2))
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        states, lengths, kept = [], [], []
        for encoder, adapter in zip(self.encoders, self.downsample_modules):
            out = encoder(x, padding_mask_or_none(n, x.size(1)))
            states.append(out)
            lengths.append(n)
            kept.append((out[-1], n))
            x, n = adapter(out[-1], n)
        out = self.middle_encoder(x, padding_mask_or_none(n, x.size(1)))
        states.append(out)
        lengths.append(n)
        x = x + out[-1]
        for i, (adapter, decoder) in enumerate(zip(self.upsample_modules, self.decoders)):
            x, n = adapter(x, n)
            out = decoder(x, padding_mask_or_none(n, x.size(1)))
            states.append(out)
            lengths.append(n)
            residual, residual_n = kept[len(kept) - 1 - i]
            size = min(out[-1].size(1), residual.size(1))
            x, n = out[-1][:, :size] + residual[:, :size], torch.minimum(n, residual_n)
        hidden, final = [], None
        for block_states, block_n, factor in zip(states, lengths, self.factors):
            total = block_n * factor
            final = total if final is None else torch.minimum(final, total)
            hidden += [torch.repeat_interleave(h, factor, dim=1) for h in block_states]
        width = int(final.max())
        return [h[:, :width] for h in hidden], final


def _as_list(value) -> list:
    if isinstance(value, str):
        value = ast.literal_eval(value) if value.strip() else []
    return list(value or [])


class UpstreamExpert(UpstreamBase):
    """MR-HuBERT from a local checkpoint (s3prl converted layout or fairseq main's layout).

    Args:
        ckpt: local path.
        dtype: parameter dtype (default fp32).

    Output: ``sum over blocks of (layers + 1)`` hidden states ``(batch, frames, dim)`` at the
    base frame rate (stride 320 samples for the released models).

    Raises:
        ValueError: missing layout keys, no / malformed ``label_rate_ratios``, an
            ``override_encoder_layers`` of the wrong length, missing / unexpected weights (named).
    """

    def __init__(self, ckpt: str | os.PathLike, dtype: Optional[torch.dtype] = None):
        super().__init__()
        read = read_fairseq_checkpoint(ckpt)
        cfg = dict(read.model_cfg)
        if cfg.get("label_rate_ratios") is None:  # MISSING in fairseq main's MultiresHubertConfig
            raise ValueError(f"MR-HuBERT checkpoint {ckpt}: the model config has no label_rate_ratios "
                             f"(layout {read.layout}); not an MR-HuBERT checkpoint?")
        raw = _as_list(cfg["label_rate_ratios"])
        if len(raw) % 2 or not raw:
            raise ValueError(f"MR-HuBERT checkpoint {ckpt}: label_rate_ratios {raw} is not (up, down) pairs")
        ratios = [(int(raw[2 * i]), int(raw[2 * i + 1])) for i in range(len(raw) // 2)]
        # fairseq main (MultiresHubertModel.__init__): "" -> every block gets encoder_layers
        override = _as_list(cfg.get("override_encoder_layers", ""))
        n_blocks = 2 * len(ratios) + 1
        layers = [int(v) for v in override] if override else [int(cfg.get("encoder_layers", 2))] * n_blocks
        if len(layers) != n_blocks:
            raise ValueError(f"MR-HuBERT checkpoint {ckpt}: override_encoder_layers {override} does not give "
                             f"{n_blocks} blocks for {len(ratios)} resolution steps")
        base = {**cfg, "encoder_layers": layers[0], "layer_type": "transformer"}
        config = config_from_fairseq(base, read.task_cfg)
        self.config = config
        self.model = MultiresHubertModel(config, ratios, layers, int(cfg.get("conv_adapator_kernal", 7)),
                                         bool(cfg.get("use_plain_updownsample", False)))
        state = {}
        for key, value in read.state_dict.items():
            match = re.match(r"^(encoders\.\d+\.|decoders\.\d+\.|middle_encoder\.)(.*)$", key)
            if match:  # a block's keys are a fairseq TransformerEncoder's, renamed like wav2vec 2.0's
                renamed = next(iter(rename_fairseq_keys({"encoder." + match.group(2): value})))
                key = match.group(1) + renamed[len("encoder."):]
            else:
                key = next(iter(rename_fairseq_keys({key: value})))
            state[key] = value
        load_weights(self.model, state, ckpt, what="the MR-HuBERT its config describes",
                     extra_ignored_prefixes=("final_projs.", "label_embs_concat.", "target_glus."))
        base_stride = config.downsample_rate
        self.downsample_rate = base_stride
        self.receptive_field = config.receptive_field
        self.hidden_sizes = [config.embed_dim] * sum(n + 1 for n in layers)
        self.cast_parameters(dtype)
        self.eval()

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        return self.model(wavs, wavs_len)
