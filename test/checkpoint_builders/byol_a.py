"""BYOL-A checkpoints in the released layout (``AudioNTT2020-BYOLA-64x96d512.pth``: the
``state_dict()`` of ``AudioNTT2020(n_mels=64, d)``), seeded weights, at the released 512-d size
(0.9 M parameters, small enough)::

    features.{0,4,8}.{weight,bias}; features.{1,5,9}.{weight,bias,running_mean,running_var,
    num_batches_tracked}; fc.0.{weight,bias} (d, 512); fc.3.{weight,bias} (d, d)
"""

from __future__ import annotations

from pathlib import Path

import torch


def make_state(d: int = 512, seed: int = 61) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for conv, bn, cin in ((0, 1, 1), (4, 5, 64), (8, 9, 64)):
        sd[f"features.{conv}.weight"] = torch.randn(64, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
        sd[f"features.{conv}.bias"] = torch.randn(64, generator=gen) * 0.1
        sd[f"features.{bn}.weight"] = 1 + 0.1 * torch.randn(64, generator=gen)
        sd[f"features.{bn}.bias"] = 0.1 * torch.randn(64, generator=gen)
        sd[f"features.{bn}.running_mean"] = 0.2 * torch.randn(64, generator=gen)
        sd[f"features.{bn}.running_var"] = 0.5 + torch.rand(64, generator=gen)
        sd[f"features.{bn}.num_batches_tracked"] = torch.tensor(1000)
    sd["fc.0.weight"] = torch.randn(d, 512, generator=gen) * 512**-0.5
    sd["fc.0.bias"] = torch.randn(d, generator=gen) * 0.1
    sd["fc.3.weight"] = torch.randn(d, d, generator=gen) * d**-0.5
    sd["fc.3.bias"] = torch.randn(d, generator=gen) * 0.1
    return sd


def build_byol_a_512(dst: Path):
    path = Path(dst) / "AudioNTT2020-BYOLA-64x96d512.pth"
    torch.save(make_state(), path)
    return "byol_a_512", path


BUILDERS = {"byol_a_512_seeded": build_byol_a_512}
