"""Reduced-size APC checkpoints in the original s3prl toolkit's released layout.

Layout of ``apc_360hr.ckpt`` (https://huggingface.co/leo19941227/apc_series),
as read by s3prl's ``upstream/apc/expert.py``::

    {"config": {"data": {"audio": {...fbank settings...}, ...},
                "model": {"paras": {num_layers, hidden_size, dropout, residual[, vq]}, ...},
                ...},
     "model": state_dict}

State-dict keys (``upstream/apc/apc.py``): ``rnn_layers.{i}.{weight_ih_l0,
weight_hh_l0, bias_ih_l0, bias_hh_l0}`` (one ``nn.GRU`` per layer),
``postnet.{weight,bias}`` (future-frame regression head) and, for VQ-APC,
``vq_layers.{g}.vq_logits.{weight,bias}`` and ``vq_layers.{g}.codebook_CxE.weight``.
Weights are seeded random numbers (biases non-zero).
"""

from __future__ import annotations

from pathlib import Path

import torch

HIDDEN = 32
LAYERS = 3
FEAT_DIM = 80


def audio_config(**over) -> dict:
    """``config["data"]["audio"]`` as in the released models (s3prl ``pretrain/apc/config_model.yaml``)."""
    audio = {
        "feat_type": "fbank",
        "feat_dim": FEAT_DIM,
        "frame_length": 25,
        "frame_shift": 10,
        "decode_wav": False,
        "cmvn": True,
    }
    audio.update(over)
    return audio


def apc_config(paras: dict, audio: dict | None = None) -> dict:
    """A full config in the released layout around ``paras``."""
    return {
        "data": {
            "dataset": {"name": "LibriSpeech", "train_split": ["train-clean-360"], "batch_size": 32},
            "audio": audio if audio is not None else audio_config(),
        },
        "model": {"method": "vqapc" if "vq" in paras else "apc", "n_future": 5, "paras": paras},
        "task": {"sequence_length": 1500, "n_future": 5},
        "hparas": {"optimizer": "Adam", "lr": 0.0001, "epoch": 100},
    }


def apc_paras(hidden: int = HIDDEN, layers: int = LAYERS, vq: dict | None = None) -> dict:
    paras = {"num_layers": layers, "hidden_size": hidden, "dropout": 0.1, "residual": True}
    if vq is not None:
        paras["vq"] = vq
    return paras


def vq_layers_state(vq: dict | None, rand) -> dict:
    """``vq_layers.<g>.*`` tensors of the toolkit's VQ layers (VQ-APC, NPC), drawn in
    key order from ``rand(*shape, scale=...)``; empty when ``vq`` is None."""
    sd = {}
    if vq is not None:
        for g, (cs, cd) in enumerate(zip(vq["codebook_size"], vq["code_dim"])):
            sd[f"vq_layers.{g}.vq_logits.weight"] = rand(cs, cd, scale=0.2)
            sd[f"vq_layers.{g}.vq_logits.bias"] = rand(cs, scale=0.1)
            sd[f"vq_layers.{g}.codebook_CxE.weight"] = rand(cd, cs, scale=0.2)
    return sd


def save_toolkit_checkpoint(path: Path, config: dict, state: dict) -> Path:
    """Write ``{"config": config, "model": state}`` (the original toolkit's APC / VQ-APC /
    NPC file layout) at ``path``, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "model": state}, path)
    return path


def apc_state(paras: dict, feat_dim: int, seed: int) -> dict:
    """Seeded state dict with the released key names and shapes for ``paras``."""
    gen = torch.Generator().manual_seed(seed)
    h = paras["hidden_size"]

    def rand(*shape, scale):
        return torch.randn(*shape, generator=gen) * scale

    sd = {}
    for i in range(paras["num_layers"]):
        d_in = feat_dim if i == 0 else h
        sd[f"rnn_layers.{i}.weight_ih_l0"] = rand(3 * h, d_in, scale=1.5 / d_in**0.5)
        sd[f"rnn_layers.{i}.weight_hh_l0"] = rand(3 * h, h, scale=1.5 / h**0.5)
        sd[f"rnn_layers.{i}.bias_ih_l0"] = rand(3 * h, scale=0.3)
        sd[f"rnn_layers.{i}.bias_hh_l0"] = rand(3 * h, scale=0.3)
    sd.update(vq_layers_state(paras.get("vq"), rand))
    sd["postnet.weight"] = rand(feat_dim, h, scale=0.2)
    sd["postnet.bias"] = rand(feat_dim, scale=0.1)
    return sd


def write_apc_checkpoint(path: Path, seed: int = 0, vq: dict | None = None, **over) -> Path:
    """Write a seeded APC (or VQ-APC with ``vq``) checkpoint in the released layout."""
    paras = apc_paras(vq=vq, **over)
    config = apc_config(paras)
    state = apc_state(paras, config["data"]["audio"]["feat_dim"], seed)
    return save_toolkit_checkpoint(path, config, state)


def build_apc_tiny(dst_dir: Path):
    return "apc_local", write_apc_checkpoint(Path(dst_dir) / "apc_tiny.ckpt", seed=11)


BUILDERS = {"apc_tiny": build_apc_tiny}
