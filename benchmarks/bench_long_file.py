"""A long recording through wav2vec 2.0 Base with the extraction tool's ``--chunk-seconds``.

Usage::

    python benchmarks/bench_long_file.py                       # 20 min, last layer, 30 s chunks
    python benchmarks/bench_long_file.py --minutes 2 --layers all
    python benchmarks/bench_long_file.py --device cuda --dtype bf16

The model is wav2vec 2.0 Base at full size (7 conv layers of 512 channels, 12 transformer
layers of 768 dims, 12 heads, FFN 3072, 95 M parameters) with seeded random weights written
in fairseq's ``wav2vec_small.pt`` layout by ``test/checkpoint_builders/wav2vec2.py`` (the same
writer the tests use), loaded through ``wav2vec2_local``. The recording is the bundled real
speech (``sample_speech/``) concatenated and repeated to ``--minutes`` (16 kHz FLAC).

The extraction runs as ``utility/extract_feat.py wav2vec2_local OUT --wav-dir DIR --ckpt ...
--chunk-seconds S`` in a child process; its peak resident memory is the child's
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` once it has exited (target: < 4 GB).

Memory model: the model (~380 MB fp32) + one batch of chunks' activations (bounded by
``--max-batch-seconds`` and ``--chunk-seconds``, independent of the file's length) + the
decoded audio (64 kB per second) + the kept hidden states of the whole file (768 dims x 50
frames/s x 4 B = 154 kB per second and layer, held twice briefly while the chunks are
concatenated). With ``--layers -1`` a 20-minute file keeps 184 MB of output; with all 13
layers 2.4 GB (x2 during concatenation), which is why the default keeps one layer.

The last stdout line is a JSON summary (read by ``benchmarks/run_all.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL_BASE = dict(  # wav2vec 2.0 Base (Baevski et al., 2020, Table 1 / fairseq wav2vec_small.pt)
    encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
    conv_feature_layers="[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]",
    conv_pos=128, conv_pos_groups=16, final_dim=256,
)


def write_checkpoint(folder: Path) -> Path:
    """Full-size wav2vec 2.0 Base with seeded random weights in fairseq's argparse-era layout."""
    from test.checkpoint_builders import wav2vec2 as W

    opts = W.model_options(_name="wav2vec2", **FULL_BASE)
    return W.write_args_layout(folder / "wav2vec_small.pt", opts, W.task_options(False), W.make_state(opts, 0))


