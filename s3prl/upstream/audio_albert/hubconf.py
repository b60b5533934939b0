"""Audio ALBERT entries (Chi et al., SLT 2021, https://arxiv.org/abs/2005.08575).

Checkpoint URL and aliases as in the original toolkit's
``s3prl/upstream/audio_albert/hubconf.py`` (https://github.com/s3prl/s3prl).
Audio ALBERT is Mockingjay's transformer with one layer's weights shared by
every layer (``share_layer``), served by
:class:`s3prl.upstream.mockingjay.expert.UpstreamExpert`: 80-dim log mel input
computed from the waveform, ``num_hidden_layers + 1`` hidden states of dim
768, 10 ms frames. sha256 of the released file is not published.
"""

from typing import Optional

from s3prl.util.registry import entry

__all__ = [
    "audio_albert_local",
    "audio_albert_url",
    "audio_albert",
    "audio_albert_960hr",
    "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1",
]

_PAPER = "https://arxiv.org/abs/2005.08575"
_DATE = "2020-05"
_URL_960HR = (
    "https://huggingface.co/s3prl/audio_albert/resolve/main/"
    "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1/states-1000000.ckpt"
)
_BASE = dict(
    paper=_PAPER,
    date=_DATE,
    input="mel",
    stride=160,
    layers=4,
    hidden_size=768,
    data="LibriSpeech 960 h",
    ckpt=_URL_960HR,
    verified=(
        "seeded checkpoints in the released layout: weights vs an independent "
        "torch.nn.TransformerEncoderLayer computation, padding invariance, goldens"
    ),
)


def _build(ckpt, refresh: bool = False, sha256=None):
    from s3prl.upstream.mockingjay.expert import UpstreamExpert
    from s3prl.util.download import resolve_checkpoint

    path = resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)
    return UpstreamExpert(path, family="audio_albert")


@entry(model="Audio ALBERT (local checkpoint)", paper=_PAPER, date=_DATE, input="mel", stride=160)
def audio_albert_local(ckpt: str):
    """Audio ALBERT from a local ``states-*.ckpt`` in a released layout.

    Args:
        ckpt: path of the checkpoint file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: ``ckpt`` is a URL (use ``audio_albert_url``), or not a Mockingjay-style
            checkpoint, or its keys do not match its config (keys named).
    """
    from s3prl.util.download import local_checkpoint

    return _build(local_checkpoint(ckpt, "audio_albert_local"))


@entry(model="Audio ALBERT (checkpoint URL)", paper=_PAPER, date=_DATE, input="mel", stride=160)
def audio_albert_url(ckpt: str, refresh: bool = False, sha256: Optional[str] = None):
    """Audio ALBERT from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL of a ``states-*.ckpt`` in a released layout.
        refresh: download again even if cached.
        sha256: expected sha256 of the file, when known.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``audio_albert_local``), or
            the file is not a valid checkpoint (see ``audio_albert_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _build(url_checkpoint(ckpt, "audio_albert_url"), refresh=refresh, sha256=sha256)


@entry(model="Audio ALBERT Base (alias)", **_BASE)
def audio_albert(ckpt: str = _URL_960HR, refresh: bool = False):
    """Audio ALBERT, the default: alias of ``audio_albert_960hr``
    (``audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1``): 3 layers
    sharing one set of weights, 4 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Audio ALBERT Base (alias)", **_BASE)
def audio_albert_960hr(ckpt: str = _URL_960HR, refresh: bool = False):
    """Audio ALBERT on 960 h: alias of
    ``audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1``; 4 hidden
    states of 768, 10 ms stride."""
    return _build(ckpt, refresh)


@entry(model="Audio ALBERT Base", **_BASE)
def audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1(
    ckpt: str = _URL_960HR, refresh: bool = False
):
    """Audio ALBERT Base: 80-dim log mel, time alteration, 3 layers sharing
    one set of weights, AdamW, batch 32, 1M steps, LibriSpeech 960 h, dropout
    0.1; 4 hidden states of 768, 10 ms stride."""
    return _build(ckpt, refresh)
