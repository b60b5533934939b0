"""Extraction throughput: ``utility/extract_feat.py``'s code path against a plain per-file loop.

Usage::

    python benchmarks/bench_extract.py                          # fbank, both corpora, 500 files
    python benchmarks/bench_extract.py --files 50 --corpus synthetic
    python benchmarks/bench_extract.py --builder wav2vec2_base_reduced   # a seeded reduced checkpoint
    python benchmarks/bench_extract.py --upstream hubert_local --ckpt /path/hubert_base_ls960.pt
    python benchmarks/bench_extract.py --device cuda --dtype bf16

Two corpora:

* ``sample``: the bundled real speech (``sample_speech/``, 4 files, 8.3 s); both sides run
  ``--repeats`` times alternating, median reported (the runs are short);
* ``synthetic``: ``--files`` (default 500) seeded files of 1 to 30 s (uniform), speech-like
  noise (low-passed noise under a ~4 Hz syllabic envelope with pauses), written to a temporary
  folder at 16 kHz, alternately FLAC and 16-bit WAV; each side runs ``--synthetic-repeats``
  times (default 1: ours, then the loop; the page cache is warm for both since the corpus
  was just written).

Both sides start after one warm-up forward pass; runs alternate (median reported). On a
shared, loaded machine single runs vary by 2x: use repeats to compare.

Ours: :func:`s3prl.extract.extract_files` (what ``utility/extract_feat.py NAME OUT --wav-dir
DIR`` runs after loading the model: length-sorted batches of ``--max-batch-seconds`` padded
audio, decoding threads overlapped with the forward pass, atomic ``.pt`` outputs, manifest).
Reference: for each file, ``load_audio`` -> ``model([wav])`` -> ``torch.save`` of the
``(frames, dim)`` hidden states. Same model object, same threads, model loading excluded.
Throughput = audio seconds / wall seconds; target: ours >= 1.5x the loop.

The last stdout line is a JSON summary (read by ``benchmarks/run_all.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import median_times, peak_rss_mb  # noqa: E402

SAMPLE_RATE = 16000


def speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Seeded speech-like noise: low-passed noise, ~4 Hz syllabic envelope, short pauses.

    Returns a float32 array of ``round(seconds * 16000)`` samples in [-1, 1].
    """
    n = int(round(seconds * SAMPLE_RATE))
    noise = rng.standard_normal(n).astype(np.float32)
    kernel = np.hanning(9).astype(np.float32)
    voiced = np.convolve(noise, kernel / kernel.sum(), mode="same")  # ~ < 2 kHz emphasis
    t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
    rate = rng.uniform(3.0, 5.0)
    envelope = np.clip(np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.3)), 0, None) ** 2
    pauses = np.repeat(rng.random(int(np.ceil(seconds * 2))) > 0.2, SAMPLE_RATE // 2)[:n]
    if pauses.size < n:
        pauses = np.pad(pauses, (0, n - pauses.size), constant_values=True)
    wav = voiced * envelope * pauses + 0.003 * noise
    return (0.5 * wav / (np.abs(wav).max() + 1e-6)).astype(np.float32)


def write_synthetic_corpus(folder: Path, files: int, min_s: float, max_s: float, seed: int = 0) -> float:
    """Write ``files`` seeded speech-like recordings (FLAC / WAV alternately) into ``folder``.

    Returns the total duration in seconds.
    """
    import soundfile as sf

    rng = np.random.default_rng(seed)
    total = 0.0
    for i in range(files):
        seconds = float(rng.uniform(min_s, max_s))
        wav = speech_like(seconds, rng)
        sub = folder / f"spk{i % 10:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        if i % 2 == 0:
            sf.write(sub / f"utt{i:04d}.flac", wav, SAMPLE_RATE, subtype="PCM_16")
        else:
            sf.write(sub / f"utt{i:04d}.wav", wav, SAMPLE_RATE, subtype="PCM_16")
        total += wav.size / SAMPLE_RATE
    return total


def load_model(args, tmp: Path):
    import s3prl.hub as hub

    kwargs = json.loads(args.upstream_kwargs)
    name = args.upstream
    if args.builder:
        from test.regenerate_goldens import collect_builders

        builders, errors = collect_builders()
        if args.builder not in builders:
            raise SystemExit(f"unknown builder {args.builder!r}; known: {', '.join(sorted(builders))}")
        folder = tmp / "ckpt"
        folder.mkdir()
        name, path = builders[args.builder][1](folder)
        kwargs["ckpt"] = str(path)
    elif args.ckpt:
        kwargs["ckpt"] = args.ckpt
    if args.dtype != "fp32":
        kwargs["dtype"] = args.dtype
    model = hub.load(name, **kwargs).to(args.device).eval()
    return name, model


def plain_loop(model, jobs, out_dir: Path, device: str) -> float:
    """The reference: one file at a time. Returns the audio seconds processed."""
    from s3prl.util.audio import load_audio

    seconds = 0.0
    for job in jobs:
        wav = load_audio(job.source, SAMPLE_RATE)
        with torch.inference_mode():
            out = model([wav.to(device)])
        n = int(out["hidden_states_len"][0])
        dst = out_dir / job.rel.with_suffix(".pt")
        dst.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"hidden_states": [h[0, :n].float().cpu().clone() for h in out["hidden_states"]]}, dst)
        seconds += wav.numel() / SAMPLE_RATE
    return seconds


def ours(model, jobs, out_dir: Path, args) -> float:
    from s3prl.extract import extract_files

    report = extract_files(
        model, jobs, out_dir, device=args.device, max_batch_seconds=args.max_batch_seconds,
        num_workers=args.num_workers, overwrite=True, progress=False, log=None,
    )
    if report.failed:
        raise RuntimeError(f"extraction failed for {report.failed[:3]}")
    return report.audio_seconds


