"""Entries of wav2vec (v1): Schneider et al., 2019, https://arxiv.org/abs/1904.05862."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["wav2vec_custom", "wav2vec", "wav2vec_large", "wav2vec_local", "wav2vec_url"]

WAV2VEC_LARGE_URL = "https://dl.fbaipublicfiles.com/fairseq/wav2vec/wav2vec_large.pt"
_PAPER = "https://arxiv.org/abs/1904.05862"


def _load(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(
    model="wav2vec (fairseq checkpoint)",
    paper=_PAPER,
    date="2019-04",
    input="wav",
    stride=160,
    verified="golden hidden states + plain-torch reference (seeded fairseq-layout checkpoint)",
)
def wav2vec_local(ckpt: str, **kwargs):
    """wav2vec / vq-wav2vec from a local fairseq checkpoint file.

    Args:
        ckpt: path of a fairseq ``wav2vec`` checkpoint (``{'args': Namespace, 'model': state_dict}``).

    Architecture (feature extractor, aggregator, quantizer) comes from the
    checkpoint's ``args``. Hidden states: ``z``, the aggregator blocks and ``c``.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``wav2vec_url``), or the file does not match the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "wav2vec_local"), **kwargs)


@entry(
    model="wav2vec (fairseq checkpoint)",
    paper=_PAPER,
    date="2019-04",
    input="wav",
    stride=160,
    verified="golden hidden states (checkpoint served over local HTTP)",
)
def wav2vec_url(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """wav2vec / vq-wav2vec from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL of a fairseq ``wav2vec`` checkpoint.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), when known.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``wav2vec_local``), or the file does not match the layout.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "wav2vec_url"), refresh=refresh, sha256=sha256, **kwargs)


@entry(
    model="wav2vec Large",
    paper=_PAPER,
    date="2019-04",
    input="wav",
    stride=160,
    layers=13,
    hidden_size=512,
    data="LibriSpeech 960 h",
    ckpt=WAV2VEC_LARGE_URL,
    verified="architecture checked with a seeded checkpoint in the released layout",
)
def wav2vec_large(ckpt: str = WAV2VEC_LARGE_URL, refresh: bool = False, **kwargs):
    """wav2vec Large (Schneider et al., 2019), pre-trained on LibriSpeech 960 h.

    Official fairseq checkpoint. Feature extractor: 8 convolutions (strides
    5, 4, 2, 2, 2, 1, 1, 1: 10 ms frames, receptive field 465 samples), log
    compression; aggregator: 12 causal convolutions (kernels 2..13) with skip
    connections. 13 hidden states of 512: ``z``, aggregator blocks 1-11, ``c``.
    """
    return _load(ckpt, refresh=refresh, **kwargs)


@entry(
    model="wav2vec Large",
    paper=_PAPER,
    date="2019-04",
    input="wav",
    stride=160,
    layers=13,
    hidden_size=512,
    data="LibriSpeech 960 h",
    ckpt=WAV2VEC_LARGE_URL,
    verified="architecture checked with a seeded checkpoint in the released layout",
)
def wav2vec(ckpt: str = WAV2VEC_LARGE_URL, refresh: bool = False, **kwargs):
    """wav2vec: the default wav2vec model, :func:`wav2vec_large`."""
    return _load(ckpt, refresh=refresh, **kwargs)


@entry(
    model="wav2vec (fairseq checkpoint)",
    paper=_PAPER,
    date="2019-04",
    input="wav",
    stride=160,
    verified="same code path as wav2vec_local / wav2vec_url",
)
def wav2vec_custom(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """wav2vec from a local path or an http(s) URL (s3prl 0.4.18's ``wav2vec_custom``): a path
    is read like :func:`wav2vec_local`, a URL downloaded once into the cache like :func:`wav2vec_url`.

    Args:
        ckpt: local path or http(s) URL of the checkpoint.
        refresh: download again even if cached (URLs only).
        sha256: expected sha256 of a downloaded file (hex, full or prefix), when known.

    Raises:
        FileNotFoundError: a local path that does not exist.
        ValueError: the file does not match the layout.
        s3prl.util.download.DownloadError: the download failed.
    """
    return _load(ckpt, refresh=refresh, sha256=sha256, **kwargs)
