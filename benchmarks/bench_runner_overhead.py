"""Time the runner's training loop (PyTorch Lightning) against a bare PyTorch loop doing the same work.

Usage::

    python benchmarks/bench_runner_overhead.py [--steps 300] [--batch 32] [--upstream fbank_no_cmvn] [--repeats 2]

Both train the ``example`` task's head (pseudo data, 1 s utterances) on the same frozen
upstream, featurizer, optimizer (Adam 1e-3), gradient clipping 1.0 and batches, for
``--steps`` steps, without evaluation. ``runner``: :func:`s3prl.downstream.runner.main`
(Lightning Trainer, logging every 100 steps, one checkpoint at the end); ``bare``: a plain
loop (features, loss, backward, clip, step). Runs alternate, ``--repeats`` times each
(the machine may be shared: compare the medians). The difference is the runner's own cost
per step (Lightning's loop, hooks, logging, the final checkpoint).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--upstream", default="fbank_no_cmvn")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from s3prl.downstream import runner

    overrides = [
        "-o", f"runner.total_steps={args.steps}", "-o", f"runner.eval_step={args.steps * 10}",
        "-o", f"runner.save_step={args.steps}", "-o", "runner.log_step=100",
        "-o", "runner.eval_dataloaders=[]",
        "-o", f"downstream_expert.datarc.batch_size={args.batch}",
        "-o", f"downstream_expert.datarc.train_size={args.batch * 8}",
        "-o", "downstream_expert.datarc.min_seconds=1.0", "-o", "downstream_expert.datarc.max_seconds=1.0",
    ]

    def run_runner(tmp: Path) -> float:
        start = time.perf_counter()
        assert runner.main(["-m", "train", "-p", str(tmp / f"r{time.time_ns()}"), "-u", args.upstream,
                            "-d", "example", "--device", "cpu", *overrides]) == 0
        return time.perf_counter() - start

    def run_bare(tmp: Path) -> float:
        start = time.perf_counter()
        a, config, _ = runner.resolve(["-m", "train", "-p", str(tmp / "bare"), "-u", args.upstream,
                                       "-d", "example", *overrides])
        torch.manual_seed(a.seed)
        upstream, featurizer, expert = runner.build_parts(a, config, tmp / "bare")
        upstream.eval()
        params = list(featurizer.parameters()) + list(expert.parameters())
        opt = torch.optim.Adam(params, lr=1e-3)
        records: dict = {}
        step, epoch = 0, 0
        while step < args.steps:
            for wavs, labels in expert.get_dataloader("train", epoch=epoch):
                with torch.no_grad():
                    out = upstream.upstream(wavs)
                hs = out["hidden_states"]
                feats, lens = featurizer(hs, [out["hidden_states_len"]] * len(hs))
                records.clear()
                from collections import defaultdict

                loss = expert("train", feats, lens, labels, records=defaultdict(list))
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                step += 1
                if step >= args.steps:
                    break
            epoch += 1
        return time.perf_counter() - start

    times: dict[str, list[float]] = {"runner": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_bare(tmp)  # warm-up: imports, allocator
        for _ in range(args.repeats):
            times["runner"].append(run_runner(tmp))
            times["bare"].append(run_bare(tmp))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.steps} steps, batch {args.batch} x 1 s, upstream {args.upstream}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    for k, v in times.items():
        print(f"  {k:7s} {med[k]:7.2f} s  ({', '.join(f'{t:.2f}' for t in v)})")
    per_step = (med["runner"] - med["bare"]) / args.steps * 1000
    print(f"  runner / bare: {med['runner'] / med['bare']:.3f}  ({per_step:+.2f} ms per step)")
    return med


if __name__ == "__main__":
    main()
