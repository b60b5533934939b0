"""Reduced-size PaSST checkpoints in the released layout (seeded weights).

Layout (the state dict of ``hear21passt``'s ``PaSST`` as released on kkoutini/PaSST's GitHub
releases, e.g. ``passt-s-f128-p16-s10-ap.476-swa.pt``, read by timm's ``load_state_dict_from_url``)::

    patch_embed.proj.{weight (D, 1, 16, 16), bias}, cls_token, dist_token (1, 1, D),
    new_pos_embed (1, 2, D), freq_new_pos_embed (1, D, 12, 1), time_new_pos_embed (1, D, 1, 99),
    blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.{weight,bias},
    norm.*, head.0.* (LayerNorm), head.1.* (Linear(D, 527)), head_dist.* (Linear(D, 527))

Reduced: width 128 (2 heads of 64), 2 blocks.
"""

from __future__ import annotations

from pathlib import Path

import torch

DIM, DEPTH = 128, 2


def make_state(seed: int = 51, t_grid: int = 99) -> dict:
    gen = torch.Generator().manual_seed(seed)

    def r(*shape, s=0.02):
        return torch.randn(*shape, generator=gen) * s

    sd = {
        "cls_token": r(1, 1, DIM), "dist_token": r(1, 1, DIM), "new_pos_embed": r(1, 2, DIM, s=0.1),
        "freq_new_pos_embed": r(1, DIM, 12, 1, s=0.1), "time_new_pos_embed": r(1, DIM, 1, t_grid, s=0.1),
        "patch_embed.proj.weight": r(DIM, 1, 16, 16, s=0.05), "patch_embed.proj.bias": r(DIM),
    }
    for i in range(DEPTH):
        p = f"blocks.{i}."
        sd.update({
            p + "norm1.weight": 1 + r(DIM, s=0.1), p + "norm1.bias": r(DIM, s=0.1),
            p + "attn.qkv.weight": r(3 * DIM, DIM, s=DIM**-0.5), p + "attn.qkv.bias": r(3 * DIM, s=0.1),
            p + "attn.proj.weight": r(DIM, DIM, s=DIM**-0.5), p + "attn.proj.bias": r(DIM, s=0.1),
            p + "norm2.weight": 1 + r(DIM, s=0.1), p + "norm2.bias": r(DIM, s=0.1),
            p + "mlp.fc1.weight": r(4 * DIM, DIM, s=DIM**-0.5), p + "mlp.fc1.bias": r(4 * DIM, s=0.1),
            p + "mlp.fc2.weight": r(DIM, 4 * DIM, s=(4 * DIM) ** -0.5), p + "mlp.fc2.bias": r(DIM, s=0.1),
        })
    sd.update({
        "norm.weight": 1 + r(DIM, s=0.1), "norm.bias": r(DIM, s=0.1),
        "head.0.weight": 1 + r(DIM, s=0.1), "head.0.bias": r(DIM, s=0.1),
        "head.1.weight": r(527, DIM, s=DIM**-0.5), "head.1.bias": r(527, s=0.1),
        "head_dist.weight": r(527, DIM, s=DIM**-0.5), "head_dist.bias": r(527, s=0.1),
    })
    return sd


def build_passt(dst: Path):
    path = Path(dst) / "passt-s-f128-p16-s10-tiny.pt"
    torch.save(make_state(), path)
    return "passt_local", path


BUILDERS = {"passt_base_tiny": build_passt}
