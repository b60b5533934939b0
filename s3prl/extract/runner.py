"""The extraction loop: decode (in threads), batch, run the upstream, write, report.

Part of :mod:`s3prl.extract`: :func:`extract_files` (corpus mode) and
:func:`extract_sample_speech` (the golden file of the bundled sample speech).
"""

from __future__ import annotations

import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from .batching import plan_batches
from .chunking import chunk_geometry, forward_chunked
from .jobs import SAMPLE_RATE, BadAudioFile, Job, audio_duration, normalize_layers
from .manifest import write_manifest
from .output import FORMATS, WRITERS, _write_pt, write_atomic

__all__ = ["Report", "extract_files", "extract_sample_speech"]


@dataclass
class Report:
    """Outcome of one extraction run.

    Attributes:
        written: outputs written by this run.
        skipped: outputs that already existed.
        failed: ``(source, reason)`` of every file that was reported and skipped.
        audio_seconds: duration of the audio extracted by this run (written files).
        wall_seconds: wall-clock time of the extraction (model loading excluded).
        records: manifest lines of the written utterances.
    """

    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    records: list[dict] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.written + self.skipped + len(self.failed)

    def summary(self, name: str, out_dir: Path) -> str:
        """One line: files, audio seconds, wall seconds, real-time factor."""
        if self.audio_seconds > 0 and self.wall_seconds > 0:
            rtf = self.wall_seconds / self.audio_seconds
            speed = f"real-time factor {rtf:.4f} ({1 / rtf:.1f}x faster than real time)"
        else:
            speed = "real-time factor n/a (no audio extracted)"
        return (
            f"{name}: {self.total} files: {self.written} written, {self.skipped} skipped, "
            f"{len(self.failed)} failed | {self.audio_seconds:.2f} s of audio in "
            f"{self.wall_seconds:.2f} s wall | {speed} | output: {out_dir}"
        )


def _fail(report: Report, job: Job, reason: str, log) -> None:
    report.failed.append((str(job.source), reason))
    if log is not None:
        print(f"skipped {job.source}: {reason}", file=log)


