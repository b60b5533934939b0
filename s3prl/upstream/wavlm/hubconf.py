"""WavLM entries (Chen et al., 2021, https://arxiv.org/abs/2110.13900).

Default checkpoints: the original s3prl toolkit's mirror
``https://huggingface.co/s3prl/converted_ckpts/resolve/main/wavlm_*.pt`` (its
``s3prl/upstream/wavlm/hubconf.py``): the UniLM release files in their
``{"cfg", "model"}`` layout, on a stable direct URL. The official release
(https://github.com/microsoft/unilm/tree/master/wavlm) links Azure blob URLs
with an expiring SAS token (``https://valle.blob.core.windows.net/share/wavlm/WavLM-Base+.pt?sv=...``,
valid to 2033-03) and Google Drive; both load through ``wavlm_url`` /
``wavlm_custom`` as well. No sha256 is published for these files.
"""

from s3prl.util.registry import entry

__all__ = [
    "wavlm",
    "wavlm_base",
    "wavlm_base_plus",
    "wavlm_large",
    "wavlm_local",
    "wavlm_url",
    "wavlm_custom",
]

_MIRROR = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/"
_PAPER = "https://arxiv.org/abs/2110.13900"
_DATA_PLUS = "Libri-Light 60 k h + GigaSpeech 10 k h + VoxPopuli 24 k h (94 k h)"
_VERIFIED = "parity with transformers WavLMModel (seeded weights, UniLM layout); padding; golden"


def _build(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(model="WavLM (any checkpoint, local file)", paper=_PAPER, date="2021-10", stride=320)
def wavlm_local(ckpt, dtype=None, **kwargs):
    """WavLM from a local checkpoint file; the architecture is read from the file.

    Args:
        ckpt: path of a UniLM ``{"cfg", "model"}`` file (or its fairseq
            ``{"cfg": {"model", "task"}, "model"}`` training form).
        dtype: parameter dtype (e.g. ``torch.bfloat16`` on GPU); default fp32.
        kwargs: architecture overrides (e.g. ``normalize=False``).

    Raises:
        ValueError: ``ckpt`` is a URL (use ``wavlm_url``).
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "wavlm_local"), dtype=dtype, **kwargs)


@entry(model="WavLM (any checkpoint, URL)", paper=_PAPER, date="2021-10", stride=320)
def wavlm_url(ckpt, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """WavLM from a checkpoint URL (downloaded once into the s3prl cache).

    Args:
        ckpt: http(s) URL of a checkpoint in a layout ``wavlm_local`` reads.
        refresh: download again even if cached.
        sha256: expected sha256 of the file, if known.
        kwargs: see ``wavlm_local``.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _build(url_checkpoint(ckpt, "wavlm_url"), refresh=refresh, sha256=sha256, dtype=dtype, **kwargs)


@entry(model="WavLM (any checkpoint, path or URL)", paper=_PAPER, date="2021-10", stride=320)
def wavlm_custom(ckpt, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """WavLM from a local path or a URL, architecture read from the checkpoint
    (see ``wavlm_local`` / ``wavlm_url``)."""
    return _build(ckpt, refresh=refresh, sha256=sha256, dtype=dtype, **kwargs)


@entry(
    model="WavLM Base",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=13,
    hidden_size=768,
    data="LibriSpeech 960 h",
    ckpt=_MIRROR + "wavlm_base.pt",
    verified=_VERIFIED,
)
def wavlm_base(ckpt: str = _MIRROR + "wavlm_base.pt", refresh: bool = False, dtype=None, **kwargs):
    """WavLM Base: 12 post-LN transformer layers (768-dim, 12 heads), group-norm
    conv feature encoder, gated relative position bias (320 buckets, max
    distance 800); 13 hidden states, stride 320 samples (20 ms).

    Checkpoint: UniLM's ``WavLM-Base.pt`` (mirror of the original s3prl toolkit).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(
    model="WavLM Base+",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=13,
    hidden_size=768,
    data=_DATA_PLUS,
    ckpt=_MIRROR + "wavlm_base_plus.pt",
    verified=_VERIFIED,
)
def wavlm_base_plus(ckpt: str = _MIRROR + "wavlm_base_plus.pt", refresh: bool = False, dtype=None, **kwargs):
    """WavLM Base+: the Base architecture pre-trained on 94 k hours; 13 hidden
    states of 768 dims, stride 320 samples (20 ms).

    Checkpoint: UniLM's ``WavLM-Base+.pt`` (mirror of the original s3prl toolkit).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(
    model="WavLM Base+",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=13,
    hidden_size=768,
    data=_DATA_PLUS,
    ckpt=_MIRROR + "wavlm_base_plus.pt",
    verified=_VERIFIED,
)
def wavlm(ckpt: str = _MIRROR + "wavlm_base_plus.pt", refresh: bool = False, dtype=None, **kwargs):
    """WavLM, the default model: WavLM Base+ (see ``wavlm_base_plus``)."""
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(
    model="WavLM Large",
    paper=_PAPER,
    date="2021-12",
    stride=320,
    layers=25,
    hidden_size=1024,
    data=_DATA_PLUS,
    ckpt=_MIRROR + "wavlm_large.pt",
    verified=_VERIFIED,
)
def wavlm_large(ckpt: str = _MIRROR + "wavlm_large.pt", refresh: bool = False, dtype=None, **kwargs):
    """WavLM Large: 24 pre-LN transformer layers (1024-dim, 16 heads), layer-norm
    conv feature encoder, per-utterance normalised input, gated relative
    position bias; 25 hidden states (the last after the final LayerNorm),
    stride 320 samples (20 ms).

    Checkpoint: UniLM's ``WavLM-Large.pt`` (mirror of the original s3prl toolkit).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)
