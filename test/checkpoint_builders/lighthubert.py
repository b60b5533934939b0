"""Reduced-size LightHuBERT supernet checkpoints (seeded random weights) in the released layout
(huggingface.co/mechanicalsea/lighthubert, read by s3prl 0.4.18 ``upstream/lighthubert/expert.py``):
fairseq hydra ``{"cfg": {"model": {"_name": "hubert_pruner" | "student_hubert",
"pruner_supernet": ".../base.yaml", LightHuBERTConfig fields...}, "task": {...}}, "model":
state_dict}``; HuBERT's fairseq key names (feature encoder, ``layer_norm``,
``post_extract_proj``, ``mask_emb``, ``encoder.pos_conv.0.{weight_g,weight_v,bias}``,
``encoder.layer_norm``, ``encoder.layers.{i}.*``) plus ``layer_pred_heads.{11}.weight``.
Supernets: 12 layers (LightHuBERT's depth maps need 12), heads of 64.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .hubert import hubert_task
from .wav2vec2 import make_state, model_options, write_cfg_layout

DIM, HEADS, FFN, LAYERS = 128, 2, 512, 12


def options(name: str = "hubert_pruner", dim: int = DIM, heads: int = HEADS, ffn: int = FFN) -> dict:
    return model_options(_name=name, encoder_embed_dim=dim, encoder_attention_heads=heads, encoder_ffn_embed_dim=ffn,
                         encoder_layers=LAYERS, extractor_mode="default", layer_norm_first=False,
                         pruner_supernet="config/supernet/base.yaml", supernet_type="base", teacher_embed_dim=768,
                         layer_pred_num="0,0,0,0,0,0,0,0,0,0,0,1", prune_encoder_pos_conv=True,
                         required_seq_len_multiple=2)


def build(dst: Path, name: str = "hubert_pruner", seed: int = 101, file: str = "lighthubert_base.pt",
          dim: int = DIM, heads: int = HEADS, ffn: int = FFN):
    opts = options(name, dim, heads, ffn)
    sd = make_state(opts, seed, "none")
    sd["layer_pred_heads.11.weight"] = torch.randn(768, dim, generator=torch.Generator().manual_seed(seed)) * 0.05
    Path(dst).mkdir(parents=True, exist_ok=True)
    return "lighthubert_local", write_cfg_layout(Path(dst) / file, opts, hubert_task(True), sd)


def build_supernet(dst: Path) -> tuple[str, Path]:
    """A ``hubert_pruner`` supernet of 128 dims (subnets are sliced from it in the tests)."""
    return build(dst)


def build_stage1_tiny(dst: Path) -> tuple[str, Path]:
    """A ``student_hubert`` (stage 1) supernet of 64 dims, 1 head: the smallest golden."""
    return build(dst, "student_hubert", 102, "lighthubert_stage1.pt", dim=64, heads=1, ffn=256)


BUILDERS = {"lighthubert_stage1_tiny": build_stage1_tiny}
