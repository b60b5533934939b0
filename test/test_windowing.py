"""s3prl.modules.windowing against a loop over window starts (the definition: window k holds
samples [k stride, k stride + window) of the wav, zeros past its end)."""

import pytest
import torch

from s3prl.modules.windowing import cut_windows, window_count


@pytest.mark.parametrize("window,stride", [(5, 5), (7, 3), (4, 6)])
def test_windows_match_loop(window, stride):
    g = torch.Generator().manual_seed(0)
    lens = torch.tensor([1, 9, 17, 0])
    wavs = torch.randn(len(lens), int(lens.max()), generator=g)
    for i, n in enumerate(lens.tolist()):
        wavs[i, n:] = 0.0
    n_win = window_count(lens, stride)
    expected = [-(-n // stride) for n in lens.tolist()]  # ceil(T / stride)
    assert n_win.tolist() == expected
    w = int(n_win.max())
    out = cut_windows(wavs, w, window, stride)
    assert out.shape == (len(lens), w, window)
    for i in range(len(lens)):
        for k in range(w):
            ref = torch.zeros(window)
            seg = wavs[i, k * stride : k * stride + window]
            ref[: seg.numel()] = seg
            assert torch.equal(out[i, k], ref), (i, k)


def test_cut_windows_is_a_view_when_long_enough():
    wavs = torch.arange(20.0).reshape(1, 20)
    out = cut_windows(wavs, 3, 6, 5)
    assert out.tolist() == [[[0, 1, 2, 3, 4, 5], [5, 6, 7, 8, 9, 10], [10, 11, 12, 13, 14, 15]]]
    assert out.data_ptr() == wavs.data_ptr()
