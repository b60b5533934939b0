"""Reduced-size wav2vec 2.0 / XLS-R checkpoints in fairseq's released layouts (seeded random weights).

Layouts (fairseq ``checkpoint_utils.save_state``):

* argparse era, e.g. ``wav2vec_small.pt``: ``{"args": argparse.Namespace(<model and task
  options, flat>), "model": state_dict, "optimizer_history": [...], "extra_state": {...},
  "last_optimizer_state": ...}``;
* hydra era, e.g. ``xlsr2_300m.pt``, ``hubert_base_ls960.pt``, data2vec: ``{"cfg": {"model":
  {...}, "task": {...}, "common": ..., ...}, "model": state_dict, "task_state": {...}, ...}``.

State-dict keys (fairseq ``Wav2Vec2Model``): ``feature_extractor.conv_layers.{i}.0.weight``
(+ ``.0.bias`` with ``conv_bias``), ``feature_extractor.conv_layers.0.2.{weight,bias}``
(GroupNorm, "default" mode) or ``feature_extractor.conv_layers.{i}.2.1.{weight,bias}``
(LayerNorm, "layer_norm" mode), ``layer_norm.*``, ``post_extract_proj.*``, ``mask_emb``,
``encoder.pos_conv.0.{weight_g,weight_v,bias}``, ``encoder.layer_norm.*``,
``encoder.layers.{i}.self_attn.{k,v,q,out}_proj.*``, ``encoder.layers.{i}.self_attn_layer_norm.*``,
``encoder.layers.{i}.fc1.*``, ``.fc2.*``, ``.final_layer_norm.*``, and the training-only
``quantizer.vars``, ``quantizer.weight_proj.*``, ``project_q.*``, ``final_proj.*``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

# Reduced sizes (the released models: 512 conv channels, 768/1024 dim, 12/24 layers).
CONV = [(24, 10, 5)] + [(24, 3, 2)] * 4 + [(24, 2, 2)] * 2  # 400-sample field, 320 stride
CONV_STR = "[(24, 10, 5)] + [(24, 3, 2)] * 4 + [(24,2,2)] + [(24,2,2)]"
DIM, FFN, HEADS, LAYERS, CONV_POS, CONV_POS_GROUPS = 32, 64, 4, 2, 16, 4


def model_options(**over) -> dict:
    """fairseq ``Wav2Vec2Config`` fields (reduced sizes) of a base model."""
    opts = dict(
        extractor_mode="default",
        encoder_layers=LAYERS,
        encoder_embed_dim=DIM,
        encoder_ffn_embed_dim=FFN,
        encoder_attention_heads=HEADS,
        activation_fn="gelu",
        layer_type="transformer",
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.0,
        encoder_layerdrop=0.05,
        dropout_input=0.1,
        dropout_features=0.1,
        final_dim=16,
        layer_norm_first=False,
        conv_feature_layers=CONV_STR,
        conv_bias=False,
        logit_temp=0.1,
        quantize_targets=True,
        quantize_input=False,
        same_quantizer=False,
        target_glu=False,
        feature_grad_mult=0.1,
        quantizer_depth=1,
        quantizer_factor=3,
        latent_vars=8,
        latent_groups=2,
        latent_dim=0,
        mask_length=10,
        mask_prob=0.65,
        mask_selection="static",
        mask_other=0.0,
        no_mask_overlap=False,
        mask_min_space=1,
        mask_channel_length=10,
        mask_channel_prob=0.0,
        mask_channel_before=False,
        mask_channel_selection="static",
        mask_channel_other=0.0,
        no_mask_channel_overlap=False,
        mask_channel_min_space=1,
        num_negatives=100,
        negatives_from_everywhere=False,
        cross_sample_negatives=0,
        codebook_negatives=0,
        conv_pos=CONV_POS,
        conv_pos_groups=CONV_POS_GROUPS,
        pos_conv_depth=1,
        latent_temp=[2.0, 0.5, 0.999995],
        max_positions=100000,
        checkpoint_activations=False,
        required_seq_len_multiple=1,
        crop_seq_to_multiple=1,
        depthwise_conv_kernel_size=31,
        attn_type="",
        pos_enc_type="abs",
        fp16=False,
    )
    opts.update(over)
    return opts


def task_options(normalize: bool, name: str = "audio_pretraining") -> dict:
    return dict(
        _name=name, data="/checkpoint/manifests", max_sample_size=250000, min_sample_size=32000,
        sample_rate=16000, normalize=normalize, enable_padding=False, labels=None,
    )


def _conv_specs(opts: dict) -> list:
    return eval(opts["conv_feature_layers"])  # noqa: S307 - our own literal


def _rand(gen, *shape, scale=0.1, offset=0.0):
    return torch.randn(*shape, generator=gen) * scale + offset


def _linear(sd, gen, name, n_in, n_out, bias=True):
    sd[f"{name}.weight"] = _rand(gen, n_out, n_in, scale=n_in**-0.5)
    if bias:
        sd[f"{name}.bias"] = _rand(gen, n_out)


def _norm(sd, gen, name, n):
    sd[f"{name}.weight"] = _rand(gen, n, scale=0.2, offset=1.0)
    sd[f"{name}.bias"] = _rand(gen, n)


def make_state(opts: dict, seed: int, training_only: str = "wav2vec2") -> dict:
    """A fairseq-named state dict for the fairseq model options ``opts``.

    Norm weights are ``1 + N(0, 0.2)``, biases ``N(0, 0.1)``, matrices scaled by
    ``fan_in ** -0.5``. ``training_only`` adds that family's training-only weights
    ("wav2vec2": quantizer, project_q, final_proj; "hubert": label_embs_concat,
    final_proj; "data2vec": final_proj, _ema; "none").
    """
    gen = torch.Generator().manual_seed(seed)
    sd: dict = {}
    convs = _conv_specs(opts)
    layer_mode = opts["extractor_mode"] == "layer_norm"
    in_ch = 1
    for i, (ch, k, _s) in enumerate(convs):
        sd[f"feature_extractor.conv_layers.{i}.0.weight"] = _rand(gen, ch, in_ch, k, scale=(in_ch * k) ** -0.5)
        if opts["conv_bias"]:
            sd[f"feature_extractor.conv_layers.{i}.0.bias"] = _rand(gen, ch)
        if layer_mode:
            _norm(sd, gen, f"feature_extractor.conv_layers.{i}.2.1", ch)
        elif i == 0:
            _norm(sd, gen, "feature_extractor.conv_layers.0.2", ch)
        in_ch = ch
    dim, ffn = opts["encoder_embed_dim"], opts["encoder_ffn_embed_dim"]
    _norm(sd, gen, "layer_norm", in_ch)
    if in_ch != dim:
        _linear(sd, gen, "post_extract_proj", in_ch, dim)
    sd["mask_emb"] = torch.rand(dim, generator=gen)
    depth, kpos, groups = opts.get("pos_conv_depth", 1), opts["conv_pos"], opts["conv_pos_groups"]
    if depth > 1:
        k = max(3, kpos // depth)
        for i in range(depth):
            sd[f"encoder.pos_conv.{i}.0.weight"] = _rand(gen, dim, dim // groups, k, scale=(dim // groups * k) ** -0.5)
            sd[f"encoder.pos_conv.{i}.0.bias"] = _rand(gen, dim)
    else:
        sd["encoder.pos_conv.0.bias"] = _rand(gen, dim)
        sd["encoder.pos_conv.0.weight_g"] = _rand(gen, 1, 1, kpos, scale=0.2, offset=1.0)
        sd["encoder.pos_conv.0.weight_v"] = _rand(gen, dim, dim // groups, kpos)
    _norm(sd, gen, "encoder.layer_norm", dim)
    for i in range(opts["encoder_layers"]):
        p = f"encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            _linear(sd, gen, f"{p}.self_attn.{proj}", dim, dim)
        _norm(sd, gen, f"{p}.self_attn_layer_norm", dim)
        _linear(sd, gen, f"{p}.fc1", dim, ffn)
        _linear(sd, gen, f"{p}.fc2", ffn, dim)
        _norm(sd, gen, f"{p}.final_layer_norm", dim)
    final_dim = opts.get("final_dim") or dim
    if training_only == "wav2vec2":
        groups_, vars_ = opts["latent_groups"], opts["latent_vars"]
        sd["quantizer.vars"] = _rand(gen, 1, groups_ * vars_, final_dim // groups_)
        _linear(sd, gen, "quantizer.weight_proj", in_ch, groups_ * vars_)
        _linear(sd, gen, "project_q", final_dim, final_dim)
        _linear(sd, gen, "final_proj", dim, final_dim)
    elif training_only == "hubert":
        sd["label_embs_concat"] = _rand(gen, 10, final_dim)
        _linear(sd, gen, "final_proj", dim, final_dim)
    elif training_only == "data2vec":
        _linear(sd, gen, "final_proj", dim, dim)
        sd["_ema"] = {"layers.0.fc1.weight": _rand(gen, ffn, dim)}
    return sd


def _history() -> dict:
    return dict(
        optimizer_history=[
            {"criterion_name": "Wav2vecCriterion", "optimizer_name": "FairseqAdam",
             "lr_scheduler_state": {"best": 1.98}, "num_updates": 400000}
        ],
        extra_state={"epoch": 300, "previous_training_time": 1234.5,
                     "train_iterator": {"epoch": 300, "iterations_in_epoch": 0, "shuffle": True}},
        last_optimizer_state=None,
    )


def write_args_layout(path: Path, opts: dict, task: dict, state: dict) -> Path:
    """argparse-era fairseq file (``wav2vec_small.pt`` layout)."""
    args = argparse.Namespace(arch=opts.get("_name", "wav2vec2"), task=task["_name"],
                              criterion="wav2vec", **{k: v for k, v in {**opts, **task}.items() if k != "_name"})
    torch.save({"args": args, "model": state, **_history()}, path)
    return path


def write_cfg_layout(path: Path, opts: dict, task: dict, state: dict, task_state: dict | None = None) -> Path:
    """hydra-era fairseq file (``xlsr2_300m.pt`` / ``hubert_base_ls960.pt`` layout); ``cfg`` plain dicts."""
    cfg = {
        "_name": None,
        "common": {"_name": None, "fp16": True, "log_interval": 200, "seed": 1},
        "checkpoint": {"_name": None, "save_dir": "checkpoints", "no_epoch_checkpoints": True},
        "task": task,
        "model": opts,
        "criterion": {"_name": "wav2vec", "infonce": True},
        "optimizer": {"_name": "adam", "adam_betas": "(0.9,0.98)", "adam_eps": 1e-06},
        "lr_scheduler": {"_name": "polynomial_decay", "warmup_updates": 32000},
    }
    ckpt = {"cfg": cfg, "model": state, **_history()}
    if task_state is not None:
        ckpt["task_state"] = task_state
    torch.save(ckpt, path)
    return path


def base_options() -> dict:
    """wav2vec 2.0 Base: group-norm extractor, post-LN, no conv bias, no input normalisation."""
    return model_options(_name="wav2vec2")


def large_options() -> dict:
    """wav2vec 2.0 Large LV-60 / XLS-R style: layer-norm extractor with conv bias, pre-LN."""
    return model_options(_name="wav2vec2", extractor_mode="layer_norm", conv_bias=True, layer_norm_first=True,
                         encoder_layerdrop=0.0, final_dim=24)


def build_base(dst: Path, seed: int = 0) -> tuple[str, Path]:
    opts = base_options()
    return "wav2vec2_local", write_args_layout(Path(dst) / "wav2vec_small.pt", opts, task_options(False),
                                               make_state(opts, seed))


def build_large(dst: Path, seed: int = 1) -> tuple[str, Path]:
    opts = large_options()
    return "wav2vec2_local", write_cfg_layout(Path(dst) / "xlsr2_300m.pt", opts, task_options(True),
                                              make_state(opts, seed))


def build_s3prl_converted(dst: Path, seed: int = 0) -> tuple[str, Path]:
    """The original s3prl toolkit's converted file of the base model (``task_cfg``, ``model_cfg``, ``model_weight``)."""
    opts = base_options()
    path = Path(dst) / "wav2vec_small_converted.pt"
    torch.save({"task_cfg": task_options(False), "model_cfg": opts, "model_weight": make_state(opts, seed)}, path)
    return "wav2vec2_local", path


