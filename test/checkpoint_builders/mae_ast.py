"""Reduced-size MAE-AST checkpoints in the released fairseq (hydra era) layout, seeded.

Layout (fairseq ``checkpoint_utils.save_state`` of MAE-AST-Public's ``MAE_AST``)::

    {"cfg": {"_name": None, "common": {...}, "task": {"_name": "mae_ast_pretraining",
             "feature_type": "fbank", "feature_dim": 128, "feature_rate": 100, ...},
             "model": {"_name": "mae_ast", "ast_kernel_size_time": 2, ...}, ...},
     "model": state_dict, "optimizer_history": [...], "extra_state": {...},
     "last_optimizer_state": None}

State dict (``MAE_AST`` with ``enc_sine_pos`` / ``dec_sine_pos``): ``post_extract_proj.*``,
``layer_norm.*`` (LayerNorm(feature_dim), unused in forward), ``batch_norm.{running_mean,
running_var,num_batches_tracked}``, ``encoder_mask_emb``, ``decoder_mask_emb``,
``enc_sine_pos_embed.pe`` / ``dec_sine_pos_embed.pe`` ((1, max_token_length, D) buffers),
``encoder.layers.{i}.self_attn.{q,k,v,out}_proj.*``, ``...self_attn_layer_norm.*``,
``...fc1.*``, ``...fc2.*``, ``...final_layer_norm.*``, ``encoder.layer_norm.*``, the same
under ``decoder.``, ``final_proj_reconstruction.*``, ``final_proj_classification.*``.

Reduced: width 32, 2 heads, FFN 64, 2 encoder / 1 decoder layers, max_token_length 3000.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

DIM, FFN, HEADS, LAYERS = 32, 64, 2, 2
KINDS = {"frame": (2, 128), "patch": (16, 16)}


def _sine(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, length, dim)
    pe[0, :, 0::2] = torch.sin(pos * div)
    pe[0, :, 1::2] = torch.cos(pos * div)
    return pe


def model_cfg(kind: str) -> dict:
    kt, kc = KINDS[kind]
    return {
        "_name": "mae_ast", "ast_kernel_size_chan": kc, "ast_kernel_size_time": kt,
        "ast_kernel_stride_chan": kc, "ast_kernel_stride_time": kt, "encoder_layers": LAYERS,
        "encoder_embed_dim": DIM, "encoder_ffn_embed_dim": FFN, "encoder_attention_heads": HEADS,
        "activation_fn": "gelu", "layer_norm_first": False, "feature_grad_mult": 0.1,
        "use_post_enc_proj": False, "decoder_embed_dim": DIM, "decoder_layers": 1,
        "decoder_layerdrop": 0.0, "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0,
        "encoder_layerdrop": 0.05, "dropout_input": 0.1, "random_mask_prob": 0.75,
        "mask_length": 10, "mask_selection": "static", "mask_other": 0.0, "no_mask_overlap": False,
        "mask_min_space": 0, "conv_pos": 128, "conv_pos_groups": 16, "checkpoint_activations": False,
        "max_token_length": 3000, "enc_sine_pos": True, "enc_conv_pos": False, "dec_sine_pos": True,
        "dec_conv_pos": False,
    }


def task_cfg(kind: str) -> dict:
    return {
        "_name": "mae_ast_pretraining", "data": "/data/manifest", "sample_rate": 16000,
        "normalize": False, "enable_padding": False, "max_keep_size": None, "max_sample_size": 250000,
        "min_sample_size": 32000, "random_crop": True, "pad_audio": False, "feature_type": "fbank",
        "feature_rate": 100, "feature_dim": 128, "deltas": False, "mask_spans": False,
        "mask_type": "random_mask" if kind == "frame" else "chunk_mask",
    }


def _layer(gen, p: str) -> dict:
    def r(*s, scale):
        return torch.randn(*s, generator=gen) * scale

    sd = {}
    for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
        sd[f"{p}self_attn.{proj}.weight"] = r(DIM, DIM, scale=DIM**-0.5)
        sd[f"{p}self_attn.{proj}.bias"] = r(DIM, scale=0.1)
    for norm in ("self_attn_layer_norm", "final_layer_norm"):
        sd[f"{p}{norm}.weight"] = 1 + r(DIM, scale=0.1)
        sd[f"{p}{norm}.bias"] = r(DIM, scale=0.1)
    sd[f"{p}fc1.weight"], sd[f"{p}fc1.bias"] = r(FFN, DIM, scale=DIM**-0.5), r(FFN, scale=0.1)
    sd[f"{p}fc2.weight"], sd[f"{p}fc2.bias"] = r(DIM, FFN, scale=FFN**-0.5), r(DIM, scale=0.1)
    return sd


def make_state(kind: str, seed: int = 41) -> dict:
    gen = torch.Generator().manual_seed(seed)
    kt, kc = KINDS[kind]
    sd = {
        "post_extract_proj.weight": torch.randn(DIM, kt * kc, generator=gen) * (kt * kc) ** -0.5,
        "post_extract_proj.bias": torch.randn(DIM, generator=gen) * 0.1,
        "layer_norm.weight": torch.ones(128), "layer_norm.bias": torch.zeros(128),
        "batch_norm.running_mean": torch.tensor([-6.5]), "batch_norm.running_var": torch.tensor([12.0]),
        "batch_norm.num_batches_tracked": torch.tensor(400000),
        "encoder_mask_emb": torch.rand(DIM, generator=gen), "decoder_mask_emb": torch.rand(DIM, generator=gen),
        "enc_sine_pos_embed.pe": _sine(3000, DIM), "dec_sine_pos_embed.pe": _sine(3000, DIM),
    }
    for i in range(LAYERS):
        sd.update(_layer(gen, f"encoder.layers.{i}."))
    sd.update(_layer(gen, "decoder.layers.0."))
    for norm in ("encoder.layer_norm", "decoder.layer_norm"):
        sd[f"{norm}.weight"] = 1 + torch.randn(DIM, generator=gen) * 0.1
        sd[f"{norm}.bias"] = torch.randn(DIM, generator=gen) * 0.1
    for head in ("final_proj_reconstruction", "final_proj_classification"):
        sd[f"{head}.weight"] = torch.randn(kt * kc, DIM, generator=gen) * 0.1
        sd[f"{head}.bias"] = torch.zeros(kt * kc)
    return sd


def write_checkpoint(path: Path, kind: str, state: dict | None = None) -> Path:
    cfg = {
        "_name": None, "common": {"_name": None, "fp16": True, "log_interval": 200, "seed": 1337},
        "checkpoint": {"_name": None, "save_interval_updates": 25000, "no_epoch_checkpoints": True},
        "task": task_cfg(kind), "model": model_cfg(kind),
        "criterion": {"_name": "mae_ast", "classification_weight": 1.0, "reconstruction_weight": 10.0},
        "optimizer": {"_name": "adam", "adam_betas": "(0.9,0.98)", "adam_eps": 1e-06},
        "lr_scheduler": {"_name": "polynomial_decay", "warmup_updates": 32000},
    }
    torch.save({
        "cfg": cfg, "model": make_state(kind) if state is None else state,
        "optimizer_history": [{"criterion_name": "MAE_AST_Criterion", "optimizer_name": "FairseqAdam",
                               "lr_scheduler_state": {"best": None}, "num_updates": 400000}],
        "extra_state": {"epoch": 20, "train_iterator": {"epoch": 20}}, "last_optimizer_state": None,
    }, path)
    return path


def build_frame(dst: Path):
    return "mae_ast_local", write_checkpoint(Path(dst) / "random_frame_75_2LayerEncoder.pt", "frame")


def build_patch(dst: Path):
    return "mae_ast_local", write_checkpoint(Path(dst) / "chunk_patch_75_2LayerEncoder.pt", "patch")


BUILDERS = {"mae_ast_frame_tiny": build_frame, "mae_ast_patch_tiny": build_patch}
