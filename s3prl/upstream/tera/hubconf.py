"""TERA entries (Liu, Li, Lee, IEEE/ACM TASLP 2021, https://arxiv.org/abs/2007.06028).

Checkpoint URLs and aliases as in the original toolkit's
``s3prl/upstream/tera/hubconf.py`` (https://github.com/s3prl/s3prl). TERA
shares Mockingjay's implementation
(:class:`s3prl.upstream.mockingjay.expert.UpstreamExpert`): input features
computed from the waveform with the checkpoint's own settings (80-dim log mel,
or 240-dim Kaldi fbank + deltas), ``num_hidden_layers + 1`` hidden states of
dim 768 (3-layer Base models: 4), 10 ms frames. sha256 of the released files
is not published.
"""

from typing import Optional

from s3prl.util.registry import entry

__all__ = [
    "tera_local",
    "tera_url",
    "tera",
    "tera_100hr",
    "tera_960hr",
    "tera_logMelBase_T_F_AdamW_b32_200k_100hr",
    "tera_logMelBase_T_F_M_AdamW_b32_200k_100hr",
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr",
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr_drop1",
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr_seq3k",
    "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1",
    "tera_fbankBase_T_F_AdamW_b32_200k_100hr",
]

_PAPER = "https://arxiv.org/abs/2007.06028"
_DATE = "2020-07"
_VERIFIED = (
    "seeded checkpoints in the released layout: weights vs an independent "
    "torch.nn.TransformerEncoderLayer computation, padding invariance, goldens"
)
_URL_T_F_100HR = "https://www.dropbox.com/s/o36qt1zgtn3tsep/states-200000.ckpt?dl=1"
_URL_T_F_M_100HR = "https://www.dropbox.com/s/l9ryl82k64m1lsk/states-200000.ckpt?dl=1"
_URL_T_F_960HR = "https://www.dropbox.com/s/98olxex0m7oy9ta/states-1000000.ckpt?dl=1"
_URL_T_F_960HR_DROP1 = "https://www.dropbox.com/s/2ekbt2gxlkbvfz0/states-1000000.ckpt?dl=1"
_URL_T_F_960HR_SEQ3K = "https://www.dropbox.com/s/tfysinbalpm3gsj/states-1000000.ckpt?dl=1"
_URL_T_F_M_960HR_DROP1 = (
    "https://huggingface.co/s3prl/tera/resolve/main/"
    "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1/states-1000000.ckpt"
)
_URL_FBANK_100HR = "https://www.dropbox.com/s/i32ob29m6afufot/states-200000.ckpt?dl=1"

_BASE = dict(
    paper=_PAPER, date=_DATE, input="mel", stride=160, layers=4, hidden_size=768, verified=_VERIFIED
)
_100H = "LibriSpeech train-clean-100 (100 h)"
_960H = "LibriSpeech 960 h"


def _build(ckpt, refresh: bool = False, sha256=None):
    from s3prl.upstream.mockingjay.expert import UpstreamExpert
    from s3prl.util.download import resolve_checkpoint

    path = resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)
    return UpstreamExpert(path, family="tera")


@entry(model="TERA (local checkpoint)", paper=_PAPER, date=_DATE, input="mel", stride=160)
def tera_local(ckpt: str):
    """TERA from a local ``states-*.ckpt`` in a released layout.

    Args:
        ckpt: path of the checkpoint file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: ``ckpt`` is a URL (use ``tera_url``), or not a Mockingjay/TERA
            checkpoint, or its keys do not match its config (keys named).
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "tera_local"))


@entry(model="TERA (checkpoint URL)", paper=_PAPER, date=_DATE, input="mel", stride=160)
def tera_url(ckpt: str, refresh: bool = False, sha256: Optional[str] = None):
    """TERA from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL of a ``states-*.ckpt`` in a released layout.
        refresh: download again even if cached.
        sha256: expected sha256 of the file, when known.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``tera_local``), or
            the file is not a valid checkpoint (see ``tera_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _build(url_checkpoint(ckpt, "tera_url"), refresh=refresh, sha256=sha256)


@entry(model="TERA Base (alias)", ckpt=_URL_T_F_M_960HR_DROP1, data=_960H, **_BASE)
def tera(ckpt: str = _URL_T_F_M_960HR_DROP1, refresh: bool = False):
    """TERA, the default: alias of ``tera_960hr``
    (``tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1``): 3 layers, 80-dim
    log mel input, 4 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="TERA Base (alias)", ckpt=_URL_T_F_M_100HR, data=_100H, **_BASE)
def tera_100hr(ckpt: str = _URL_T_F_M_100HR, refresh: bool = False):
    """TERA Base on 100 h: alias of ``tera_logMelBase_T_F_M_AdamW_b32_200k_100hr``;
    4 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="TERA Base (alias)", ckpt=_URL_T_F_M_960HR_DROP1, data=_960H, **_BASE)
