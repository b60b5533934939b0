"""Entries of MR-HuBERT (multi-resolution HuBERT; Shi et al., ICLR 2024,
https://openreview.net/forum?id=kUuKFW7DIF): s3prl 0.4.18's ``upstream/multires_hubert`` names
and URLs (huggingface.co/s3prl/mr_hubert, the original s3prl toolkit's converted layout).
Hidden states at the base frame rate (stride 320 samples, 20 ms)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = [
    "multires_hubert_local",
    "multires_hubert_url",
    "multires_hubert_custom",
    "multires_hubert_base",
    "multires_hubert_large",
    "multires_hubert_multilingual_base",
    "multires_hubert_multilingual_large400k",
    "multires_hubert_multilingual_large600k",
]

_PAPER = "https://openreview.net/forum?id=kUuKFW7DIF"
_HF = "https://huggingface.co/s3prl/mr_hubert/resolve/main/"
_VERIFIED = ("re-statement of the original forward (written from its source, one unpadded wav) on seeded "
             "weights in the converted layout; goldens")


def _build(ckpt, refresh=False, sha256=None, require=None, dtype=None):
    from s3prl.util.download import entry_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(entry_checkpoint(ckpt, "multires_hubert", require, sha256, refresh), dtype=dtype)


_ANY = dict(model="MR-HuBERT (any checkpoint)", paper=_PAPER, date="2023-10", input="wav", stride=320,
            verified=_VERIFIED)


@entry(**_ANY)
def multires_hubert_local(ckpt: str, dtype=None):
    """MR-HuBERT from a local checkpoint (the original s3prl toolkit's converted layout
    ``{'task_cfg', 'model_cfg', 'model_weight', 'dictionaries_symbols'}``, or fairseq main's own
    ``{'cfg': {'model', 'task', ...}, 'model', ...}``); the U-net
    (resolutions, blocks, adapters) is read from it. Stride 320 samples."""
    return _build(ckpt, require="path", dtype=dtype)


@entry(**_ANY)
def multires_hubert_url(ckpt: str, refresh: bool = False, sha256: str | None = None, dtype=None):
    """MR-HuBERT from a checkpoint URL (downloaded once into the cache). Stride 320 samples.

    Args:
        ckpt: http(s) URL. refresh: download again. sha256: expected sha256 (hex), when known.
    """
    return _build(ckpt, refresh=refresh, sha256=sha256, require="url", dtype=dtype)


@entry(**_ANY)
def multires_hubert_custom(ckpt: str, refresh: bool = False, dtype=None):
    """MR-HuBERT from a local path or URL. Stride 320 samples."""
    return _build(ckpt, refresh=refresh, dtype=dtype)


def _named(model, url, data):
    return dict(model=model, paper=_PAPER, date="2023-10", input="wav", stride=320, data=data, ckpt=url,
                verified=_VERIFIED)


@entry(**_named("MR-HuBERT Base (monolingual)", _HF + "mrhubert_mono_base.pt", "LibriSpeech 960 h"))
def multires_hubert_base(ckpt: str = _HF + "mrhubert_mono_base.pt", refresh: bool = False, dtype=None):
    """MR-HuBERT Base pre-trained on LibriSpeech 960 h (``mrhubert_mono_base.pt``). The number of
    hidden states (every block's layer inputs and output, upsampled to 20 ms) is read from the
    checkpoint; stride 320 samples."""
    return _build(ckpt, refresh=refresh, dtype=dtype)


@entry(**_named("MR-HuBERT Large (monolingual)", _HF + "mrhubert_mono_large.pt", "Libri-Light 60k h"))
def multires_hubert_large(ckpt: str = _HF + "mrhubert_mono_large.pt", refresh: bool = False, dtype=None):
    """MR-HuBERT Large pre-trained on Libri-Light 60k h (``mrhubert_mono_large.pt``); stride 320."""
    return _build(ckpt, refresh=refresh, dtype=dtype)


@entry(**_named("MR-HuBERT Base (multilingual)", _HF + "multi_base.pt", "VoxPopuli 100k h (k-means from HuBERT Base)"))
def multires_hubert_multilingual_base(ckpt: str = _HF + "multi_base.pt", refresh: bool = False, dtype=None):
    """Multilingual MR-HuBERT Base, VoxPopuli 100k h (``multi_base.pt``); stride 320 samples."""
    return _build(ckpt, refresh=refresh, dtype=dtype)


@entry(**_named("MR-HuBERT Large (multilingual, 400k steps)", _HF + "multi_large_400k.pt",
                "VoxPopuli 100k h (k-means from HuBERT Base)"))
def multires_hubert_multilingual_large400k(ckpt: str = _HF + "multi_large_400k.pt", refresh: bool = False,
                                           dtype=None):
    """Multilingual MR-HuBERT Large after 400k steps, VoxPopuli 100k h; stride 320 samples."""
    return _build(ckpt, refresh=refresh, dtype=dtype)


@entry(**_named("MR-HuBERT Large (multilingual, 600k steps)", _HF + "multi_large_600k.pt",
                "VoxPopuli 100k h (k-means from HuBERT Base)"))
def multires_hubert_multilingual_large600k(ckpt: str = _HF + "multi_large_600k.pt", refresh: bool = False,
                                           dtype=None):
    """Multilingual MR-HuBERT Large after 600k steps, VoxPopuli 100k h; stride 320 samples."""
    return _build(ckpt, refresh=refresh, dtype=dtype)
