"""Reduced-size DistilHuBERT checkpoints in the original s3prl toolkit's layout
(seeded random weights).

Layout of ``distilhubert_ls960_4-8-12.ckpt`` (``s3prl/pretrain/runner.py`` +
``s3prl/pretrain/distiller/pretrain_expert.py``): ``{"Optimizer": optimizer
state dict, "Step": int, "Args": argparse.Namespace, "Config": {"distiller":
{...}, "teacher": {...}, "task": {...}, "audio": {...}}, "Distiller": state_dict}``.
Distiller keys: ``feature_extractor.conv_layers.{i}.0.weight``,
``feature_extractor.conv_layers.0.2.{weight,bias}``, ``post_extract_proj.*``,
``encoder.pos_conv.0.{weight_g,weight_v,bias}``, ``encoder.layers.{i}.*``
(fairseq names), ``encoder.layer_norm.*``, ``output_layer.0.*``,
``output_layer.2.weight`` ``(N, inter, final)``, ``output_layer.2.bias`` ``(1, 1, N, final)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

CONV = "[(24,10,5)] + [(24,3,2)] * 4 + [(24,2,2)] * 2"


def distiller_options(**over) -> dict:
    """``Config["distiller"]`` of the released model (config_model.yaml with
    ``n_tasks: 3``, ``pred_layer_id: [4, 8, 12]``), reduced sizes."""
    o = dict(
        extractor_mode="default",
        extractor_conv_feature_layers=CONV,
        extractor_dropout=0.0,
        feature_grad_mult=0.1,
        conv_pos=16,
        conv_pos_groups=4,
        encoder_layers=2,
        encoder_embed_dim=32,
        encoder_ffn_embed_dim=64,
        encoder_attention_heads=4,
        activation_fn="gelu",
        layer_norm_first=False,
        attention_type="original",
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.1,
        encoder_layerdrop=0.0,
        final_dim=40,
        out_layer_type="expand-last",
        n_tasks=3,
        task_emb_type="expand-last",
        loss_type="l1",
        feat_pen_loss=0.0,
        cosine_loss=1.0,
        pred_layer_id=[4, 8, 12],
        init_teacher_conv_layers=True,
        init_teacher_encoder_layers=True,
    )
    o.update(over)
    return o


def distiller_state_dict(o: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)

    def w(*shape, fan_in=None):
        return torch.randn(*shape, generator=gen) / (fan_in or shape[-1]) ** 0.5

    def b(*shape):
        return torch.randn(*shape, generator=gen) * 0.1

    def g(*shape):
        return 1.0 + torch.randn(*shape, generator=gen) * 0.1

    conv = eval(o["extractor_conv_feature_layers"])  # noqa: S307 - literal written above
    dim, ffn = o["encoder_embed_dim"], o["encoder_ffn_embed_dim"]
    sd, in_ch = {}, 1
    for i, (ch, k, _) in enumerate(conv):
        sd[f"feature_extractor.conv_layers.{i}.0.weight"] = w(ch, in_ch, k, fan_in=in_ch * k)
        if i == 0:
            sd["feature_extractor.conv_layers.0.2.weight"] = g(ch)
            sd["feature_extractor.conv_layers.0.2.bias"] = b(ch)
        in_ch = ch
    sd["post_extract_proj.weight"] = w(dim, in_ch)
    sd["post_extract_proj.bias"] = b(dim)
    k, groups = o["conv_pos"], o["conv_pos_groups"]
    sd["encoder.pos_conv.0.bias"] = b(dim)
    sd["encoder.pos_conv.0.weight_g"] = g(1, 1, k)
    sd["encoder.pos_conv.0.weight_v"] = w(dim, dim // groups, k, fan_in=dim // groups * k)
    for i in range(o["encoder_layers"]):
        p = f"encoder.layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            sd[p + f"self_attn.{proj}.weight"] = w(dim, dim)
            sd[p + f"self_attn.{proj}.bias"] = b(dim)
        sd[p + "self_attn_layer_norm.weight"] = g(dim)
        sd[p + "self_attn_layer_norm.bias"] = b(dim)
        sd[p + "fc1.weight"] = w(ffn, dim)
        sd[p + "fc1.bias"] = b(ffn)
        sd[p + "fc2.weight"] = w(dim, ffn)
        sd[p + "fc2.bias"] = b(dim)
        sd[p + "final_layer_norm.weight"] = g(dim)
        sd[p + "final_layer_norm.bias"] = b(dim)
    sd["encoder.layer_norm.weight"] = g(dim)
    sd["encoder.layer_norm.bias"] = b(dim)
    n, final = o["n_tasks"], o["final_dim"]
    sd["output_layer.0.weight"] = w(dim * n, dim)
    sd["output_layer.0.bias"] = b(dim * n)
    if n > 1:
        sd["output_layer.2.weight"] = w(n, dim, final, fan_in=dim)
        sd["output_layer.2.bias"] = b(1, 1, n, final)
    else:
        sd["output_layer.2.layer.weight"] = w(final, dim)
        sd["output_layer.2.layer.bias"] = b(final)
    return sd


def write_distiller(dst: Path, seed: int = 0, name: str = "distiller.ckpt", **over) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    o = distiller_options(**over)
    sd = distiller_state_dict(o, seed)
    states = {
        "Optimizer": {
            "state": {0: {"step": torch.tensor(200000.0), "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}},
            "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                              "amsgrad": False, "params": [0]}],
        },
        "Step": 200000,
        "Args": argparse.Namespace(
            upstream="distiller", config="pretrain/distiller/config_runner.yaml",
            upstream_config="pretrain/distiller/config_model.yaml", expdir="result/pretrain/distilhubert",
            seed=1337, multi_gpu=False, device="cuda", init_ckpt=None,
        ),
        "Config": {
            "distiller": o,
            "teacher": {"model": "hubert_base", "n_layers": 12},
            "task": {"sequence_length": 250000},
            "audio": {"target_level": None},
        },
        "Distiller": sd,
    }
    path = dst / name
    torch.save(states, path)
    return path


def build_distilhubert(dst: Path):
    return "distiller_local", write_distiller(dst, seed=21, name="distilhubert_reduced.ckpt")


BUILDERS = {"distilhubert_reduced": build_distilhubert}
