"""Entries of SSAST (Gong, Lai, Chung & Glass, 2022, https://arxiv.org/abs/2110.09784)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["ssast_frame_base", "ssast_patch_base", "ssast_local", "ssast_url"]

SSAST_FRAME_URL = "https://www.dropbox.com/s/nx6nl4d4bl71sm8/SSAST-Base-Frame-400.pth?dl=1"
SSAST_PATCH_URL = "https://www.dropbox.com/s/ewrzpco95n9jdz6/SSAST-Base-Patch-400.pth?dl=1"
_PAPER = "https://arxiv.org/abs/2110.09784"
_DATA = "AudioSet 2 M + LibriSpeech 960 h"
_VERIFIED = ("seeded pre-training checkpoint in the released layout vs a re-statement of SSAST's "
             "fine-tuning forward on transformers ViTLayer blocks; fbank vs kaldi-native-fbank")


def _load(ckpt, refresh=False, window_secs=1.0, num_heads=None, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    path = resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)
    return UpstreamExpert(str(path), window_secs=window_secs, num_heads=num_heads, **kwargs)


@entry(model="SSAST Base Frame 400", paper=_PAPER, date="2021-10",
       input="fbank (128 mel, Kaldi, 1 s windows)", stride=160, layers=12, hidden_size=768,
       data=_DATA, ckpt=SSAST_FRAME_URL, verified=_VERIFIED)
def ssast_frame_base(ckpt: str = SSAST_FRAME_URL, refresh: bool = False, window_secs: float = 1.0,
                     **kwargs):
    """SSAST Base, frame-based (128 x 2 patches), pre-trained 400 k steps, as s3prl 0.4.18 runs it.

    ``window_secs`` windows (default 1 s; s3prl suggests 1 s for Speech Commands,
    6 s for IEMOCAP, 10 s for speaker ID), 99 frames per second of windows; 12
    hidden states of 768. See :mod:`s3prl.upstream.ssast.expert`.
    """
    return _load(ckpt, refresh, window_secs, **kwargs)


@entry(model="SSAST Base Patch 400", paper=_PAPER, date="2021-10",
       input="fbank (128 mel, Kaldi, 1 s windows)", stride=1600, layers=12, hidden_size=9216,
       data=_DATA, ckpt=SSAST_PATCH_URL, verified=_VERIFIED)
def ssast_patch_base(ckpt: str = SSAST_PATCH_URL, refresh: bool = False, window_secs: float = 1.0,
                     **kwargs):
    """SSAST Base, patch-based (16 x 16 patches, stride 10), as s3prl 0.4.18 runs it.

    12 hidden states of 12 frequency patches x 768 = 9216 per time patch; a 1 s
    window gives 9 time patches (declared stride 1600 samples as in s3prl, the
    real rate is 9 frames per window). See :mod:`s3prl.upstream.ssast.expert`.
    """
    return _load(ckpt, refresh, window_secs, **kwargs)


@entry(model="SSAST (local checkpoint)", paper=_PAPER, date="2021-10",
       input="fbank (128 mel, Kaldi, windows)", verified=_VERIFIED)
def ssast_local(ckpt: str, window_secs: float = 1.0, **kwargs):
    """SSAST from a local pre-training checkpoint (frame or patch model, read from its patch shape).

    Raises:
        ValueError: ``ckpt`` is a URL (use ``ssast_url``) or not in the released layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "ssast_local"), window_secs=window_secs, **kwargs)


@entry(model="SSAST (checkpoint URL)", paper=_PAPER, date="2021-10",
       input="fbank (128 mel, Kaldi, windows)", verified=_VERIFIED)
def ssast_url(ckpt: str, refresh: bool = False, sha256: str | None = None, window_secs: float = 1.0,
              **kwargs):
    """SSAST from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL of an SSAST pre-training checkpoint.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), when known.
        window_secs: seconds per window.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``ssast_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "ssast_url"), refresh, window_secs, sha256=sha256, **kwargs)
