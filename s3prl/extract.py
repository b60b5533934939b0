"""Hidden-state extraction for audio files and whole corpora (``utility/extract_feat.py``).

Two modes, one command (``python utility/extract_feat.py`` or the ``s3prl-extract``
console script)::

    # the regression reference: OUTPUT_DIR/NAME.pt for the bundled sample speech
    python utility/extract_feat.py fbank result/

    # a corpus: one output file per utterance, mirroring the folder layout
    python utility/extract_feat.py hubert_base feats/ --wav-dir LibriSpeech/dev-clean --layers 0,6,-1

Sample-speech mode writes the golden format of
:func:`s3prl.util.extract.hidden_states_of_files` (``test/sample_hidden_states/``).

Corpus mode writes, for ``DIR/sub/utt.flac``, ``OUTPUT_DIR/sub/utt.pt`` holding::

    {"hidden_states": [(frames, dim) tensor per kept layer],   # float32 (float16 with --fp16), cpu
     "layers": [int, ...],          # indices of the kept hidden states (non-negative)
     "downsample_rate": int,        # input samples (16 kHz) per frame: frame k starts at k * rate
     "sample_rate": 16000,
     "source": "sub/utt.flac"}      # the input, relative to the input root

``--format npy`` writes ``utt.npy``: one ``(kept layers, frames, dim)`` float array (all
kept layers must have the same dim); ``--format safetensors`` writes ``utt.safetensors``
with tensors ``hidden_state.<layer>`` and the other fields as string metadata. Every run
also writes ``OUTPUT_DIR/manifest.jsonl``: one JSON line per utterance with
``utterance`` (relative path without suffix), ``source``, ``seconds``, ``frames`` and
``output`` (relative to OUTPUT_DIR).

Audio is decoded with ``soundfile``, mixed down to mono and resampled to 16 kHz with
``soxr`` (:func:`s3prl.util.audio.load_audio`). Files are sorted by duration and grouped
into batches of at most ``--max-batch-seconds`` of *padded* audio (batch size times the
longest file), so one long file never shares a batch that would not fit; a file longer
than the limit runs alone. Decoding of the next batch overlaps with the forward pass of
the current one (``--num-workers`` threads). ``--chunk-seconds`` runs long recordings in
overlapping chunks (:func:`forward_chunked`).

Under ``torchrun --nproc_per_node N`` every rank plans the same batches and runs every N-th
one; rank 0 merges the manifest and prints the summary (see :func:`main`).

Resumable: outputs that already exist are skipped (``--overwrite`` recomputes them); each
output is written to a temporary name in its own folder and renamed with
:func:`os.replace`, so a killed run never leaves a partial file at a final path. A file
that cannot be read or is shorter than the upstream's receptive field is reported on
stderr and skipped, and the exit status is 1. A summary (files, audio seconds, wall
seconds, real-time factor) is printed to stdout at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

AUDIO_SUFFIXES = (".wav", ".flac")
FORMATS = {"pt": ".pt", "npy": ".npy", "safetensors": ".safetensors"}
MANIFEST_NAME = "manifest.jsonl"
SAMPLE_RATE = 16000

__all__ = [
    "Job",
    "Report",
    "main",
    "build_parser",
    "parse_layers",
    "find_audio_files",
    "jobs_from_dir",
    "jobs_from_list",
    "plan_batches",
    "extract_files",
    "extract_sample_speech",
    "forward_chunked",
    "load_output",
    "write_atomic",
]


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Job:
    """One utterance to extract.

    Attributes:
        source: the audio file.
        rel: its path relative to the input root (``sub/utt.flac``); the output is
            ``OUTPUT_DIR / rel`` with the format's suffix.
    """

    source: Path
    rel: Path

    def output(self, out_dir: Path, fmt: str = "pt") -> Path:
        """The final output path of this utterance in ``out_dir``."""
        return out_dir / self.rel.with_suffix(FORMATS[fmt])

    @property
    def utterance(self) -> str:
        """Relative path without suffix, with ``/`` separators (the manifest key)."""
        return self.rel.with_suffix("").as_posix()


def find_audio_files(root: str | os.PathLike) -> list[Path]:
    """Every ``.wav``/``.flac`` file under ``root`` (recursively, case-insensitive suffix), sorted.

    Raises:
        ValueError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"--wav-dir {root} is not a folder")
    return sorted(
        p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
    )


