"""``import s3prl.hub`` time over ``import torch`` (target <= 0.3 s).

Usage: ``python benchmarks/bench_import.py [--repeats 7]``. Each measurement
is a fresh interpreter; the median is printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

SNIPPET = (
    "import time; t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); "
    "import s3prl.hub; t2 = time.perf_counter(); print(t1 - t0, t2 - t1)"
)


def measure(repeats: int) -> tuple[float, float]:
    torch_t, hub_t = [], []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, check=True)
        a, b = map(float, out.stdout.split())
        torch_t.append(a)
        hub_t.append(b)
    return statistics.median(torch_t), statistics.median(hub_t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    t_torch, t_hub = measure(args.repeats)
    print(f"import torch: {t_torch:.3f} s   import s3prl.hub after torch: {t_hub:.3f} s "
          f"(target <= 0.300 s: {'met' if t_hub <= 0.3 else 'MISSED'})")


if __name__ == "__main__":
    main()