BUILDERS = {
    "wav2vec2_base_reduced": build_base,
    "wav2vec2_large_reduced": build_large,
}


# --------------------------------------------------------------------------- fairseq Dictionary


def fairseq_dictionary(symbols) -> object:
    """An object that pickles as ``fairseq.data.dictionary.Dictionary`` (its real pickled
    state: ``symbols``, ``count``, ``indices``, special words and indices), made without
    fairseq: a look-alike class registered under fairseq's module name only while saving
    (see :func:`saving_fairseq_classes`)."""
    d = _FairseqDictionary()
    d.bos_word, d.unk_word, d.pad_word, d.eos_word = "<s>", "<unk>", "<pad>", "</s>"
    d.symbols = ["<s>", "<pad>", "</s>", "<unk>", *symbols]
    d.count = [1] * 4 + [100] * len(symbols)
    d.indices = {s: i for i, s in enumerate(d.symbols)}
    d.bos_index, d.pad_index, d.eos_index, d.unk_index, d.nspecial = 0, 1, 2, 3, 4
    return d


class _FairseqDictionary:
    pass


_FairseqDictionary.__module__ = "fairseq.data.dictionary"
_FairseqDictionary.__qualname__ = _FairseqDictionary.__name__ = "Dictionary"


class saving_fairseq_classes:
    """Context manager: expose the look-alike under ``fairseq.data.dictionary`` in
    ``sys.modules`` for ``torch.save`` and remove it afterwards."""

    _NAMES = ("fairseq", "fairseq.data", "fairseq.data.dictionary")

    def __enter__(self):
        import sys
        import types

        self._saved = {n: sys.modules.get(n) for n in self._NAMES}
        for n in self._NAMES:
            sys.modules[n] = types.ModuleType(n)
        sys.modules["fairseq.data.dictionary"].Dictionary = _FairseqDictionary
        return self

    def __exit__(self, *exc):
        import sys

        for n, m in self._saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
        return False
