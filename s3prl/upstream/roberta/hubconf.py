"""Entries of RoBERTa over vq-wav2vec k-means codes (DiscreteBERT; Baevski et al., 2019,
https://arxiv.org/abs/1911.03912); s3prl 0.4.18's ``upstream/roberta`` names and URLs."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = [
    "vq_wav2vec_kmeans_roberta",
    "discretebert",
    "vq_wav2vec_kmeans_roberta_local",
    "vq_wav2vec_kmeans_roberta_url",
]

ROBERTA_URL = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/vq_wav2vec_kmeans_roberta.pt"
KMEANS_URL = "https://dl.fbaipublicfiles.com/fairseq/wav2vec/vq-wav2vec_kmeans.pt"
_PAPER = "https://arxiv.org/abs/1911.03912"
_VERIFIED = "re-statement of fairseq's RoBERTa forward and dictionary encoding on seeded weights; goldens"


def _build(ckpt, vq_wav2vec_ckpt, refresh, dtype, sha256=None):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh),
                          resolve_checkpoint(vq_wav2vec_ckpt, refresh=refresh), dtype=dtype)


@entry(model="RoBERTa on vq-wav2vec k-means codes (DiscreteBERT)", paper=_PAPER, date="2019-11", input="wav",
       stride=160, layers=13, hidden_size=768, data="LibriSpeech 960 h", ckpt=ROBERTA_URL, verified=_VERIFIED)
def vq_wav2vec_kmeans_roberta(ckpt: str = ROBERTA_URL, vq_wav2vec_ckpt: str = KMEANS_URL, refresh: bool = False,
                              dtype=None):
    """RoBERTa (BERT Base size: 12 post-LN layers, 768) trained on the k-means codes of
    vq-wav2vec (fairseq's ``bert_kmeans``), LibriSpeech 960 h.

    Waveform -> vq-wav2vec k-means code pairs (10 ms frames) -> dictionary tokens -> RoBERTa;
    13 hidden states of 768 (embedding output and 12 layers), one per code frame (the
    ``<s>`` / ``</s>`` positions are dropped); stride 160 samples, receptive field 465.

    Args:
        ckpt: path or URL of s3prl's converted ``vq_wav2vec_kmeans_roberta.pt``.
        vq_wav2vec_ckpt: path or URL of fairseq's ``vq-wav2vec_kmeans.pt``.
        refresh: download again even if cached.
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, vq_wav2vec_ckpt, refresh, dtype)


@entry(model="DiscreteBERT (RoBERTa on vq-wav2vec k-means codes)", paper=_PAPER, date="2019-11", input="wav",
       stride=160, layers=13, hidden_size=768, data="LibriSpeech 960 h", ckpt=ROBERTA_URL, verified=_VERIFIED)
def discretebert(ckpt: str = ROBERTA_URL, vq_wav2vec_ckpt: str = KMEANS_URL, refresh: bool = False, dtype=None):
    """DiscreteBERT: the same model as :func:`vq_wav2vec_kmeans_roberta` (s3prl 0.4.18's alias).
    13 hidden states of 768; stride 160 samples."""
    return _build(ckpt, vq_wav2vec_ckpt, refresh, dtype)


@entry(model="RoBERTa on vq-wav2vec k-means codes (checkpoint)", paper=_PAPER, date="2019-11", input="wav",
       stride=160, verified=_VERIFIED)
def vq_wav2vec_kmeans_roberta_local(ckpt: str, vq_wav2vec_ckpt: str | None = None, dtype=None):
    """RoBERTa over vq-wav2vec k-means codes from local files: the converted RoBERTa
    checkpoint and the vq-wav2vec k-means checkpoint (default: ``vq-wav2vec_kmeans.pt`` in the
    RoBERTa checkpoint's folder). Stride 160 samples.

    Raises:
        ValueError: a URL (use ``vq_wav2vec_kmeans_roberta_url``) or a file not in the layout.
        FileNotFoundError: a missing file.
    """
    import os

    from s3prl.util.download import local_checkpoint

    path = local_checkpoint(ckpt, "vq_wav2vec_kmeans_roberta_local")
    if vq_wav2vec_ckpt is None:
        vq_wav2vec_ckpt = os.path.join(os.path.dirname(os.fspath(path)), "vq-wav2vec_kmeans.pt")
    vq = local_checkpoint(vq_wav2vec_ckpt, "vq_wav2vec_kmeans_roberta_local")
    return _build(path, vq, False, dtype)


@entry(model="RoBERTa on vq-wav2vec k-means codes (checkpoint)", paper=_PAPER, date="2019-11", input="wav",
       stride=160, verified=_VERIFIED)
def vq_wav2vec_kmeans_roberta_url(ckpt: str, vq_wav2vec_ckpt: str = KMEANS_URL, refresh: bool = False,
                                  sha256: str | None = None, dtype=None):
    """RoBERTa over vq-wav2vec k-means codes from a checkpoint URL (downloaded once into the
    cache) and the vq-wav2vec k-means checkpoint (path or URL). Stride 160 samples.

    Args:
        ckpt: http(s) URL of the converted RoBERTa checkpoint.
        vq_wav2vec_ckpt: path or URL of the vq-wav2vec k-means checkpoint.
        refresh: download again even if cached.
        sha256: expected sha256 of the RoBERTa checkpoint (hex, full or prefix), when known.
    """
    from s3prl.util.download import url_checkpoint

    return _build(url_checkpoint(ckpt, "vq_wav2vec_kmeans_roberta_url"), vq_wav2vec_ckpt, refresh, dtype, sha256)