def write_long_speech(path: Path, minutes: float) -> float:
    """The bundled real speech concatenated (0.3 s pauses) and repeated to ``minutes``; FLAC.

    Returns the duration in seconds.
    """
    import numpy as np
    import soundfile as sf

    from s3prl.util.audio import load_audio, sample_speech_files

    pause = np.zeros(4800, dtype=np.float32)
    pieces = []
    for f in sample_speech_files():
        pieces += [load_audio(f).numpy(), pause]
    one = np.concatenate(pieces)
    n = int(minutes * 60 * 16000)
    wav = np.tile(one, n // one.size + 1)[:n]
    sf.write(path, wav, 16000, subtype="PCM_16")
    return n / 16000


def flops_per_audio_second(ckpt: Path, chunk_seconds: float, overlap: float) -> float:
    """FLOPs (matmuls, convolutions, attention) of one chunk with its context, per core second."""
    import torch

    import s3prl.hub as hub
    from benchmarks.common import count_flops

    model = hub.wav2vec2_local(str(ckpt)).eval()
    wav = torch.randn(int((chunk_seconds + 2 * overlap) * 16000)) * 0.1
    with torch.inference_mode():
        return count_flops(lambda: model([wav])) / chunk_seconds


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=20.0, help="length of the recording (default 20)")
    p.add_argument("--chunk-seconds", type=float, default=30.0)
    p.add_argument("--chunk-overlap", type=float, default=2.0)
    p.add_argument("--max-batch-seconds", type=float, default=60.0)
    p.add_argument("--layers", default="-1", help="hidden states to keep: e.g. -1 (default), 0,6,12, or all")
    p.add_argument("--fp16", action="store_true", help="store float16 outputs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the child (OMP_NUM_THREADS)")
    p.add_argument("--flops", action="store_true",
                   help="also count the model's FLOPs per audio second (one 10 s forward in this process, "
                   "after the child has exited) and report the achieved GFLOP/s")
    p.add_argument("--limit-gb", type=float, default=4.0)
    p.add_argument("--tmp", help="work folder (default: a new temporary folder, removed at the end)")
    args = p.parse_args(argv)

    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="s3prl_bench_long_"))
    (tmp / "audio").mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        ckpt = write_checkpoint(tmp)
        seconds = write_long_speech(tmp / "audio" / "long.flac", args.minutes)
        print(f"full-size wav2vec 2.0 Base checkpoint + {seconds / 60:.1f} min recording written in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        cmd = [
            sys.executable, str(ROOT / "utility" / "extract_feat.py"), "wav2vec2_local", str(tmp / "out"),
            "--wav-dir", str(tmp / "audio"), "--ckpt", str(ckpt), "--device", args.device,
            "--chunk-seconds", str(args.chunk_seconds), "--chunk-overlap", str(args.chunk_overlap),
            "--max-batch-seconds", str(args.max_batch_seconds), "--quiet", "--overwrite",
        ]
        if args.layers != "all":
            cmd += ["--layers", args.layers]
        if args.fp16:
            cmd.append("--fp16")
        if args.dtype != "fp32":
            cmd += ["--upstream-kwargs", json.dumps({"dtype": args.dtype})]
        env = dict(os.environ)
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            raise SystemExit(f"extraction failed with status {proc.returncode}")
        summary = [line for line in proc.stdout.splitlines() if "real-time factor" in line]
        from s3prl.extract import load_output

        out = load_output(tmp / "out" / "long.pt")
        hs = out["hidden_states"]
        frames = hs[0].shape[0]
        expected = (int(seconds * 16000) - 400) // 320 + 1
        res = {
            "case": "long_file", "minutes": round(seconds / 60, 2), "chunk_seconds": args.chunk_seconds,
            "layers": args.layers, "device": args.device, "dtype": args.dtype,
            "wall_s": round(wall, 1), "audio_s_per_s": round(seconds / wall, 2),
            "peak_rss_mb": round(peak_mb, 1), "limit_mb": args.limit_gb * 1024,
            "under_limit": peak_mb < args.limit_gb * 1024, "frames": frames, "expected_frames": expected,
            "kept_layers": len(hs), "dim": hs[0].shape[1],
        }
        print(f"{seconds / 60:.1f} min through wav2vec 2.0 Base ({args.device}, {args.dtype}), "
              f"--chunk-seconds {args.chunk_seconds}, layers {args.layers}: wall {wall:.1f} s "
              f"({seconds / wall:.1f}x real time, model loading included) | peak RSS {peak_mb:.0f} MB "
              f"({'under' if res['under_limit'] else 'OVER'} the {args.limit_gb:g} GB limit) | "
              f"{frames} frames (whole-file rule: {expected}) x {len(hs)} layers x {hs[0].shape[1]}", flush=True)
        if summary:
            print("extract_feat: " + summary[-1], flush=True)
            m = re.search(r"of audio in ([0-9.]+) s wall", summary[-1])
            if m:
                res["extract_wall_s"] = float(m.group(1))  # model loading excluded
        if args.flops:
            res["gflop_per_audio_s"] = round(flops_per_audio_second(ckpt, args.chunk_seconds,
                                                                    args.chunk_overlap) / 1e9, 2)
            res["gflops"] = round(res["gflop_per_audio_s"] * seconds / res.get("extract_wall_s", wall), 1)
            print(f"model: {res['gflop_per_audio_s']} GFLOP per audio second (chunks of "
                  f"{args.chunk_seconds:g} s + {2 * args.chunk_overlap:g} s context) -> achieved "
                  f"{res['gflops']} GFLOP/s", flush=True)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