def _check_unique(jobs: list[Job]) -> list[Job]:
    seen: dict[str, Path] = {}
    for job in jobs:
        key = job.utterance
        if key in seen:
            raise ValueError(
                f"{seen[key]} and {job.source} would write the same output {key}.*: "
                "rename one of them"
            )
        seen[key] = job.source
    return jobs


def jobs_from_dir(root: str | os.PathLike) -> list[Job]:
    """One :class:`Job` per audio file under ``root``, outputs mirroring the relative paths.

    Raises:
        ValueError: ``root`` is not a folder, or two files differ only by suffix
            (``a.wav`` and ``a.flac``) and would share an output.
    """
    root = Path(root)
    return _check_unique([Job(p, p.relative_to(root)) for p in find_audio_files(root)])


def jobs_from_list(list_file: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Job]:
    """Jobs from a text file with one audio path per line (blank lines and ``#`` comments skipped).

    Relative paths are taken relative to ``root`` when given, else to the current folder.
    Outputs mirror each file's path relative to ``root`` (default: the deepest folder that
    contains every listed file).

    Raises:
        ValueError: the list cannot be read or is empty, a file is outside ``root``, or two
            files would share an output.
    """
    list_file = Path(list_file)
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ValueError(f"cannot read --wav-list {list_file}: {err}") from err
    base = Path(root) if root is not None else Path.cwd()
    files = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        files.append(p if p.is_absolute() else base / p)
    if not files:
        raise ValueError(f"--wav-list {list_file} lists no files")
    files = [Path(os.path.abspath(p)) for p in files]
    if root is not None:
        top = Path(os.path.abspath(root))
    else:
        top = Path(os.path.commonpath([str(p.parent) for p in files]))
    jobs = []
    for p in files:
        try:
            rel = p.relative_to(top)
        except ValueError:
            raise ValueError(f"{p} (from --wav-list {list_file}) is not under --wav-dir {top}") from None
        jobs.append(Job(p, rel))
    return _check_unique(jobs)


def parse_layers(text: str | None) -> list[int] | None:
    """``"0,3,-1"`` -> ``[0, 3, -1]``; ``None``/``""``/``"all"`` -> ``None`` (every layer).

    Raises:
        ValueError: an item is not an integer.
    """
    if text is None or text.strip().lower() in ("", "all"):
        return None
    out = []
    for item in text.split(","):
        try:
            out.append(int(item))
        except ValueError:
            raise ValueError(f"--layers: {item.strip()!r} is not a layer index (e.g. 0,3,-1)") from None
    return out


def normalize_layers(layers: Sequence[int] | None, num_layers: int) -> list[int]:
    """Turn layer indices (negative counts from the end) into ``0..num_layers-1``.

    Raises:
        ValueError: an index is out of range for an upstream with ``num_layers`` hidden states.
    """
    if layers is None:
        return list(range(num_layers))
    out = []
    for k in layers:
        if not -num_layers <= k < num_layers:
            raise ValueError(
                f"--layers: index {k} is out of range: this upstream has {num_layers} hidden "
                f"states (0..{num_layers - 1}, or -{num_layers}..-1)"
            )
        out.append(k % num_layers)
    return out


# --------------------------------------------------------------------------- writing


