"""Vision-Transformer building blocks shared by the audio spectrogram transformers
(AST, SSAST, MAE-AST, PaSST).

Their released checkpoints store the ``timm`` ``VisionTransformer`` layout
(Dosovitskiy et al., 2021, https://arxiv.org/abs/2010.11929; Touvron et al.,
2021 for DeiT's distillation token), so the parameter names here are the ones
those files hold::

    blocks.{i}.norm1.{weight,bias}      LayerNorm(dim, eps=1e-6)
    blocks.{i}.attn.qkv.{weight,bias}   Linear(dim, 3 dim): q, k, v stacked
    blocks.{i}.attn.proj.{weight,bias}  Linear(dim, dim)
    blocks.{i}.norm2.{weight,bias}      LayerNorm(dim, eps=1e-6)
    blocks.{i}.mlp.fc1.{weight,bias}    Linear(dim, mlp_ratio dim), GELU (erf)
    blocks.{i}.mlp.fc2.{weight,bias}    Linear(mlp_ratio dim, dim)
    patch_embed.proj.{weight,bias}      Conv2d(in_chans, dim, patch, stride)

Pre-norm residual block (the ViT paper, eq. 2-3):
``x = x + proj(MHSA(norm1(x)))``, ``x = x + fc2(GELU(fc1(norm2(x))))``, with
multi-head scaled dot-product attention, head size ``dim / heads``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Attention", "Mlp", "ViTBlock", "PatchEmbed", "stack_blocks", "count_blocks", "heads_for",
    "resize_pos_grid",
]


class Attention(nn.Module):
    """Multi-head self-attention with one fused q/k/v projection.

    Args:
        dim: model width.
        num_heads: attention heads (``dim`` must be divisible by it).
        qkv_bias: bias on the q/k/v projection (``True`` in ViT/DeiT).

    Raises:
        ValueError: ``dim`` is not divisible by ``num_heads``.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} attention heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """Args:
            x: ``(batch, tokens, dim)``.
            key_padding_mask: optional ``(batch, tokens)`` bool, ``True`` at
                tokens that must not be attended to.

        Returns:
            ``(batch, tokens, dim)``.
        """
        b, n, d = x.shape
        h = self.num_heads
        qkv = self.qkv(x).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None
        if key_padding_mask is not None:
            mask = ~key_padding_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` (exact erf GELU, as ``nn.GELU()``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class ViTBlock(nn.Module):
    """One pre-norm transformer block in the ``timm`` ViT layout.

    Args:
        dim: model width (768 for the Base models).
        num_heads: attention heads (12 for Base).
        mlp_ratio: MLP width / ``dim`` (4).
        qkv_bias: bias on the q/k/v projection.
        eps: LayerNorm epsilon (1e-6 in the released ViT/DeiT checkpoints).

    Input/output: ``(batch, tokens, dim)`` float tensors.
    """

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, eps: float = 1e-6
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        x = x + self.attn(self.norm1(x), key_padding_mask)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Patches of a ``(batch, channels, freq, time)`` spectrogram image, projected
    by one convolution (kernel = patch size, stride = patch stride).

    Returns ``(batch, f_patches * t_patches, dim)``, tokens in frequency-major
    order (token ``f * t_patches + t``), as ``conv(x).flatten(2).transpose(1, 2)``.
    """

    def __init__(self, in_chans: int, dim: int, patch: tuple[int, int], stride: tuple[int, int]):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=stride)

    def grid(self, freq: int, time: int) -> tuple[int, int]:
        """``(f_patches, t_patches)`` for a ``freq x time`` input."""
        (kf, kt), (sf, st) = self.proj.kernel_size, self.proj.stride
        return (freq - kf) // sf + 1, (time - kt) // st + 1

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def stack_blocks(dim: int, depth: int, num_heads: int, **kwargs) -> nn.ModuleList:
    """``depth`` :class:`ViTBlock` s in an ``nn.ModuleList`` (parameter names ``{i}.*``)."""
    return nn.ModuleList(ViTBlock(dim, num_heads, **kwargs) for _ in range(depth))


def count_blocks(state: dict, prefix: str) -> int:
    """Number of ``{prefix}blocks.{i}.`` blocks in a state dict (0 when none)."""
    ids = {
        int(k[len(prefix) + 7 :].split(".", 1)[0])
        for k in state
        if k.startswith(prefix + "blocks.") and k[len(prefix) + 7 :].split(".", 1)[0].isdigit()
    }
    return max(ids) + 1 if ids else 0


def heads_for(dim: int, num_heads: int | None) -> int:
    """Attention heads: ``num_heads`` when given, else ``dim // 64`` (DeiT/ViT
    Tiny/Small/Base all use 64-dim heads: 3/6/12 heads for 192/384/768)."""
    if num_heads is not None:
        return int(num_heads)
    if dim % 64:
        raise ValueError(
            f"cannot infer the number of attention heads for width {dim} (not a multiple of "
            "64): pass num_heads="
        )
    return dim // 64


def resize_pos_grid(pos: Tensor, src: tuple[int, int], dst: tuple[int, int]) -> Tensor:
    """Adapt a ``(1, f * t, dim)`` patch positional embedding from a ``src = (f, t)``
    patch grid to ``dst``, axis by axis as AST / SSAST do (Gong et al., ``ast_models.py``):
    time first, then frequency; an axis that shrinks keeps its middle
    ``[src // 2 - dst // 2, src // 2 - dst // 2 + dst)``, an axis that grows (or
    stays) is resized by bilinear interpolation (``align_corners=False``;
    identity when the size is unchanged).

    Returns:
        ``(1, dst_f * dst_t, dim)``, frequency-major.
    """
    (sf, st), (df, dt) = src, dst
    d = pos.size(-1)
    grid = pos.reshape(1, sf, st, d).permute(0, 3, 1, 2)
    if dt < st:
        grid = grid[:, :, :, st // 2 - dt // 2 : st // 2 - dt // 2 + dt]
    else:
        grid = F.interpolate(grid, size=(sf, dt), mode="bilinear")
    if df < sf:
        grid = grid[:, :, sf // 2 - df // 2 : sf // 2 - df // 2 + df, :]
    else:
        grid = F.interpolate(grid, size=(df, dt), mode="bilinear")
    return grid.reshape(1, d, df * dt).transpose(1, 2)
