"""Shared helpers of the benchmarks: timing, peak memory, the machine's matmul ceiling.

Benchmarks print ratios against a reference measured in the same run; they are
run by hand (``python benchmarks/run_all.py``), never as timed tests.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch


def median_times(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median wall time (s) of each callable, runs alternating between them.

    Each callable runs ``warmup`` times first; then the callables take turns
    ``repeats`` times, so drift of the machine (other load, frequency) hits
    all of them alike.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def matmul_ceiling_gflops(n: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    """The machine's measured fp32 matmul rate (GFLOP/s) with torch's current threads."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call (matmuls, convolutions, attention) via torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_isolated(module: str, args: list[str]) -> dict:
    """Run ``python -m module args`` in a fresh process; it prints one JSON line last."""
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bundled_speech_batch(seconds: list[float]) -> list[torch.Tensor]:
    """Wavs of the given durations (s) cut from the bundled ``sample_speech/`` recordings
    laid end to end in name order, repeated as often as needed (real speech in any clone)."""
    import math

    from s3prl.util.audio import load_audio, sample_speech_files

    speech = torch.cat([load_audio(f) for f in sample_speech_files()])
    need = sum(int(s * 16000) for s in seconds)
    speech = speech.repeat(math.ceil(need / speech.numel()))
    wavs, start = [], 0
    for s in seconds:
        n = int(s * 16000)
        wavs.append(speech[start : start + n].clone())
        start += n
    return wavs
