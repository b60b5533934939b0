"""Reduced-size Mockingjay / TERA / Audio ALBERT checkpoints in the released layouts.

The original toolkit (https://github.com/s3prl/s3prl: ``s3prl/pretrain/runner.py``,
``s3prl/pretrain/mockingjay/pretrain_expert.py``) saves ``states-<step>.ckpt``
as::

    {"Optimizer": optimizer.state_dict(),   # param_groups hold the toolkit's
                                            # optimizers.WarmupLinearSchedule objects
     "Step": int, "Args": argparse.Namespace,
     "Runner": {runner config},             # 2021 releases ("config" layout)
     "SpecHead": state_dict, "Transformer": state_dict,
     "Config": {"transformer": {...}, "task": {...}, "audio": {...}}}

and, after November 2021 (``"upstream_config"`` layout), ``"Config"`` is the
runner config and the upstream config is ``"Upstream_Config"``. Parameter
names are those of the original ``TransformerModel`` (``s3prl/upstream/
mockingjay/model.py``). Weights are seeded random numbers: linear weights
``N(0, 1/fan_in)``, biases ``N(0, 0.1^2)``, LayerNorm weights ``1 + N(0, 0.1^2)``
and biases ``N(0, 0.1^2)``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import types
from pathlib import Path

import torch

HIDDEN = 32
HEADS = 4
INTERMEDIATE = 64
LAYERS = 2

#: the ``audio`` section of the released log-mel models (s3prl ``pretrain/tera/config_model.yaml``)
MEL_AUDIO = {
    "target_level": -25,
    "win_ms": 25,
    "hop_ms": 10,
    "n_freq": 201,
    "n_mels": 80,
    "n_mfcc": 13,
    "input": {"feat_type": "mel", "channel": 0, "log": True, "delta": 0, "cmvn": True},
    "target": {"feat_type": "mel", "channel": 1, "log": True, "delta": 0, "cmvn": True},
}
#: Mockingjay Large: log-mel input, linear-spectrogram target (``config_model_large.yaml``)
MEL_LINEAR_AUDIO = dict(
    MEL_AUDIO,
    target={"feat_type": "linear", "channel": 1, "log": True, "delta": 0, "cmvn": True},
)
#: the ``audio`` section of ``tera_fbankBase_T_F`` (``exp_model_config/fbankBase-T-F.yaml``)
FBANK_AUDIO = {
    "kaldi": {
        "feat_type": "fbank",
        "spectrogram": {"frame_length": 25.0, "frame_shift": 10.0},
        "fbank": {
            "num_mel_bins": 80,
            "frame_length": 25.0,
            "frame_shift": 10.0,
            "use_log_fbank": True,
        },
        "mfcc": {"num_ceps": 13, "frame_length": 25.0, "frame_shift": 10.0},
    },
    "delta": {"order": 2, "win_length": 5},
    "cmvn": {"use_cmvn": True},
}


def transformer_config(
    layers: int = LAYERS,
    hidden: int = HIDDEN,
    heads: int = HEADS,
    inter: int = INTERMEDIATE,
    share_layer: bool = False,
    pre_layer_norm: bool = False,
) -> dict:
    """The ``transformer`` section (s3prl ``pretrain/<family>/config_model.yaml`` fields)."""
    return {
        "input_dim": -1,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "layer_norm_eps": 1.0e-12,
        "share_layer": share_layer,
        "pre_layer_norm": pre_layer_norm,
    }


def upstream_config(audio: dict, sequence_length: int = 1500, **tf) -> dict:
    return {
        "transformer": transformer_config(**tf),
        "task": {
            "loss": "L1",
            "sequence_length": sequence_length,
            "position_encoding_size": tf.get("hidden", HIDDEN),
            "mask_proportion": 0.15,
            "mask_consecutive_min": 7,
            "mask_consecutive_max": 7,
            "mask_allow_overlap": True,
            "mask_bucket_ratio": 1.5,
            "mask_frequency": 0.2,
            "noise_proportion": 0.0,
        },
        "audio": copy.deepcopy(audio),
    }


def _linear(gen, out_dim, in_dim, prefix, sd):
    sd[f"{prefix}.weight"] = torch.randn(out_dim, in_dim, generator=gen) / in_dim**0.5
    sd[f"{prefix}.bias"] = torch.randn(out_dim, generator=gen) * 0.1


def _norm(gen, dim, prefix, sd):
    sd[f"{prefix}.weight"] = 1.0 + torch.randn(dim, generator=gen) * 0.1
    sd[f"{prefix}.bias"] = torch.randn(dim, generator=gen) * 0.1


def transformer_state(cfg: dict, input_dim: int, seed: int) -> dict:
    """``Transformer`` state dict with the original's key names and order."""
    gen = torch.Generator().manual_seed(seed)
    h, inter, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    sd: dict = {}
    _linear(gen, h, input_dim, "input_representations.spec_transform", sd)
    _norm(gen, h, "input_representations.LayerNorm", sd)
    layer: dict = {}
    for i in range(n):
        if i == 0 or not cfg["share_layer"]:
            layer = {}
            for name in ("query", "key", "value"):
                _linear(gen, h, h, f"attention.self.{name}", layer)
            _linear(gen, h, h, "attention.output.dense", layer)
            _norm(gen, h, "attention.output.LayerNorm", layer)
            if cfg["pre_layer_norm"]:  # module alias saved twice by the original
                layer["attention.LayerNorm.weight"] = layer["attention.output.LayerNorm.weight"]
                layer["attention.LayerNorm.bias"] = layer["attention.output.LayerNorm.bias"]
            _linear(gen, inter, h, "intermediate.dense", layer)
            _linear(gen, h, inter, "output.dense", layer)
            _norm(gen, h, "output.LayerNorm", layer)
            if cfg["pre_layer_norm"]:
                layer["LayerNorm.weight"] = layer["output.LayerNorm.weight"]
                layer["LayerNorm.bias"] = layer["output.LayerNorm.bias"]
        for k, v in layer.items():
            sd[f"encoder.layer.{i}.{k}"] = v  # shared layers: the same tensors
    if cfg["pre_layer_norm"]:
        for i in range(n + 1):
            _norm(gen, h, f"encoder.LayerNorm.{i}", sd)
    return sd


