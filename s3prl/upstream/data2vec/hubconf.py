"""Entries of the data2vec (audio) family (Baevski et al., 2022, https://arxiv.org/abs/2202.03555).

Every entry reads the architecture from its checkpoint (fairseq layouts or the
original s3prl toolkit's converted files) and returns ``encoder_layers + 1``
hidden states, stride 320 samples (20 ms), receptive field 400 samples.
``dtype`` (e.g. ``torch.float16``) converts the parameters, for GPU use.
Checkpoint URLs: fairseq's ``examples/data2vec/README.md``.
"""

from s3prl.util.registry import entry

__all__ = ["data2vec_local", "data2vec_url", "data2vec_custom", "data2vec", "data2vec_base_960",
           "data2vec_large_ll60k"]

_PAPER = "https://arxiv.org/abs/2202.03555"
_BASE_URL = "https://dl.fbaipublicfiles.com/fairseq/data2vec/audio_base_ls.pt"
_LARGE_URL = "https://dl.fbaipublicfiles.com/fairseq/data2vec/vox_pretrained.pt"
_VERIFIED = "parity with transformers Data2VecAudioModel (seeded weights, fairseq layout); golden hidden states"


def _build(ckpt, **kwargs):
    from s3prl.upstream.wav2vec2.hubconf import build_upstream

    return build_upstream("data2vec", ckpt, **kwargs)


@entry(model="data2vec audio (any checkpoint)", paper=_PAPER, date="2022-02", input="wav", stride=320,
       verified=_VERIFIED)
def data2vec_local(ckpt: str, dtype=None, **kwargs):
    """data2vec (audio) from a local checkpoint file; the architecture is read from it.

    Layouts: fairseq ``{'cfg', 'model'}`` (``audio_base_ls.pt``), fairseq
    ``{'args', 'model'}``, the original s3prl toolkit's converted
    ``{'task_cfg', 'model_cfg', 'model_weight'}``, fine-tuned (CTC) fairseq files
    (encoder only). Stride 320 samples (20 ms).

    Args:
        ckpt: local path.
        dtype: parameter dtype (default fp32).
        kwargs: ``Wav2Vec2Config`` overrides.
    """
    return _build(ckpt, require="path", dtype=dtype, **kwargs)


@entry(model="data2vec audio (any checkpoint)", paper=_PAPER, date="2022-02", input="wav", stride=320,
       verified=_VERIFIED)
def data2vec_url(ckpt: str, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """data2vec (audio) from a checkpoint URL (downloaded once into the cache), any layout
    of :func:`data2vec_local`. Stride 320 samples (20 ms).

    Args:
        ckpt: http(s) URL.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), checked on download.
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, sha256=sha256, require="url", dtype=dtype, **kwargs)


@entry(model="data2vec audio (any checkpoint)", paper=_PAPER, date="2022-02", input="wav", stride=320,
       verified=_VERIFIED)
def data2vec_custom(ckpt: str, refresh: bool = False, dtype=None, **kwargs):
    """data2vec (audio) from a local path or URL, any layout of :func:`data2vec_local`.
    Stride 320 samples (20 ms).

    Args:
        ckpt: local path or http(s) URL.
        refresh: download again even if cached (URLs only).
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="data2vec Base (audio)", paper=_PAPER, date="2022-02", input="wav", stride=320, layers=13,
       hidden_size=768, data="LibriSpeech 960 h", ckpt=_BASE_URL, verified=_VERIFIED)
def data2vec_base_960(ckpt: str = _BASE_URL, refresh: bool = False, dtype=None, **kwargs):
    """data2vec Base audio model (Baevski et al., 2022), pre-trained on LibriSpeech 960 h.

    12 post-LN transformer layers, hidden size 768, layer-norm feature encoder,
    5-layer positional conv stack, normalised waveform; 13 hidden states; stride
    320 samples (20 ms). Checkpoint: fairseq's ``audio_base_ls.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="data2vec Base (audio)", paper=_PAPER, date="2022-02", input="wav", stride=320, layers=13,
       hidden_size=768, data="LibriSpeech 960 h", ckpt=_BASE_URL, verified=_VERIFIED)
def data2vec(ckpt: str = _BASE_URL, refresh: bool = False, dtype=None, **kwargs):
    """data2vec Base audio model (the family's default; same as :func:`data2vec_base_960`).

    12 layers, hidden size 768, 13 hidden states, stride 320 samples (20 ms).
    Checkpoint: fairseq's ``audio_base_ls.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="data2vec Large (audio)", paper=_PAPER, date="2022-02", input="wav", stride=320, layers=25,
       hidden_size=1024, data="Libri-Light 60k h", ckpt=_LARGE_URL, verified=_VERIFIED)
def data2vec_large_ll60k(ckpt: str = _LARGE_URL, refresh: bool = False, dtype=None, **kwargs):
    """data2vec Large audio model (Baevski et al., 2022), pre-trained on Libri-Light 60k h.

    24 transformer layers, hidden size 1024, 25 hidden states, stride 320 samples
    (20 ms). Checkpoint: fairseq's ``vox_pretrained.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)
