"""Reduced-size Audio ALBERT checkpoint in the released layout (see :mod:`.mockingjay`):
``share_layer: True``, so the saved ``Transformer`` state lists the one shared
layer under every index (the same tensors), as ``torch.nn.Module.state_dict``
writes it for the original's ``nn.ModuleList([layer] * n)``."""

from __future__ import annotations

from pathlib import Path

from test.checkpoint_builders.mockingjay import MEL_AUDIO, build_checkpoint


def _audio_albert(dst: Path):
    path = dst / "audio_albert" / "states-1000000.ckpt"
    ckpt = build_checkpoint(path, MEL_AUDIO, layout="config", seed=31, layers=3, share_layer=True)
    return "audio_albert_local", ckpt


BUILDERS = {"audio_albert_reduced": _audio_albert}