def extract_files(
    model,
    jobs: Sequence[Job],
    out_dir: str | os.PathLike,
    *,
    layers: Sequence[int] | None = None,
    device=None,
    max_batch_seconds: float = 60.0,
    fmt: str = "pt",
    fp16: bool = False,
    overwrite: bool = False,
    num_workers: int = 2,
    progress: bool = True,
    log=sys.stderr,
    manifest: bool = True,
    rank: int = 0,
    world_size: int = 1,
    chunk_seconds: float | None = None,
    chunk_overlap: float = 2.0,
) -> Report:
    """Extract the hidden states of ``jobs`` with ``model``, one output file per utterance.

    This is the whole corpus mode of ``utility/extract_feat.py`` (a future sharded run
    calls it on its share of the jobs).

    Args:
        model: an upstream (``UpstreamBase``), already on ``device``; put in eval mode.
        jobs: the utterances (:func:`jobs_from_dir`, :func:`jobs_from_list`).
        out_dir: output root; outputs mirror ``job.rel``.
        layers: hidden-state indices to keep (negative from the end); default all.
        device: where the wavs go (default: the model's device).
        max_batch_seconds: limit on padded audio seconds per forward pass.
        fmt: ``"pt"``, ``"npy"`` or ``"safetensors"`` (see the module docstring).
        fp16: store float16 instead of float32.
        overwrite: recompute outputs that already exist (default: skip them).
        num_workers: audio-decoding threads (0: decode in the main thread).
        progress: show a ``tqdm`` progress bar on stderr.
        log: where failures are reported (``None``: silent).
        manifest: (re)write ``out_dir/manifest.jsonl`` for every job with an output.
        rank, world_size: this process's share of a sharded run. Every rank plans the
            same batches from all ``jobs`` (durations come from file headers) and runs
            batches ``rank, rank + world_size, ...``, so each utterance is computed in
            the same batch as in a single-process run. Skipped and unplannable files are
            counted by rank 0 only.
        chunk_seconds: files longer than 1.5 times this run in chunks of this many seconds
            (see :func:`forward_chunked`), stitched so that frame k still starts at sample
            ``k * downsample_rate``; ``None``: whole files.
        chunk_overlap: seconds of context added on each side of a chunk.

    Returns:
        A :class:`Report` (this rank's share).

    Raises:
        ValueError: bad ``fmt``/``layers``, or ``fmt="npy"`` with kept layers of different dims.
    """
    import torch

    from ..util.audio import load_audio

    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {sorted(FORMATS)}, got {fmt!r}")
    out_dir = Path(out_dir)
    keep = normalize_layers(layers, model.num_layers)
    if fmt == "npy" and len({model.hidden_sizes[k] for k in keep}) > 1:
        raise ValueError(
            "--format npy stores one (layers, frames, dim) array, but the kept layers have dims "
            f"{[model.hidden_sizes[k] for k in keep]}: choose layers of one dim with --layers, "
            "or use --format pt / safetensors"
        )
    if device is None:
        device = model._model_device() if hasattr(model, "_model_device") else None
        device = device or "cpu"
    receptive_field = int(getattr(model, "receptive_field", 1))
    downsample_rate = int(model.downsample_rate)
    writer = WRITERS[fmt]
    model.eval()
    report = Report()
    start = time.perf_counter()

    # 1. plan: skip existing outputs, read durations, catch unreadable / too-short files
    todo: list[Job] = []
    durations: list[float] = []
    plan_report = report if rank == 0 else Report()
    plan_log = log if rank == 0 else None
    for job in jobs:
        if not overwrite and job.output(out_dir, fmt).is_file():
            plan_report.skipped += 1
            continue
        try:
            seconds = audio_duration(job.source)
        except BadAudioFile as err:
            _fail(plan_report, job, str(err), plan_log)
            continue
        except Exception as err:  # noqa: BLE001 - libsndfile raises several types
            _fail(plan_report, job, f"cannot read audio: {err}", plan_log)
            continue
        if math.ceil(seconds * SAMPLE_RATE) < receptive_field:
            _fail(plan_report, job, _too_short(seconds * SAMPLE_RATE, receptive_field), plan_log)
            continue
        todo.append(job)
        durations.append(seconds)
    if chunk_seconds is not None:
        chunk_geometry(model, chunk_seconds, chunk_overlap)  # validate early
        long = {i for i, d in enumerate(durations) if d > 1.5 * chunk_seconds}
    else:
        long = set()
    short = [i for i in range(len(todo)) if i not in long]
    batches = [[short[j] for j in b] for b in plan_batches([durations[i] for i in short], max_batch_seconds)]
    batches += [[i] for i in sorted(long, key=lambda i: (-durations[i], i))]  # one file each
    batches = batches[rank::world_size]

    from tqdm import tqdm

    bar = tqdm(
        total=sum(len(b) for b in batches), unit="file", disable=not progress or rank != 0,
        file=sys.stderr, dynamic_ncols=True,
    )

    def load(i: int):
        try:
            return load_audio(todo[i].source, SAMPLE_RATE)
        except Exception as err:  # noqa: BLE001
            return err

    pool = ThreadPoolExecutor(max_workers=num_workers) if num_workers > 0 else None

    def submit(batch: list[int]):
        if pool is None:
            return [load(i) for i in batch]
        return pool.map(load, batch)

    try:
        pending = submit(batches[0]) if batches else None
        for b, batch in enumerate(batches):
            loaded = list(pending)
            pending = submit(batches[b + 1]) if b + 1 < len(batches) else None
            ok: list[tuple[int, torch.Tensor]] = []
            for i, wav in zip(batch, loaded):
                if isinstance(wav, Exception):
                    _fail(report, todo[i], f"cannot read audio: {wav}", log)
                elif wav.numel() < receptive_field:
                    _fail(report, todo[i], _too_short(wav.numel(), receptive_field), log)
                else:
                    ok.append((i, wav))
            if len(ok) == 1 and ok[0][0] in long:
                results = _forward_long(model, ok[0], keep, device, report, todo, log,
                                        chunk_seconds, chunk_overlap, max_batch_seconds)
            else:
                results = _forward(model, ok, keep, device, report, todo, log)
            for i, hidden, frames in results:
                job = todo[i]
                hidden = [h.half() if fp16 else h for h in hidden]
                record = {
                    "hidden_states": hidden,
                    "layers": keep,
                    "downsample_rate": downsample_rate,
                    "sample_rate": SAMPLE_RATE,
                    "source": job.rel.as_posix(),
                }
                final = job.output(out_dir, fmt)
                write_atomic(final, writer, record)
                report.written += 1
                report.audio_seconds += durations[i]
                report.records.append(
                    {
                        "utterance": job.utterance,
                        "source": str(job.source),
                        "seconds": round(durations[i], 4),
                        "frames": frames,
                        "output": final.relative_to(out_dir).as_posix(),
                    }
                )
            bar.update(len(batch))
            bar.set_postfix(audio_s=f"{report.audio_seconds:.0f}")
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    report.wall_seconds = time.perf_counter() - start
    if manifest:
        write_manifest(out_dir, jobs, report.records, fmt)
    return report


