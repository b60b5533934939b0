"""Entries of DeCoAR 2.0 (Ling & Liu, 2020, https://arxiv.org/abs/2012.06659)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["decoar2_custom", "decoar2", "decoar2_local", "decoar2_url"]

DECOAR2_URL = "https://speech-representation.s3.us-west-2.amazonaws.com/checkpoint_decoar2.pt"
_PAPER = "https://arxiv.org/abs/2012.06659"


def _load(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(
    model="DeCoAR 2.0 (checkpoint)",
    paper=_PAPER,
    date="2020-12",
    input="fbank",
    stride=320,
    verified="golden hidden states + transformers Wav2Vec2Encoder and kaldi-native-fbank references",
)
def decoar2_local(ckpt: str, attention_heads: int = 12, **kwargs):
    """DeCoAR 2.0 from a local checkpoint (``{'model': state_dict}``).

    Args:
        ckpt: path of the checkpoint.
        attention_heads: attention heads (12 in the release; the file does not record it).

    Raises:
        ValueError: ``ckpt`` is a URL (use ``decoar2_url``), or the file does not match the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "decoar2_local"), attention_heads=attention_heads, **kwargs)


@entry(
    model="DeCoAR 2.0 (checkpoint)",
    paper=_PAPER,
    date="2020-12",
    input="fbank",
    stride=320,
    verified="golden hidden states (checkpoint served over local HTTP)",
)
def decoar2_url(
    ckpt: str, refresh: bool = False, attention_heads: int = 12, sha256: str | None = None, **kwargs
):
    """DeCoAR 2.0 from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL of the checkpoint.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), when known.
        attention_heads: attention heads (12 in the release).

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``decoar2_local``), or the file does not match the layout.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(
        url_checkpoint(ckpt, "decoar2_url"),
        refresh=refresh,
        attention_heads=attention_heads,
        sha256=sha256,
        **kwargs,
    )


@entry(
    model="DeCoAR 2.0",
    paper=_PAPER,
    date="2020-12",
    input="fbank",
    stride=320,
    layers=13,
    hidden_size=768,
    data="LibriSpeech 960 h",
    ckpt=DECOAR2_URL,
    verified="architecture checked with a seeded checkpoint in the released layout",
)
def decoar2(ckpt: str = DECOAR2_URL, refresh: bool = False, **kwargs):
    """DeCoAR 2.0 (Ling & Liu, 2020), pre-trained on LibriSpeech 960 h.

    Official checkpoint of awslabs/speech-representations. Input: 80-bin
    hamming Kaldi fbank with per-utterance CMVN, every second frame (20 ms
    frames, stride 320 samples, as the original s3prl expert). Model: linear
    projection, convolutional position embedding, 12 post-LN transformer
    layers (768, 12 heads). 13 hidden states of 768 (input of each layer,
    encoder output).
    """
    return _load(ckpt, refresh=refresh, **kwargs)


@entry(
    model="DeCoAR 2.0 (checkpoint)",
    paper=_PAPER,
    date="2020-12",
    input="fbank",
    stride=320,
    verified="same code path as decoar2_local / decoar2_url",
)
def decoar2_custom(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """DeCoAR 2.0 from a local path or an http(s) URL (s3prl 0.4.18's ``decoar2_custom``): a path
    is read like :func:`decoar2_local`, a URL downloaded once into the cache like :func:`decoar2_url`.

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
