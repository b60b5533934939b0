"""Entries of PaSST (Koutini et al., 2022, https://arxiv.org/abs/2110.05069), the HEAR 2021
``hear21passt`` models s3prl 0.4.18 wraps (same names, 160 ms windows every 50 ms)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["passt_base", "passt_base2level", "passt_base2levelmel", "passt_base20sec", "passt_base30sec", "passt_hop100base", "passt_hop100base2lvl", "passt_hop100base2lvlmel", "passt_hop160base", "passt_hop160base2lvl", "passt_hop160base2lvlmel", "passt_local", "passt_url"]

_PAPER = "https://arxiv.org/abs/2110.05069"
_VERIFIED = ("seeded checkpoint in the released layout vs a re-statement of hear21passt's "
             "windowing, mel front end (numpy STFT + kaldi-native-fbank mel banks) and PaSST forward "
             "on transformers ViTLayer blocks")
_URLS = {
    "s": "https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",
    "20sec": "https://github.com/kkoutini/PaSST/releases/download/v0.0.5/passt-s-f128-20sec-p16-s10-ap.474-swa.pt",
    "30sec": "https://github.com/kkoutini/PaSST/releases/download/v0.0.5/passt-s-f128-30sec-p16-s10-ap.473-swa.pt",
    "hop100": "https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/"
    "passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt",
    "hop160": "https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/"
    "passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt",
}


def _load(ckpt, variant, refresh=False, sha256=None, window_secs=0.16, stride_secs=0.05, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    path = resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)
    return UpstreamExpert(str(path), variant, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST base", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=1295, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["s"], verified=_VERIFIED)
def passt_base(ckpt: str = _URLS["s"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S (AudioSet, mAP .476, SWA), 160 ms windows every 50 ms; one hidden state of 1295 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "base", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST base2level", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=2590, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["s"], verified=_VERIFIED)
def passt_base2level(ckpt: str = _URLS["s"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S, 160 ms and 800 ms windows concatenated; one hidden state of 2590 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "base2level", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST base2levelmel", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=3358, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["s"], verified=_VERIFIED)
def passt_base2levelmel(ckpt: str = _URLS["s"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S, 160 ms and 640 ms windows + 128 x 6 mel frames; one hidden state of 3358 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "base2levelmel", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST base20sec", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=1295, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["20sec"], verified=_VERIFIED)
def passt_base20sec(ckpt: str = _URLS["20sec"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S trained on 20 s clips (mAP .474), 160 ms windows; one hidden state of 1295 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "base20sec", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST base30sec", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=1295, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["30sec"], verified=_VERIFIED)
def passt_base30sec(ckpt: str = _URLS["30sec"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S trained on 30 s clips (mAP .473), 160 ms windows; one hidden state of 1295 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "base30sec", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST hop100base", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=1295, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["hop100"], verified=_VERIFIED)
def passt_hop100base(ckpt: str = _URLS["hop100"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S with 100-sample STFT hop (mAP .473), 160 ms windows; one hidden state of 1295 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "hop100base", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST hop100base2lvl", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=2590, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["hop100"], verified=_VERIFIED)
def passt_hop100base2lvl(ckpt: str = _URLS["hop100"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S STFT hop 100, 160 ms and 800 ms windows; one hidden state of 2590 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "hop100base2lvl", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST hop100base2lvlmel", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=3358, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["hop100"], verified=_VERIFIED)
def passt_hop100base2lvlmel(ckpt: str = _URLS["hop100"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S STFT hop 100, 160 ms and 800 ms windows + mel frames; one hidden state of 3358 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "hop100base2lvlmel", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST hop160base", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=1295, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["hop160"], verified=_VERIFIED)
def passt_hop160base(ckpt: str = _URLS["hop160"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S with 160-sample STFT hop (mAP .473), 160 ms windows; one hidden state of 1295 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "hop160base", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST hop160base2lvl", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=2590, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["hop160"], verified=_VERIFIED)
def passt_hop160base2lvl(ckpt: str = _URLS["hop160"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S STFT hop 160, 160 ms and 800 ms windows; one hidden state of 2590 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "hop160base2lvl", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST hop160base2lvlmel", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz; 128-bin log mel)",
       stride=800, layers=1, hidden_size=3358, data="AudioSet 2 M (+ ImageNet DeiT init)",
       ckpt=_URLS["hop160"], verified=_VERIFIED)
def passt_hop160base2lvlmel(ckpt: str = _URLS["hop160"], refresh: bool = False, window_secs: float = 0.16,
            stride_secs: float = 0.05, **kwargs):
    """PaSST-S STFT hop 160, 160 ms and 800 ms windows + mel frames; one hidden state of 3358 every 50 ms.

    See :mod:`s3prl.upstream.passt.expert` for the windowing and the levels.
    """
    return _load(ckpt, "hop160base2lvlmel", refresh, window_secs=window_secs, stride_secs=stride_secs, **kwargs)


@entry(model="PaSST (local checkpoint)", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz)",
       stride=800, layers=1, verified=_VERIFIED)
def passt_local(ckpt: str, variant: str = "base", window_secs: float = 0.16, stride_secs: float = 0.05,
                **kwargs):
    """PaSST from a local checkpoint; ``variant`` is one of the ``passt_<variant>`` names (``"base"``...).

    Raises:
        ValueError: ``ckpt`` is a URL (use ``passt_url``), an unknown variant, not a PaSST checkpoint.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "passt_local"), variant, window_secs=window_secs,
                 stride_secs=stride_secs, **kwargs)


@entry(model="PaSST (checkpoint URL)", paper=_PAPER, date="2021-10", input="wav (resampled to 32 kHz)",
       stride=800, layers=1, verified=_VERIFIED)
def passt_url(ckpt: str, refresh: bool = False, sha256: str | None = None, variant: str = "base",
              window_secs: float = 0.16, stride_secs: float = 0.05, **kwargs):
    """PaSST from a checkpoint URL (downloaded once into the cache); ``sha256``: expected hash.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``passt_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "passt_url"), variant, refresh, sha256, window_secs=window_secs,
                 stride_secs=stride_secs, **kwargs)
