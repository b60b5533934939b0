"""wav2vec (v1) and vq-wav2vec upstreams, read from fairseq checkpoints.

Papers: wav2vec, Schneider et al. 2019, https://arxiv.org/abs/1904.05862;
vq-wav2vec, Baevski et al. 2019, https://arxiv.org/abs/1910.05453.
Checkpoints: https://dl.fbaipublicfiles.com/fairseq/wav2vec/wav2vec_large.pt,
``vq-wav2vec.pt`` (Gumbel) and ``vq-wav2vec_kmeans.pt`` (k-means).

The model follows the description of fairseq's ``fairseq/models/wav2vec/wav2vec.py``
(``Wav2VecModel``: a convolutional feature extractor ``feature_extractor`` gives
``z``, an optional vector quantizer ``vector_quantizer`` replaces ``z`` by
codewords, a causal convolutional aggregator ``feature_aggregator`` gives
``c``). It is written here from those facts; nothing of fairseq is imported.

Checkpoint layout (fairseq, pickled with ``torch.save``)::

    {"args": argparse.Namespace(conv_feature_layers=..., conv_aggregator_layers=...,
                                skip_connections_agg=..., residual_scale=...,
                                log_compression=..., vq_type=..., ...),
     "model": {"feature_extractor.conv_layers.0.0.weight": ..., ...},
     "optimizer_history": ..., "extra_state": ..., "last_optimizer_state": ...}

A newer-fairseq file with ``"cfg": {"model": {...}}`` instead of ``"args"`` is
read too, and so is the original s3prl 0.4.18 toolkit's converted file
(``{"task_cfg": dict, "model_cfg": dict, "model_weight": state_dict}``, its
default download); see :func:`read_wav2vec_checkpoint`.

Hidden states, in the order of the original s3prl expert (its hooks fire in
this order): ``z`` (feature extractor output, *before* quantization), the
output of aggregator blocks ``0 .. n-2`` (after their residual connection)
and ``c`` (aggregator output). wav2vec large: 1 + 11 + 1 = 13 states of 512.

Padding: the feature extractor convolutions have no padding, so a valid
frame only sees valid samples; its group norms (one group over channels x
time) and the k-means quantizer's group norm use each wav's valid frames only;
the aggregator is causal (left padding), so right padding cannot leak.
"""

from __future__ import annotations

import ast
import math
import operator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.upstream.conv import conv_module
from s3prl.upstream.interface import UpstreamBase, conv_frames, padding_mask
from s3prl.util.checkpoint import (
    load_checkpoint,
    load_state_dict_strict,
    note_unused_entries,
    to_plain,
)

__all__ = [
    "UpstreamExpert",
    "parse_layer_spec",
    "masked_group_norm",
    "read_wav2vec_checkpoint",
    "WAV2VEC_DEFAULTS",
    "WAV2VEC_CONFIG_DEFAULTS",
]

# Defaults of fairseq's legacy ``base_wav2vec_architecture`` (fairseq 0.10.x):
# used only for fields a checkpoint's args lack (released files record them all).
WAV2VEC_DEFAULTS = {
    "conv_feature_layers": "[(512, 10, 5), (512, 8, 4)] + [(512, 4, 2)] * 3",
    "conv_aggregator_layers": "[(512, 3, 1)] * 9",
    "aggregator": "cnn",
    "skip_connections_feat": False,
    "skip_connections_agg": False,
    "residual_scale": 0.5,
    "no_conv_bias": False,
    "agg_zero_pad": False,
    "log_compression": False,
    "non_affine_group_norm": False,
    "activation": "relu",
    "project_features": "none",
    "vq_type": "none",
    "vq_vars": 320,
    "vq_groups": 2,
    "vq_dim": 0,
    "vq_depth": 1,
    "combine_groups": False,
}

# Training-only parameters: the contrastive prediction head and a separate
# target projection network. They do not take part in computing z or c.
IGNORED_PREFIXES = ("wav2vec_predictions.", "project_features.")

_BIN_OPS = {ast.Add: operator.add, ast.Mult: operator.mul}


