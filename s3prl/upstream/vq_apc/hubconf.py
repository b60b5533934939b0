"""Entries of the VQ-APC upstream (Vector-Quantized Autoregressive Predictive Coding).

The model code is APC's (:mod:`s3prl.upstream.apc.expert`): VQ-APC is APC
with Gumbel-softmax quantisers after the last GRU layer. Checkpoints: the
original s3prl toolkit's releases on https://huggingface.co/leo19941227/apc_series
(URLs from s3prl's ``s3prl/upstream/vq_apc/hubconf.py``).
"""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["vq_apc", "vq_apc_360hr", "vq_apc_960hr", "vq_apc_local", "vq_apc_url"]

_BASE = "https://huggingface.co/leo19941227/apc_series/resolve/main/"
VQ_APC_360HR_URL = _BASE + "vq_apc_360hr.ckpt"
VQ_APC_960HR_URL = _BASE + "vq_apc_960hr.ckpt"

_PAPER = "https://arxiv.org/abs/2005.08392"
_VERIFIED = (
    "independent reference (torch.nn.GRU on each unpadded utterance) and golden hidden "
    "states, on seeded checkpoints in the released layout"
)


def _build(ckpt, refresh: bool, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from ..apc.expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(
    model="VQ-APC (local checkpoint)",
    paper=_PAPER,
    date="2020-05",
    input="fbank",
    stride=160,
    verified=_VERIFIED,
)
def vq_apc_local(ckpt: str, **kwargs):
    """VQ-APC (or APC) from a local checkpoint in the original s3prl toolkit's layout.

    The same loader as :func:`s3prl.upstream.apc.hubconf.apc_local` (the
    original s3prl's ``vq_apc_url`` is APC's). Hidden states: one per GRU
    layer, the last one before quantisation, stride 160 samples (10 ms).

    Args:
        ckpt: path of a ``{"config": ..., "model": state_dict}`` file.

    Raises:
        ValueError: ``ckpt`` is a URL, or the file does not match the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "vq_apc_local"), refresh=False, **kwargs)


@entry(
    model="VQ-APC (checkpoint URL)",
    paper=_PAPER,
    date="2020-05",
    input="fbank",
    stride=160,
    verified=_VERIFIED,
)
def vq_apc_url(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """VQ-APC (or APC) from a checkpoint URL (downloaded once into the s3prl cache).

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

    return _build(url_checkpoint(ckpt, "vq_apc_url"), refresh=refresh, sha256=sha256, **kwargs)


@entry(
    model="VQ-APC",
    paper=_PAPER,
    date="2020-05",
    input="fbank",
    stride=160,
    layers=3,
    hidden_size=512,
    data="LibriSpeech train-clean-360 (360 h)",
    ckpt=VQ_APC_360HR_URL,
    verified=_VERIFIED,
)
def vq_apc_360hr(ckpt: str = VQ_APC_360HR_URL, refresh: bool = False, **kwargs):
    """VQ-APC (Chung et al., Interspeech 2020) pre-trained on LibriSpeech train-clean-360.

    3 GRU layers of 512 units with residual connections over 80-dim log mel
    fbank (25 ms Hamming window, 10 ms hop, per-utterance CMVN), one
    512-code quantiser after the last layer. Hidden states: the 3 GRU
    layers' outputs (the last before quantisation, as in the original
    s3prl upstream), ``(batch, frames, 512)``, stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)


@entry(
    model="VQ-APC",
    paper=_PAPER,
    date="2020-05",
    input="fbank",
    stride=160,
    layers=3,
    hidden_size=512,
    data="LibriSpeech 960 h",
    ckpt=VQ_APC_960HR_URL,
    verified=_VERIFIED,
)
def vq_apc_960hr(ckpt: str = VQ_APC_960HR_URL, refresh: bool = False, **kwargs):
    """VQ-APC (Chung et al., Interspeech 2020) pre-trained on LibriSpeech 960 h.

    Same architecture as :func:`vq_apc_360hr`; 3 hidden states
    ``(batch, frames, 512)``, stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)


@entry(
    model="VQ-APC",
    paper=_PAPER,
    date="2020-05",
    input="fbank",
    stride=160,
    layers=3,
    hidden_size=512,
    data="LibriSpeech train-clean-360 (360 h)",
    ckpt=VQ_APC_360HR_URL,
    verified=_VERIFIED,
)
def vq_apc(ckpt: str = VQ_APC_360HR_URL, refresh: bool = False, **kwargs):
    """VQ-APC, the default release: the same model as :func:`vq_apc_360hr`.

    3 GRU layers of 512 units over 80-dim log mel fbank with per-utterance
    CMVN, pre-trained on LibriSpeech train-clean-360; 3 hidden states
    ``(batch, frames, 512)``, stride 160 samples (10 ms).

    Args:
        ckpt: checkpoint path or URL (default: the official release).
        refresh: download again even if cached.
    """
    return _build(ckpt, refresh, **kwargs)
