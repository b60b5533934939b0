"""Reduced-size TERA checkpoints in the released layouts (see :mod:`.mockingjay`).

``tera_mel_reduced``: the newer ``Upstream_Config`` layout, log-mel input
(as ``tera_logMelBase_T_F_M_*``); ``tera_fbank_reduced``: the 2021 ``Config``
layout with the Kaldi fbank + deltas + CMVN input of
``tera_fbankBase_T_F_AdamW_b32_200k_100hr``.
"""

from __future__ import annotations

from pathlib import Path

from test.checkpoint_builders.mockingjay import FBANK_AUDIO, MEL_AUDIO, build_checkpoint


def _tera_mel(dst: Path):
    path = dst / "tera_mel" / "states-1000000.ckpt"
    return "tera_local", build_checkpoint(path, MEL_AUDIO, layout="upstream_config", seed=21)


def _tera_fbank(dst: Path):
    path = dst / "tera_fbank" / "states-200000.ckpt"
    return "tera_local", build_checkpoint(path, FBANK_AUDIO, layout="config", seed=22)


BUILDERS = {"tera_mel_reduced": _tera_mel, "tera_fbank_reduced": _tera_fbank}
