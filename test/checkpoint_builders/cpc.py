"""Reduced-size CPC checkpoints in the CPC_audio / Libri-light released layout (seeded weights).

Layout (CPC_audio ``hubconf.py`` reads ``checkpoint["config"]`` and ``checkpoint["weights"]``)::

    {"config": {...CPC_audio argparse fields...},
     "weights": {"gEncoder.conv{i}.weight": (C, C_in, k), "gEncoder.conv{i}.bias": (C,),
                 "gEncoder.batchNorm{i}.weight": (1, C, 1), "gEncoder.batchNorm{i}.bias": (1, C, 1),
                 "gAR.baseNet.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}": ...}}
"""

from __future__ import annotations

from pathlib import Path

import torch

KERNELS = [10, 8, 4, 4, 4]


def make_checkpoint(enc: int = 24, gar: int = 20, levels: int = 2, mode: str = "LSTM", seed: int = 21,
                    cpc_mode=None, norm_mode: str = "layerNorm") -> dict:
    gen = torch.Generator().manual_seed(seed)
    w = {}
    in_d = 1
    for i, k in enumerate(KERNELS):
        w[f"gEncoder.conv{i}.weight"] = torch.randn(enc, in_d, k, generator=gen) * (1.0 / (in_d * k)) ** 0.5
        w[f"gEncoder.conv{i}.bias"] = torch.randn(enc, generator=gen) * 0.1
        shape = (1, enc, 1) if norm_mode == "layerNorm" else (enc,)  # ChannelNorm vs torch norms
        if norm_mode != "ID":
            w[f"gEncoder.batchNorm{i}.weight"] = 1.0 + 0.2 * torch.randn(*shape, generator=gen)
            w[f"gEncoder.batchNorm{i}.bias"] = 0.2 * torch.randn(*shape, generator=gen)
        if norm_mode == "batchNorm":
            w[f"gEncoder.batchNorm{i}.running_mean"] = 0.3 * torch.randn(enc, generator=gen)
            w[f"gEncoder.batchNorm{i}.running_var"] = 0.5 + torch.rand(enc, generator=gen)
            w[f"gEncoder.batchNorm{i}.num_batches_tracked"] = torch.tensor(100)
        in_d = enc
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[mode]
    for k in range(levels):
        d_in = enc if k == 0 else gar
        w[f"gAR.baseNet.weight_ih_l{k}"] = torch.randn(gates * gar, d_in, generator=gen) * 0.3
        w[f"gAR.baseNet.weight_hh_l{k}"] = torch.randn(gates * gar, gar, generator=gen) * 0.3
        w[f"gAR.baseNet.bias_ih_l{k}"] = torch.randn(gates * gar, generator=gen) * 0.1
        w[f"gAR.baseNet.bias_hh_l{k}"] = torch.randn(gates * gar, generator=gen) * 0.1
    config = {
        "hiddenEncoder": enc, "hiddenGar": gar, "nPredicts": 12, "negativeSamplingExt": 128,
        "learningRate": 0.0002, "sizeWindow": 20480, "nEpoch": 200, "samplingType": "samespeaker",
        "cpc_mode": cpc_mode, "encoder_type": "cpc", "normMode": norm_mode, "arMode": mode,
        "nLevelsGRU": levels, "rnnMode": "transformer", "dropout": False, "abspos": False,
        "pathDB": "/datasets/libri-light", "random_seed": None, "speakerEmbedding": 0,
    }
    return {"config": config, "weights": w}


def build_cpc(dst: Path):
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    path = dst / "cpc_test-0000.pt"
    torch.save(make_checkpoint(), path)
    return "cpc_local", path


BUILDERS = {"modified_cpc_tiny": build_cpc}