def spec_head_state(cfg: dict, output_dim: int, seed: int) -> dict:
    """``SpecHead`` (pre-training prediction head; ignored by the upstream)."""
    gen = torch.Generator().manual_seed(seed + 1)
    h = cfg["hidden_size"]
    sd: dict = {}
    _linear(gen, h, h, "dense", sd)
    _norm(gen, h, "LayerNorm", sd)
    _linear(gen, output_dim, h, "output", sd)
    return sd


class _WarmupLinearSchedule:
    """Pickled as ``optimizers.WarmupLinearSchedule`` like the toolkit's
    schedule objects inside the optimiser's ``param_groups``."""

    def __init__(self, warmup: float, t_total: float):
        self.warmup, self.t_total = warmup, t_total
        self.warned_for_t_total_at_progress = -1


def _optimizer_state(sd: dict, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed + 2)
    names = list(sd)
    state = {
        i: {
            "step": 3,
            "exp_avg": torch.randn(sd[n].shape, generator=gen) * 1e-3,
            "exp_avg_sq": torch.rand(sd[n].shape, generator=gen) * 1e-6,
        }
        for i, n in enumerate(names[:2])
    }
    group = {
        "lr": 2e-4,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "schedule": _WarmupLinearSchedule(0.07, 1000000.0),
        "weight_decay": 0.01,
        "correct_bias": True,
        "params": list(range(len(names))),
    }
    return {"state": state, "param_groups": [group]}


def _save_with_toolkit_globals(obj, path: Path) -> None:
    """``torch.save`` with the schedule class registered as ``optimizers.WarmupLinearSchedule``."""
    mod = types.ModuleType("optimizers")
    cls = type("WarmupLinearSchedule", (_WarmupLinearSchedule,), {"__module__": "optimizers"})
    mod.WarmupLinearSchedule = cls
    prev = sys.modules.get("optimizers")
    sys.modules["optimizers"] = mod
    try:
        for group in obj.get("Optimizer", {}).get("param_groups", []):
            sched = group.get("schedule")
            if isinstance(sched, _WarmupLinearSchedule):
                new = cls.__new__(cls)
                new.__dict__.update(sched.__dict__)
                group["schedule"] = new
        torch.save(obj, path)
    finally:
        if prev is None:
            del sys.modules["optimizers"]
        else:
            sys.modules["optimizers"] = prev


