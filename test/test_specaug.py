"""SpecAugment of the runner's ``specaug`` section: masks, warp, padding, options."""

from __future__ import annotations

import pytest
import torch

from s3prl.downstream.config import ConfigError, validate_config
from s3prl.downstream.specaug import SpecAug

OFF = dict(apply_time_warp=False, apply_freq_mask=False, apply_time_mask=False)


def _features():
    x = torch.rand(2, 30, 12) + 1.0  # strictly positive: zeros are masks or padding
    lens = torch.tensor([30, 20])
    x[1, 20:] = 0
    return x, lens


def test_freq_mask_is_one_stripe_of_the_drawn_width():
    x, lens = _features()
    y = SpecAug(**{**OFF, "apply_freq_mask": True, "freq_mask_width_range": [3, 4], "num_freq_mask": 1})(x, lens)
    for i, n in enumerate(lens.tolist()):
        zero_cols = (y[i, :n] == 0).all(dim=0).nonzero().flatten().tolist()
        assert len(zero_cols) == 3 and zero_cols == list(range(zero_cols[0], zero_cols[0] + 3))
        keep = [c for c in range(12) if c not in zero_cols]
        assert torch.equal(y[i, :n][:, keep], x[i, :n][:, keep])
    assert torch.equal(y[1, 20:], torch.zeros(10, 12))


def test_time_mask_stays_inside_valid_frames():
    x, lens = _features()
    torch.manual_seed(3)
    y = SpecAug(**{**OFF, "apply_time_mask": True, "time_mask_width_range": [2, 3], "num_time_mask": 1})(x, lens)
    for i, n in enumerate(lens.tolist()):
        zero_rows = (y[i, :n] == 0).all(dim=1).nonzero().flatten().tolist()
        assert len(zero_rows) == 2 and zero_rows[1] == zero_rows[0] + 1 and zero_rows[1] < n
    assert torch.equal(y[1, 20:], torch.zeros(10, 12))


def test_time_warp_keeps_length_and_order():
    t = torch.arange(40, dtype=torch.float32)
    x = t[None, :, None].repeat(1, 1, 4)  # a ramp in time
    torch.manual_seed(0)
    y = SpecAug(**{**OFF, "apply_time_warp": True, "time_warp_window": 5})(x, torch.tensor([40]))
    assert y.shape == x.shape
    assert torch.allclose(y[0, :, 0], y[0, :, 3])
    assert (y[0, 1:, 0] - y[0, :-1, 0] > -1e-4).all()  # still increasing (bicubic of a ramp)
    assert abs(float(y[0, 0, 0])) < 0.5 and abs(float(y[0, -1, 0]) - 39) < 0.5


def test_all_off_is_identity_and_options_are_checked():
    x, lens = _features()
    assert torch.equal(SpecAug(**OFF)(x, lens), x)
    with pytest.raises(ValueError, match="unknown option.*num_freq_masks"):
        SpecAug(num_freq_masks=2)
    with pytest.raises(ValueError, match="time_mask_width_range must be"):
        SpecAug(time_mask_width_range=[5, 5])
    config = {"runner": {"total_steps": 1}, "optimizer": {"name": "Adam"}, "downstream_expert": {},
              "specaug": {"apply_time_warp": True, "time_warp_windw": 5}}
    with pytest.raises(ConfigError, match="time_warp_windw"):
        validate_config(config)
