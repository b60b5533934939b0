"""UniSpeech-SAT entries (Chen et al., 2021, https://arxiv.org/abs/2110.05752).

Default checkpoints: the original s3prl toolkit's converted files
``https://huggingface.co/s3prl/converted_ckpts/resolve/main/unispeech_sat_*.pt``
(its ``s3prl/upstream/unispeech_sat/hubconf.py``), in UniLM's ``{"cfg", "model"}``
layout. The official release (https://github.com/microsoft/UniSpeech/tree/main/UniSpeech-SAT)
links Google Drive pages only (no direct URL); those fairseq files load through
``unispeech_sat_local`` once downloaded. No sha256 is published.
"""

from s3prl.util.registry import entry

__all__ = [
    "unispeech_sat",
    "unispeech_sat_base",
    "unispeech_sat_base_plus",
    "unispeech_sat_large",
    "unispeech_sat_local",
    "unispeech_sat_url",
    "unispeech_sat_custom",
]

_MIRROR = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/"
_PAPER = "https://arxiv.org/abs/2110.05752"
_DATA_PLUS = "Libri-Light 60 k h + GigaSpeech 10 k h + VoxPopuli 24 k h (94 k h)"
_VERIFIED = "parity with transformers UniSpeechSatModel (seeded weights, UniLM layout); padding; golden"


def _build(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh), **kwargs)


@entry(model="UniSpeech-SAT (any checkpoint, local file)", paper=_PAPER, date="2021-10", stride=320)
def unispeech_sat_local(ckpt, dtype=None, **kwargs):
    """UniSpeech-SAT from a local checkpoint file; the architecture is read from the file.

    Args:
        ckpt: path of a UniLM ``{"cfg", "model"}`` file or a fairseq training
            checkpoint ``{"cfg": {"model", "task"}, "model", ...}``.
        dtype: parameter dtype (e.g. ``torch.bfloat16`` on GPU); default fp32.
        kwargs: architecture overrides (e.g. ``normalize=False``).

    Raises:
        ValueError: ``ckpt`` is a URL (use ``unispeech_sat_url``).
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "unispeech_sat_local"), dtype=dtype, **kwargs)


@entry(model="UniSpeech-SAT (any checkpoint, URL)", paper=_PAPER, date="2021-10", stride=320)
def unispeech_sat_url(ckpt, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """UniSpeech-SAT from a checkpoint URL (downloaded once into the s3prl cache).

    Args:
        ckpt: http(s) URL; refresh: download again; sha256: expected sha256 if known;
        kwargs: see ``unispeech_sat_local``.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _build(url_checkpoint(ckpt, "unispeech_sat_url"), refresh=refresh, sha256=sha256, dtype=dtype, **kwargs)


@entry(model="UniSpeech-SAT (any checkpoint, path or URL)", paper=_PAPER, date="2021-10", stride=320)
def unispeech_sat_custom(ckpt, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """UniSpeech-SAT from a local path or a URL, architecture read from the checkpoint."""
    return _build(ckpt, refresh=refresh, sha256=sha256, dtype=dtype, **kwargs)


@entry(
    model="UniSpeech-SAT Base",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=13,
    hidden_size=768,
    data="LibriSpeech 960 h",
    ckpt=_MIRROR + "unispeech_sat_base.pt",
    verified=_VERIFIED,
)
def unispeech_sat_base(ckpt: str = _MIRROR + "unispeech_sat_base.pt", refresh: bool = False, dtype=None, **kwargs):
    """UniSpeech-SAT Base: 12 post-LN transformer layers (768-dim), group-norm conv
    feature encoder; 13 hidden states, stride 320 samples (20 ms)."""
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(
    model="UniSpeech-SAT Base+",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=13,
    hidden_size=768,
    data=_DATA_PLUS,
    ckpt=_MIRROR + "unispeech_sat_base_plus.pt",
    verified=_VERIFIED,
)
def unispeech_sat_base_plus(
    ckpt: str = _MIRROR + "unispeech_sat_base_plus.pt", refresh: bool = False, dtype=None, **kwargs
):
    """UniSpeech-SAT Base+: the Base architecture pre-trained on 94 k hours; 13
    hidden states of 768 dims, stride 320 samples (20 ms)."""
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(
    model="UniSpeech-SAT Base+",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=13,
    hidden_size=768,
    data=_DATA_PLUS,
    ckpt=_MIRROR + "unispeech_sat_base_plus.pt",
    verified=_VERIFIED,
)
def unispeech_sat(ckpt: str = _MIRROR + "unispeech_sat_base_plus.pt", refresh: bool = False, dtype=None, **kwargs):
    """UniSpeech-SAT, the default model of the original s3prl toolkit: Base+
    (see ``unispeech_sat_base_plus``)."""
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(
    model="UniSpeech-SAT Large",
    paper=_PAPER,
    date="2021-10",
    stride=320,
    layers=25,
    hidden_size=1024,
    data=_DATA_PLUS,
    ckpt=_MIRROR + "unispeech_sat_large.pt",
    verified=_VERIFIED,
)
def unispeech_sat_large(ckpt: str = _MIRROR + "unispeech_sat_large.pt", refresh: bool = False, dtype=None, **kwargs):
    """UniSpeech-SAT Large: 24 pre-LN transformer layers (1024-dim), layer-norm conv
    feature encoder, normalised input; 25 hidden states (the last after the
    final LayerNorm), stride 320 samples (20 ms)."""
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)
