"""Reduced-size VQ-APC checkpoints in the original s3prl toolkit's released layout.

The layout of ``vq_apc_360hr.ckpt`` is APC's (see :mod:`test.checkpoint_builders.apc`)
with ``config["model"]["paras"]["vq"] = {codebook_size: [...], code_dim: [...],
gumbel_temperature}`` and the quantiser weights ``vq_layers.{g}.*``. The reduced
model has two groups (the released one has one of 512 codes x 512 dims) to
exercise the per-group keys.
"""

from __future__ import annotations

from pathlib import Path

from test.checkpoint_builders.apc import HIDDEN, write_apc_checkpoint

VQ = {"codebook_size": [16, 8], "code_dim": [HIDDEN // 2, HIDDEN // 2], "gumbel_temperature": 0.5}


def build_vq_apc_tiny(dst_dir: Path):
    return "vq_apc_local", write_apc_checkpoint(Path(dst_dir) / "vq_apc_tiny.ckpt", seed=12, vq=VQ)


BUILDERS = {"vq_apc_tiny": build_vq_apc_tiny}
