"""Reduced-size RoBERTa-over-vq-wav2vec-codes checkpoints (seeded random weights) in the layout
of s3prl's converted ``vq_wav2vec_kmeans_roberta.pt`` (s3prl 0.4.18 ``upstream/roberta/convert.py``):
``{"task_cfg": dict, "model_cfg": argparse.Namespace (fairseq RoBERTa args), "model_weight":
state dict, "text_dictionary": dict.txt text}``; weights as fairseq 0.9 saved ``bert_kmeans.pt``:
``decoder.sentence_encoder.{embed_tokens,embed_positions,emb_layer_norm}.*``,
``decoder.sentence_encoder.layers.{i}.{self_attn.{k,v,q,out}_proj,self_attn_layer_norm,fc1,fc2,
final_layer_norm}.*``, ``decoder.lm_head.{dense,layer_norm,weight,bias}``. The vq-wav2vec
k-means checkpoint goes next to it as ``vq-wav2vec_kmeans.pt``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from .vq_wav2vec import build_kmeans

DIM, FFN, HEADS, LAYERS, MAX_POSITIONS, VQ_VARS = 32, 64, 4, 2, 64, 24


def dictionary_text(seed: int = 0) -> str:
    """``dict.txt``: 400 of the 24 x 24 code pairs (the others become ``<unk>``), by count."""
    gen = torch.Generator().manual_seed(seed)
    pairs = [f"{i}-{j}" for i in range(VQ_VARS) for j in range(VQ_VARS)]
    order = torch.randperm(len(pairs), generator=gen)[:400].tolist()
    return "".join(f"{pairs[k]} {10000 - n}\n" for n, k in enumerate(order))


def model_args(vocab: int) -> argparse.Namespace:
    return argparse.Namespace(
        arch="roberta_base", task="masked_lm", criterion="masked_lm", encoder_layers=LAYERS,
        encoder_embed_dim=DIM, encoder_ffn_embed_dim=FFN, encoder_attention_heads=HEADS, activation_fn="gelu",
        pooler_activation_fn="tanh", dropout=0.1, attention_dropout=0.1, activation_dropout=0.0,
        pooler_dropout=0.0, max_positions=MAX_POSITIONS, tokens_per_sample=MAX_POSITIONS,
        encoder_layerdrop=0.0, encoder_layers_to_keep=None, untie_weights_roberta=False, sample_break_mode="complete",
        mask_prob=0.15, leave_unmasked_prob=0.1, random_token_prob=0.1, max_tokens=999999, update_freq=[16],
        lr=[0.0005], seed=1,
    )


def make_state(vocab: int, seed: int = 81, old_names: bool = True) -> dict:
    gen = torch.Generator().manual_seed(seed)
    root = "decoder" if old_names else "encoder"
    p = f"{root}.sentence_encoder."

    def rand(*shape, scale=0.1, offset=0.0):
        return torch.randn(*shape, generator=gen) * scale + offset

    sd = {p + "embed_tokens.weight": rand(vocab, DIM, scale=0.5),
          p + "embed_positions.weight": rand(MAX_POSITIONS + 2, DIM, scale=0.5)}
    sd[p + "embed_tokens.weight"][1] = 0.0  # padding rows are zero (nn.Embedding padding_idx)
    sd[p + "embed_positions.weight"][1] = 0.0
    ln = "emb_layer_norm" if old_names else "layernorm_embedding"
    sd[p + f"{ln}.weight"], sd[p + f"{ln}.bias"] = rand(DIM, scale=0.2, offset=1.0), rand(DIM)
    for i in range(LAYERS):
        lp = f"{p}layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            sd[lp + f"self_attn.{proj}.weight"], sd[lp + f"self_attn.{proj}.bias"] = rand(DIM, DIM, scale=DIM**-0.5), rand(DIM)
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            sd[lp + f"{norm}.weight"], sd[lp + f"{norm}.bias"] = rand(DIM, scale=0.2, offset=1.0), rand(DIM)
        sd[lp + "fc1.weight"], sd[lp + "fc1.bias"] = rand(FFN, DIM, scale=DIM**-0.5), rand(FFN)
        sd[lp + "fc2.weight"], sd[lp + "fc2.bias"] = rand(DIM, FFN, scale=FFN**-0.5), rand(DIM)
    sd[f"{root}.lm_head.dense.weight"], sd[f"{root}.lm_head.dense.bias"] = rand(DIM, DIM), rand(DIM)
    sd[f"{root}.lm_head.layer_norm.weight"], sd[f"{root}.lm_head.layer_norm.bias"] = rand(DIM), rand(DIM)
    sd[f"{root}.lm_head.weight"] = sd[p + "embed_tokens.weight"]
    sd[f"{root}.lm_head.bias"] = rand(vocab)
    return sd


def build(dst: Path, old_names: bool = True) -> tuple[str, Path]:
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    _, vq = build_kmeans(dst / "vq")
    shutil.copy(vq, dst / "vq-wav2vec_kmeans.pt")
    text = dictionary_text()
    vocab = 4 + len(text.splitlines()) + 1  # specials, symbols, <mask>
    path = dst / "vq_wav2vec_kmeans_roberta.pt"
    torch.save({"task_cfg": {"_name": "masked_lm", "data": "/checkpoint/bert_kmeans", "sample_break_mode": "complete",
                             "tokens_per_sample": MAX_POSITIONS, "mask_prob": 0.15},
                "model_cfg": model_args(vocab), "model_weight": make_state(vocab, old_names=old_names),
                "text_dictionary": text}, path)
    return "vq_wav2vec_kmeans_roberta_local", path


def build_roberta(dst: Path) -> tuple[str, Path]:
    return build(dst)


BUILDERS = {"vq_wav2vec_kmeans_roberta_tiny": build_roberta}
