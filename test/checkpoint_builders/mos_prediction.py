"""MOS predictor checkpoints in the layout s3prl's downstream runner saves
(``{wav2vec2,tera,apc}-dev-SRCC-best.ckpt``), seeded, on reduced upstreams::

    {"Upstream": s3prl 0.4.18's upstream-expert state dict ("model.*" for wav2vec2 / APC,
                 "transformer.model.*" + "transformer.extracter.*" buffers for TERA),
     "Downstream": {"connector.*", "model.mean_net_linear.*", "model.mean_net_pooling.W.*",
                    "model.bias_net_linear.*", "model.bias_net_pooling.W.*",
                    "model.judge_embbeding.weight" (5000 judges)},
     "Config": {"runner": ..., "optimizer": ..., "downstream_expert": {"datarc": ...,
                "modelrc": {"projector_dim", "clipping", "attention_pooling", ...}}},
     "Args": argparse.Namespace(upstream=..., upstream_ckpt=<the architecture file>, ...),
     "Featurizer": {"weights": zeros(layers)} (s3prl's MOS expert never reads it),
     "Optimizer": ..., "Step": int, "Epoch": int}

The upstream architecture comes from a separate checkpoint of the family (its own released
layout, other seed), named by ``Args.upstream_ckpt``; ``Upstream`` holds different (fine-tuned)
weights of the same shapes. Released head: projector 256, clipping and attention pooling on
(s3prl ``downstream/mos_prediction/config.yaml``); reduced here to 16.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

PROJ, JUDGES = 16, 5000


def upstream_weights(upstream: str, seed: int) -> tuple[dict, dict]:
    """``(family_state, upstream_entry)``: seeded weights in the family's own checkpoint names, and
    the same tensors under s3prl 0.4.18's upstream-expert names (what ``Upstream`` holds)."""
    if upstream == "wav2vec2":
        from test.checkpoint_builders.wav2vec2 import base_options, make_state

        sd = make_state(base_options(), seed)
        return sd, {f"model.{k}": v for k, v in sd.items()}
    if upstream == "apc":
        from test.checkpoint_builders.apc import FEAT_DIM, apc_paras, apc_state

        sd = apc_state(apc_paras(), FEAT_DIM, seed)
        return sd, {f"model.{k}": v for k, v in sd.items()}
    from test.checkpoint_builders.mockingjay import (
        MEL_AUDIO,
        input_dim_of,
        transformer_state,
        upstream_config,
    )

    sd = transformer_state(upstream_config(MEL_AUDIO)["transformer"], input_dim_of(MEL_AUDIO), seed)
    entry = {f"transformer.model.{k}": v for k, v in sd.items()}
    gen = torch.Generator().manual_seed(seed)
    entry.update({  # torchaudio front-end buffers of s3prl's OnlinePreprocessor (not weights)
        "transformer.extracter._window": torch.hann_window(400),
        "transformer.extracter._melscale.fb": torch.rand(201, 80, generator=gen),
        "transformer.extracter._mfcc_trans.dct_mat": torch.randn(80, 13, generator=gen),
        "transformer.extracter._mfcc_trans.MelSpectrogram.spectrogram.window": torch.hann_window(400),
        "transformer.extracter._mfcc_trans.MelSpectrogram.mel_scale.fb": torch.rand(201, 128, generator=gen),
        "transformer.extracter._pseudo_wavs": torch.randn(2, 1600, generator=gen),
    })
    return sd, entry


def write_architecture(upstream: str, dst: Path, seed: int = 5) -> Path:
    """A checkpoint of the upstream family in its released layout (gives the architecture)."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    if upstream == "wav2vec2":
        from test.checkpoint_builders.wav2vec2 import (
            base_options,
            make_state,
            task_options,
            write_args_layout,
        )

        opts = base_options()
        return write_args_layout(dst / "wav2vec_small.pt", opts, task_options(False), make_state(opts, seed))
    if upstream == "apc":
        from test.checkpoint_builders.apc import write_apc_checkpoint

        return write_apc_checkpoint(dst / "apc_360hr.ckpt", seed=seed)
    from test.checkpoint_builders.mockingjay import MEL_AUDIO, build_checkpoint

    return build_checkpoint(dst / "tera" / "states-1000000.ckpt", MEL_AUDIO, layout="config", seed=seed)


def downstream_state(upstream_dim: int, attention_pooling: bool = True, seed: int = 71) -> dict:
    gen = torch.Generator().manual_seed(seed)

    def lin(name, n_out, n_in):
        sd[f"{name}.weight"] = torch.randn(n_out, n_in, generator=gen) * n_in**-0.5
        sd[f"{name}.bias"] = torch.randn(n_out, generator=gen) * 0.3

    sd: dict = {}
    lin("connector", PROJ, upstream_dim)
    lin("model.mean_net_linear", 1, PROJ)
    if attention_pooling:
        lin("model.mean_net_pooling.W", 1, PROJ)
    lin("model.bias_net_linear", 1, PROJ)
    if attention_pooling:
        lin("model.bias_net_pooling.W", 1, PROJ)
    sd["model.judge_embbeding.weight"] = torch.randn(JUDGES, PROJ, generator=gen)
    return sd


def upstream_dim(upstream: str) -> int:
    from test.checkpoint_builders import apc, mockingjay, wav2vec2

    return {"wav2vec2": wav2vec2.DIM, "apc": apc.HIDDEN, "tera": mockingjay.HIDDEN}[upstream]


def write_checkpoint(path: Path, upstream: str, upstream_ckpt: str | None, seed: int = 61,
                     clipping: bool = True, attention_pooling: bool = True, downstream: dict | None = None,
                     upstream_entry: dict | None = None) -> Path:
    if upstream_entry is None:
        upstream_entry = upstream_weights(upstream, seed)[1]
    if downstream is None:
        downstream = downstream_state(upstream_dim(upstream), attention_pooling)
    ckpt = {
        "Upstream": upstream_entry,
        "Downstream": downstream,
        "Featurizer": {"weights": torch.zeros(3)},
        "Config": {
            "runner": {"total_steps": 20000, "gradient_clipping": 5, "gradient_accumulate_steps": 2},
            "optimizer": {"name": "Adam", "lr": 1.0e-4},
            "downstream_expert": {
                "datarc": {"num_workers": 8, "train_batch_size": 8, "eval_batch_size": 12},
                "modelrc": {"projector_dim": PROJ, "clipping": clipping, "attention_pooling": attention_pooling,
                            "segment_weight": 1, "bias_weight": 1},
            },
        },
        "Args": argparse.Namespace(upstream=upstream, upstream_ckpt=upstream_ckpt, downstream="mos_prediction",
                                   mode="train", upstream_trainable=True, expdir="result/downstream/mos",
                                   upstream_feature_selection="hidden_states", seed=1337),
        "Optimizer": {"state": {}, "param_groups": []}, "Step": 4500, "Epoch": 3,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def build(upstream: str, dst: Path, **kwargs) -> tuple[str, Path]:
    arch = write_architecture(upstream, Path(dst) / "arch")
    path = write_checkpoint(Path(dst) / f"{upstream}-dev-SRCC-best.ckpt", upstream, str(arch), **kwargs)
    return f"mos_{upstream}_local", path


BUILDERS = {f"mos_{u}_tiny": (lambda dst, u=u: build(u, dst)) for u in ("wav2vec2", "tera", "apc")}
