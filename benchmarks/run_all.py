"""Every benchmark in one command, with the machine's measured matmul ceiling.

Usage::

    python benchmarks/run_all.py            # full: what the docs' figures come from (long)
    python benchmarks/run_all.py --quick    # reduced sizes/repeats: a few minutes on 2 cores
    python benchmarks/run_all.py --only import,extract
    python benchmarks/run_all.py --device cuda --dtype bf16

Cases (each in its own process, so one's memory does not leak into another's peak):

* ``import``: ``import s3prl.hub`` after ``import torch`` (``bench_import.py``); reference:
  ``import torch`` itself; target <= 0.3 s.
* ``w2v2``: wav2vec 2.0 Base / HuBERT Base forward, ours vs ``transformers`` on the same
  weights (``bench_w2v2.py``, its own output is shown as it is); target ours <= 0.8x.
* ``extract``: ``utility/extract_feat.py``'s code path vs a per-file loop (``bench_extract.py``)
  with ``fbank`` and a seeded reduced wav2vec 2.0 checkpoint; target >= 1.5x throughput.
* ``long``: a long recording through full-size wav2vec 2.0 Base with ``--chunk-seconds``
  (``bench_long_file.py``); peak RSS target < 4 GB.

The table gives, per case, our time, the reference's time, ratio (ours / reference: below 1
is faster), peak memory (MB) and, where the model's FLOPs are counted, the achieved GFLOP/s
next to the ceiling: the machine's own fp32 (or ``--dtype``) matmul rate measured at the start
(2048 x 2048 matmuls, best of 5, torch's threads). ``--device cuda`` / ``--dtype bf16|fp16``
are passed to the benchmarks that take them (SDPA picks its flash / memory-efficient
kernels by itself on CUDA).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import matmul_ceiling_gflops  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def ceiling(device: str, dtype: str) -> float:
    if device.startswith("cuda"):
        n, t = 8192, torch.tensor(0)
        a = torch.randn(n, n, device=device, dtype=DTYPES[dtype])
        b = torch.randn(n, n, device=device, dtype=DTYPES[dtype])
        for _ in range(3):
            a @ b
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            a @ b
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        return 2 * n**3 / best / 1e9
    return matmul_ceiling_gflops(dtype=DTYPES[dtype])


def run_script(script: str, args: list[str], echo: bool = True) -> tuple[str, float]:
    """Run ``benchmarks/<script>`` with ``args``; echo its output; return (stdout, seconds)."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), *args]
    print(f"\n$ {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if echo:
        for line in proc.stdout.splitlines():
            if not line.startswith("{"):
                print("  " + line, flush=True)
    if proc.returncode != 0:
        print(f"  FAILED (status {proc.returncode}):\n{proc.stderr[-3000:]}", flush=True)
    return proc.stdout, wall


def last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


W2V2_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _number(text: str) -> float | None:
    m = re.match(r"\s*([0-9.]+)", text)
    return float(m.group(1)) if m else None


def w2v2_rows(stdout: str) -> list[tuple]:
    """Rows from ``bench_w2v2.py``'s closing markdown table: ``| model | case | ours s |
    transformers s | ratio | peak MiB ours / ref | GFLOP | GFLOP/s ours / ref | ...``."""
    rows = []
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 8 or _number(cells[2]) is None or _number(cells[3]) is None:
            continue
        ours, ref = _number(cells[2]), _number(cells[3])
        rows.append((f"{cells[0]} forward, {cells[1]} (ref: transformers)", ours, ref, ours / ref,
                     _number(cells[5]), _number(cells[7]),
                     f"peak MiB ours / ref {cells[5]}; GFLOP/s ours / ref {cells[7]}; "
                     + ("target <= 0.8x" if cells[1] == "mixed" else "target >= 75% of ceiling")))
    return rows


def accepts(script: str, option: str) -> bool:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"],
                         capture_output=True, text=True, cwd=ROOT)
    return option in out.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced sizes and repeats (a few minutes)")
    p.add_argument("--only", default="import,w2v2,extract,long", help="comma-separated cases")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    only = set(args.only.split(","))
    ceil = ceiling(args.device, args.dtype)
    print(f"machine: {args.device}, torch {torch.__version__}, {args.threads} threads; measured {args.dtype} "
          f"matmul ceiling {ceil:.1f} GFLOP/s; mode {'quick' if args.quick else 'full'}", flush=True)
    rows: list[tuple] = []  # (case, ours_s, ref_s, ratio, peak_mb, gflops, note)
    common = ["--device", args.device, "--dtype", args.dtype]

    if "import" in only:
        out, _ = run_script("bench_import.py", ["--repeats", "3" if args.quick else "7"])
        m = re.search(r"import torch: ([0-9.]+) s\s+import s3prl.hub after torch: ([0-9.]+) s", out)
        if m:
            torch_s, hub_s = float(m.group(1)), float(m.group(2))
            rows.append(("import s3prl.hub (ref: import torch)", hub_s, torch_s, hub_s / torch_s, None, None,
                         f"target <= 0.3 s: {'met' if hub_s <= 0.3 else 'MISSED'}"))

    if "w2v2" in only:
        w_args = ["--threads", str(args.threads)]
        if args.quick:
            w_args += ["--quick", "--repeats", "2"] if accepts("bench_w2v2.py", "--quick") else ["--repeats", "2"]
        if args.device != "cpu" or args.dtype != "fp32":
            if accepts("bench_w2v2.py", "--device"):
                w_args += ["--device", args.device, "--dtype", W2V2_DTYPES[args.dtype]]
            else:
                print("  (bench_w2v2.py runs fp32 CPU only: --device/--dtype not passed)")
        out, _ = run_script("bench_w2v2.py", w_args)
        rows += w2v2_rows(out)

    if "extract" in only:
        cases = [("fbank", ["--upstream", "fbank"]), ("wav2vec2 reduced", ["--builder", "wav2vec2_base_reduced"])]
        for label, extra in cases:
            files = "10" if args.quick else "500"
            e_args = [*extra, "--files", files, "--repeats", "2" if args.quick else "5",
                      "--synthetic-repeats", "2" if args.quick else "3",
                      "--threads", str(args.threads), *common]
            out, _ = run_script("bench_extract.py", e_args)
            res = last_json(out)
            for case in (res or {}).get("cases", []):
                rows.append((f"extract {label}, {case['corpus']} ({case['files']} files, "
                             f"{case['audio_seconds']:.0f} s; ref: per-file loop)",
                             case["ours_s"], case["loop_s"], case["ours_s"] / case["loop_s"], res["peak_rss_mb"],
                             case.get("ours_gflops"),
                             f"{case['ours_audio_s_per_s']} vs {case['loop_audio_s_per_s']} audio s/s, "
                             f"speedup {case['speedup']}x (target >= 1.5x)"))

    if "long" in only:
        minutes = "1" if args.quick else "20"
        out, _ = run_script("bench_long_file.py", ["--minutes", minutes, "--flops", *common])
        res = last_json(out)
        if res:
            rows.append((f"long file {res['minutes']} min, wav2vec 2.0 Base, --chunk-seconds "
                         f"{res['chunk_seconds']:g}", res.get("extract_wall_s", res["wall_s"]), None, None,
                         res["peak_rss_mb"], res.get("gflops"),
                         f"peak RSS target < 4096 MB: {'met' if res['under_limit'] else 'MISSED'}"))

    print(f"\nsummary ({args.device}, {args.dtype}; ceiling {ceil:.1f} GFLOP/s)")
    header = f"{'case':72s} {'ours s':>9s} {'ref s':>9s} {'ratio':>6s} {'peak MB':>8s} {'GFLOP/s':>16s}  notes"
    print(header)
    print("-" * len(header))
    for case, ours, ref, ratio, peak, gflops, note in rows:
        def fmt(v, f):
            return format(v, f) if v is not None else "-"
        gf = f"{gflops:.1f} ({100 * gflops / ceil:.0f}%)" if gflops else "-"
        print(f"{case:72s} {fmt(ours, '9.3f')} {fmt(ref, '9.3f')} {fmt(ratio, '6.2f')} {fmt(peak, '8.0f')} "
              f"{gf:>16s}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
