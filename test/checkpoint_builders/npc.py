"""Reduced-size NPC checkpoints in the original s3prl toolkit's released layout.

Layout of ``npc_360hr.ckpt`` (https://huggingface.co/leo19941227/apc_series),
as read by s3prl's ``upstream/npc/expert.py``: ``{"config": {"data": {"audio":
{...}}, "model": {"paras": {...}}, ...}, "model": state_dict}`` with keys
(``upstream/npc/npc.py`` = Alexander-H-Liu/NPC ``model/npc.py``):

* ``blocks.{i}.conv.{weight,bias}`` (Conv1d kernel 3), ``blocks.{i}.linear.{weight,bias}``
  (Conv1d kernel 1), ``blocks.{i}.bn1.*`` / ``bn2.*`` (BatchNorm1d, with running stats
  and ``num_batches_tracked``);
* ``masked_convs.{i}.conv.{weight,bias}`` and the buffer ``masked_convs.{i}.conv_mask``
  (ones, zero over the ``mask_size + 2 (i + 1)`` central taps);
* ``vq_layers.{g}.vq_logits.{weight,bias}``, ``vq_layers.{g}.codebook_CxE.weight``,
  ``postnet.{weight,bias}`` (training heads).

The reduced model has 3 blocks of 32 channels (the released: 4 of 512) with the
released kernel 15 / mask 5. Weights are seeded; BatchNorm statistics and
affine parameters are perturbed away from 0 / 1.
"""

from __future__ import annotations

from pathlib import Path

import torch

from test.checkpoint_builders.apc import audio_config, save_toolkit_checkpoint, vq_layers_state

HIDDEN = 32


def npc_paras(**over) -> dict:
    paras = {
        "kernel_size": 15,
        "mask_size": 5,
        "n_blocks": 3,
        "hidden_size": HIDDEN,
        "dropout": 0.1,
        "residual": True,
        "batch_norm": True,
        "activate": "relu",
        "disable_cross_layer": False,
        "vq": {"codebook_size": [8, 8, 8, 8], "code_dim": [HIDDEN // 4] * 4, "gumbel_temperature": 1.0},
    }
    paras.update(over)
    return paras


def npc_config(paras: dict, audio: dict | None = None) -> dict:
    return {
        "data": {
            "dataset": {"name": "LibriSpeech", "train_split": ["train-clean-360"], "batch_size": 32},
            "audio": audio if audio is not None else audio_config(),
        },
        "model": {"method": "npc", "paras": paras},
        "task": {"sequence_length": 1500, "n_future": 5},
        "hparas": {"optimizer": "Adam", "lr": 0.001, "epoch": 100},
    }


def npc_state(paras: dict, feat_dim: int, seed: int) -> dict:
    """Seeded state dict with the released key names and shapes for ``paras``."""
    gen = torch.Generator().manual_seed(seed)
    h, k, n = paras["hidden_size"], paras["kernel_size"], paras["n_blocks"]

    def rand(*shape, scale, offset=0.0):
        return torch.randn(*shape, generator=gen) * scale + offset

    sd = {}
    for i in range(n):
        d_in = feat_dim if i == 0 else h
        sd[f"blocks.{i}.conv.weight"] = rand(h, d_in, 3, scale=1.0 / (3 * d_in) ** 0.5)
        sd[f"blocks.{i}.conv.bias"] = rand(h, scale=0.1)
        sd[f"blocks.{i}.linear.weight"] = rand(h, h, 1, scale=1.0 / h**0.5)
        sd[f"blocks.{i}.linear.bias"] = rand(h, scale=0.1)
        if paras.get("batch_norm", True):
            for bn in ("bn1", "bn2"):
                sd[f"blocks.{i}.{bn}.weight"] = rand(h, scale=0.1, offset=1.0)
                sd[f"blocks.{i}.{bn}.bias"] = rand(h, scale=0.1)
                sd[f"blocks.{i}.{bn}.running_mean"] = rand(h, scale=0.1)
                sd[f"blocks.{i}.{bn}.running_var"] = torch.rand(h, generator=gen) * 0.5 + 0.75
                sd[f"blocks.{i}.{bn}.num_batches_tracked"] = torch.tensor(1000, dtype=torch.long)
        if not paras.get("disable_cross_layer", False) or i == n - 1:
            sd[f"masked_convs.{i}.conv.weight"] = rand(h, h, k, scale=1.0 / (k * h) ** 0.5)
            sd[f"masked_convs.{i}.conv.bias"] = rand(h, scale=0.1)
            mask = torch.ones(h, h, k)
            m = paras["mask_size"] + 2 * (i + 1)
            head = (k - m) // 2
            mask[:, :, head : head + m] = 0
            sd[f"masked_convs.{i}.conv_mask"] = mask
    sd.update(vq_layers_state(paras.get("vq"), rand))
    if paras.get("dim_bottleneck"):
        sd["ae_bottleneck.weight"] = rand(paras["dim_bottleneck"], h, scale=1.0 / h**0.5)
        sd["postnet.weight"] = rand(feat_dim, paras["dim_bottleneck"], scale=0.2)
    else:
        sd["postnet.weight"] = rand(feat_dim, h, scale=0.2)
    sd["postnet.bias"] = rand(feat_dim, scale=0.1)
    return sd


def write_npc_checkpoint(path: Path, seed: int = 0, **over) -> Path:
    """Write a seeded NPC checkpoint in the released layout (``over`` changes the paras)."""
    paras = npc_paras(**over)
    config = npc_config(paras)
    state = npc_state(paras, config["data"]["audio"]["feat_dim"], seed)
    return save_toolkit_checkpoint(path, config, state)


def build_npc_tiny(dst_dir: Path):
    return "npc_local", write_npc_checkpoint(Path(dst_dir) / "npc_tiny.ckpt", seed=13)


BUILDERS = {"npc_tiny": build_npc_tiny}
