"""CvT, the BYOL-S ``cvt`` encoder (serab-byols ``byol_a/models/cvt.py``, after
lucidrains' vit-pytorch ``cvt.py``; Wu et al., 2021, https://arxiv.org/abs/2103.15808).

Facts (the released ``cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512`` configuration: 3 stages, depth 1
each, widths 64 / 256 / 512, MLP ratio 4, ``mean+max`` pooling): stage ``s`` =
``layers.{s}.0`` Conv2d embedding (kernel 7 / 3 / 3, stride 4 / 2 / 2, padding k // 2) ->
``layers.{s}.1`` channel LayerNorm ``(x - mean) / (std + 1e-5) * g + b`` (biased std over
channels; parameters ``g``, ``b`` of shape (1, C, 1, 1)) -> ``layers.{s}.2`` transformer:
per layer ``x = attn(norm(x)) + x``, ``x = ff(norm(x)) + x`` with

* attention: q = ``to_q`` (depthwise 3 x 3 conv, stride 1, no bias -> BatchNorm -> 1 x 1 conv
  to ``heads x 64``, no bias), k, v = the halves of ``to_kv`` (same with stride 2, to
  ``2 x heads x 64``); per head softmax(q k^T / 8) v over the flattened (x, y) positions;
  ``to_out`` 1 x 1 conv back to the width (with bias); heads = 1 / 3 / 6;
* feed-forward: 1 x 1 conv to 4 x width, GELU, 1 x 1 conv back.

Output ``(N, 512, mel / 16, T / 16)`` -> per time step mel x channel (mel-major, 4 x 512 =
2048) -> mean + max over time. Widths, heads and kernels are read from the state dict;
strides are the released ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EMB_STRIDES = (4, 2, 2)
KV_STRIDE = 2
DIM_HEAD = 64


class ChannelNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        std = x.var(dim=1, unbiased=False, keepdim=True).sqrt()
        return (x - x.mean(dim=1, keepdim=True)) / (std + self.eps) * self.g + self.b


class DepthwiseProjection(nn.Module):
    def __init__(self, dim: int, out: int, kernel: int, stride: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(dim, dim, kernel, stride, kernel // 2, groups=dim, bias=False),
                                 nn.BatchNorm2d(dim), nn.Conv2d(dim, out, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvAttention(nn.Module):
    def __init__(self, dim: int, heads: int, kernel: int):
        super().__init__()
        self.heads = heads
        inner = heads * DIM_HEAD
        self.to_q = DepthwiseProjection(dim, inner, kernel, 1)
        self.to_kv = DepthwiseProjection(dim, 2 * inner, kernel, KV_STRIDE)
        self.to_out = nn.Sequential(nn.Conv2d(inner, dim, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=1)

        def heads(t):  # (b, H d, x, y) -> (b, H, x y, d)
            return t.reshape(b, self.heads, DIM_HEAD, -1).transpose(2, 3)

        out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
        return self.to_out(out.transpose(2, 3).reshape(b, -1, h, w))


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = ChannelNorm(dim)
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(self.norm(x))


class ConvFeedForward(nn.Module):
    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(dim, dim * mult, 1), nn.GELU(), nn.Dropout(0.0),
                                 nn.Conv2d(dim * mult, dim, 1), nn.Dropout(0.0))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Stage(nn.Module):
    def __init__(self, layers: list[tuple[nn.Module, nn.Module]]):
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleList(pair) for pair in layers)

    def forward(self, x: Tensor) -> Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return x


class CvT(nn.Module):
    """The BYOL-S CvT (see the module docstring); ``stages``: per stage
    ``(in_dim, dim, emb_kernel, heads, proj_kernel, mlp_mult, depth)``."""

    def __init__(self, stages: list[tuple[int, int, int, int, int, int, int]]):
        super().__init__()
        blocks = []
        for (cin, dim, k, heads, pk, mult, depth), stride in zip(stages, EMB_STRIDES):
            layers = [(PreNorm(dim, ConvAttention(dim, heads, pk)), PreNorm(dim, ConvFeedForward(dim, mult)))
                      for _ in range(depth)]
            blocks.append(nn.Sequential(nn.Conv2d(cin, dim, k, stride, k // 2), ChannelNorm(dim), Stage(layers)))
        self.layers = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layers(x).permute(0, 3, 2, 1)
        x = x.reshape(x.size(0), x.size(1), -1)
        return x.mean(1) + x.amax(1)


def load_cvt(state: dict, where: str) -> CvT:
    """Build :class:`CvT` from a released state dict (widths, heads, kernels, depths read from it).

    Args:
        where: the checkpoint file (messages start with ``checkpoint <where>``).

    Raises:
        ValueError: not a CvT state dict.
        CheckpointKeyError: (a ``ValueError``) missing, unexpected, misshapen,
            non-floating or NaN/Inf weights
            (:func:`s3prl.util.checkpoint.load_state_dict_strict`).
    """
    from s3prl.util.checkpoint import load_state_dict_strict

    if not isinstance(state, dict) or "layers.2.0.weight" not in state:
        raise ValueError(f"checkpoint {where}: not a BYOL-S CvT state dict (no 'layers.2.0.weight')")
    stages = []
    for s in range(3):
        emb = state[f"layers.{s}.0.weight"]
        p = f"layers.{s}.2.layers."
        depth = len({k[len(p):].split(".")[0] for k in state if k.startswith(p)})
        q_out = state[f"{p}0.0.fn.to_q.net.2.weight"]
        pk = state[f"{p}0.0.fn.to_q.net.0.weight"].shape[-1]
        mult = state[f"{p}0.1.fn.net.0.weight"].shape[0] // emb.shape[0]
        stages.append((emb.shape[1], emb.shape[0], emb.shape[-1], q_out.shape[0] // DIM_HEAD, pk, mult, depth))
    model = CvT(stages)
    load_state_dict_strict(model, state, where=where, what="the BYOL-S CvT")
    return model