def _too_short(samples: float, receptive_field: int) -> str:
    return (
        f"too short: {int(samples)} samples at 16 kHz, fewer than the upstream's receptive "
        f"field of {receptive_field} samples ({receptive_field / 16:.1f} ms)"
    )


def _forward(model, items, keep, device, report, todo, log) -> Iterator[tuple[int, list, int]]:
    """Yield ``(index, [(frames, dim) cpu float32 per kept layer], frames)`` for ``items``.

    Runs the batch at once; if that raises (a bad wav, out of memory), runs each wav
    alone and reports the ones that still fail.
    """
    import torch

    if not items:
        return
    try:
        with torch.inference_mode():
            out = model([w.to(device) for _, w in items])
        groups = [(items, out)]
    except (ValueError, TypeError, RuntimeError) as err:
        if len(items) == 1:
            _fail(report, todo[items[0][0]], f"upstream error: {err}", log)
            return
        groups = []
        for item in items:
            try:
                with torch.inference_mode():
                    groups.append(([item], model([item[1].to(device)])))
            except (ValueError, TypeError, RuntimeError) as err1:
                _fail(report, todo[item[0]], f"upstream error: {err1}", log)
    for group, out in groups:
        lens = out["hidden_states_len"].tolist()
        # one device-to-host copy per kept layer and batch (not per wav and layer); the clone
        # gives each wav its own storage, not a view that keeps the whole batch alive
        hs = [out["hidden_states"][k].float().cpu() for k in keep]
        for row, (i, _) in enumerate(group):
            n = int(lens[row])
            yield i, [h[row, :n].clone() for h in hs], n


def _forward_long(model, item, keep, device, report, todo, log, chunk_seconds, overlap, max_batch_seconds):
    i, wav = item
    try:
        hidden, frames = forward_chunked(model, wav, keep, device, chunk_seconds, overlap, max_batch_seconds)
    except (ValueError, TypeError, RuntimeError) as err:
        _fail(report, todo[i], f"upstream error: {err}", log)
        return
    yield i, hidden, frames


def extract_sample_speech(
    model,
    name: str,
    out_dir: str | os.PathLike,
    *,
    layers: Sequence[int] | None = None,
    device=None,
    overwrite: bool = False,
) -> tuple[Path, bool, float, float]:
    """Write ``out_dir/<name>.pt``: hidden states of the bundled sample speech.

    The content is exactly :func:`s3prl.util.extract.hidden_states_of_files` on
    :func:`s3prl.util.audio.sample_speech_files` (the golden format of
    ``test/sample_hidden_states/``).

    Returns:
        ``(path, written, audio_seconds, wall_seconds)``; ``written`` is False when the file
        existed and ``overwrite`` is False.
    """
    from ..util.audio import sample_speech_files
    from ..util.extract import hidden_states_of_files

    path = Path(out_dir) / f"{name}.pt"
    files = sample_speech_files()
    seconds = sum(audio_duration(f) for f in files)
    if path.is_file() and not overwrite:
        return path, False, seconds, 0.0
    if device is None:
        device = (model._model_device() if hasattr(model, "_model_device") else None) or "cpu"
    keep = None if layers is None else normalize_layers(layers, model.num_layers)
    start = time.perf_counter()
    result = hidden_states_of_files(model, files, device=device, layers=keep)
    wall = time.perf_counter() - start
    write_atomic(path, _write_pt, result)
    return path, True, seconds, wall