def parse_layer_spec(spec: str | list, field: str) -> list[tuple[int, int, int]]:
    """Parse a fairseq layer string such as ``"[(512, 10, 5)] + [(512, 4, 2)] * 3"``.

    Only list/tuple literals of integers combined with ``+`` and ``*`` are
    accepted (evaluated on the syntax tree; nothing is executed).

    Returns:
        list of ``(dim, kernel_size, stride)``.

    Raises:
        ValueError: the string is not of that form (the message names ``field``).
    """
    if isinstance(spec, (list, tuple)):
        value = spec
    else:

        def ev(node):
            if isinstance(node, ast.Expression):
                return ev(node.body)
            if isinstance(node, (ast.List, ast.Tuple)):
                items = [ev(e) for e in node.elts]
                return items if isinstance(node, ast.List) else tuple(items)
            if isinstance(node, ast.Constant) and isinstance(node.value, int):
                return node.value
            if isinstance(node, ast.BinOp) and type(node.op) in _BIN_OPS:
                return _BIN_OPS[type(node.op)](ev(node.left), ev(node.right))
            raise ValueError(f"unsupported syntax {ast.dump(node)[:60]}")

        try:
            value = ev(ast.parse(str(spec), mode="eval"))
        except (SyntaxError, ValueError, TypeError) as err:
            raise ValueError(f"checkpoint config {field}={spec!r} is not a layer list: {err}") from None
    try:
        layers = [tuple(int(v) for v in item) for item in value]
    except (TypeError, ValueError):
        raise ValueError(f"checkpoint config {field}={spec!r} is not a list of (dim, kernel, stride)") from None
    if not layers or any(len(t) != 3 or min(t) < 1 for t in layers):
        raise ValueError(f"checkpoint config {field}={spec!r}: need (dim, kernel, stride) triples of positive ints")
    return layers


