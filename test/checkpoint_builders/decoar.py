"""Reduced-size DeCoAR 1.0 checkpoints in the released layout (seeded random weights).

Layout of s3prl's ``checkpoint_decoar.pt`` (read by s3prl 0.4.18 ``upstream/decoar/expert.py``
as ``torch.load(ckpt)["model"]`` into its ``Decoar`` module): ``{"model": state_dict}`` with
``post_extract_proj.{weight,bias}`` (Linear 80 -> d) and ``forward_lstm.*`` /
``backward_lstm.*``, each a multi-layer ``nn.LSTM(d, d, num_layers)``:
``{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}``. Released: d = 1024, 4 layers.
"""

from __future__ import annotations

from pathlib import Path

import torch

HIDDEN, LAYERS = 16, 2


def make_state(seed: int = 71, hidden: int = HIDDEN, layers: int = LAYERS) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sd = {"post_extract_proj.weight": torch.randn(hidden, 80, generator=gen) * 80**-0.5,
          "post_extract_proj.bias": torch.randn(hidden, generator=gen) * 0.1}
    for direction in ("forward_lstm", "backward_lstm"):
        for k in range(layers):
            sd[f"{direction}.weight_ih_l{k}"] = torch.randn(4 * hidden, hidden, generator=gen) * hidden**-0.5
            sd[f"{direction}.weight_hh_l{k}"] = torch.randn(4 * hidden, hidden, generator=gen) * hidden**-0.5
            sd[f"{direction}.bias_ih_l{k}"] = torch.randn(4 * hidden, generator=gen) * 0.1
            sd[f"{direction}.bias_hh_l{k}"] = torch.randn(4 * hidden, generator=gen) * 0.1
    return sd


def build_decoar(dst: Path) -> tuple[str, Path]:
    Path(dst).mkdir(parents=True, exist_ok=True)
    path = Path(dst) / "checkpoint_decoar.pt"
    torch.save({"model": make_state()}, path)
    return "decoar_local", path


def build_decoar_layers(dst: Path) -> tuple[str, Path]:
    _, path = build_decoar(dst)
    return "decoar_layers_local", path


BUILDERS = {"decoar_tiny": build_decoar, "decoar_layers_tiny": build_decoar_layers}
