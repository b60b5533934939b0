"""Speed-up of the runner's ``--cache-features`` on a frozen upstream.

Usage::

    python benchmarks/bench_cache_features.py [--epochs 4] [--train-size 32] [--seconds 2] [--quick]

Runs the downstream runner (``s3prl.downstream.runner.main``, in this process) on the
``example`` task with a full-size wav2vec 2.0 Base upstream (12 layers, 768 dims; seeded
random weights written in fairseq's layout by ``test/checkpoint_builders``, loaded through
``wav2vec2_local``; ``--quick``: the reduced test-size model) three times, for the same
number of training steps (``--epochs`` epochs of ``--train-size`` utterances of
``--seconds`` s, batch 8, no evaluation until the last step):

* ``no cache``: the upstream runs on every batch;
* ``cache, cold``: first run with ``--cache-features``: the upstream runs once per
  utterance and its selected hidden states are written (one safetensors file each);
* ``cache, warm``: the same command again: every epoch reads the cache.

Printed: wall time of each run (the trainer's start-up included, the interpreter's imports
excluded; an untimed 1-step run first), the speed-up of the warm run over the uncached one, and the cache size. The
cold run saves a part of the uncached time already (epochs after the first read the cache).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _checkpoint(folder: Path, quick: bool) -> Path:
    from test.checkpoint_builders import wav2vec2 as W

    if quick:
        opts = W.base_options()
    else:
        opts = W.model_options(
            _name="wav2vec2", encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072,
            encoder_attention_heads=12, conv_pos=128, conv_pos_groups=16, final_dim=256,
            conv_feature_layers="[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]",
        )
    return W.write_args_layout(folder / "w2v.pt", opts, W.task_options(False), W.make_state(opts, 0))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="reduced wav2vec 2.0 (a smoke run)")
    args = parser.parse_args(argv)

    import torch

    from s3prl.downstream import runner

    batch = 8
    steps = args.epochs * -(-args.train_size // batch)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = _checkpoint(tmp, args.quick)
        common = [
            "-m", "train", "-u", "wav2vec2_local", "-k", str(ckpt), "-d", "example", "--device", "cpu",
            "-o", f"runner.total_steps={steps}", "-o", f"runner.eval_step={steps}",
            "-o", f"runner.save_step={steps}", "-o", f"runner.log_step={steps}",
            "-o", "runner.eval_dataloaders=[dev]",
            "-o", f"downstream_expert.datarc.train_size={args.train_size}",
            "-o", "downstream_expert.datarc.dev_size=8",
            "-o", f"downstream_expert.datarc.batch_size={batch}",
            "-o", f"downstream_expert.datarc.min_seconds={args.seconds}",
            "-o", f"downstream_expert.datarc.max_seconds={args.seconds}",
        ]
        # warm-up (first trainer of the process: lazy imports, allocator), not timed
        warm = [a if a != f"runner.total_steps={steps}" else "runner.total_steps=1" for a in common]
        assert runner.main(warm + ["-p", str(tmp / "warmup")]) == 0
        times = {}
        for name, extra in (
            ("no cache", ["-p", str(tmp / "plain")]),
            ("cache, cold", ["-p", str(tmp / "cold"), "--cache-features", str(tmp / "cache")]),
            ("cache, warm", ["-p", str(tmp / "warm"), "--cache-features", str(tmp / "cache")]),
        ):
            start = time.perf_counter()
            assert runner.main(common + extra) == 0
            times[name] = time.perf_counter() - start
        files = list((tmp / "cache").rglob("*.safetensors"))
        size_mb = sum(f.stat().st_size for f in files) / 2**20
    model = "reduced wav2vec 2.0" if args.quick else "wav2vec 2.0 Base (12 layers, 768 dims)"
    print(f"\n{model}, {steps} steps = {args.epochs} epochs x {args.train_size} utterances x "
          f"{args.seconds:g} s, batch {batch}, {torch.get_num_threads()} threads")
    for name, t in times.items():
        print(f"  {name:12s} {t:8.2f} s")
    print(f"  speed-up (warm cache vs no cache): {times['no cache'] / times['cache, warm']:.1f}x; "
          f"cache: {len(files)} files, {size_mb:.1f} MB")
    return {"times": times, "files": len(files), "size_mb": size_mb}


if __name__ == "__main__":
    main()
