"""The command line: ``utility/extract_feat.py`` / ``s3prl-extract`` (:func:`main`).

Part of :mod:`s3prl.extract`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .distributed import Dist, merge_parts, part_path
from .jobs import jobs_from_dir, jobs_from_list, parse_layers
from .output import FORMATS, write_atomic
from .runner import Report, extract_files, extract_sample_speech

__all__ = ["main", "build_parser"]


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The ``utility/extract_feat.py`` / ``s3prl-extract`` argument parser."""
    p = argparse.ArgumentParser(
        prog="extract_feat.py",
        description="Extract the hidden states of an s3prl upstream. Without --wav-dir/--wav-list: "
        "OUTPUT_DIR/NAME.pt for the bundled sample speech (the golden format). With them: one "
        "output per utterance mirroring the input layout, plus OUTPUT_DIR/manifest.jsonl.",
    )
    p.add_argument("name", metavar="NAME", help="upstream entry (see s3prl.hub.options())")
    p.add_argument("output_dir", metavar="OUTPUT_DIR", type=Path)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--wav-dir", type=Path, help="extract every .wav/.flac under this folder")
    src.add_argument("--wav-list", type=Path, help="text file: one audio path per line")
    p.add_argument(
        "--root",
        type=Path,
        help="with --wav-list: folder that relative paths are read from and outputs mirror "
        "(default: relative to the current folder, mirrored from the deepest common folder)",
    )
    p.add_argument("--layers", help="hidden states to keep, e.g. 0,3,-1 (default: all)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--ckpt", help="checkpoint path or URL (default: the entry's official one)")
    p.add_argument("--refresh", action="store_true", help="download the checkpoint again")
    p.add_argument(
        "--upstream-kwargs", default="{}", help='JSON dict of entry options, e.g. \'{"hidden_size": 32}\''
    )
    p.add_argument("--max-batch-seconds", type=float, default=60.0,
                   help="padded audio seconds per forward pass (default 60)")
    p.add_argument("--chunk-seconds", type=float,
                   help="run files longer than 1.5x this in chunks of this many seconds (long recordings)")
    p.add_argument("--chunk-overlap", type=float, default=2.0,
                   help="seconds of context on each side of a chunk (default 2)")
    p.add_argument("--format", choices=sorted(FORMATS), default="pt", help="output format (default pt)")
    p.add_argument("--fp16", action="store_true", help="store float16 instead of float32")
    p.add_argument("--overwrite", action="store_true", help="recompute existing outputs")
    p.add_argument("--num-workers", type=int, default=2, help="audio-decoding threads (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _load_model(args, local_rank: int = 0):
    import torch

    from .. import hub

    try:
        kwargs = json.loads(args.upstream_kwargs)
    except ValueError as err:
        raise ValueError(f"--upstream-kwargs is not valid JSON: {err}") from None
    if not isinstance(kwargs, dict):
        raise ValueError("--upstream-kwargs must be a JSON object, e.g. '{\"hidden_size\": 32}'")
    if args.ckpt:
        kwargs["ckpt"] = args.ckpt
    if args.refresh:
        kwargs["refresh"] = True
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        device = f"cuda:{local_rank}"  # one GPU per process under torchrun
    model = hub.load(args.name, **kwargs)
    return model.to(device).eval(), device




def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 a file failed, 2 bad usage).

    Under ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1) the corpus is sharded: every
    rank plans the same length-sorted batches and runs every N-th one, writing its own
    outputs; rank 0 then merges the manifest and prints the summary. Rerunning after a rank
    died computes only the missing outputs. Sample-speech mode runs on rank 0 only.
    """
    parser = build_parser()
    args = parser.parse_args(argv)  # before any torch import: --help and usage errors are quick
    from ..util.audio import sample_speech_files
    if args.root is not None and args.wav_list is None:
        parser.error("--root only applies to --wav-list")
    if args.wav_dir is None and args.wav_list is None:
        corpus_only = [opt for opt, used in [
            ("--format", args.format != "pt"), ("--fp16", args.fp16),
            ("--chunk-seconds", args.chunk_seconds is not None),
        ] if used]
        if corpus_only:
            parser.error(f"{', '.join(corpus_only)} can only be used with --wav-dir or --wav-list "
                         "(the sample-speech output is always the golden .pt format)")
    dist = Dist.from_env()
    try:
        layers = parse_layers(args.layers)
        if args.wav_dir is not None:
            jobs = jobs_from_dir(args.wav_dir)
        elif args.wav_list is not None:
            jobs = jobs_from_list(args.wav_list, args.root)
        else:
            jobs = None
        t0 = time.perf_counter()
        model, device = _load_model(args, dist.local_rank)
        load_s = time.perf_counter() - t0
        if jobs is None:
            if dist.rank != 0:
                return 0
            path, written, seconds, wall = extract_sample_speech(
                model, args.name, args.output_dir, layers=layers, device=device,
                overwrite=args.overwrite,
            )
            n_files = len(sample_speech_files())
            report = Report(written=n_files if written else 0, skipped=0 if written else n_files,
                            audio_seconds=seconds if written else 0.0, wall_seconds=wall)
            print(f"{'wrote' if written else 'exists, skipped (use --overwrite)'}: {path}")
        else:
            dist.init()
            t1 = time.perf_counter()
            report = extract_files(
                model, jobs, args.output_dir, layers=layers, device=device,
                max_batch_seconds=args.max_batch_seconds, fmt=args.format, fp16=args.fp16,
                overwrite=args.overwrite, num_workers=args.num_workers, progress=not args.quiet,
                manifest=not dist.active, rank=dist.rank, world_size=dist.world_size,
                chunk_seconds=args.chunk_seconds, chunk_overlap=args.chunk_overlap,
            )
            if dist.active:
                part = {
                    "written": report.written, "skipped": report.skipped,
                    "failed": report.failed, "audio_seconds": report.audio_seconds,
                    "records": report.records,
                }
                write_atomic(part_path(args.output_dir, dist.rank, dist.world_size),
                             lambda d, f: f.write(json.dumps(d).encode("utf-8")), part)
                dist.barrier()
                own_failed = bool(report.failed)
                if dist.rank != 0:
                    dist.close()
                    return 1 if own_failed else 0
                report = merge_parts(args.output_dir, dist.world_size, jobs, args.format,
                                      time.perf_counter() - t1)
                dist.close()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        dist.close()
        return 2
    print(f"model loaded in {load_s:.2f} s on {device}")
    name = args.name if not dist.active else f"{args.name} ({dist.world_size} ranks)"
    print(report.summary(name, args.output_dir))
    if report.failed:
        print(f"{len(report.failed)} file(s) failed:", file=sys.stderr)
        for src, reason in report.failed:
            print(f"  {src}: {reason}", file=sys.stderr)
        return 1
    return 0

