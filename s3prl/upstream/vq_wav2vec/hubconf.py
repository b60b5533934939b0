"""Entries of vq-wav2vec: Baevski et al., 2019, https://arxiv.org/abs/1910.05453.

Default checkpoints, as in the original s3prl 0.4.18 toolkit (its
``s3prl/upstream/vq_wav2vec/hubconf.py``): its converted copies of fairseq's
releases, ``https://huggingface.co/s3prl/converted_ckpts/resolve/main/vq-wav2vec.pt``
and ``.../vq-wav2vec_kmeans.pt`` (``{'task_cfg', 'model_cfg', 'model_weight'}``).
``legacy=True`` takes fairseq's own files (``https://dl.fbaipublicfiles.com/fairseq/
wav2vec/vq-wav2vec.pt``, ``vq-wav2vec_kmeans.pt``: ``{'args', 'model', ...}``), as
s3prl's ``legacy`` option does; both layouts are read natively.
"""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = [
    "vq_wav2vec",
    "vq_wav2vec_gumbel",
    "vq_wav2vec_kmeans",
    "vq_wav2vec_local",
    "vq_wav2vec_url",
    "vq_wav2vec_custom",
]

_MIRROR = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/"
_FAIRSEQ = "https://dl.fbaipublicfiles.com/fairseq/wav2vec/"
GUMBEL_URL = _MIRROR + "vq-wav2vec.pt"
KMEANS_URL = _MIRROR + "vq-wav2vec_kmeans.pt"
GUMBEL_FAIRSEQ_URL = _FAIRSEQ + "vq-wav2vec.pt"
KMEANS_FAIRSEQ_URL = _FAIRSEQ + "vq-wav2vec_kmeans.pt"
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
    """vq-wav2vec from a local checkpoint (Gumbel or k-means, read from the config's ``vq_type``).

    Args:
        ckpt: path of a ``wav2vec`` checkpoint with a vector quantizer: fairseq's
            ``{'args', 'model'}`` or the original s3prl toolkit's converted
            ``{'task_cfg', 'model_cfg', 'model_weight'}``.

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
        ckpt: http(s) URL of a vq-wav2vec checkpoint (fairseq or s3prl-converted layout).
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
def vq_wav2vec_gumbel(ckpt: str = GUMBEL_URL, refresh: bool = False, legacy: bool = False, **kwargs):
    """vq-wav2vec with the Gumbel-softmax quantizer (2 groups x 320 codewords, shared), LibriSpeech 960 h.

    Default ``ckpt``: the original s3prl toolkit's converted copy of fairseq's
    release; ``legacy=True``: fairseq's own file. wav2vec feature extractor (10 ms frames),
    Gumbel quantizer (arg-max codeword at inference), 12-block aggregator.
    13 hidden states of 512: ``z``, aggregator blocks 1-11, ``c``.
    """
    return _load(GUMBEL_FAIRSEQ_URL if legacy and ckpt == GUMBEL_URL else ckpt, refresh=refresh, **kwargs)


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
def vq_wav2vec(ckpt: str = GUMBEL_URL, refresh: bool = False, legacy: bool = False, **kwargs):
    """vq-wav2vec: the default vq-wav2vec model, :func:`vq_wav2vec_gumbel`."""
    return _load(GUMBEL_FAIRSEQ_URL if legacy and ckpt == GUMBEL_URL else ckpt, refresh=refresh, **kwargs)


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
def vq_wav2vec_kmeans(ckpt: str = KMEANS_URL, refresh: bool = False, legacy: bool = False, **kwargs):
    """vq-wav2vec with the k-means quantizer (2 groups x 320 codewords), LibriSpeech 960 h.

    Default ``ckpt``: the original s3prl toolkit's converted copy of fairseq's
    release; ``legacy=True``: fairseq's own file. wav2vec feature extractor (10 ms frames),
    nearest-codeword quantizer, 12-block aggregator. 13 hidden states of 512:
    ``z``, aggregator blocks 1-11, ``c``.
    """
    return _load(KMEANS_FAIRSEQ_URL if legacy and ckpt == KMEANS_URL else ckpt, refresh=refresh, **kwargs)


@entry(
    model="vq-wav2vec (any checkpoint)",
    paper=_PAPER,
    date="2019-10",
    input="wav",
    stride=160,
    verified="golden hidden states (local file and local HTTP)",
)
def vq_wav2vec_custom(ckpt: str, refresh: bool = False, **kwargs):
    """vq-wav2vec from a local path or an http(s) URL, either layout of :func:`vq_wav2vec_local`.

    Args:
        ckpt: local path or URL (downloaded once into the cache).
        refresh: download again even if cached (URLs only).
    """
    return _load(ckpt, refresh=refresh, **kwargs)
