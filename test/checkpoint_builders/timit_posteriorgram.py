"""TIMIT posteriorgram checkpoint in the layout s3prl's downstream runner saves
(``convbank.ckpt``), seeded, released sizes (ConvBank: hidden 64, kernels 3/5/7, 32 channels)::

    {"Args": argparse.Namespace(upstream="fbank", downstream="timit_phone", ...),
     "Config": {"runner": {...}, "optimizer": {...}, "downstream_expert": {"datarc": {...},
                "modelrc": {"select": "ConvBank", "ConvBank": {...}}}},
     "Downstream": {"model.in_linear.*", "model.cnns.{0,1,2}.*", "model.out_linear.*"},
     "Optimizer": {...}, "Step": int, "Epoch": int}
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

KERNELS, CNN, HIDDEN = (3, 5, 7), 32, 64


def downstream_state(input_dim: int = 240, seed: int = 91) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sd = {"model.in_linear.weight": torch.randn(HIDDEN, input_dim, generator=gen) * input_dim**-0.5,
          "model.in_linear.bias": torch.randn(HIDDEN, generator=gen) * 0.1}
    for i, k in enumerate(KERNELS):
        sd[f"model.cnns.{i}.weight"] = torch.randn(CNN, HIDDEN, k, generator=gen) * (HIDDEN * k) ** -0.5
        sd[f"model.cnns.{i}.bias"] = torch.randn(CNN, generator=gen) * 0.1
    sd["model.out_linear.weight"] = torch.randn(39, CNN * 3, generator=gen) * (CNN * 3) ** -0.5
    sd["model.out_linear.bias"] = torch.randn(39, generator=gen) * 0.1
    return sd


def write_checkpoint(path: Path, state: dict | None = None, upstream: str = "fbank") -> Path:
    ckpt = {
        "Args": argparse.Namespace(upstream=upstream, downstream="timit_phone", mode="train", expdir="result",
                                   upstream_feature_selection="hidden_states", seed=1337),
        "Config": {
            "runner": {"total_steps": 500000, "gradient_clipping": 1},
            "optimizer": {"name": "AdamW", "lr": 2e-4},
            "downstream_expert": {
                "datarc": {"num_workers": 8, "train_batch_size": 16, "sample_rate": 16000},
                "modelrc": {"select": "ConvBank", "ConvBank": {"kernels": list(KERNELS), "cnn_size": CNN,
                                                               "hidden_size": HIDDEN, "dropout": 0.5}},
            },
        },
        "Downstream": downstream_state() if state is None else state,
        "Optimizer": {"state": {}, "param_groups": []}, "Step": 100000, "Epoch": 12,
    }
    torch.save(ckpt, path)
    return path


def build_timit(dst: Path):
    return "timit_posteriorgram_local", write_checkpoint(Path(dst) / "convbank.ckpt")


BUILDERS = {"timit_posteriorgram_fbank": build_timit}
