"""Reduced-size PASE+ encoder checkpoints in the pase ``Saver`` layout (seeded weights).

Layout of ``FE_e199.ckpt``: ``{"step": int, "state_dict": {...}}`` with santi-pdp/pase
``WaveFe`` names: ``blocks.0.conv.{low_hz_,band_hz_}`` (SincNet), ``blocks.{i>0}.conv.{weight,bias}``,
``blocks.{i}.norm.{weight,bias,running_mean,running_var,num_batches_tracked}``,
``blocks.{i}.act.weight`` (PReLU), ``denseskips.{i}.weight``, ``rnn.layers.{j}.linear.{weight,bias}``
(QRNN), ``W.{weight,bias}``, ``norm_out.{running_mean,running_var,num_batches_tracked}``.
The JSON config is written next to it as ``PASE+.cfg`` (as released together).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

CONFIG = {
    "kwidths": [31, 20, 5, 5, 5, 5, 5, 5],
    "strides": [1, 10, 2, 1, 2, 1, 2, 2],
    "fmaps": [8, 8, 16, 16, 16, 16, 24, 24],
    "rnn_dim": 24,
    "emb_dim": 16,
    "denseskips": True,
    "norm_out": True,
    "rnn_pool": True,
    "rnn_layers": 1,
}


def make_state(cfg: dict = CONFIG, seed: int = 41) -> dict:
    gen = torch.Generator().manual_seed(seed)

    def r(*shape, s=0.1, o=0.0):
        return torch.randn(*shape, generator=gen) * s + o

    def bn(prefix, c, affine=True):
        if affine:
            sd[prefix + "weight"], sd[prefix + "bias"] = r(c, s=0.2, o=1.0), r(c, s=0.2)
        sd[prefix + "running_mean"] = r(c, s=0.3)
        sd[prefix + "running_var"] = torch.rand(c, generator=gen) + 0.5
        sd[prefix + "num_batches_tracked"] = torch.tensor(1000)

    sd = {}
    n_in, fm = 1, cfg["fmaps"]
    for i, (k, f) in enumerate(zip(cfg["kwidths"], fm)):
        if i == 0:
            hz = torch.linspace(30, 7000, f + 1)
            sd["blocks.0.conv.low_hz_"] = (hz[:-1] + r(f, s=20.0)).view(-1, 1)
            sd["blocks.0.conv.band_hz_"] = (hz.diff() + r(f, s=20.0)).view(-1, 1)
        else:
            sd[f"blocks.{i}.conv.weight"] = r(f, n_in, k, s=(1.0 / (n_in * k)) ** 0.5)
            sd[f"blocks.{i}.conv.bias"] = r(f)
        bn(f"blocks.{i}.norm.", f)
        sd[f"blocks.{i}.act.weight"] = r(f, s=0.1, o=0.2)
        if i < len(fm) - 1:
            sd[f"denseskips.{i}.weight"] = r(cfg["emb_dim"], f, 1, s=0.3)
        n_in = f
    h = cfg["rnn_dim"]
    for j in range(cfg["rnn_layers"]):
        sd[f"rnn.layers.{j}.linear.weight"] = r(3 * h, 2 * (n_in if j == 0 else h), s=0.2)
        sd[f"rnn.layers.{j}.linear.bias"] = r(3 * h)
    sd["W.weight"], sd["W.bias"] = r(cfg["emb_dim"], h, 1, s=0.3), r(cfg["emb_dim"])
    bn("norm_out.", cfg["emb_dim"], affine=False)
    return sd


def build_pase(dst: Path):
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    path = dst / "FE_e199.ckpt"
    torch.save({"step": 199, "state_dict": make_state()}, path)
    (dst / "PASE+.cfg").write_text(json.dumps(CONFIG, indent=1))
    return "pase_local", path


BUILDERS = {"pase_plus_tiny": build_pase}