def _tmp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def write_atomic(final: Path, write: Callable, data) -> None:
    """Write ``data`` to ``final`` through a temporary file in the same folder + ``os.replace``.

    ``write(data, fileobj)`` does the serialisation. If it raises (or the process is
    killed), no file appears at ``final``; the temporary file is removed on exceptions.
    Temporary files left by killed runs (``.NAME.<pid>.tmp``) are removed before writing.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*.tmp"):
        try:
            stale.unlink()
        except OSError:
            pass
    tmp = _tmp_name(final)
    try:
        with open(tmp, "wb") as f:
            write(data, f)
            f.flush()
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def _write_pt(record: dict, f) -> None:
    import torch

    torch.save(record, f)


def _write_npy(record: dict, f) -> None:
    import numpy as np
    import torch

    np.save(f, torch.stack(record["hidden_states"]).numpy())


def _write_safetensors(record: dict, f) -> None:
    from safetensors.torch import save

    tensors = {
        f"hidden_state.{k}": h.contiguous() for k, h in zip(record["layers"], record["hidden_states"])
    }
    meta = {
        "layers": ",".join(str(k) for k in record["layers"]),
        "downsample_rate": str(record["downsample_rate"]),
        "sample_rate": str(record["sample_rate"]),
        "source": record["source"],
    }
    f.write(save(tensors, metadata=meta))


WRITERS = {"pt": _write_pt, "npy": _write_npy, "safetensors": _write_safetensors}


def _frames_of_output(path: Path, fmt: str) -> int:
    """Frames stored in an existing output (used to rebuild manifest lines)."""
    if fmt == "pt":
        import torch

        return int(torch.load(path, weights_only=True, map_location="cpu")["hidden_states"][0].shape[0])
    if fmt == "npy":
        import numpy as np

        return int(np.load(path, mmap_mode="r").shape[1])
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        first = sorted(f.keys())[0]
        return int(f.get_slice(first).get_shape()[0])


def load_output(path: str | os.PathLike) -> dict:
    """Read one per-utterance output of any ``--format`` back as the ``.pt`` dict.

    Returns:
        A dict with ``hidden_states`` (list of ``(frames, dim)`` tensors), ``layers``,
        ``downsample_rate``, ``sample_rate`` and ``source``. A ``.npy`` file stores only the
        array: there ``layers`` and the rates are ``None`` and ``source`` is empty (see the
        manifest).

    Raises:
        ValueError: unknown suffix.
    """
    import torch

    path = Path(path)
    if path.suffix == ".pt":
        return torch.load(path, weights_only=True, map_location="cpu")
    if path.suffix == ".npy":
        import numpy as np

        arr = torch.from_numpy(np.load(path))
        return {"hidden_states": list(arr.unbind(0)), "layers": None, "downsample_rate": None,
                "sample_rate": None, "source": ""}
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            layers = [int(k) for k in meta["layers"].split(",")]
            hidden = [f.get_tensor(f"hidden_state.{k}") for k in layers]
        return {"hidden_states": hidden, "layers": layers,
                "downsample_rate": int(meta["downsample_rate"]),
                "sample_rate": int(meta["sample_rate"]), "source": meta.get("source", "")}
    raise ValueError(f"{path}: not an extract_feat output (.pt, .npy or .safetensors)")


# --------------------------------------------------------------------------- batching


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


def _duration(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    if info.samplerate <= 0:
        raise RuntimeError(f"{path}: sample rate {info.samplerate}")
    return info.frames / info.samplerate


# --------------------------------------------------------------------------- extraction


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

    from .util.audio import load_audio

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
            seconds = _duration(job.source)
        except Exception as err:  # noqa: BLE001 - libsndfile raises several types
            _fail(plan_report, job, f"cannot read audio: {err}", plan_log)
            continue
        if math.ceil(seconds * SAMPLE_RATE) < receptive_field:
            _fail(plan_report, job, _too_short(seconds * SAMPLE_RATE, receptive_field), plan_log)
            continue
        todo.append(job)
        durations.append(seconds)
    if chunk_seconds is not None:
        _chunk_geometry(model, chunk_seconds, chunk_overlap)  # validate early
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
        hs = out["hidden_states"]
        for row, (i, _) in enumerate(group):
            n = int(lens[row])
            yield i, [hs[k][row, :n].float().cpu().clone() for k in keep], n


def _chunk_geometry(model, chunk_seconds: float, overlap_seconds: float) -> tuple[int, int]:
    """``(core, context)`` in samples, both multiples of the stride.

    Raises:
        ValueError: the chunk is shorter than the receptive field or the overlap is negative.
    """
    stride = int(model.downsample_rate)
    rf = int(getattr(model, "receptive_field", 1))
    core = int(chunk_seconds * SAMPLE_RATE) // stride * stride
    if core < max(rf, stride):
        raise ValueError(
            f"--chunk-seconds {chunk_seconds} is shorter than the upstream's receptive field "
            f"({rf} samples, {rf / SAMPLE_RATE:.3f} s)"
        )
    if overlap_seconds < 0:
        raise ValueError(f"--chunk-overlap must be >= 0, got {overlap_seconds}")
    context = math.ceil(overlap_seconds * SAMPLE_RATE / stride) * stride
    # frames near a chunk's right edge need rf - stride samples past it
    context = max(context, math.ceil(max(rf - stride, 0) / stride) * stride)
    return core, context


def forward_chunked(
    model, wav, layers: Sequence[int], device, chunk_seconds: float, overlap_seconds: float = 2.0,
    max_batch_seconds: float = 60.0,
) -> tuple[list, int]:
    """Hidden states of one long wav, computed in overlapping chunks and stitched.

    The wav is cut into cores of ``chunk_seconds`` (a multiple of the stride; the last core
    takes the remainder, up to 1.5 chunks); each core runs with ``overlap_seconds`` of
    context on both sides (at least the receptive field), several chunks per forward pass
    within ``max_batch_seconds``. From a chunk starting at sample ``a``, frame ``j`` is global
    frame ``a / stride + j``; each core keeps its own frames, so frame ``k`` of the result
    starts at sample ``k * downsample_rate`` and the frame count equals a whole-file pass for
    frame rules of the form ``floor((samples - field) / stride) + 1``. Models whose frames see
    more than the context (self-attention over the whole input, per-utterance normalisation
    or CMVN) give an approximation of the whole-file result; upstreams with a finite
    receptive field inside the context give the same frames.

    Args:
        model: an upstream on ``device``.
        wav: 1-D float tensor (16 kHz) of ``T`` samples.
        layers: non-negative hidden-state indices to keep.

    Returns:
        ``(hidden_states, frames)``: a list of ``(frames, dim)`` cpu float32 tensors.

    Raises:
        ValueError: bad chunk settings, or a chunk gave fewer frames than its core needs.
    """
    import torch

    stride = int(model.downsample_rate)
    core, context = _chunk_geometry(model, chunk_seconds, overlap_seconds)
    total = wav.numel()
    windows = []  # (a, b, s, e): chunk [a, b) samples, core [s, e)
    s = 0
    while s < total:
        e = s + core
        if total - e < core // 2:
            e = total
        windows.append((max(0, s - context), min(total, e + context), s, e))
        s = e
    per_batch = max(1, int(max_batch_seconds * SAMPLE_RATE // (core + 2 * context)))
    # One preallocated (capacity, dim) buffer per kept layer, filled chunk by chunk: large
    # single allocations go back to the OS when freed, where thousands of chunk-sized pieces
    # fragment the heap (a 20-minute file kept 3x its output size resident that way).
    capacity = total // stride + 1
    buffers: list = []
    frames = 0
    for start in range(0, len(windows), per_batch):
        group = windows[start: start + per_batch]
        with torch.inference_mode():
            out = model([wav[a:b].to(device) for a, b, _, _ in group])
        lens = out["hidden_states_len"].tolist()
        if not buffers:
            buffers = [
                torch.empty(capacity, out["hidden_states"][layer].shape[-1]) for layer in layers
            ]
        for row, (a, b, s, e) in enumerate(group):
            first = (s - a) // stride
            last = lens[row] if e == total else (e - a) // stride
            if last > lens[row] or first > last or a // stride + first != frames:
                raise ValueError(
                    f"chunk [{a}, {b}) samples gave {lens[row]} frames, fewer than its core "
                    f"[{s}, {e}) needs: raise --chunk-overlap"
                )
            if frames + last - first > capacity:
                raise ValueError(f"chunks gave more than {capacity} frames for {total} samples")
            for buf, layer in zip(buffers, layers):
                buf[frames: frames + last - first] = out["hidden_states"][layer][row, first:last]
            frames += last - first
        del out
    hidden = []
    for k in range(len(buffers)):  # compact copies, one layer at a time
        hidden.append(buffers[k][:frames].clone())
        buffers[k] = None
    return hidden, frames


def _forward_long(model, item, keep, device, report, todo, log, chunk_seconds, overlap, max_batch_seconds):
    i, wav = item
    try:
        hidden, frames = forward_chunked(model, wav, keep, device, chunk_seconds, overlap, max_batch_seconds)
    except (ValueError, TypeError, RuntimeError) as err:
        _fail(report, todo[i], f"upstream error: {err}", log)
        return
    yield i, hidden, frames


def write_manifest(out_dir: Path, jobs: Sequence[Job], records: Sequence[dict], fmt: str) -> Path:
    """(Re)write ``out_dir/manifest.jsonl``: one line per job whose output exists, sorted.

    Lines of earlier runs are kept; an output without a line (a run killed after the
    rename) gets one by reading the output's frame count.
    """
    path = out_dir / MANIFEST_NAME
    known: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                known[rec["utterance"]] = rec
            except (ValueError, KeyError, TypeError):
                continue  # a torn line: rebuilt below
    for rec in records:
        known[rec["utterance"]] = rec
    lines = []
    for job in jobs:
        final = job.output(out_dir, fmt)
        if not final.is_file():
            continue
        rec = known.get(job.utterance)
        rel_out = final.relative_to(out_dir).as_posix()
        if rec is None or rec.get("output") != rel_out:
            try:
                seconds = round(_duration(job.source), 4)
            except Exception:  # noqa: BLE001
                seconds = None
            rec = {
                "utterance": job.utterance,
                "source": str(job.source),
                "seconds": seconds,
                "frames": _frames_of_output(final, fmt),
                "output": rel_out,
            }
        lines.append(json.dumps(rec, sort_keys=True))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda text, f: f.write(text.encode("utf-8")), "".join(s + "\n" for s in lines))
    return path


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
    from .util.audio import sample_speech_files
    from .util.extract import hidden_states_of_files

    path = Path(out_dir) / f"{name}.pt"
    files = sample_speech_files()
    seconds = sum(_duration(f) for f in files)
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

    from . import hub

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


# --------------------------------------------------------------------------- torchrun


@dataclass
class _Dist:
    """This process's place in a ``torchrun`` job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> _Dist:
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def init(self) -> None:
        # Only barriers run between ranks (results go through files), so the CPU "gloo"
        # backend serves GPU runs too; the long timeout lets ranks finish their shares
        # at different times. torchrun stops the other ranks if one dies.
        import datetime

        import torch.distributed as dist

        if self.active and not dist.is_initialized():
            dist.init_process_group("gloo", timeout=datetime.timedelta(days=7))

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _part_path(out_dir: Path, rank: int, world_size: int) -> Path:
    return out_dir / f".extract-part-{rank}-of-{world_size}.json"