def masked_group_norm(
    x: Tensor, mask: Tensor, groups: int, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5
) -> Tensor:
    """Group norm of ``x`` (batch, channels, frames) with statistics over valid frames only.

    Like ``torch.nn.GroupNorm`` (biased variance, computed in float32, as
    fairseq's ``Fp32GroupNorm``), but each wav's mean/variance use only the
    frames where ``mask`` (batch, frames) is True. Padded frames come out 0.
    """
    b, c, t = x.shape
    xf = x.float().reshape(b, groups, c // groups, t)
    m = mask[:, None, None, :].to(xf.dtype)
    n = (m.sum(dim=(2, 3)) * (c // groups)).clamp(min=1.0)
    mean = (xf * m).sum(dim=(2, 3)) / n
    centered = xf - mean[:, :, None, None]
    var = (centered.pow(2) * m).sum(dim=(2, 3)) / n
    y = centered * torch.rsqrt(var + eps)[:, :, None, None]
    y = y.reshape(b, c, t)
    if weight is not None:
        y = y * weight.float()[None, :, None] + bias.float()[None, :, None]
    return (y * mask[:, None, :].to(y.dtype)).to(x.dtype)


def _activation(name: str):
    if name == "relu":
        return F.relu
    if name == "gelu":
        return F.gelu
    raise ValueError(f"checkpoint config activation={name!r}: expected 'relu' or 'gelu'")


def _receptive_field(layers) -> int:
    rf, jump = 0, 1
    for _, k, s in layers:
        rf += (k - 1) * jump
        jump *= s
    return rf + 1


class _GroupNormParams(nn.Module):
    def __init__(self, dim: int, affine: bool):
        super().__init__()
        if affine:
            self.weight = nn.Parameter(torch.ones(dim))
            self.bias = nn.Parameter(torch.zeros(dim))
        else:
            self.weight = None
            self.bias = None


class _Block(nn.Module):
    """Parameter holder named like fairseq's ``nn.Sequential`` blocks.

    Feature extractor: ``0`` conv, ``2`` group norm. Aggregator: ``1`` conv,
    ``3`` group norm (``0`` is the padding module, without parameters).
    """

    def __init__(self, conv_index: int, conv: nn.Conv1d, norm: _GroupNormParams):
        super().__init__()
        self.conv_index = conv_index
        self.add_module(str(conv_index), conv)
        self.add_module(str(conv_index + 2), norm)

    @property
    def conv(self) -> nn.Conv1d:
        return getattr(self, str(self.conv_index))

    @property
    def norm(self) -> _GroupNormParams:
        return getattr(self, str(self.conv_index + 2))


class _FeatureExtractor(nn.Module):
    def __init__(self, layers, affine: bool):
        super().__init__()
        blocks, in_d = [], 1
        for dim, k, s in layers:
            blocks.append(_Block(0, nn.Conv1d(in_d, dim, k, stride=s, bias=False), _GroupNormParams(dim, affine)))
            in_d = dim
        self.conv_layers = nn.ModuleList(blocks)


class _Aggregator(nn.Module):
    def __init__(self, layers, embed: int, affine: bool, bias: bool, skip: bool):
        super().__init__()
        blocks, proj, in_d = [], [], embed
        self.has_proj = []
        for dim, k, s in layers:
            blocks.append(_Block(1, nn.Conv1d(in_d, dim, k, stride=s, bias=bias), _GroupNormParams(dim, affine)))
            need = skip and in_d != dim
            proj.append(nn.Conv1d(in_d, dim, 1, bias=False) if need else nn.Identity())
            self.has_proj.append(need)
            in_d = dim
        self.conv_layers = nn.ModuleList(blocks)
        self.residual_proj = nn.ModuleList(proj)


class _GumbelQuantizer(nn.Module):
    """vq-wav2vec Gumbel quantizer at inference: per group, the codeword of the arg-max logit."""

    def __init__(self, dim, num_vars, groups, combine_groups, vq_dim, depth, act):
        super().__init__()
        if vq_dim % groups:
            raise ValueError(f"checkpoint config vq_dim={vq_dim} is not divisible by vq_groups={groups}")
        self.groups, self.num_vars, self.combine_groups = groups, num_vars, combine_groups
        self.vars = nn.Parameter(torch.zeros(1, (1 if combine_groups else groups) * num_vars, vq_dim // groups))
        self.act = act
        if depth > 1:
            inner = dim * 2  # fairseq Wav2VecModel: weight_proj_factor=2
            mods = [nn.Sequential(nn.Linear(dim if i == 0 else inner, inner)) for i in range(depth - 1)]
            self.weight_proj = nn.Sequential(*mods, nn.Linear(inner, groups * num_vars))
            self.depth = depth
        else:
            self.weight_proj = nn.Linear(dim, groups * num_vars)
            self.depth = 1

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # x: (B, C, T)
        h = x.transpose(1, 2)
        if self.depth > 1:
            for i in range(self.depth - 1):
                h = self.act(self.weight_proj[i][0](h))
            h = self.weight_proj[self.depth - 1](h)
        else:
            h = self.weight_proj(h)
        b, t, _ = h.shape
        idx = h.reshape(b, t, self.groups, self.num_vars).argmax(dim=-1)  # (B, T, G)
        if not self.combine_groups:
            idx = idx + torch.arange(self.groups, device=idx.device) * self.num_vars
        q = self.vars[0][idx]  # (B, T, G, var_dim)
        return q.reshape(b, t, -1).transpose(1, 2)


class _KmeansQuantizer(nn.Module):
    """vq-wav2vec k-means quantizer: grouped 1x1 conv + group norm, then the nearest codeword per group."""

    def __init__(self, dim, num_vars, groups, combine_groups, vq_dim):
        super().__init__()
        if vq_dim % groups:
            raise ValueError(f"checkpoint config vq_dim={vq_dim} is not divisible by vq_groups={groups}")
        self.groups, self.num_vars, self.combine_groups = groups, num_vars, combine_groups
        self.var_dim = vq_dim // groups
        self.embedding = nn.Parameter(torch.zeros(num_vars, 1 if combine_groups else groups, self.var_dim))
        self.projection = nn.Sequential(
            nn.Conv1d(dim, dim, kernel_size=1, groups=groups, bias=False), _GroupNormParams(dim, True)
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        ze = conv_module(self.projection[0], x)
        gn = self.projection[1]
        ze = masked_group_norm(ze, mask, self.groups, gn.weight, gn.bias)
        b, c, t = ze.shape
        ze_ = ze.reshape(b, self.groups, self.var_dim, t).permute(0, 3, 1, 2)  # (B, T, G, d)
        emb = self.embedding.expand(self.num_vars, self.groups, self.var_dim)
        # nearest codeword (L2) per group; cdist instead of fairseq's (V, B, T, G, d) difference tensor
        d = torch.cdist(ze_.permute(2, 0, 1, 3).reshape(self.groups, b * t, -1), emb.transpose(0, 1).contiguous())
        idx = d.argmin(dim=-1).reshape(self.groups, b, t).permute(1, 2, 0)  # (B, T, G)
        q = emb.permute(1, 0, 2)[torch.arange(self.groups, device=idx.device), idx]  # (B, T, G, d)
        return q.reshape(b, t, -1).transpose(1, 2)


class Wav2VecModel(nn.Module):
    """wav2vec / vq-wav2vec inference model; parameter names as in fairseq's ``Wav2VecModel``."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        if cfg["aggregator"] != "cnn":
            raise NotImplementedError(
                f"wav2vec checkpoint uses aggregator={cfg['aggregator']!r}; only the convolutional "
                "aggregator ('cnn', used by every released wav2vec/vq-wav2vec model) is implemented"
            )
        self.feat_layers = parse_layer_spec(cfg["conv_feature_layers"], "conv_feature_layers")
        self.agg_layers = parse_layer_spec(cfg["conv_aggregator_layers"], "conv_aggregator_layers")
        for _dim, _k, s in self.agg_layers:
            if s != 1:
                raise ValueError(f"conv_aggregator_layers has stride {s}; the causal aggregator needs stride 1")
        affine = not cfg["non_affine_group_norm"]
        self.act = _activation(cfg["activation"])
        self.residual_scale = math.sqrt(float(cfg["residual_scale"]))
        self.feature_extractor = _FeatureExtractor(self.feat_layers, affine)
        embed = self.feat_layers[-1][0]
        vq = cfg["vq_type"] or "none"
        vq_dim = int(cfg["vq_dim"]) if int(cfg["vq_dim"]) > 0 else embed
        if vq == "gumbel":
            self.vector_quantizer = _GumbelQuantizer(
                embed, int(cfg["vq_vars"]), int(cfg["vq_groups"]), bool(cfg["combine_groups"]),
                vq_dim, int(cfg["vq_depth"]), self.act,
            )
            agg_in = vq_dim
        elif vq == "kmeans":
            self.vector_quantizer = _KmeansQuantizer(
                embed, int(cfg["vq_vars"]), int(cfg["vq_groups"]), bool(cfg["combine_groups"]), vq_dim
            )
            agg_in = vq_dim
        elif vq == "none":
            self.vector_quantizer = None
            agg_in = embed
        else:
            raise ValueError(f"checkpoint config vq_type={vq!r}: expected 'none', 'gumbel' or 'kmeans'")
        self.feature_aggregator = _Aggregator(
            self.agg_layers, agg_in, affine, not cfg["no_conv_bias"], bool(cfg["skip_connections_agg"])
        )
        self.embed = embed

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        cfg = self.cfg
        x = wavs[:, None, :]
        lens = wavs_len
        for blk, (_dim, k, s) in zip(self.feature_extractor.conv_layers, self.feat_layers):
            residual, r_lens = x, lens
            x = conv_module(blk.conv, x)
            lens = conv_frames(lens, [(k, s)])
            mask = padding_mask(lens, x.size(-1))
            x = self.act(masked_group_norm(x, mask, 1, blk.norm.weight, blk.norm.bias))
            if cfg["skip_connections_feat"] and x.size(1) == residual.size(1):
                # fairseq keeps every (r_len // len)-th residual frame; use each wav's own lengths
                step = torch.div(r_lens, lens.clamp(min=1), rounding_mode="floor").clamp(min=1)
                pos = torch.arange(x.size(-1), device=x.device)[None, :] * step[:, None]
                pos = pos.clamp(max=residual.size(-1) - 1)
                res = torch.gather(residual, 2, pos[:, None, :].expand(-1, residual.size(1), -1))
                x = (x + res) * self.residual_scale
            x = x * mask[:, None, :].to(x.dtype)
        if cfg["log_compression"]:
            x = torch.log(x.abs() + 1.0)
        mask = padding_mask(lens, x.size(-1))
        z = x * mask[:, None, :].to(x.dtype)
        hidden = [z.transpose(1, 2)]
        x = z
        if self.vector_quantizer is not None:
            x = self.vector_quantizer(x, mask) * mask[:, None, :].to(x.dtype)
        agg = self.feature_aggregator
        n = len(self.agg_layers)
        for i, (blk, (_dim, k, _s)) in enumerate(zip(agg.conv_layers, self.agg_layers)):
            residual = x
            pad_left = k - 1  # fairseq: ka + kb with ka = k // 2, kb = ka - 1 if k even else ka
            if cfg["agg_zero_pad"]:
                h = F.pad(x, (pad_left, 0))
            else:
                h = torch.cat([x[:, :, :1].expand(-1, -1, pad_left), x], dim=2)  # replication pad
            h = conv_module(blk.conv, h)
            h = self.act(masked_group_norm(h, mask, 1, blk.norm.weight, blk.norm.bias))
            if cfg["skip_connections_agg"]:
                if agg.has_proj[i]:
                    residual = conv_module(agg.residual_proj[i], residual)
                h = (h + residual) * self.residual_scale
            x = h * mask[:, None, :].to(h.dtype)
            if i < n - 1:
                hidden.append(x.transpose(1, 2))
        hidden.append(x.transpose(1, 2))
        return hidden, lens


#: Defaults of fairseq's ``Wav2VecConfig`` dataclass (the hydra-era config; the
#: original s3prl 0.4.18 fills a converted file's ``model_cfg`` from it with
#: ``merge_with_parent``): the wav2vec large architecture. Used for the ``cfg``
#: and converted layouts; the argparse era keeps :data:`WAV2VEC_DEFAULTS`.
WAV2VEC_CONFIG_DEFAULTS = {
    **WAV2VEC_DEFAULTS,
    "conv_feature_layers": "[(512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2), "
    "(512, 1, 1), (512, 1, 1), (512, 1, 1)]",
    "conv_aggregator_layers": str([(512, k, 1) for k in range(2, 14)]),
    "skip_connections_agg": True,
    "log_compression": True,
}

#: Top-level entries of each layout that hold the config and the weights.
_LAYOUT_ENTRIES = {
    "fairseq-args": ("args", "model"),
    "fairseq-cfg": ("cfg", "model"),
    "s3prl-converted": ("task_cfg", "model_cfg", "model_weight"),
}


def read_wav2vec_checkpoint(path) -> tuple[dict, dict, str]:
    """Read a wav2vec / vq-wav2vec checkpoint in any of its released layouts.

    Layouts:

    * fairseq, argparse era (the released ``wav2vec_large.pt``, ``vq-wav2vec*.pt``):
      ``{'args': Namespace, 'model': state_dict, 'optimizer_history', ...}``;
    * fairseq, hydra era: ``{'cfg': {'model': {...}, ...}, 'model': state_dict, ...}``;
    * the original s3prl 0.4.18 toolkit's converted files (what its
      ``wav2vec/convert.py`` ``load_and_convert_fairseq_ckpt`` saves and its
      ``wav2vec`` / ``vq_wav2vec`` entries download from
      ``huggingface.co/s3prl/converted_ckpts``): ``{'task_cfg': dict,
      'model_cfg': dict, 'model_weight': state_dict}``.

    Other top-level entries (optimizer state, training history) are logged once
    (:func:`s3prl.util.checkpoint.note_unused_entries`) and not read.

    Returns:
        ``(config, weights, layout)``: the model options (fairseq field names,
        missing ones filled with the layout's defaults), the state dict and the
        layout name (a key of ``_LAYOUT_ENTRIES``).

    Raises:
        ValueError: the file is in none of these layouts (the message lists its
            top-level keys), or its config is not a dict.
    """
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: a wav2vec checkpoint is a dict, got a {type(ckpt).__name__}")
    if "model_weight" in ckpt and "model_cfg" in ckpt:
        layout, raw, defaults = "s3prl-converted", to_plain(ckpt["model_cfg"]), WAV2VEC_CONFIG_DEFAULTS
    elif "model" in ckpt and ckpt.get("args") is not None:
        layout, raw, defaults = "fairseq-args", to_plain(ckpt["args"]), WAV2VEC_DEFAULTS
    elif "model" in ckpt and ckpt.get("cfg") is not None:
        raw = to_plain(ckpt["cfg"])
        raw = raw.get("model", raw) if isinstance(raw, dict) else raw
        layout, defaults = "fairseq-cfg", WAV2VEC_CONFIG_DEFAULTS
    else:
        raise ValueError(
            f"{path}: not a wav2vec checkpoint: expected fairseq's {{'args' (or 'cfg'), 'model'}} or "
            "the original s3prl toolkit's converted {'task_cfg', 'model_cfg', 'model_weight'}; "
            f"its top-level keys are {sorted(map(str, ckpt))}"
        )
    if not isinstance(raw, dict):
        what = "model_cfg" if layout == "s3prl-converted" else layout.split("-")[1]
        raise ValueError(f"{path}: checkpoint {what!r} is a {type(raw).__name__}, expected a namespace/dict")
    note_unused_entries(path, [k for k in ckpt if k not in _LAYOUT_ENTRIES[layout]])
    cfg = dict(defaults)
    cfg.update({k: v for k, v in raw.items() if k in defaults and v is not None})
    weights = ckpt["model_weight" if layout == "s3prl-converted" else "model"]
    return cfg, weights, layout


class UpstreamExpert(UpstreamBase):
    """wav2vec / vq-wav2vec upstream from a fairseq checkpoint.

    Args:
        ckpt: local path of a ``wav2vec`` checkpoint: fairseq's ``{'args': Namespace, 'model':
            state_dict}`` or s3prl 0.4.18's converted ``{'task_cfg', 'model_cfg', 'model_weight'}``
            (resolve URLs first with :func:`s3prl.util.download.resolve_checkpoint`).

    Input: list of 1-D float waveforms at 16 kHz (at least ``receptive_field`` samples:
    465 for the released models). Output: hidden states ``z``, the aggregator blocks
    0..n-2 and ``c``, each ``(batch, frames, dim)``, one frame per 160 samples
    (``frames = conv arithmetic of the feature extractor``, no padding).

    Raises:
        ValueError: the file is in no known wav2vec layout or its config is malformed.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights missing,
            unexpected, misshapen, non-floating or non-finite (file and keys named).
        NotImplementedError: a GRU aggregator (no released model uses it).
    """

    def __init__(self, ckpt: str | Path, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"wav2vec upstream got unexpected options: {sorted(kwargs)}")
        cfg, weights, self.layout = read_wav2vec_checkpoint(ckpt)
        self.model = Wav2VecModel(cfg)
        load_state_dict_strict(self.model, weights, where=ckpt, ignore_prefixes=IGNORED_PREFIXES)
        self.model.eval()
        self.downsample_rate = math.prod(s for _, _, s in self.model.feat_layers)
        self.receptive_field = _receptive_field(self.model.feat_layers)
        # z, then aggregator blocks 0..n-2, then c (= block n-1)
        self.hidden_sizes = [self.model.embed] + [d for d, _, _ in self.model.agg_layers]

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) float, ``wavs_len`` (batch,) long -> hidden states, frames."""
        return self.model(wavs, wavs_len)
