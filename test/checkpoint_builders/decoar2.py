"""Reduced-size DeCoAR 2.0 checkpoints in the released layout (seeded weights).

Layout of ``checkpoint_decoar2.pt``: ``{"model": state_dict, ...}`` with fairseq wav2vec 2.0
encoder names (``post_extract_proj.*``, ``encoder.pos_conv.0.{weight_g,weight_v,bias}``,
``encoder.layer_norm.*``, ``encoder.layers.{i}.self_attn.{q,k,v,out}_proj.*``,
``...self_attn_layer_norm.*``, ``...fc1.*``, ``...fc2.*``, ``...final_layer_norm.*``) plus
pre-training heads (here a stand-in ``decoder.proj.*`` that must be ignored).
"""

from __future__ import annotations

from pathlib import Path

import torch

DIM, FFN, LAYERS, KERNEL, GROUPS, MELS = 48, 96, 2, 16, 4, 80


def make_state(seed: int = 31) -> dict:
    gen = torch.Generator().manual_seed(seed)

    def r(*shape, s=0.1, o=0.0):
        return torch.randn(*shape, generator=gen) * s + o

    sd = {
        "post_extract_proj.weight": r(DIM, MELS, s=0.15),
        "post_extract_proj.bias": r(DIM),
        "encoder.pos_conv.0.bias": r(DIM),
        "encoder.pos_conv.0.weight_g": r(1, 1, KERNEL, s=0.2, o=1.0),
        "encoder.pos_conv.0.weight_v": r(DIM, DIM // GROUPS, KERNEL),
        "encoder.layer_norm.weight": r(DIM, s=0.2, o=1.0),
        "encoder.layer_norm.bias": r(DIM),
    }
    for i in range(LAYERS):
        p = f"encoder.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[p + f"self_attn.{n}.weight"] = r(DIM, DIM, s=0.2)
            sd[p + f"self_attn.{n}.bias"] = r(DIM)
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            sd[p + f"{n}.weight"] = r(DIM, s=0.2, o=1.0)
            sd[p + f"{n}.bias"] = r(DIM)
        sd[p + "fc1.weight"], sd[p + "fc1.bias"] = r(FFN, DIM, s=0.2), r(FFN)
        sd[p + "fc2.weight"], sd[p + "fc2.bias"] = r(DIM, FFN, s=0.2), r(DIM)
    sd["decoder.proj.weight"] = r(MELS, DIM)  # a pre-training head: ignored
    return sd


def build_decoar2(dst: Path):
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    path = dst / "checkpoint_decoar2_test.pt"
    torch.save({"model": make_state(), "optimizer_history": [{"num_updates": 1000}], "extra_state": {}}, path)
    return "decoar2_local", path


BUILDERS = {"decoar2_tiny": build_decoar2}
