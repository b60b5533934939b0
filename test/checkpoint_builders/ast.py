"""Reduced-size AST / SSAST checkpoints in their released layouts (seeded weights).

AST (``audioset_10_10_0.4593.pth``): the state dict of
``torch.nn.DataParallel(ASTModel(fstride=10, tstride=10, input_tdim=1024))`` saved by
``torch.save(audio_model.state_dict(), ...)`` in Yuan Gong's ``ast`` training loop::

    module.v.{cls_token,dist_token} (1, 1, D), module.v.pos_embed (1, 2 + 12 * 101, D),
    module.v.patch_embed.proj.{weight (D, 1, 16, 16), bias}, module.v.blocks.{i}.{norm1,
    attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.{weight,bias}, module.v.norm.*,
    module.v.head.* (1000 ImageNet classes), module.v.head_dist.*,
    module.mlp_head.0.* (LayerNorm), module.mlp_head.1.* (Linear(D, 527))

SSAST (``SSAST-Base-{Frame,Patch}-400.pth``): the DataParallel state dict of the
pre-training-stage ``ASTModel``: ``module.v.*`` as above with the pre-training patch
(frame 128 x 2, patch 16 x 16, non-overlapping) and grid (input 128 x 1024 frames), plus
``module.p_input_fdim`` / ``module.p_input_tdim`` (0-d parameters), ``module.cpredlayer.{0,2}.*``,
``module.gpredlayer.{0,2}.*`` (Linear D->D, ReLU, Linear D->256) and ``module.mask_embed``.

Reduced: width 128 (2 heads of 64, the released head size), 2 blocks, small ImageNet heads.
"""

from __future__ import annotations

from pathlib import Path

import torch

DIM, DEPTH = 128, 2


def _vit(gen, dim, depth, patch, n_pos, dist=True) -> dict:
    def r(*shape, s=0.02):
        return torch.randn(*shape, generator=gen) * s

    sd = {"module.v.cls_token": r(1, 1, dim), "module.v.pos_embed": r(1, n_pos, dim, s=0.1)}
    if dist:
        sd["module.v.dist_token"] = r(1, 1, dim)
    sd["module.v.patch_embed.proj.weight"] = r(dim, 1, *patch, s=0.05)
    sd["module.v.patch_embed.proj.bias"] = r(dim)
    for i in range(depth):
        p = f"module.v.blocks.{i}."
        sd[p + "norm1.weight"] = 1 + r(dim, s=0.1)
        sd[p + "norm1.bias"] = r(dim, s=0.1)
        sd[p + "attn.qkv.weight"] = r(3 * dim, dim, s=dim**-0.5)
        sd[p + "attn.qkv.bias"] = r(3 * dim, s=0.1)
        sd[p + "attn.proj.weight"] = r(dim, dim, s=dim**-0.5)
        sd[p + "attn.proj.bias"] = r(dim, s=0.1)
        sd[p + "norm2.weight"] = 1 + r(dim, s=0.1)
        sd[p + "norm2.bias"] = r(dim, s=0.1)
        sd[p + "mlp.fc1.weight"] = r(4 * dim, dim, s=dim**-0.5)
        sd[p + "mlp.fc1.bias"] = r(4 * dim, s=0.1)
        sd[p + "mlp.fc2.weight"] = r(dim, 4 * dim, s=(4 * dim) ** -0.5)
        sd[p + "mlp.fc2.bias"] = r(dim, s=0.1)
    sd["module.v.norm.weight"] = 1 + r(dim, s=0.1)
    sd["module.v.norm.bias"] = r(dim, s=0.1)
    sd["module.v.head.weight"] = r(10, dim)
    sd["module.v.head.bias"] = r(10)
    if dist:
        sd["module.v.head_dist.weight"] = r(10, dim)
        sd["module.v.head_dist.bias"] = r(10)
    return sd


def ast_state(seed: int = 31, labels: int = 527) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sd = _vit(gen, DIM, DEPTH, (16, 16), 2 + 12 * 101)
    sd["module.mlp_head.0.weight"] = 1 + torch.randn(DIM, generator=gen) * 0.1
    sd["module.mlp_head.0.bias"] = torch.randn(DIM, generator=gen) * 0.1
    sd["module.mlp_head.1.weight"] = torch.randn(labels, DIM, generator=gen) * DIM**-0.5
    sd["module.mlp_head.1.bias"] = torch.randn(labels, generator=gen) * 0.1
    return sd


def ssast_state(kind: str, seed: int = 32) -> dict:
    """``kind``: ``"frame"`` (128 x 2 patches, grid 1 x 512) or ``"patch"`` (16 x 16, 8 x 64)."""
    gen = torch.Generator().manual_seed(seed)
    patch = (128, 2) if kind == "frame" else (16, 16)
    grid = (128 // patch[0]) * (1024 // patch[1])
    sd = _vit(gen, DIM, DEPTH, patch, 2 + grid)
    sd["module.p_input_fdim"] = torch.tensor(128)
    sd["module.p_input_tdim"] = torch.tensor(1024)
    for head in ("cpredlayer", "gpredlayer"):
        sd[f"module.{head}.0.weight"] = torch.randn(DIM, DIM, generator=gen) * 0.05
        sd[f"module.{head}.0.bias"] = torch.zeros(DIM)
        sd[f"module.{head}.2.weight"] = torch.randn(256, DIM, generator=gen) * 0.05
        sd[f"module.{head}.2.bias"] = torch.zeros(256)
    sd["module.mask_embed"] = torch.randn(1, 1, DIM, generator=gen) * 0.05
    return sd


def build_ast(dst_dir: Path):
    path = Path(dst_dir) / "audioset_10_10_0.4593.pth"
    torch.save(ast_state(), path)
    return "ast", path


def build_ssast_frame(dst_dir: Path):
    path = Path(dst_dir) / "SSAST-Tiny-Frame-400.pth"
    torch.save(ssast_state("frame"), path)
    return "ssast_local", path


def build_ssast_patch(dst_dir: Path):
    path = Path(dst_dir) / "SSAST-Tiny-Patch-400.pth"
    torch.save(ssast_state("patch"), path)
    return "ssast_local", path


# The patch model is left out of the shared contract: a 1 s window gives 9 time patches
# for a declared stride of 1600 samples (10 per second), see test/test_ssast.py.
BUILDERS = {"ast_tiny": build_ast, "ssast_frame_tiny": build_ssast_frame}
