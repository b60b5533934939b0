"""Entries of the HuBERT family (Hsu et al., 2021, https://arxiv.org/abs/2106.07447).

Every entry reads the architecture from its checkpoint (fairseq layouts or the
original s3prl toolkit's converted files) and returns ``encoder_layers + 1``
hidden states, stride 320 samples (20 ms), receptive field 400 samples.
``dtype`` (e.g. ``torch.float16``) converts the parameters, for GPU use.
Checkpoint URLs: fairseq's ``examples/hubert/README.md``.
"""

from s3prl.util.registry import entry

__all__ = ["hubert_local", "hubert_url", "hubert_custom", "hubert", "hubert_base", "hubert_large_ll60k"]

_PAPER = "https://arxiv.org/abs/2106.07447"
_BASE_URL = "https://dl.fbaipublicfiles.com/hubert/hubert_base_ls960.pt"
_LARGE_URL = "https://dl.fbaipublicfiles.com/hubert/hubert_large_ll60k.pt"
_VERIFIED = "parity with transformers HubertModel (seeded weights, fairseq layout); golden hidden states"


def _build(ckpt, **kwargs):
    from s3prl.upstream.wav2vec2.hubconf import build_upstream

    return build_upstream("hubert", ckpt, **kwargs)


@entry(model="HuBERT (any checkpoint)", paper=_PAPER, date="2021-06", input="wav", stride=320, verified=_VERIFIED)
def hubert_local(ckpt: str, dtype=None, **kwargs):
    """HuBERT from a local checkpoint file; the architecture is read from it.

    Layouts: fairseq ``{'cfg', 'model', 'task_state'}`` (``hubert_base_ls960.pt``),
    fairseq ``{'args', 'model'}``, the original s3prl toolkit's converted
    ``{'task_cfg', 'model_cfg', 'model_weight'}``, fine-tuned (CTC) fairseq files
    (encoder only). Stride 320 samples (20 ms).

    Args:
        ckpt: local path.
        dtype: parameter dtype (default fp32).
        kwargs: ``Wav2Vec2Config`` overrides.
    """
    return _build(ckpt, require="path", dtype=dtype, **kwargs)


@entry(model="HuBERT (any checkpoint)", paper=_PAPER, date="2021-06", input="wav", stride=320, verified=_VERIFIED)
def hubert_url(ckpt: str, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """HuBERT from a checkpoint URL (downloaded once into the cache), any layout of
    :func:`hubert_local`. Stride 320 samples (20 ms).

    Args:
        ckpt: http(s) URL.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), checked on download.
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, sha256=sha256, require="url", dtype=dtype, **kwargs)


@entry(model="HuBERT (any checkpoint)", paper=_PAPER, date="2021-06", input="wav", stride=320, verified=_VERIFIED)
def hubert_custom(ckpt: str, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT from a local path or URL, any layout of :func:`hubert_local`. Stride 320 samples (20 ms).

    Args:
        ckpt: local path or http(s) URL.
        refresh: download again even if cached (URLs only).
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="HuBERT Base", paper=_PAPER, date="2021-06", input="wav", stride=320, layers=13, hidden_size=768,
       data="LibriSpeech 960 h", ckpt=_BASE_URL, verified=_VERIFIED)
def hubert_base(ckpt: str = _BASE_URL, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT Base (Hsu et al., 2021), pre-trained on LibriSpeech 960 h (2nd iteration, 500 clusters).

    12 post-LN transformer layers, hidden size 768, group-norm feature encoder,
    raw waveform; 13 hidden states; stride 320 samples (20 ms).
    Checkpoint: fairseq's ``hubert_base_ls960.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="HuBERT Base", paper=_PAPER, date="2021-06", input="wav", stride=320, layers=13, hidden_size=768,
       data="LibriSpeech 960 h", ckpt=_BASE_URL, verified=_VERIFIED)
def hubert(ckpt: str = _BASE_URL, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT Base (the family's default; same as :func:`hubert_base`).

    12 layers, hidden size 768, 13 hidden states, stride 320 samples (20 ms).
    Checkpoint: fairseq's ``hubert_base_ls960.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="HuBERT Large", paper=_PAPER, date="2021-06", input="wav", stride=320, layers=25, hidden_size=1024,
       data="Libri-Light 60k h", ckpt=_LARGE_URL, verified=_VERIFIED)
def hubert_large_ll60k(ckpt: str = _LARGE_URL, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT Large (Hsu et al., 2021), pre-trained on Libri-Light 60k h.

    24 pre-LN transformer layers, hidden size 1024, layer-norm feature encoder,
    normalised waveform; 25 hidden states; stride 320 samples (20 ms).
    Checkpoint: fairseq's ``hubert_large_ll60k.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)
