"""The DeiT-style spectrogram transformer of AST and SSAST (Gong et al., 2021/2022).

Parameter names follow the released checkpoints (``model.v.*`` of the original
``ASTModel``, a ``timm`` distilled DeiT with a 1-channel patch projection)::

    cls_token (1, 1, D), dist_token (1, 1, D) (absent for SSAST "base_nokd"),
    pos_embed (1, n_special + f * t, D), patch_embed.proj (D, 1, kf, kt),
    blocks.{i}.*  (see :mod:`s3prl.modules.vit`), norm (LayerNorm, eps 1e-6)

Forward (``ASTModel.forward`` of both repositories): fbank ``(N, T, F)`` ->
image ``(N, 1, F, T)`` -> patch tokens (frequency-major) -> prepend cls (and
dist) tokens -> add ``pos_embed`` -> blocks. After each block the patch tokens
are regrouped per time patch: ``(N, f, t, D)`` -> ``(N, t, f * D)`` (the
frequency patches of one time step concatenated, frequency-major).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3prl.modules.vit import PatchEmbed, stack_blocks

__all__ = ["SpectrogramViT"]


class SpectrogramViT(nn.Module):
    """DeiT over a ``(N, frames, mel)`` spectrogram.

    Args:
        dim: width ``D``; depth: blocks; num_heads: attention heads.
        patch: ``(kf, kt)`` patch size; stride: ``(sf, st)`` patch stride.
        input_fdim, input_tdim: mel bins and frames of one window.
        dist_token: DeiT's distillation token (2 special tokens) or not (1).
    """

    def __init__(
        self, dim: int, depth: int, num_heads: int, patch: tuple[int, int], stride: tuple[int, int],
        input_fdim: int, input_tdim: int, dist_token: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.patch_embed = PatchEmbed(1, dim, patch, stride)
        self.grid = self.patch_embed.grid(input_fdim, input_tdim)
        self.n_special = 2 if dist_token else 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim)) if dist_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.n_special + self.grid[0] * self.grid[1], dim))
        self.blocks = stack_blocks(dim, depth, num_heads)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.input_fdim, self.input_tdim = input_fdim, input_tdim

    def forward(self, fbank: Tensor) -> tuple[list[Tensor], Tensor]:
        """Args:
            fbank: ``(N, input_tdim, input_fdim)`` normalised fbank windows.

        Returns:
            ``(per_time, final)``: one ``(N, t, f * D)`` tensor per block (patch
            tokens regrouped per time patch) and the final ``norm``-ed tokens
            ``(N, n_special + f * t, D)``.
        """
        n = fbank.size(0)
        x = self.patch_embed(fbank.transpose(1, 2).unsqueeze(1))
        special = [self.cls_token.expand(n, -1, -1)]
        if self.dist_token is not None:
            special.append(self.dist_token.expand(n, -1, -1))
        x = torch.cat(special + [x], dim=1) + self.pos_embed
        f, t = self.grid
        per_time = []
        for blk in self.blocks:
            x = blk(x)
            p = x[:, self.n_special :].reshape(n, f, t, -1)
            per_time.append(p.transpose(1, 2).flatten(2))
        return per_time, self.norm(x)
