"""Entries of the NPC upstream (Non-autoregressive Predictive Coding).

Checkpoints: the original s3prl toolkit's releases on
https://huggingface.co/leo19941227/apc_series (URLs from s3prl's
``s3prl/upstream/npc/hubconf.py``; earlier hosted on Dropbox).
"""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["npc", "npc_360hr", "npc_960hr", "npc_local", "npc_url"]

_BASE = "https://huggingface.co/leo19941227/apc_series/resolve/main/"
NPC_360HR_URL = _BASE + "npc_360hr.ckpt"
NPC_960HR_URL = _BASE + "npc_960hr.ckpt"

_PAPER = "https://arxiv.org/abs/2011.00406"
_VERIFIED = (
    "independent reference (the original's convolutions on each unpadded utterance) and "
    "golden hidden states, on seeded checkpoints in the released layout"
)


def _build(ckpt, refresh: bool, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(
    model="NPC (local checkpoint)",
    paper=_PAPER,
    date="2020-11",
    input="fbank",
    stride=160,
    verified=_VERIFIED,
)
def npc_local(ckpt: str, **kwargs):
    """NPC from a local checkpoint in the original s3prl toolkit's layout.

    Args:
        ckpt: path of a ``{"config": ..., "model": state_dict}`` file (see
            :mod:`s3prl.upstream.apc.layout`).

    Hidden states: each conv block's output, each masked conv block's
    output, then the representation (their sum): ``2 * n_blocks + 1`` tensors
    ``(batch, frames, hidden_size)``, stride 160 samples (10 ms).

    Raises:
        ValueError: ``ckpt`` is a URL, or the file does not match the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "npc_local"), refresh=False, **kwargs)


@entry(
    model="NPC (checkpoint URL)",
    paper=_PAPER,
    date="2020-11",
    input="fbank",
    stride=160,
    verified=_VERIFIED,
)
def npc_url(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """NPC from a checkpoint URL (downloaded once into the s3prl cache).

    Args:
        ckpt: http(s) URL of a checkpoint in the original toolkit's layout.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), when known.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL, or the file does not
            match the layout.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _build(url_checkpoint(ckpt, "npc_url"), refresh=refresh, sha256=sha256, **kwargs)


@entry(
    model="NPC",
    paper=_PAPER,
    date="2020-11",
    input="fbank",
    stride=160,
    layers=9,
    hidden_size=512,
    data="LibriSpeech train-clean-360 (360 h)",
    ckpt=NPC_360HR_URL,
    verified=_VERIFIED,
)
def npc_360hr(ckpt: str = NPC_360HR_URL, refresh: bool = False, **kwargs):
    """NPC (Liu et al., Interspeech 2021) pre-trained on LibriSpeech train-clean-360.

    4 conv blocks of 512 channels, each followed by a masked conv (kernel
    15, masks of 7, 9, 11, 13 frames), 4-group VQ for training, over 80-dim
    log mel fbank (25 ms Hamming window, 10 ms hop, per-utterance CMVN).
    Hidden states (9, ``(batch, frames, 512)``): block 0, masked conv 0,
    ..., block 3, masked conv 3, the representation (sum of the masked
    convs, before VQ); stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)


@entry(
    model="NPC",
    paper=_PAPER,
    date="2020-11",
    input="fbank",
    stride=160,
    layers=9,
    hidden_size=512,
    data="LibriSpeech 960 h",
    ckpt=NPC_960HR_URL,
    verified=_VERIFIED,
)
def npc_960hr(ckpt: str = NPC_960HR_URL, refresh: bool = False, **kwargs):
    """NPC (Liu et al., Interspeech 2021) pre-trained on LibriSpeech 960 h.

    Same architecture as :func:`npc_360hr`; 9 hidden states
    ``(batch, frames, 512)``, stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)


@entry(
    model="NPC",
    paper=_PAPER,
    date="2020-11",
    input="fbank",
    stride=160,
    layers=9,
    hidden_size=512,
    data="LibriSpeech train-clean-360 (360 h)",
    ckpt=NPC_360HR_URL,
    verified=_VERIFIED,
)
def npc(ckpt: str = NPC_360HR_URL, refresh: bool = False, **kwargs):
    """NPC, the default release: the same model as :func:`npc_360hr`.

    4 conv blocks + masked convs of 512 channels over 80-dim log mel fbank
    with per-utterance CMVN, pre-trained on LibriSpeech train-clean-360;
    9 hidden states ``(batch, frames, 512)``, stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)
