"""Entries of Modified CPC (Rivière et al., 2020, https://arxiv.org/abs/2002.02848)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["modified_cpc", "cpc_local", "cpc_url"]

MODIFIED_CPC_URL = "https://dl.fbaipublicfiles.com/librilight/CPC_checkpoints/60k_epoch4-d0f474de.pt"
# torch.hub convention: the file name ends with the first 8 hex digits of its sha256
MODIFIED_CPC_SHA256_PREFIX = "d0f474de"
_PAPER = "https://arxiv.org/abs/2002.02848"


def _load(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(
    model="CPC (CPC_audio checkpoint)",
    paper=_PAPER,
    date="2020-02",
    input="wav",
    stride=160,
    layers=2,
    verified="golden hidden states + plain-torch reference (seeded CPC_audio-layout checkpoint)",
)
def cpc_local(ckpt: str, **kwargs):
    """CPC from a local CPC_audio checkpoint (``{'config': dict, 'weights': state_dict}``).

    Args:
        ckpt: path of the checkpoint. Architecture (hidden sizes, norm, AR type)
            comes from its ``config``. Hidden states: encoder output, AR output.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``cpc_url``), or the file does not match the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "cpc_local"), **kwargs)


@entry(
    model="CPC (CPC_audio checkpoint)",
    paper=_PAPER,
    date="2020-02",
    input="wav",
    stride=160,
    layers=2,
    verified="golden hidden states (checkpoint served over local HTTP)",
)
def cpc_url(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """CPC from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL of a CPC_audio checkpoint.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), when known.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``cpc_local``), or the file does not match the layout.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "cpc_url"), refresh=refresh, sha256=sha256, **kwargs)


@entry(
    model="Modified CPC",
    paper=_PAPER,
    date="2020-02",
    input="wav",
    stride=160,
    layers=2,
    hidden_size=256,
    data="Libri-light 60 k h",
    ckpt=MODIFIED_CPC_URL,
    sha256=MODIFIED_CPC_SHA256_PREFIX,
    verified="architecture checked with a seeded checkpoint in the released layout",
)
def modified_cpc(ckpt: str = MODIFIED_CPC_URL, refresh: bool = False, **kwargs):
    """Modified CPC (Rivière et al., 2020) trained on Libri-light 60 k h (the Libri-light CPC baseline).

    Official checkpoint of facebookresearch/CPC_audio (its torch.hub entry).
    5-layer convolutional encoder with channel-wise normalisation (10 ms
    frames), LSTM autoregressor. 2 hidden states (encoder, autoregressor);
    hidden size 256. The download is checked against the sha256 prefix in
    the file name.
    """
    sha = MODIFIED_CPC_SHA256_PREFIX if ckpt == MODIFIED_CPC_URL else None
    return _load(ckpt, refresh=refresh, sha256=sha, **kwargs)