def bench_corpus(label: str, model, jobs, tmp: Path, args, repeats: int) -> dict:
    from s3prl.util.audio import load_audio

    out_a, out_b = tmp / f"{label}_ours", tmp / f"{label}_loop"
    # one warm-up forward so that lazy initialisation does not land on the first side timed
    with torch.inference_mode():
        model([load_audio(jobs[0].source).to(args.device)])
    seconds = {}

    def run(side):
        if side == "ours":
            seconds[side] = ours(model, jobs, out_a, args)
        else:
            seconds[side] = plain_loop(model, jobs, out_b, args.device)

    times = median_times({"ours": lambda: run("ours"), "loop": lambda: run("loop")}, repeats=repeats, warmup=0)
    audio_s = seconds["ours"]
    assert abs(seconds["loop"] - audio_s) < 1e-3 * max(1.0, audio_s), seconds
    # the two sides wrote the same numbers
    first = jobs[0].rel.with_suffix(".pt")
    a = torch.load(out_a / first, weights_only=True)["hidden_states"]
    b = torch.load(out_b / first, weights_only=True)["hidden_states"]
    max_diff = max(float((x - y).abs().max()) for x, y in zip(a, b))
    res = {
        "corpus": label, "files": len(jobs), "audio_seconds": round(audio_s, 2),
        "ours_s": round(times["ours"], 3), "loop_s": round(times["loop"], 3),
        "ours_audio_s_per_s": round(audio_s / times["ours"], 1),
        "loop_audio_s_per_s": round(audio_s / times["loop"], 1),
        "speedup": round(times["loop"] / times["ours"], 2),
        "max_abs_diff_first_file": max_diff,
    }
    print(
        f"{label:9s} {len(jobs):4d} files {audio_s:8.1f} s audio | extract_feat {res['ours_audio_s_per_s']:8.1f} "
        f"audio s/s ({times['ours']:.2f} s) | per-file loop {res['loop_audio_s_per_s']:8.1f} audio s/s "
        f"({times['loop']:.2f} s) | ratio {res['speedup']:.2f}x (target >= 1.5x) | "
        f"same outputs: max abs diff {max_diff:.2e}",
        flush=True,
    )
    shutil.rmtree(out_a, ignore_errors=True)
    shutil.rmtree(out_b, ignore_errors=True)
    return res


def gflop_per_audio_second(model, device: str) -> float:
    """Counted FLOPs (matmuls, convolutions, attention; FFTs are not counted) of a 10 s wav
    per audio second, in GFLOP; 0 for pure feature front ends."""
    from benchmarks.common import count_flops

    wav = (torch.randn(160000, generator=torch.Generator().manual_seed(0)) * 0.1).to(device)
    with torch.inference_mode():
        return round(count_flops(lambda: model([wav])) / 10 / 1e9, 3)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", default="fbank", help="hub entry (default fbank)")
    p.add_argument("--ckpt", help="checkpoint path/URL for the entry")
    p.add_argument("--builder", help="build a seeded reduced checkpoint with test/checkpoint_builders "
                   "(e.g. wav2vec2_base_reduced); sets --upstream and --ckpt")
    p.add_argument("--upstream-kwargs", default="{}", help="entry options as JSON")
    p.add_argument("--corpus", choices=["sample", "synthetic", "both"], default="both")
    p.add_argument("--files", type=int, default=500, help="synthetic files (default 500)")
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--max-seconds", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5, help="runs per side on the sample corpus")
    p.add_argument("--synthetic-repeats", type=int, default=1, help="runs per side on the synthetic corpus")
    p.add_argument("--max-batch-seconds", type=float, default=60.0)
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--tmp", help="work folder (default: a new temporary folder, removed at the end)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from s3prl.extract import jobs_from_dir

    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="s3prl_bench_extract_"))
    tmp.mkdir(parents=True, exist_ok=True)
    results = {"upstream": args.upstream, "device": args.device, "dtype": args.dtype, "threads": args.threads}
    try:
        name, model = load_model(args, tmp)
        results["upstream"] = name if not args.builder else f"{name} ({args.builder})"
        print(f"upstream {results['upstream']} on {args.device} ({args.dtype}), {args.threads} threads, "
              f"--max-batch-seconds {args.max_batch_seconds}, {args.num_workers} decoding threads", flush=True)
        cases = []
        if args.corpus in ("sample", "both"):
            jobs = jobs_from_dir(ROOT / "sample_speech")
            cases.append(bench_corpus("sample", model, jobs, tmp, args, args.repeats))
        if args.corpus in ("synthetic", "both"):
            corpus = tmp / "corpus"
            t0 = time.perf_counter()
            total = write_synthetic_corpus(corpus, args.files, args.min_seconds, args.max_seconds, args.seed)
            print(f"synthetic corpus: {args.files} files, {total:.0f} s of audio, written in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            cases.append(bench_corpus("synthetic", model, jobs_from_dir(corpus), tmp, args, args.synthetic_repeats))
        flops = gflop_per_audio_second(model, args.device)
        if flops:
            results["gflop_per_audio_s"] = flops
            for case in cases:
                case["ours_gflops"] = round(flops * case["ours_audio_s_per_s"], 1)
                case["loop_gflops"] = round(flops * case["loop_audio_s_per_s"], 1)
            print(f"model: {flops} GFLOP per audio second (matmuls/convolutions; 10 s wav) -> achieved "
                  + ", ".join(f"{c['corpus']} {c['ours_gflops']} GFLOP/s (loop {c['loop_gflops']})" for c in cases),
                  flush=True)
        results["cases"] = cases
        results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
