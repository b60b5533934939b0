"""PaSST's audio front end: 16 -> 32 kHz resampling and the mel spectrogram.

Facts (s3prl 0.4.18 ``upstream/passt/expert.py`` and its copy of ``hear21passt``,
``models/preprocess.py`` ``AugmentMelSTFT`` in eval mode; Koutini et al., 2022):

* resampling: ``torchaudio.transforms.Resample(16000, 32000)`` defaults
  (``sinc_interp_hann``, ``lowpass_filter_width=6``, ``rolloff=0.99``): for the
  reduced ratio ``orig:new`` = 1:2, ``base = min(orig, new) * rolloff``,
  ``width = ceil(6 orig / base)``; phase ``i`` of ``new`` has taps
  ``t = (k / orig - i / new) * base`` for ``k = -width .. width + orig - 1``,
  clamped to [-6, 6], weights ``sinc(pi t) * cos(pi t / 12)^2 * base / orig``;
  the wav is zero padded by ``width`` (left) and ``width + orig`` (right),
  convolved with stride ``orig``, phases interleaved, cut to ``ceil(new T / orig)``;
* mel: pre-emphasis ``y[n] = x[n + 1] - 0.97 x[n]`` (one sample shorter),
  ``torch.stft`` (n_fft 1024, hop ``hop``, win_length 800, symmetric Hann
  window centred in the frame, ``center=True`` reflect padding), power
  spectrum, Kaldi mel banks (128 bins, 0 Hz - 15 kHz = ``sr / 2 - 2000 / 2``,
  Nyquist bin weight 0), ``(log(mel + 1e-5) + 4.5) / 5``.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from s3prl.upstream.baseline.features import kaldi_mel_banks

__all__ = ["sinc_resample_kernel", "resample", "passt_mel"]


@functools.lru_cache(maxsize=4)
def sinc_resample_kernel(orig: int, new: int, width_zeros: int = 6, rolloff: float = 0.99) -> tuple[Tensor, int]:
    """``(kernel (new, 1, 2 width + orig) float64, width)`` for an ``orig:new`` ratio (reduced).

    Built once per setting (cached): do not modify the returned kernel in place."""
    g = math.gcd(orig, new)
    orig, new = orig // g, new // g
    base = min(orig, new) * rolloff
    width = math.ceil(width_zeros * orig / base)
    k = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    t = (k[None, :] - torch.arange(new, dtype=torch.float64)[:, None] / new) * base
    t = t.clamp(-width_zeros, width_zeros)
    window = torch.cos(t * math.pi / width_zeros / 2) ** 2
    tp = t * math.pi
    sinc = torch.where(tp == 0, torch.ones_like(tp), torch.sin(tp) / torch.where(tp == 0, 1.0, tp))
    return (sinc * window * (base / orig))[:, None, :], width


def resample(wavs: Tensor, orig: int = 16000, new: int = 32000) -> Tensor:
    """``(batch, samples)`` at ``orig`` Hz -> ``(batch, ceil(samples new / orig))`` at ``new`` Hz."""
    kernel, width = sinc_resample_kernel(orig, new)
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    length = wavs.size(-1)
    x = F.pad(wavs, (width, width + o))
    y = F.conv1d(x[:, None], kernel.to(wavs.dtype), stride=o)  # (batch, n, frames)
    y = y.transpose(1, 2).reshape(wavs.size(0), -1)
    return y[:, : math.ceil(n * length / o)]


@functools.lru_cache(maxsize=4)
def _mel_constants(n_mels: int, sr: int) -> tuple[Tensor, Tensor]:
    """The symmetric Hann window ``(800,)`` and Kaldi mel banks ``(513, n_mels)`` (float64),
    built once per setting."""
    window = torch.hann_window(800, periodic=False, dtype=torch.float64)
    return window, kaldi_mel_banks(n_mels, 1024, float(sr), 0.0, sr / 2 - 1000.0)


def passt_mel(x: Tensor, hop: int, n_mels: int = 128, sr: int = 32000) -> Tensor:
    """``(batch, samples)`` at 32 kHz -> ``(batch, n_mels, frames)`` normalised log mel,
    ``frames = 1 + (samples - 1) // hop`` (needs ``samples > 513``)."""
    x = x[:, 1:] - 0.97 * x[:, :-1]
    window, banks = _mel_constants(n_mels, sr)
    spec = torch.stft(x, 1024, hop_length=hop, win_length=800, window=window.to(x.device, x.dtype), center=True,
                      pad_mode="reflect", normalized=False, return_complex=True)
    power = spec.real**2 + spec.imag**2  # (batch, 513, frames)
    mel = torch.einsum("fm,bft->bmt", banks.to(x.device, x.dtype), power)
    return (torch.log(mel + 1e-5) + 4.5) / 5.0
