"""VGGish checkpoints in the torchvggish release layout (seeded weights).

Two files side by side (harritaylor/torchvggish v0.1):

* ``vggish-10086976.pth``: ``features.{0,3,6,8,11,13}.{weight,bias}`` (Conv2d 3 x 3),
  ``embeddings.{0,2,4}.{weight,bias}`` (Linear);
* ``vggish_pca_params-970ea276.pth``: ``{"pca_eigen_vectors": ndarray (128, 128),
  "pca_means": ndarray (128,)}``.

Reduced: conv widths 8-16-32-32-64-64 and FC 64-64-128 (released: 64-128-256-256-512-512,
4096-4096-128); ``full=True`` writes the released sizes (288 MB, slow tests only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

CONV_IDS = [0, 3, 6, 8, 11, 13]


def make_state(full: bool = False, seed: int = 71) -> dict:
    gen = torch.Generator().manual_seed(seed)
    convs = [64, 128, 256, 256, 512, 512] if full else [8, 16, 32, 32, 64, 64]
    fcs = [4096, 4096, 128] if full else [64, 64, 128]
    sd, cin = {}, 1
    for i, c in zip(CONV_IDS, convs):
        sd[f"features.{i}.weight"] = torch.randn(c, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
        sd[f"features.{i}.bias"] = torch.randn(c, generator=gen) * 0.05
        cin = c
    d = convs[-1] * 24
    for i, out in zip((0, 2, 4), fcs):
        sd[f"embeddings.{i}.weight"] = torch.randn(out, d, generator=gen) * (2 / d) ** 0.5
        sd[f"embeddings.{i}.bias"] = torch.randn(out, generator=gen) * 0.05
        d = out
    return sd


def make_pca(seed: int = 72) -> dict:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((128, 128)))
    return {"pca_eigen_vectors": q * 0.5, "pca_means": rng.standard_normal(128) * 0.3}


def build_vggish(dst: Path, full: bool = False):
    dst = Path(dst)
    torch.save(make_state(full), dst / "vggish-10086976.pth")
    torch.save(make_pca(), dst / "vggish_pca_params-970ea276.pth")
    return "vggish", dst / "vggish-10086976.pth"


# No golden: VGGish needs 0.975 s per example and the shortest bundled recording is 0.54 s;
# test/test_vggish.py covers padding invariance, metadata and the reference parity.
BUILDERS: dict = {}