def _merge_parts(out_dir: Path, world_size: int, jobs, fmt: str, wall: float) -> Report:
    """Rank 0: sum the ranks' reports (part files) and write the merged manifest."""
    total = Report()
    for r in range(world_size):
        part = _part_path(out_dir, r, world_size)
        data = json.loads(part.read_text(encoding="utf-8"))
        total.written += data["written"]
        total.skipped += data["skipped"]
        total.failed += [tuple(f) for f in data["failed"]]
        total.audio_seconds += data["audio_seconds"]
        total.records += data["records"]
    total.wall_seconds = wall
    write_manifest(out_dir, jobs, total.records, fmt)
    for r in range(world_size):
        _part_path(out_dir, r, world_size).unlink(missing_ok=True)
    return total


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 a file failed, 2 bad usage).

    Under ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1) the corpus is sharded: every
    rank plans the same length-sorted batches and runs every N-th one, writing its own
    outputs; rank 0 then merges the manifest and prints the summary. Rerunning after a rank
    died computes only the missing outputs. Sample-speech mode runs on rank 0 only.
    """
    from .util.audio import sample_speech_files

    parser = build_parser()
    args = parser.parse_args(argv)
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
    dist = _Dist.from_env()
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
                write_atomic(_part_path(args.output_dir, dist.rank, dist.world_size),
                             lambda d, f: f.write(json.dumps(d).encode("utf-8")), part)
                dist.barrier()
                own_failed = bool(report.failed)
                if dist.rank != 0:
                    dist.close()
                    return 1 if own_failed else 0
                report = _merge_parts(args.output_dir, dist.world_size, jobs, args.format,
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
