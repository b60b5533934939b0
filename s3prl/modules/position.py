"""Position encodings shared by attention modules.

* :func:`sinusoid_position_encoding`: the absolute sinusoidal table of Vaswani et al. (2017),
  float64 as the original numpy tables (Mockingjay / TERA / Audio ALBERT, MAE-AST).
* :func:`relative_position_table`: the sinusoidal table of relative positions
  ``T-1, T-2, ..., 0, ..., -(T-1)`` used by relative-position self-attention (Dai et al.
  2019, Transformer-XL, https://arxiv.org/abs/1901.02860, section 3.3; the ESPnet /
  fairseq ``RelPositionalEncoding`` convention: row ``r`` is relative position
  ``T - 1 - r``, even channels ``sin(p * w_k)``, odd channels ``cos(p * w_k)``,
  ``w_k = 10000 ** (-2k / dim)``).
* :func:`relative_shift`: turns scores against that table, ``(..., T, 2T - 1)``, into
  ``(..., T, T)`` scores indexed by (query, key), without a copy.
* :func:`rotary_cos_sin` / :func:`apply_rotary`: rotary position embedding (Su et al. 2021,
  RoFormer, https://arxiv.org/abs/2104.09864) with the "rotate half" channel pairing
  (channel ``c`` pairs with ``c + d/2``), as in GPT-NeoX / fairseq.

Every table depends only on the frame index (relative or absolute), never on the
padded length, so a wav's valid frames get the same encodings alone or in a batch.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "sinusoid_position_encoding",
    "relative_position_table",
    "relative_shift",
    "rotary_inv_freq",
    "rotary_cos_sin",
    "apply_rotary",
]


def relative_position_table(
    frames: int, dim: int, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Sinusoids of relative positions ``frames - 1`` down to ``-(frames - 1)``.

    Args:
        frames: sequence length ``T`` (>= 1).
        dim: channels (even).
        device, dtype: of the result (computed in fp32, then cast).

    Returns:
        ``(2T - 1, dim)``: row ``r`` encodes relative position ``p = T - 1 - r``
        (query index minus key index) as ``[sin(p w_0), cos(p w_0), sin(p w_1), ...]``.
    """
    if dim % 2:
        raise ValueError(f"relative position table needs an even dim, got {dim}")
    pos = torch.arange(frames - 1, -frames, -1, device=device, dtype=torch.float32)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angle = pos[:, None] * freq[None, :]
    table = torch.empty(2 * frames - 1, dim, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle)
    return table.to(dtype)


def relative_shift(scores: Tensor) -> Tensor:
    """``(..., T, 2T - 1)`` scores of each query against every relative position (columns
    ordered as :func:`relative_position_table`'s rows) -> ``(..., T, T)`` with
    ``out[..., i, j] = scores[..., i, T - 1 - i + j]`` (relative position ``i - j``).

    A strided view (no copy) of a contiguous ``scores``: element ``(i, j)`` sits at
    ``i * (2T - 1) + (T - 1 - i + j) = (T - 1) + i * (2T - 2) + j``.
    """
    frames = scores.size(-2)
    if scores.size(-1) != 2 * frames - 1:
        raise ValueError(f"relative_shift expects (..., T, 2T-1) scores, got {tuple(scores.shape)}")
    scores = scores.contiguous()
    size = (*scores.shape[:-1], frames)
    stride = (*scores.stride()[:-2], 2 * frames - 2, 1)
    return scores.as_strided(size, stride, scores.storage_offset() + frames - 1)


def rotary_inv_freq(dim: int, base: float = 10000.0, device: Optional[torch.device] = None) -> Tensor:
    """``base ** (-2k / dim)`` for ``k = 0 .. dim/2 - 1`` (fp32, ``(dim // 2,)``): the rotary
    frequencies (fairseq stores them in checkpoints as ``rotary_emb.inv_freq``)."""
    if dim % 2:
        raise ValueError(f"rotary embedding needs an even dim, got {dim}")
    return 1.0 / (base ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))


def rotary_cos_sin(
    frames: int, dim: int, base: float = 10000.0, device: Optional[torch.device] = None
) -> tuple[Tensor, Tensor]:
    """Rotary tables for positions ``0 .. frames - 1``.

    Args:
        frames: sequence length.
        dim: rotated channels (the head dim; even).
        base: wavelength base (10000).

    Returns:
        ``(cos, sin)``, each ``(frames, dim)`` fp32: ``angle[t, c] = t * base ** (-2 (c mod
        d/2) / d)`` (the two halves of the channels share frequencies).
    """
    inv_freq = rotary_inv_freq(dim, base, device)
    angle = torch.arange(frames, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    angle = torch.cat([angle, angle], dim=-1)
    return angle.cos(), angle.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` ``(batch, frames, heads, dim)`` by the tables of :func:`rotary_cos_sin`
    (``(frames, dim)``): ``x * cos + rotate_half(x) * sin`` with ``rotate_half([a, b]) =
    [-b, a]`` over the two channel halves."""
    half = x.size(-1) // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    cos, sin = cos[:, None, :].to(x.dtype), sin[:, None, :].to(x.dtype)
    return x * cos + rotated * sin


def sinusoid_position_encoding(length: int, dim: int, device=None) -> Tensor:
    """The fixed sinusoidal position encoding of the original (Vaswani et al., 2017).

    ``pe[p, j] = sin(p / 10000^(2*(j//2)/dim))`` for even ``j``, ``cos(...)``
    for odd ``j``; computed in float64 (as the original's numpy table) and
    returned as ``(length, dim)`` float32.
    """
    pos = torch.arange(length, dtype=torch.float64, device=device)[:, None]
    j = torch.arange(dim, device=device)
    inv = torch.pow(torch.tensor(10000.0, dtype=torch.float64, device=device), -(2 * (j // 2)).double() / dim)
    angle = pos * inv[None, :]
    pe = torch.where((j % 2 == 0)[None, :], torch.sin(angle), torch.cos(angle))
    return pe.float()
