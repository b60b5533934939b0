"""Entries of the APC upstream (Autoregressive Predictive Coding).

Checkpoints: the original s3prl toolkit's releases on
https://huggingface.co/leo19941227/apc_series (URLs from s3prl's
``s3prl/upstream/apc/hubconf.py``; earlier hosted on Dropbox).
"""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["apc", "apc_360hr", "apc_960hr", "apc_local", "apc_url"]

_BASE = "https://huggingface.co/leo19941227/apc_series/resolve/main/"
APC_360HR_URL = _BASE + "apc_360hr.ckpt"
APC_960HR_URL = _BASE + "apc_960hr.ckpt"

_PAPER = "https://arxiv.org/abs/1904.03240"
_VERIFIED = (
    "independent reference (torch.nn.GRU on each unpadded utterance) and golden hidden "
    "states, on seeded checkpoints in the released layout"
)


def _build(ckpt, refresh: bool, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(
    model="APC (local checkpoint)",
    paper=_PAPER,
    date="2019-04",
    input="fbank",
    stride=160,
    verified=_VERIFIED,
)
def apc_local(ckpt: str, **kwargs):
    """APC or VQ-APC from a local checkpoint in the original s3prl toolkit's layout.

    Args:
        ckpt: path of a ``{"config": ..., "model": state_dict}`` file (see
            :mod:`s3prl.upstream.apc.layout`).

    Hidden states: one per GRU layer, ``(batch, frames, hidden_size)``,
    stride 160 samples (10 ms).

    Raises:
        ValueError: ``ckpt`` is a URL (use :func:`apc_url`), or the file does
            not match the layout (see :class:`s3prl.upstream.apc.expert.UpstreamExpert`).
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "apc_local"), refresh=False, **kwargs)


@entry(
    model="APC (checkpoint URL)",
    paper=_PAPER,
    date="2019-04",
    input="fbank",
    stride=160,
    verified=_VERIFIED,
)
def apc_url(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """APC or VQ-APC from a checkpoint URL (downloaded once into the s3prl cache).

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

    return _build(url_checkpoint(ckpt, "apc_url"), refresh=refresh, sha256=sha256, **kwargs)


@entry(
    model="APC",
    paper=_PAPER,
    date="2019-04",
    input="fbank",
    stride=160,
    layers=3,
    hidden_size=512,
    data="LibriSpeech train-clean-360 (360 h)",
    ckpt=APC_360HR_URL,
    verified=_VERIFIED,
)
def apc_360hr(ckpt: str = APC_360HR_URL, refresh: bool = False, **kwargs):
    """APC (Chung et al., Interspeech 2019) pre-trained on LibriSpeech train-clean-360.

    3 unidirectional GRU layers of 512 units with residual connections over
    80-dim log mel fbank (25 ms Hamming window, 10 ms hop, per-utterance
    CMVN), trained to predict the frame 5 steps ahead. Hidden states: the
    3 GRU layers' outputs, ``(batch, frames, 512)``, stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)


@entry(
    model="APC",
    paper=_PAPER,
    date="2019-04",
    input="fbank",
    stride=160,
    layers=3,
    hidden_size=512,
    data="LibriSpeech 960 h",
    ckpt=APC_960HR_URL,
    verified=_VERIFIED,
)
def apc_960hr(ckpt: str = APC_960HR_URL, refresh: bool = False, **kwargs):
    """APC (Chung et al., Interspeech 2019) pre-trained on LibriSpeech 960 h.

    Same architecture as :func:`apc_360hr`: 3 GRU layers of 512 units over
    80-dim log mel fbank with CMVN; 3 hidden states ``(batch, frames, 512)``,
    stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)


@entry(
    model="APC",
    paper=_PAPER,
    date="2019-04",
    input="fbank",
    stride=160,
    layers=3,
    hidden_size=512,
    data="LibriSpeech train-clean-360 (360 h)",
    ckpt=APC_360HR_URL,
    verified=_VERIFIED,
)
def apc(ckpt: str = APC_360HR_URL, refresh: bool = False, **kwargs):
    """APC, the default release: the same model as :func:`apc_360hr`.

    3 GRU layers of 512 units over 80-dim log mel fbank with per-utterance
    CMVN, pre-trained on LibriSpeech train-clean-360; 3 hidden states
    ``(batch, frames, 512)``, stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)
