"""The windowed Kaldi fbank front end of AST and SSAST, as s3prl 0.4.18 feeds them.

Facts (s3prl 0.4.18 ``upstream/ast/expert.py``, ``upstream/ssast/expert.py`` and
``upstream/ssast/audio.py``; Gong et al., AST https://arxiv.org/abs/2104.01778,
SSAST https://arxiv.org/abs/2110.09784):

* every wav is cut into windows of ``window`` samples starting every ``stride``
  samples (``ceil(T / stride)`` windows, the last one zero padded;
  :mod:`s3prl.modules.windowing`);
* each window -> Kaldi fbank (``torchaudio.compliance.kaldi.fbank`` with
  ``htk_compat=True``, ``use_energy=False``, ``window_type="hanning"``,
  ``num_mel_bins=128``, ``dither=0``, ``frame_shift=10``; Kaldi defaults
  otherwise: 25 ms frames, snip edges, pre-emphasis 0.97, DC removal, power
  spectrum, 20 Hz - Nyquist mel banks, log floored at FLT_EPSILON), amplitudes
  as given (no int16 scaling);
* normalised ``(fbank + 4.2677393) / (4.5689974 * 2)`` (AudioSet mean / 2 std);
* zero padded (or cut) to ``target_length = int(window / 160)`` frames.
"""

from __future__ import annotations

import torch
from torch import Tensor

from s3prl.upstream.baseline.features import kaldi_fbank

__all__ = ["FBANK_MEAN", "FBANK_STD", "ast_fbank"]

FBANK_MEAN = -4.2677393
FBANK_STD = 4.5689974


def ast_fbank(windows: Tensor, target_length: int, num_mel_bins: int = 128) -> Tensor:
    """Normalised fbank of equal-length windows.

    Args:
        windows: ``(n, samples)`` float waveforms (16 kHz), each a whole window.
        target_length: frames to return (zero padded or cut).
        num_mel_bins: mel bins (128).

    Returns:
        ``(n, target_length, num_mel_bins)`` in the input's dtype (computed in
        float64, then cast).
    """
    n, samples = windows.shape
    lens = torch.full((n,), samples, dtype=torch.long, device=windows.device)
    fb, _ = kaldi_fbank(
        windows.double(), lens, num_mel_bins=num_mel_bins, window_type="hanning",
        dither=0.0, frame_shift=10.0, htk_compat=True, use_energy=False,
    )  # fmt: skip
    fb = (fb - FBANK_MEAN) / (FBANK_STD * 2)
    frames = fb.size(1)
    if frames < target_length:
        fb = torch.nn.functional.pad(fb, (0, 0, 0, target_length - frames))
    return fb[:, :target_length].to(windows.dtype)
