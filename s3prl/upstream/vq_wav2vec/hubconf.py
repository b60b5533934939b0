"""Entries of vq-wav2vec: Baevski et al., 2019, https://arxiv.org/abs/1910.05453."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = [
    "vq_wav2vec_custom",
    "vq_wav2vec",
    "vq_wav2vec_gumbel",
    "vq_wav2vec_kmeans",
    "vq_wav2vec_local",
    "vq_wav2vec_url",
]

GUMBEL_URL = "https://dl.fbaipublicfiles.com/fairseq/wav2vec/vq-wav2vec.pt"
KMEANS_URL = "https://dl.fbaipublicfiles.com/fairseq/wav2vec/vq-wav2vec_kmeans.pt"
_PAPER = "https://arxiv.org/abs/1910.05453"


def _load(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.upstream.wav2vec.expert import UpstreamExpert
    from s3prl.util.download import resolve_checkpoint

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(
    model="vq-wav2vec (fairseq checkpoint)",
    paper=_PAPER,
    date="2019-10",
    input="wav",
    stride=160,
    verified="golden hidden states + plain-torch reference (seeded fairseq-layout checkpoints)",
)
def vq_wav2vec_local(ckpt: str, **kwargs):
    """vq-wav2vec from a local fairseq checkpoint (Gumbel or k-means, read from ``args.vq_type``).

    Args:
        ckpt: path of a fairseq ``wav2vec`` checkpoint with a vector quantizer.

    Hidden states (as the original s3prl expert): ``z`` (feature extractor
    output, before quantization), the aggregator blocks 0..n-2 (fed with the
    quantized codewords) and ``c``.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``vq_wav2vec_url``), or the file does not match the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "vq_wav2vec_local"), **kwargs)


@entry(
    model="vq-wav2vec (fairseq checkpoint)",
    paper=_PAPER,
    date="2019-10",
    input="wav",
    stride=160,
    verified="golden hidden states (checkpoint served over local HTTP)",
)
def vq_wav2vec_url(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """vq-wav2vec from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL of a fairseq vq-wav2vec checkpoint.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), when known.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``vq_wav2vec_local``), or the file does not match the layout.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "vq_wav2vec_url"), refresh=refresh, sha256=sha256, **kwargs)


@entry(
    model="vq-wav2vec (Gumbel)",
    paper=_PAPER,
    date="2019-10",
    input="wav",
    stride=160,
    layers=13,
    hidden_size=512,
    data="LibriSpeech 960 h",
    ckpt=GUMBEL_URL,
    verified="architecture checked with a seeded checkpoint in the released layout",
)
def vq_wav2vec_gumbel(ckpt: str = GUMBEL_URL, refresh: bool = False, **kwargs):
    """vq-wav2vec with the Gumbel-softmax quantizer (2 groups x 320 codewords, shared), LibriSpeech 960 h.

    Official fairseq checkpoint. wav2vec feature extractor (10 ms frames),
    Gumbel quantizer (arg-max codeword at inference), 12-block aggregator.
    13 hidden states of 512: ``z``, aggregator blocks 1-11, ``c``.
    """
    return _load(ckpt, refresh=refresh, **kwargs)


@entry(
    model="vq-wav2vec (Gumbel)",
    paper=_PAPER,
    date="2019-10",
    input="wav",
    stride=160,
    layers=13,
    hidden_size=512,
    data="LibriSpeech 960 h",
    ckpt=GUMBEL_URL,
    verified="architecture checked with a seeded checkpoint in the released layout",
)
def vq_wav2vec(ckpt: str = GUMBEL_URL, refresh: bool = False, **kwargs):
    """vq-wav2vec: the default vq-wav2vec model, :func:`vq_wav2vec_gumbel`."""
    return _load(ckpt, refresh=refresh, **kwargs)


@entry(
    model="vq-wav2vec (k-means)",
    paper=_PAPER,
    date="2019-10",
    input="wav",
    stride=160,
    layers=13,
    hidden_size=512,
    data="LibriSpeech 960 h",
    ckpt=KMEANS_URL,
    verified="architecture checked with a seeded checkpoint in the released layout",
)
def vq_wav2vec_kmeans(ckpt: str = KMEANS_URL, refresh: bool = False, **kwargs):
    """vq-wav2vec with the k-means quantizer (2 groups x 320 codewords), LibriSpeech 960 h.

    Official fairseq checkpoint. wav2vec feature extractor (10 ms frames),
    nearest-codeword quantizer, 12-block aggregator. 13 hidden states of 512:
    ``z``, aggregator blocks 1-11, ``c``.
    """
    return _load(ckpt, refresh=refresh, **kwargs)


@entry(
    model="vq-wav2vec (fairseq checkpoint)",
    paper=_PAPER,
    date="2019-10",
    input="wav",
    stride=160,
    verified="same code path as vq_wav2vec_local / vq_wav2vec_url",
)
def vq_wav2vec_custom(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """vq-wav2vec from a local path or an http(s) URL (s3prl 0.4.18's ``vq_wav2vec_custom``): a path
    is read like :func:`vq_wav2vec_local`, a URL downloaded once into the cache like :func:`vq_wav2vec_url`.

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