def tera_960hr(ckpt: str = _URL_T_F_M_960HR_DROP1, refresh: bool = False):
    """TERA Base on 960 h: alias of ``tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1``;
    4 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="TERA Base", ckpt=_URL_T_F_100HR, data=_100H, **_BASE)
def tera_logMelBase_T_F_AdamW_b32_200k_100hr(ckpt: str = _URL_T_F_100HR, refresh: bool = False):
    """TERA Base: 80-dim log mel, time + frequency alteration, AdamW, batch 32,
    200k steps, LibriSpeech 100 h; 3 layers, 4 hidden states of 768."""
    return _build(ckpt, refresh)


@entry(model="TERA Base", ckpt=_URL_T_F_M_100HR, data=_100H, **_BASE)
def tera_logMelBase_T_F_M_AdamW_b32_200k_100hr(ckpt: str = _URL_T_F_M_100HR, refresh: bool = False):
    """TERA Base: 80-dim log mel, time + frequency + magnitude alteration,
    AdamW, batch 32, 200k steps, LibriSpeech 100 h; 4 hidden states of 768."""
    return _build(ckpt, refresh)


@entry(model="TERA Base", ckpt=_URL_T_F_960HR, data=_960H, **_BASE)
def tera_logMelBase_T_F_AdamW_b32_1m_960hr(ckpt: str = _URL_T_F_960HR, refresh: bool = False):
    """TERA Base: 80-dim log mel, time + frequency alteration, AdamW, batch 32,
    1M steps, LibriSpeech 960 h; 4 hidden states of 768."""
    return _build(ckpt, refresh)


@entry(model="TERA Base", ckpt=_URL_T_F_960HR_DROP1, data=_960H, **_BASE)
def tera_logMelBase_T_F_AdamW_b32_1m_960hr_drop1(ckpt: str = _URL_T_F_960HR_DROP1, refresh: bool = False):
    """TERA Base: as ``tera_logMelBase_T_F_AdamW_b32_1m_960hr`` with dropout
    0.1 (instead of 0.3); 4 hidden states of 768."""
    return _build(ckpt, refresh)


@entry(model="TERA Base", ckpt=_URL_T_F_960HR_SEQ3K, data=_960H, **_BASE)
def tera_logMelBase_T_F_AdamW_b32_1m_960hr_seq3k(ckpt: str = _URL_T_F_960HR_SEQ3K, refresh: bool = False):
    """TERA Base: as ``tera_logMelBase_T_F_AdamW_b32_1m_960hr`` with a trained
    sequence length of 3000 frames (instead of 1500); 4 hidden states of 768."""
    return _build(ckpt, refresh)


@entry(model="TERA Base", ckpt=_URL_T_F_M_960HR_DROP1, data=_960H, **_BASE)
def tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1(
    ckpt: str = _URL_T_F_M_960HR_DROP1, refresh: bool = False
):
    """TERA Base: 80-dim log mel, time + frequency + magnitude alteration,
    AdamW, batch 32, 1M steps, LibriSpeech 960 h, dropout 0.1; 4 hidden states of 768."""
    return _build(ckpt, refresh)


@entry(model="TERA Base (fbank)", ckpt=_URL_FBANK_100HR, data=_100H, **dict(_BASE, input="fbank"))
def tera_fbankBase_T_F_AdamW_b32_200k_100hr(ckpt: str = _URL_FBANK_100HR, refresh: bool = False):
    """TERA Base on Kaldi fbank: 240-dim input (80 log mel fbank + deltas +
    delta-deltas, per-utterance CMVN), time + frequency alteration, AdamW,
    batch 32, 200k steps, LibriSpeech 100 h; 4 hidden states of 768, 10 ms
    stride (Kaldi framing: 1 + (samples - 400) // 160 frames)."""
    return _build(ckpt, refresh)
