"""The CPU bf16/fp16 convolution route (s3prl.upstream.conv) is taken on every CPU.

torch 2.13's oneDNN bf16 convolution is wrong on AMX CPUs when a group has few input channels
and the kernel is long (relative error ~1 on the reduced wav2vec 2.0 positional conv). The
library routes such convolutions to fp32 on CPU whatever the CPU; these tests check the decision
itself, that a routed result equals the fp32 convolution cast to bf16 (so they hold with
``ONEDNN_MAX_CPU_ISA`` unset, on AMX or not), and that the reduced checkpoint models send their
small-group convolutions through the route while 16+ channels per group keep bf16.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.upstream import conv
from s3prl.upstream.conv import MIN_CHANNELS_PER_GROUP, conv1d, conv2d, lowp_conv_fp32_dtype
from s3prl.upstream.wav2vec2.modules import PositionalConvEmbedding
from test.regenerate_goldens import collect_builders

BUILDERS, _ = collect_builders()


def _operands(groups, per_group, kernel, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = groups * per_group
    x = torch.randn(2, c, 300, generator=g)
    w = torch.randn(c, per_group, kernel, generator=g) / (per_group * kernel) ** 0.5
    b = torch.randn(c, generator=g)
    return x, w, b


def test_decision_depends_on_channels_per_group_and_dtype_only():
    x, w, _ = _operands(16, 4, 128)
    assert MIN_CHANNELS_PER_GROUP == 16
    assert lowp_conv_fp32_dtype(x, w) is None  # fp32 compute: nothing to route
    for dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cpu", dtype=dtype):
            assert lowp_conv_fp32_dtype(x, w) is dtype
            assert lowp_conv_fp32_dtype(x, w[:, :1]) is dtype  # depthwise / 1 input channel
            wide = torch.zeros(256, 16, 128)  # 16 channels per group: fast path
            assert lowp_conv_fp32_dtype(torch.zeros(1, 256, 10), wide) is None
        assert lowp_conv_fp32_dtype(x.to(dtype), w.to(dtype)) is dtype  # low-precision operands
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
        assert lowp_conv_fp32_dtype(x, w) is None


@pytest.mark.parametrize("per_group,kernel", [(2, 128), (4, 128), (8, 32), (12, 128)])
def test_routed_conv1d_is_the_fp32_conv_rounded_to_bf16(per_group, kernel):
    x, w, b = _operands(16, per_group, kernel)
    ref = F.conv1d(x, w, b, padding=kernel // 2, groups=16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv1d(x, w, b, padding=kernel // 2, groups=16)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, ref.to(torch.bfloat16))
    # parameters stored in bf16 (the families that cast them): the fp32 conv of the bf16 values
    y16 = conv1d(x.bfloat16(), w.bfloat16(), b.bfloat16(), padding=kernel // 2, groups=16)
    ref16 = F.conv1d(x.bfloat16().float(), w.bfloat16().float(), b.bfloat16().float(),
                     padding=kernel // 2, groups=16)
    assert y16.dtype == torch.bfloat16 and torch.equal(y16, ref16.to(torch.bfloat16))


def test_routed_channels_last_conv2d_and_non_grouped_small_input():
    # the frames-major (channels-last conv2d) path of the wav2vec 2.0 family
    x, w, b = _operands(16, 8, 64)
    image = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    kernel = w.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    ref = F.conv2d(image, kernel, b, padding=(0, 32), groups=16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv2d(image, kernel, b, padding=(0, 32), groups=16)
    assert torch.equal(y, ref.to(torch.bfloat16))
    # one group of 8 input channels, long kernel: also wrong on AMX, also routed
    x, w, b = _operands(1, 8, 128, seed=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv1d(x, w, b, padding=64)
    assert torch.equal(y, F.conv1d(x, w, b, padding=64).to(torch.bfloat16))


def test_positional_conv_in_bf16_is_close_to_fp32():
    """The reduced positional conv (64 channels, 16 groups of 4, kernel 128) in bf16."""
    torch.manual_seed(0)
    pos = PositionalConvEmbedding(64, 128, 16).eval()
    x = torch.randn(2, 50, 64)
    with torch.inference_mode():
        ref = pos(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = pos(x)
    rel = float((y.float() - ref).abs().max() / ref.abs().max())
    assert rel <= 2 ** -7, rel  # one bf16 rounding of the conv output (before GELU)


def _record_convs(monkeypatch):
    calls = []
    real = F.conv2d, F.conv1d

    def spy(fn):
        def wrapped(x, w, *args, **kwargs):
            calls.append((int(w.size(1)), x.dtype, w.dtype, torch.is_autocast_enabled("cpu")))
            return fn(x, w, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(conv.F, "conv2d", spy(real[0]))
    monkeypatch.setattr(conv.F, "conv1d", spy(real[1]))
    return calls


@pytest.mark.parametrize("golden", ["wav2vec2_base_reduced", "data2vec_base_reduced", "decoar2_tiny"])
def test_checkpoint_models_route_small_groups(golden, tmp_path, monkeypatch):
    if golden not in BUILDERS:
        pytest.fail(f"builder {golden} is missing from test/checkpoint_builders")
    entry, path = BUILDERS[golden][1](tmp_path)
    model = hub.load(entry, ckpt=str(path), dtype="bf16").eval()
    calls = _record_convs(monkeypatch)
    with torch.inference_mode():
        model([torch.randn(8000) * 0.1, torch.randn(6000) * 0.1])
    small = [c for c in calls if c[0] < MIN_CHANNELS_PER_GROUP]
    wide = [c for c in calls if c[0] >= MIN_CHANNELS_PER_GROUP]
    assert small, f"{golden}: no convolution with a small group was seen"
    for per_group, x_dtype, w_dtype, autocast in small:
        assert (x_dtype, w_dtype, autocast) == (torch.float32, torch.float32, False), per_group
    for per_group, x_dtype, w_dtype, autocast in wide:  # the fast path is kept
        assert autocast or torch.bfloat16 in (x_dtype, w_dtype), per_group


def test_full_size_positional_conv_keeps_the_fast_path():
    pos = PositionalConvEmbedding(768, 128, 16)  # wav2vec 2.0 / HuBERT Base: 48 channels per group
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert lowp_conv_fp32_dtype(torch.zeros(1, 768, 4), pos.weight()) is None
