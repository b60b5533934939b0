"""DistilHuBERT entries (Chang, Yang and Lee, 2021, https://arxiv.org/abs/2110.01900).

Default checkpoint: the one the original s3prl toolkit downloads (its
``s3prl/upstream/distiller/hubconf.py``, ``distilhubert_base``), released by the
authors on the Hugging Face Hub:
https://huggingface.co/leo19941227/distilhubert/resolve/main/distilhubert_ls960_4-8-12.ckpt
(HuBERT Base teacher, LibriSpeech 960 h, heads predicting layers 4, 8, 12).
No sha256 is published.
"""

from s3prl.util.registry import entry

__all__ = [
    "distilhubert",
    "distilhubert_base",
    "distiller_local",
    "distiller_url",
    "distiller_custom",
]

_CKPT = "https://huggingface.co/leo19941227/distilhubert/resolve/main/distilhubert_ls960_4-8-12.ckpt"
_PAPER = "https://arxiv.org/abs/2110.01900"
_VERIFIED = "layout, shapes, head formula, padding and golden tests (no reference implementation installed)"


def _build(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(model="DistilHuBERT / distiller (any checkpoint, local file)", paper=_PAPER, date="2021-10", stride=320)
def distiller_local(ckpt, dtype=None, **kwargs):
    """A distiller (DistilHuBERT-style) model from a local checkpoint of the
    original s3prl toolkit's pre-training runner; architecture read from its
    ``Config["distiller"]``.

    Args:
        ckpt: local ``.ckpt`` path.
        dtype: parameter dtype (e.g. ``torch.bfloat16`` on GPU); default fp32.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``distiller_url``).
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "distiller_local"), dtype=dtype, **kwargs)


@entry(model="DistilHuBERT / distiller (any checkpoint, URL)", paper=_PAPER, date="2021-10", stride=320)
def distiller_url(ckpt, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """A distiller model from a checkpoint URL (downloaded once into the s3prl cache).

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _build(url_checkpoint(ckpt, "distiller_url"), refresh=refresh, sha256=sha256, dtype=dtype, **kwargs)


@entry(model="DistilHuBERT / distiller (any checkpoint, path or URL)", paper=_PAPER, date="2021-10", stride=320)
def distiller_custom(ckpt, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """A distiller model from a local path or a URL (see ``distiller_local``)."""
    return _build(ckpt, refresh=refresh, sha256=sha256, dtype=dtype, **kwargs)


@entry(
    model="DistilHuBERT",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=6,
    hidden_size=768,
    data="LibriSpeech 960 h (teacher: HuBERT Base)",
    ckpt=_CKPT,
    verified=_VERIFIED,
)
def distilhubert_base(ckpt: str = _CKPT, refresh: bool = False, dtype=None, **kwargs):
    """DistilHuBERT Base: HuBERT Base's conv feature encoder, 2 post-LN transformer
    layers (768-dim, 12 heads) and 3 prediction heads (HuBERT layers 4, 8, 12);
    stride 320 samples (20 ms).

    6 hidden states of 768 dims, as in the original toolkit: the projected conv
    features, the 2 transformer layers' outputs, the 3 heads' predictions. The
    paper's representation is hidden state 2 (the last transformer layer).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(
    model="DistilHuBERT",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=6,
    hidden_size=768,
    data="LibriSpeech 960 h (teacher: HuBERT Base)",
    ckpt=_CKPT,
    verified=_VERIFIED,
)
def distilhubert(ckpt: str = _CKPT, refresh: bool = False, dtype=None, **kwargs):
    """DistilHuBERT, the default model: DistilHuBERT Base (see ``distilhubert_base``)."""
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)
