"""Batching of an extraction run: utterances grouped by padded audio seconds.

Part of :mod:`s3prl.extract`.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["plan_batches"]


def plan_batches(durations: Sequence[float], max_batch_seconds: float) -> list[list[int]]:
    """Group items into batches of at most ``max_batch_seconds`` of padded audio.

    Items are sorted by duration, longest first; a batch's cost is its size times its
    longest duration (what the padded forward pass computes). An item longer than the
    limit forms a batch alone. Never batches by count alone.

    Args:
        durations: seconds per item.
        max_batch_seconds: limit on ``len(batch) * max(duration)``; must be > 0.

    Returns:
        Batches of item indices (into ``durations``), longest batch first.

    Raises:
        ValueError: ``max_batch_seconds`` is not positive.
    """
    if not max_batch_seconds > 0:
        raise ValueError(f"--max-batch-seconds must be > 0, got {max_batch_seconds}")
    order = sorted(range(len(durations)), key=lambda i: (-durations[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = durations[current[0]] if current else durations[i]
        if current and (len(current) + 1) * longest > max_batch_seconds:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
