"""Reduced-size vq-wav2vec checkpoints (Gumbel and k-means) in fairseq's released layout.

Same layout as wav2vec (see ``wav2vec.py``) plus ``vector_quantizer.*``:
Gumbel (``vq-wav2vec.pt``: ``--vq-type gumbel --vq-groups 2 --vq-depth 2
--combine-groups --activation gelu``): ``vars`` and ``weight_proj.{0.0,1}.*``;
k-means (``vq-wav2vec_kmeans.pt``: ``--vq-type kmeans --vq-groups 2``):
``embedding``, ``projection.0.weight`` (grouped 1x1 conv), ``projection.1.*`` (group norm).
"""

from __future__ import annotations

from pathlib import Path

from .wav2vec import _args, write_fairseq_wav2vec


def build_gumbel(dst: Path):
    args = _args(
        vq_type="gumbel", vq_groups=2, vq_depth=2, combine_groups=True, vq_vars=24,
        activation="gelu", log_compression=False,
    )
    return "vq_wav2vec_local", write_fairseq_wav2vec(dst, args, seed=12, name="vq_gumbel_test.pt")


def build_kmeans(dst: Path):
    args = _args(vq_type="kmeans", vq_groups=2, vq_vars=24, log_compression=False, vq_gamma=0.25)
    return "vq_wav2vec_local", write_fairseq_wav2vec(dst, args, seed=13, name="vq_kmeans_test.pt")


BUILDERS = {"vq_wav2vec_gumbel_tiny": build_gumbel, "vq_wav2vec_kmeans_tiny": build_kmeans}
