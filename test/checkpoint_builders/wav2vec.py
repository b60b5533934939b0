"""Reduced-size wav2vec checkpoints in fairseq's released layout (seeded random weights).

Layout of ``wav2vec_large.pt`` (fairseq): ``{"args": argparse.Namespace(...), "model":
state_dict, "optimizer_history": [...], "extra_state": {...}, "last_optimizer_state": {}}``
with keys ``feature_extractor.conv_layers.{i}.0.weight`` (conv, no bias),
``feature_extractor.conv_layers.{i}.2.{weight,bias}`` (group norm),
``feature_aggregator.conv_layers.{i}.1.{weight,bias}`` (conv after the pad module),
``feature_aggregator.conv_layers.{i}.3.{weight,bias}`` (group norm),
``feature_aggregator.residual_proj.{i}.weight`` (1x1 conv where the dim changes),
``wav2vec_predictions.project_to_steps.{weight,bias}`` (training head), and for
vq-wav2vec ``vector_quantizer.*``.

The original s3prl 0.4.18 toolkit's converted files (``s3prl/upstream/wav2vec/convert.py``,
``load_and_convert_fairseq_ckpt``: ``torch.save({"task_cfg": cfg["task"], "model_cfg":
cfg["model"], "model_weight": state["model"]})`` with ``cfg = OmegaConf.to_container(
state["cfg"])`` from fairseq's ``load_checkpoint_to_cpu``): plain dicts; ``model_cfg`` holds the
fields of fairseq's ``Wav2VecConfig`` dataclass plus ``_name``, ``task_cfg`` those of
``AudioPretrainingConfig``. Written by :func:`write_s3prl_converted`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

# Reduced sizes; strides 5*4*2*2*2 = 160 as in the released models.
FEAT = [(32, 10, 5), (32, 8, 4), (32, 4, 2), (32, 4, 2), (32, 4, 2), (32, 1, 1)]
AGG = [(32, 2, 1), (32, 3, 1), (40, 4, 1)]


def _args(**over) -> argparse.Namespace:
    a = dict(
        arch="wav2vec",
        task="audio_pretraining",
        criterion="wav2vec",
        lr=[1e-06],
        conv_feature_layers=str(FEAT),
        conv_aggregator_layers=str(AGG),
        prediction_steps=3,
        num_negatives=10,
        sample_distance=None,
        cross_sample_negatives=0,
        dropout=0.0,
        dropout_features=0.0,
        dropout_agg=0.0,
        encoder="cnn",
        aggregator="cnn",
        skip_connections_feat=False,
        skip_connections_agg=True,
        residual_scale=0.5,
        gru_dim=512,
        no_conv_bias=False,
        agg_zero_pad=False,
        log_compression=True,
        balanced_classes=False,
        infonce=False,
        project_features="none",
        non_affine_group_norm=False,
        offset="auto",
        activation="relu",
        vq_type="none",
        vq_vars=320,
        vq_groups=2,
        vq_dim=0,
        vq_depth=1,
        combine_groups=False,
        vq_temp="(2.0, 0.5, 0.999995)",
        vq_gamma=0.25,
        max_sample_size=150000,
        seed=1,
    )
    a.update(over)
    return argparse.Namespace(**a)


def _rand(gen, *shape, scale=0.1, offset=0.0):
    return torch.randn(*shape, generator=gen) * scale + offset


def make_state(args: argparse.Namespace, seed: int) -> dict:
    """A fairseq-named wav2vec state dict for ``args`` (norms/biases perturbed away from 1/0)."""
    gen = torch.Generator().manual_seed(seed)
    feat = eval(args.conv_feature_layers)  # noqa: S307 - our own literal
    agg = eval(args.conv_aggregator_layers)  # noqa: S307
    sd = {}
    in_d = 1
    for i, (dim, k, _) in enumerate(feat):
        sd[f"feature_extractor.conv_layers.{i}.0.weight"] = _rand(gen, dim, in_d, k, scale=(1.0 / (in_d * k)) ** 0.5)
        sd[f"feature_extractor.conv_layers.{i}.2.weight"] = _rand(gen, dim, scale=0.2, offset=1.0)
        sd[f"feature_extractor.conv_layers.{i}.2.bias"] = _rand(gen, dim, scale=0.2)
        in_d = dim
    embed = feat[-1][0]
    vq_dim = args.vq_dim if args.vq_dim > 0 else embed
    if args.vq_type == "gumbel":
        g, v = args.vq_groups, args.vq_vars
        sd["vector_quantizer.vars"] = torch.rand(1, (1 if args.combine_groups else g) * v, vq_dim // g, generator=gen)
        if args.vq_depth > 1:
            inner = embed * 2
            for j in range(args.vq_depth - 1):
                sd[f"vector_quantizer.weight_proj.{j}.0.weight"] = _rand(gen, inner, embed if j == 0 else inner, scale=0.2)
                sd[f"vector_quantizer.weight_proj.{j}.0.bias"] = _rand(gen, inner, scale=0.1)
            sd[f"vector_quantizer.weight_proj.{args.vq_depth - 1}.weight"] = _rand(gen, g * v, inner, scale=0.2)
            sd[f"vector_quantizer.weight_proj.{args.vq_depth - 1}.bias"] = _rand(gen, g * v, scale=0.1)
        else:
            sd["vector_quantizer.weight_proj.weight"] = _rand(gen, g * v, embed, scale=1.0)
            sd["vector_quantizer.weight_proj.bias"] = _rand(gen, g * v, scale=0.1)
        in_d = vq_dim
    elif args.vq_type == "kmeans":
        g, v = args.vq_groups, args.vq_vars
        sd["vector_quantizer.embedding"] = _rand(gen, v, 1 if args.combine_groups else g, vq_dim // g, scale=1.0)
        sd["vector_quantizer.projection.0.weight"] = _rand(gen, embed, embed // g, 1, scale=0.3)
        sd["vector_quantizer.projection.1.weight"] = _rand(gen, embed, scale=0.2, offset=1.0)
        sd["vector_quantizer.projection.1.bias"] = _rand(gen, embed, scale=0.2)
        in_d = vq_dim
    else:
        in_d = embed
    for i, (dim, k, _) in enumerate(agg):
        if args.skip_connections_agg and in_d != dim:
            sd[f"feature_aggregator.residual_proj.{i}.weight"] = _rand(gen, dim, in_d, 1, scale=0.2)
        sd[f"feature_aggregator.conv_layers.{i}.1.weight"] = _rand(gen, dim, in_d, k, scale=(1.0 / (in_d * k)) ** 0.5)
        sd[f"feature_aggregator.conv_layers.{i}.1.bias"] = _rand(gen, dim, scale=0.1)
        sd[f"feature_aggregator.conv_layers.{i}.3.weight"] = _rand(gen, dim, scale=0.2, offset=1.0)
        sd[f"feature_aggregator.conv_layers.{i}.3.bias"] = _rand(gen, dim, scale=0.2)
        in_d = dim
    sd["wav2vec_predictions.project_to_steps.weight"] = _rand(gen, in_d, embed, 1, args.prediction_steps)
    sd["wav2vec_predictions.project_to_steps.bias"] = _rand(gen, embed)
    return sd


def write_fairseq_wav2vec(dst: Path, args: argparse.Namespace, seed: int, name: str) -> Path:
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    path = dst / name
    torch.save(
        {
            "args": args,
            "model": make_state(args, seed),
            "optimizer_history": [{"criterion_name": "Wav2vecCriterion", "optimizer_name": "FairseqAdam",
                                   "lr_scheduler_state": {"best": 2.5}, "num_updates": 400000}],
            "extra_state": {"epoch": 10, "train_iterator": {"epoch": 10}, "val_loss": 2.5},
            "last_optimizer_state": {},
        },
        path,
    )
    return path


#: Fields of fairseq's ``Wav2VecConfig`` (``fairseq/models/wav2vec/wav2vec.py``), in its order.
WAV2VEC_CONFIG_FIELDS = (
    "prediction_steps", "sample_distance", "cross_sample_negatives", "num_negatives",
    "conv_feature_layers", "conv_aggregator_layers", "dropout", "dropout_features", "dropout_agg",
    "aggregator", "gru_dim", "no_conv_bias", "agg_zero_pad", "skip_connections_feat",
    "skip_connections_agg", "residual_scale", "log_compression", "balanced_classes",
    "project_features", "non_affine_group_norm", "offset", "activation", "vq_type", "vq_vars",
    "vq_groups", "vq_dim", "vq_depth", "combine_groups", "vq_temp", "vq_gamma", "infonce",
)


def converted_model_cfg(args: argparse.Namespace, drop=()) -> dict:
    """``cfg["model"]`` as fairseq builds it from a legacy ``args`` (``_name`` + dataclass fields)."""
    cfg = {"_name": "wav2vec"}
    for k in WAV2VEC_CONFIG_FIELDS:
        if k not in drop:
            v = getattr(args, k)
            cfg[k] = tuple(eval(v)) if k == "vq_temp" else v  # noqa: S307 - our own literal
    return cfg


def converted_task_cfg() -> dict:
    """``cfg["task"]``: fairseq ``AudioPretrainingConfig`` fields (wav2vec 1 does not normalize)."""
    return {
        "_name": "audio_pretraining", "data": "/manifest", "labels": None, "binarized_dataset": False,
        "sample_rate": 16000, "normalize": False, "enable_padding": False, "max_sample_size": 150000,
        "min_sample_size": None, "num_batch_buckets": 0, "precompute_mask_indices": False,
        "inferred_w2v_config": None, "tpu": False, "text_compression_level": "none",
    }


def write_s3prl_converted(dst: Path, args: argparse.Namespace, seed: int, name: str, drop=()) -> Path:
    """The original s3prl toolkit's converted file of the fairseq checkpoint ``args`` / ``seed`` give."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    path = dst / name
    torch.save(
        {
            "task_cfg": converted_task_cfg(),
            "model_cfg": converted_model_cfg(args, drop),
            "model_weight": make_state(args, seed),
        },
        path,
    )
    return path


def build_wav2vec(dst: Path):
    """wav2vec large layout (log compression, aggregator skip connections), reduced to dim 32/40."""
    return "wav2vec_local", write_fairseq_wav2vec(dst, _args(), seed=11, name="wav2vec_small_test.pt")


BUILDERS = {"wav2vec_tiny": build_wav2vec}