def input_dim_of(audio: dict) -> int:
    """Feature dim the released config implies (80 log mel, 201 linear, 240 fbank + deltas)."""
    if "kaldi" in audio:
        order = audio.get("delta", {}).get("order", 2)
        return audio["kaldi"]["fbank"]["num_mel_bins"] * (order + 1)
    inp = audio["input"]
    base = audio["n_mels"] if inp["feat_type"] == "mel" else audio["n_freq"]
    return base * (inp.get("delta", 0) + 1)


def build_checkpoint(
    path: Path,
    audio: dict,
    layout: str = "config",
    seed: int = 0,
    sequence_length: int = 1500,
    downsample_rate: int = 1,
    **tf,
) -> Path:
    """Write a seeded checkpoint in a released layout.

    Args:
        path: output file.
        audio: the ``audio`` section (:data:`MEL_AUDIO`, :data:`FBANK_AUDIO`, ...).
        layout: ``"config"`` (2021 releases: upstream config under ``Config``,
            runner config under ``Runner``), ``"upstream_config"``
            (``Upstream_Config`` + runner ``Config``) or ``"settings"`` (the
            2019-2020 code base: ``Settings: {Config: {transformer (with
            downsample_rate, max_input_length), online: audio}, Paras:
            Namespace}``, ``Global_step``; its optimiser state is written
            without schedule objects).
        seed: weight seed.
        sequence_length: ``task.sequence_length`` (trained maximum frames;
            ``transformer.max_input_length`` for ``"settings"``).
        downsample_rate: frame stacking of the ``"settings"`` layout.
        **tf: :func:`transformer_config` options (layers, hidden, heads,
            inter, share_layer, pre_layer_norm).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    up = upstream_config(audio, sequence_length, **tf)
    cfg = up["transformer"]
    if downsample_rate != 1 and layout != "settings":
        raise ValueError("frame stacking exists only in the 'settings' layout")
    transformer = transformer_state(cfg, input_dim_of(audio) * downsample_rate, seed)
    target = audio.get("target", audio.get("input"))
    if "kaldi" in audio:
        out_dim = input_dim_of(audio)
    else:
        out_dim = audio["n_mels"] if target["feat_type"] == "mel" else audio["n_freq"]
    runner = {
        "runner": {"total_steps": 1000000, "gradient_clipping": 5.0, "gradient_accumulate_steps": 4},
        "optimizer": {"name": "AdamW_with_schedule", "lr": 2e-4, "warmup_proportion": 0.07},
    }
    args = argparse.Namespace(
        upstream="tera", config="pretrain/tera/config_runner.yaml", seed=1337, expdir="result/x"
    )
    states = {
        "Optimizer": _optimizer_state(transformer, seed),
        "Step": 200000,
        "Args": args,
    }
    if layout == "config":
        states["Runner"] = runner
        states["SpecHead"] = spec_head_state(cfg, out_dim, seed)
        states["Transformer"] = transformer
        states["Config"] = up
    elif layout == "upstream_config":
        states["Config"] = runner
        states["SpecHead"] = spec_head_state(cfg, out_dim, seed)
        states["Transformer"] = transformer
        states["Upstream_Config"] = up
    elif layout == "settings":
        legacy_tf = dict(cfg, downsample_rate=downsample_rate, max_input_length=sequence_length)
        legacy_tf.pop("input_dim")
        states = {
            "SpecHead": spec_head_state(cfg, out_dim * downsample_rate, seed),
            "Transformer": transformer,
            "Optimizer": {"state": {}, "param_groups": [{"lr": 4e-4, "params": list(range(len(transformer)))}]},
            "Global_step": 500000,
            "Settings": {
                "Config": {"transformer": legacy_tf, "online": copy.deepcopy(audio)},
                "Paras": argparse.Namespace(config="config/mockingjay_libri_MelBase.yaml", seed=1337),
            },
        }
    else:
        raise ValueError(f"unknown layout {layout!r}")
    _save_with_toolkit_globals(states, path)
    return path


def _mockingjay_mel(dst: Path):
    ckpt = build_checkpoint(dst / "mockingjay_mel" / "states-500000.ckpt", MEL_LINEAR_AUDIO, seed=11)
    return "mockingjay_local", ckpt


BUILDERS = {"mockingjay_mel_reduced": _mockingjay_mel}
