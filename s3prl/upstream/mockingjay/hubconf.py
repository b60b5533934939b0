"""Mockingjay entries (Liu et al., ICASSP 2020, https://arxiv.org/abs/1910.12638).

Checkpoint URLs and aliases as in the original toolkit's
``s3prl/upstream/mockingjay/hubconf.py`` (https://github.com/s3prl/s3prl).
Every entry returns :class:`s3prl.upstream.mockingjay.expert.UpstreamExpert`:
log-mel (80) input computed from the waveform, ``num_hidden_layers + 1``
hidden states of dim 768, 10 ms frames. sha256 of the released files is not
published.
"""

from typing import Optional

from s3prl.util.registry import entry

__all__ = [
    "mockingjay_local",
    "mockingjay_url",
    "mockingjay",
    "mockingjay_origin",
    "mockingjay_100hr",
    "mockingjay_960hr",
    "mockingjay_logMelBase_T_AdamW_b32_200k_100hr",
    "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1",
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr",
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1",
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_seq3k",
]

_PAPER = "https://arxiv.org/abs/1910.12638"
_DATE = "2019-10"
_VERIFIED = (
    "seeded checkpoints in the released layout: weights vs an independent "
    "torch.nn.TransformerEncoderLayer computation, padding invariance, goldens"
)
_URL_100HR = "https://www.dropbox.com/s/luorglf8mdg67l2/states-200000.ckpt?dl=1"
_URL_360HR_LARGE = (
    "https://huggingface.co/s3prl/mockingjay/resolve/main/"
    "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1/states-500000.ckpt"
)
_URL_960HR = "https://www.dropbox.com/s/jzx0xggk663jev6/states-1000000.ckpt?dl=1"
_URL_960HR_DROP1 = "https://www.dropbox.com/s/7f9z6dzc7oix6qv/states-1000000.ckpt?dl=1"
_URL_960HR_SEQ3K = "https://www.dropbox.com/s/qnnvdrai2tfmjmh/states-1000000.ckpt?dl=1"

_BASE = dict(
    paper=_PAPER, date=_DATE, input="mel", stride=160, layers=4, hidden_size=768, verified=_VERIFIED
)
_LARGE = dict(_BASE, layers=13)


def _build(ckpt, refresh: bool = False, sha256=None, family: str = "mockingjay"):
    from s3prl.upstream.mockingjay.expert import UpstreamExpert
    from s3prl.util.download import resolve_checkpoint

    path = resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)
    return UpstreamExpert(path, family=family)


@entry(model="Mockingjay (local checkpoint)", paper=_PAPER, date=_DATE, input="mel", stride=160)
def mockingjay_local(ckpt: str):
    """Mockingjay from a local ``states-*.ckpt`` in a released layout.

    Args:
        ckpt: path of the checkpoint file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: ``ckpt`` is a URL (use ``mockingjay_url``), or not a Mockingjay/TERA
            checkpoint, or its keys do not match its config (keys named).
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "mockingjay_local"))


@entry(model="Mockingjay (checkpoint URL)", paper=_PAPER, date=_DATE, input="mel", stride=160)
def mockingjay_url(ckpt: str, refresh: bool = False, sha256: Optional[str] = None):
    """Mockingjay from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL of a ``states-*.ckpt`` in a released layout.
        refresh: download again even if cached.
        sha256: expected sha256 of the file, when known.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``mockingjay_local``), or
            the file is not a valid checkpoint (see ``mockingjay_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _build(url_checkpoint(ckpt, "mockingjay_url"), refresh=refresh, sha256=sha256)


@entry(model="Mockingjay Large (alias)", ckpt=_URL_360HR_LARGE, data="LibriSpeech train-clean-360 (360 h)", **_LARGE)
def mockingjay(ckpt: str = _URL_360HR_LARGE, refresh: bool = False):
    """Mockingjay, the default: alias of ``mockingjay_origin``
    (``mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1``): 12 layers,
    80-dim log mel input, 13 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Mockingjay Large (alias)", ckpt=_URL_360HR_LARGE, data="LibriSpeech train-clean-360 (360 h)", **_LARGE)
def mockingjay_origin(ckpt: str = _URL_360HR_LARGE, refresh: bool = False):
    """Mockingjay as in the paper (Large, 12 layers, log mel input, linear
    spectrogram target): alias of
    ``mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1``; 13 hidden
    states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Mockingjay Base (alias)", ckpt=_URL_100HR, data="LibriSpeech train-clean-100 (100 h)", **_BASE)
def mockingjay_100hr(ckpt: str = _URL_100HR, refresh: bool = False):
    """Mockingjay Base on 100 h: alias of
    ``mockingjay_logMelBase_T_AdamW_b32_200k_100hr``; 3 layers, 4 hidden
    states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Mockingjay Base (alias)", ckpt=_URL_960HR_DROP1, data="LibriSpeech 960 h", **_BASE)
def mockingjay_960hr(ckpt: str = _URL_960HR_DROP1, refresh: bool = False):
    """Mockingjay Base on 960 h: alias of
    ``mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1``; 3 layers, 4 hidden
    states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Mockingjay Base", ckpt=_URL_100HR, data="LibriSpeech train-clean-100 (100 h)", **_BASE)
def mockingjay_logMelBase_T_AdamW_b32_200k_100hr(ckpt: str = _URL_100HR, refresh: bool = False):
    """Mockingjay Base: 80-dim log mel, time alteration, AdamW, batch 32,
    200k steps, LibriSpeech 100 h; 3 layers, 4 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Mockingjay Large", ckpt=_URL_360HR_LARGE, data="LibriSpeech train-clean-360 (360 h)", **_LARGE)
def mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1(
    ckpt: str = _URL_360HR_LARGE, refresh: bool = False
):
    """Mockingjay Large: 80-dim log mel input, 201-dim linear spectrogram
    target, time alteration, AdamW, batch 32, 500k steps, LibriSpeech 360 h,
    dropout 0.1; 12 layers, 13 hidden states of 768, 10 ms stride, trained
    sequence length 500 frames (longer inputs are chunked, see the expert)."""
    return _build(ckpt, refresh)


@entry(model="Mockingjay Base", ckpt=_URL_960HR, data="LibriSpeech 960 h", **_BASE)
def mockingjay_logMelBase_T_AdamW_b32_1m_960hr(ckpt: str = _URL_960HR, refresh: bool = False):
    """Mockingjay Base: 80-dim log mel, time alteration, AdamW, batch 32, 1M
    steps, LibriSpeech 960 h; 3 layers, 4 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Mockingjay Base", ckpt=_URL_960HR_DROP1, data="LibriSpeech 960 h", **_BASE)
def mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1(ckpt: str = _URL_960HR_DROP1, refresh: bool = False):
    """Mockingjay Base: as ``mockingjay_logMelBase_T_AdamW_b32_1m_960hr`` with
    dropout 0.1 (instead of 0.3); 4 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Mockingjay Base", ckpt=_URL_960HR_SEQ3K, data="LibriSpeech 960 h", **_BASE)
def mockingjay_logMelBase_T_AdamW_b32_1m_960hr_seq3k(ckpt: str = _URL_960HR_SEQ3K, refresh: bool = False):
    """Mockingjay Base: as ``mockingjay_logMelBase_T_AdamW_b32_1m_960hr`` with
    a trained sequence length of 3000 frames (instead of 1500); 4 hidden
    states of 768, 10 ms stride."""
    return _build(ckpt, refresh)
