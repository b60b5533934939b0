"""Fixed-length windows of a padded waveform batch, as the clip-level audio upstreams cut them.

AST, SSAST (s3prl 0.4.18 ``upstream/ast``, ``upstream/ssast``), BYOL-A (``upstream/byol_a``)
and BYOL-S (serab-byols ``utils.frame_audio``, after half a window of left padding) all run
their model on windows of ``window`` samples starting every ``stride`` samples, zero padded
past the wav's end; one window is one output frame.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["window_count", "cut_windows"]


def window_count(wavs_len: Tensor, stride: int) -> Tensor:
    """``ceil(T / stride)`` windows per wav: one starting at each ``k * stride < T``.

    Args:
        wavs_len: ``(batch,)`` long, samples per wav.
        stride: samples between window starts (> 0).

    Returns:
        ``(batch,)`` long (0 for an empty wav). One sample already gives a window,
        so the receptive field of such an upstream is 1 sample.
    """
    return torch.div(wavs_len + stride - 1, stride, rounding_mode="floor")


def cut_windows(wavs: Tensor, n_windows: int, window: int, stride: int) -> Tensor:
    """Windows of a zero-padded batch: window ``k`` = samples ``[k stride, k stride + window)``.

    Args:
        wavs: ``(batch, samples)`` float, zero padded.
        n_windows: windows to cut per wav (>= 1), e.g. ``window_count(...).max()``.
        window, stride: in samples.

    Returns:
        ``(batch, n_windows, window)``, a view when ``wavs`` is long enough; samples
        past ``wavs``' end read as zeros.
    """
    need = (n_windows - 1) * stride + window
    if wavs.size(1) < need:
        wavs = torch.nn.functional.pad(wavs, (0, need - wavs.size(1)))
    return wavs[:, :need].unfold(1, window, stride)
