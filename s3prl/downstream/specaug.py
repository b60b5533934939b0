"""SpecAugment on the featurizer output, for the config's top-level ``specaug`` section.

SpecAugment (Park et al., 2019, "SpecAugment: A Simple Data Augmentation Method for
Automatic Speech Recognition", Sec. 2): time warping, frequency masking and time masking.
As in s3prl 0.4's runner (``s3prl/downstream/runner.py``, ``specaug.py``), the runner applies
it to the features of the ``train`` split only, after the featurizer, when the config has a
``specaug`` section; the option names are s3prl's:

.. code-block:: yaml

   specaug:
     apply_time_warp: true
     time_warp_window: 5
     apply_freq_mask: true
     freq_mask_width_range: [0, 50]   # mask width drawn from [lo, hi)
     num_freq_mask: 4
     apply_time_mask: true
     time_mask_width_range: [0, 40]
     num_time_mask: 2
     adaptive: false                  # time masks scale with the length (Park et al., 2020)
     adaptive_number_ratio: 0.04      # masks = min(max_n_time_masks, ratio * frames)
     adaptive_size_ratio: 0.04        # width < min(hi, ratio * frames)
     max_n_time_masks: 20

Each utterance gets its own warp and masks, drawn on its valid frames only (padding stays
zero); masked values are set to zero. Random numbers come from torch's global generator,
which the runner seeds and stores in its checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

OPTIONS = {
    "apply_time_warp": True,
    "time_warp_window": 5,
    "time_warp_mode": "bicubic",
    "apply_freq_mask": True,
    "freq_mask_width_range": (0, 20),
    "num_freq_mask": 2,
    "apply_time_mask": True,
    "time_mask_width_range": (0, 100),
    "num_time_mask": 2,
    "adaptive": False,
    "adaptive_number_ratio": 0.04,
    "adaptive_size_ratio": 0.04,
    "max_n_time_masks": 20,
}


class SpecAug:
    """SpecAugment with s3prl's options (see the module docstring).

    Raises:
        ValueError: an unknown option (named), or a width range that is not
            ``[lo, hi]`` with ``0 <= lo < hi``.
    """

    def __init__(self, **options):
        unknown = [k for k in options if k not in OPTIONS]
        if unknown:
            raise ValueError(f"specaug: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(OPTIONS)}")
        self.opts = {**OPTIONS, **options}
        for key in ("freq_mask_width_range", "time_mask_width_range"):
            rng = self.opts[key]
            if isinstance(rng, int):
                rng = (0, rng)
            if len(rng) != 2 or not 0 <= int(rng[0]) < int(rng[1]):
                raise ValueError(f"specaug.{key} must be [lo, hi] with 0 <= lo < hi, got {rng!r}")
            self.opts[key] = (int(rng[0]), int(rng[1]))

    def _warp(self, x: Tensor) -> Tensor:
        """Time warp of one utterance ``(frames, dim)``: the frames before a random centre
        are stretched to end at a random point within ``window`` frames of it."""
        window = int(self.opts["time_warp_window"])
        t = x.size(0)
        if window <= 0 or t - window <= window:
            return x
        center = int(torch.randint(window, t - window, (1,)))
        warped = int(torch.randint(center - window, center + window, (1,))) + 1
        mode = self.opts["time_warp_mode"]
        img = x[None, None].float()
        left = F.interpolate(img[:, :, :center], (warped, x.size(1)), mode=mode, align_corners=False)
        right = F.interpolate(img[:, :, center:], (t - warped, x.size(1)), mode=mode, align_corners=False)
        return torch.cat([left, right], dim=2)[0, 0].to(x.dtype)

    @staticmethod
    def _mask(x: Tensor, axis: int, num: int, lo: int, hi: int) -> Tensor:
        size = x.size(axis)
        if num <= 0 or size == 0:
            return x
        widths = torch.randint(lo, hi, (num,))
        starts = torch.randint(0, max(1, size - int(widths.max())), (num,))
        pos = torch.arange(size)
        mask = ((pos[None, :] >= starts[:, None]) & (pos[None, :] < (starts + widths)[:, None])).any(0)
        mask = mask.to(x.device)
        shape = [1, 1]
        shape[axis] = size
        return x.masked_fill(mask.view(shape), 0.0)

    def __call__(self, features: Tensor, features_len: Tensor) -> Tensor:
        """Augmented copy of ``features`` ``(batch, frames, dim)`` (valid frames per
        ``features_len``); the lengths do not change."""
        o = self.opts
        out = torch.zeros_like(features)
        # one device-to-host copy of the lengths per batch, not one per utterance
        for i, n in enumerate(features_len.tolist()):
            n = int(n)
            x = features[i, :n]
            if o["apply_time_warp"]:
                x = self._warp(x)
            if o["apply_freq_mask"]:
                lo, hi = o["freq_mask_width_range"]
                hi = min(hi, x.size(1) + 1)
                if hi > lo:
                    x = self._mask(x, 1, int(o["num_freq_mask"]), lo, hi)
            if o["apply_time_mask"]:
                lo, hi = o["time_mask_width_range"]
                num = int(o["num_time_mask"])
                if o["adaptive"]:
                    if o["adaptive_number_ratio"] > 0:
                        num = min(int(o["adaptive_number_ratio"] * n), int(o["max_n_time_masks"]))
                    if o["adaptive_size_ratio"] > 0:
                        hi = min(hi, int(o["adaptive_size_ratio"] * n))
                if hi > lo:
                    x = self._mask(x, 0, num, lo, hi)
            out[i, :n] = x
        return out
