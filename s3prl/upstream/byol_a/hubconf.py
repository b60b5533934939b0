"""Entries of BYOL-A (Niizumi et al., 2021, https://arxiv.org/abs/2103.06695)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["byol_a_2048", "byol_a_1024", "byol_a_512"]

_BASE = "https://github.com/nttcslab/byol-a/raw/master/pretrained_weights/AudioNTT2020-BYOLA-64x96d"
_PAPER = "https://arxiv.org/abs/2103.06695"
_VERIFIED = ("seeded checkpoint in the released layout vs an nn.Sequential re-statement of "
             "AudioNTT2020; log-mel vs librosa")


def _load(ckpt, refresh=False, window_secs=1.0, stride_secs=1.0, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(str(resolve_checkpoint(ckpt, refresh=refresh)), window_secs=window_secs,
                          stride_secs=stride_secs, **kwargs)


@entry(model="BYOL-A (AudioNTT2020, d=2048)", paper=_PAPER, date="2021-03",
       input="log-mel (64 bins, 1 s windows)", stride=16000, layers=1, hidden_size=2048,
       data="AudioSet", ckpt=_BASE + "2048.pth", verified=_VERIFIED)
def byol_a_2048(ckpt: str = _BASE + "2048.pth", refresh: bool = False, window_secs: float = 1.0,
                stride_secs: float = 1.0, **kwargs):
    """BYOL-A AudioNTT2020 encoder, 2048-d: one embedding per 1 s window (see
    :mod:`s3prl.upstream.byol_a.expert`)."""
    return _load(ckpt, refresh, window_secs, stride_secs, **kwargs)


@entry(model="BYOL-A (AudioNTT2020, d=1024)", paper=_PAPER, date="2021-03",
       input="log-mel (64 bins, 1 s windows)", stride=16000, layers=1, hidden_size=1024,
       data="AudioSet", ckpt=_BASE + "1024.pth", verified=_VERIFIED)
def byol_a_1024(ckpt: str = _BASE + "1024.pth", refresh: bool = False, window_secs: float = 1.0,
                stride_secs: float = 1.0, **kwargs):
    """BYOL-A AudioNTT2020 encoder, 1024-d: one embedding per 1 s window."""
    return _load(ckpt, refresh, window_secs, stride_secs, **kwargs)


@entry(model="BYOL-A (AudioNTT2020, d=512)", paper=_PAPER, date="2021-03",
       input="log-mel (64 bins, 1 s windows)", stride=16000, layers=1, hidden_size=512,
       data="AudioSet", ckpt=_BASE + "512.pth", verified=_VERIFIED)
def byol_a_512(ckpt: str = _BASE + "512.pth", refresh: bool = False, window_secs: float = 1.0,
               stride_secs: float = 1.0, **kwargs):
    """BYOL-A AudioNTT2020 encoder, 512-d: one embedding per 1 s window."""
    return _load(ckpt, refresh, window_secs, stride_secs, **kwargs)
