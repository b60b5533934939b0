"""Convolutions that stay right in reduced precision on CPU (shared by every family).

Why: with torch 2.13 on CPUs with AMX (e.g. Xeon Sapphire Rapids), oneDNN's
bf16 convolution gives wrong numbers when a group has few input channels and
the kernel is long. Measured on this code base's CPU (conv1d, 300 frames,
relative max error against the fp32 conv):

* 16 groups x 2, 4, 6 or 8 input channels, kernel 32..128 (the reduced
  wav2vec 2.0 / WavLM positional conv): 0.75 - 1.26;
* one group of 2 or 8 input channels, kernel 32 / 128: 1.06 - 1.20;
* 16 or more input channels per group, or kernel <= 10, or one input channel
  (depthwise, the first feature-encoder layer): 0.003 - 0.005 (bf16 rounding);
* the same convs with ``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16`` (no AMX): 0.004;
* fp16 on CPU: 0.001.

The exact trigger inside oneDNN is not documented, so the rule here is a
conservative one that covers every failing case above: on CPU, when the
convolution would compute in bf16 or fp16 (``torch.autocast`` or low-precision
operands) and a group has fewer than :data:`MIN_CHANNELS_PER_GROUP` input
channels, the convolution runs in fp32 and its result is cast to the dtype the
low-precision convolution would have returned. The full-size models' convs
(positional conv with 48+ input channels per group, 512-channel feature
encoder) keep the fast low-precision path; the small convs routed to fp32 cost
little. The rule does not depend on the CPU, so results are the same on every
machine. GPUs are not affected and keep their path.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "MIN_CHANNELS_PER_GROUP",
    "lowp_conv_fp32_dtype",
    "conv1d",
    "conv2d",
    "conv_module",
]

#: A CPU convolution whose groups have fewer input channels than this runs in
#: fp32 when the compute dtype is bf16/fp16 (see the module docstring).
MIN_CHANNELS_PER_GROUP = 16

_LOW = (torch.bfloat16, torch.float16)


def lowp_conv_fp32_dtype(x: Tensor, weight: Tensor) -> Optional[torch.dtype]:
    """Whether a convolution of ``x`` with ``weight`` must be routed to fp32.

    Args:
        x: the convolution's input (any shape ``F.conv1d``/``F.conv2d`` accept).
        weight: its weight, ``(out_channels, in_channels / groups, *kernel)``.

    Returns:
        ``None`` to run the convolution as it is (not on CPU, fp32 compute, or
        at least :data:`MIN_CHANNELS_PER_GROUP` input channels per group);
        otherwise the low-precision dtype (``torch.bfloat16`` /
        ``torch.float16``) the convolution would have returned, which the fp32
        result must be cast to. Under ``torch.autocast("cpu", dtype)`` that is
        the autocast dtype; otherwise the operands' low-precision dtype.
    """
    if x.device.type != "cpu" or weight.dim() < 3 or weight.size(1) >= MIN_CHANNELS_PER_GROUP:
        return None
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
        return dtype if dtype in _LOW else None
    if x.dtype in _LOW:
        return x.dtype
    return weight.dtype if weight.dtype in _LOW else None


def _route(fn, x: Tensor, weight: Tensor, bias: Optional[Tensor], **kwargs) -> Tensor:
    out_dtype = lowp_conv_fp32_dtype(x, weight)
    if out_dtype is None:
        return fn(x, weight, bias, **kwargs)
    with torch.autocast("cpu", enabled=False):
        y = fn(x.float(), weight.float(), None if bias is None else bias.float(), **kwargs)
    return y.to(out_dtype)


def conv1d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """``F.conv1d`` with the CPU low-precision route of this module.

    Args and shapes as :func:`torch.nn.functional.conv1d`: ``x`` is
    ``(batch, in_channels, time)``, ``weight`` ``(out_channels,
    in_channels / groups, kernel)``, ``bias`` ``(out_channels,)`` or ``None``.

    Returns:
        ``(batch, out_channels, time_out)``, in the dtype ``F.conv1d`` would
        return (the autocast dtype under ``torch.autocast``); routed
        convolutions equal the fp32 convolution cast to that dtype.
    """
    return _route(F.conv1d, x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                  groups=groups)


def conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """``F.conv2d`` with the CPU low-precision route of this module.

    Args and shapes as :func:`torch.nn.functional.conv2d` (``x`` may be
    channels-last; the fp32 route keeps its memory format).
    """
    return _route(F.conv2d, x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                  groups=groups)


def conv_module(module: nn.Module, x: Tensor) -> Tensor:
    """Call an ``nn.Conv1d`` / ``nn.Conv2d`` (zero padding) through :func:`conv1d` / :func:`conv2d`.

    Args:
        module: the convolution module (``padding_mode="zeros"``, numeric padding).
        x: its input, ``(batch, in_channels, time)`` or ``(batch, in_channels, H, W)``.

    Raises:
        TypeError: ``module`` is not an ``nn.Conv1d``/``nn.Conv2d`` with zero padding.
    """
    if not isinstance(module, (nn.Conv1d, nn.Conv2d)) or module.padding_mode != "zeros" \
            or isinstance(module.padding, str):
        raise TypeError(f"conv_module takes an nn.Conv1d/nn.Conv2d with numeric zero padding, "
                        f"got {module!r}")
    fn = conv1d if isinstance(module, nn.Conv1d) else conv2d
    return fn(x, module.weight, module.bias, stride=module.stride, padding=module.padding,
              dilation=module.dilation, groups=module.groups)
