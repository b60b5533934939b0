"""Long recordings in overlapping chunks, stitched on the frame grid (``--chunk-seconds``).

Part of :mod:`s3prl.extract`.
"""

from __future__ import annotations

import math
from typing import Sequence

from .jobs import SAMPLE_RATE

__all__ = ["forward_chunked", "chunk_geometry"]


def chunk_geometry(model, chunk_seconds: float, overlap_seconds: float) -> tuple[int, int]:
    """``(core, context)`` in samples, both multiples of the stride.

    Raises:
        ValueError: the chunk is shorter than the receptive field or the overlap is negative.
    """
    stride = int(model.downsample_rate)
    rf = int(getattr(model, "receptive_field", 1))
    core = int(chunk_seconds * SAMPLE_RATE) // stride * stride
    if core < max(rf, stride):
        raise ValueError(
            f"--chunk-seconds {chunk_seconds} is shorter than the upstream's receptive field "
            f"({rf} samples, {rf / SAMPLE_RATE:.3f} s)"
        )
    if overlap_seconds < 0:
        raise ValueError(f"--chunk-overlap must be >= 0, got {overlap_seconds}")
    context = math.ceil(overlap_seconds * SAMPLE_RATE / stride) * stride
    # frames near a chunk's right edge need rf - stride samples past it
    context = max(context, math.ceil(max(rf - stride, 0) / stride) * stride)
    return core, context


def forward_chunked(
    model, wav, layers: Sequence[int], device, chunk_seconds: float, overlap_seconds: float = 2.0,
    max_batch_seconds: float = 60.0,
) -> tuple[list, int]:
    """Hidden states of one long wav, computed in overlapping chunks and stitched.

    The wav is cut into cores of ``chunk_seconds`` (a multiple of the stride; the last core
    takes the remainder, up to 1.5 chunks); each core runs with ``overlap_seconds`` of
    context on both sides (at least the receptive field), several chunks per forward pass
    within ``max_batch_seconds``. From a chunk starting at sample ``a``, frame ``j`` is global
    frame ``a / stride + j``; each core keeps its own frames, so frame ``k`` of the result
    starts at sample ``k * downsample_rate`` and the frame count equals a whole-file pass for
    frame rules of the form ``floor((samples - field) / stride) + 1``. Models whose frames see
    more than the context (self-attention over the whole input, per-utterance normalisation
    or CMVN) give an approximation of the whole-file result; upstreams with a finite
    receptive field inside the context give the same frames.

    Args:
        model: an upstream on ``device``.
        wav: 1-D float tensor (16 kHz) of ``T`` samples.
        layers: non-negative hidden-state indices to keep.

    Returns:
        ``(hidden_states, frames)``: a list of ``(frames, dim)`` cpu float32 tensors.

    Raises:
        ValueError: bad chunk settings, or a chunk gave fewer frames than its core needs.
    """
    import torch

    stride = int(model.downsample_rate)
    core, context = chunk_geometry(model, chunk_seconds, overlap_seconds)
    total = wav.numel()
    windows = []  # (a, b, s, e): chunk [a, b) samples, core [s, e)
    s = 0
    while s < total:
        e = s + core
        if total - e < core // 2:
            e = total
        windows.append((max(0, s - context), min(total, e + context), s, e))
        s = e
    per_batch = max(1, int(max_batch_seconds * SAMPLE_RATE // (core + 2 * context)))
    # One preallocated (capacity, dim) buffer per kept layer, filled chunk by chunk: large
    # single allocations go back to the OS when freed, where thousands of chunk-sized pieces
    # fragment the heap (a 20-minute file kept 3x its output size resident that way).
    capacity = total // stride + 1
    buffers: list = []
    frames = 0
    for start in range(0, len(windows), per_batch):
        group = windows[start: start + per_batch]
        with torch.inference_mode():
            out = model([wav[a:b].to(device) for a, b, _, _ in group])
        lens = out["hidden_states_len"].tolist()
        # one device-to-host copy per kept layer and batch, not per chunk and layer
        hs = [out["hidden_states"][layer].float().cpu() for layer in layers]
        del out
        if not buffers:
            buffers = [torch.empty(capacity, h.shape[-1]) for h in hs]
        for row, (a, b, s, e) in enumerate(group):
            first = (s - a) // stride
            last = lens[row] if e == total else (e - a) // stride
            if last > lens[row] or first > last or a // stride + first != frames:
                raise ValueError(
                    f"chunk [{a}, {b}) samples gave {lens[row]} frames, fewer than its core "
                    f"[{s}, {e}) needs: raise --chunk-overlap"
                )
            if frames + last - first > capacity:
                raise ValueError(f"chunks gave more than {capacity} frames for {total} samples")
            for buf, h in zip(buffers, hs):
                buf[frames: frames + last - first] = h[row, first:last]
            frames += last - first
        del hs
    hidden = []
    for k in range(len(buffers)):  # compact copies, one layer at a time
        hidden.append(buffers[k][:frames].clone())
        buffers[k] = None
    return hidden, frames
