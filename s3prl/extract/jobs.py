"""Inputs of an extraction run: the utterances (:class:`Job`), their durations, the layers.

Part of :mod:`s3prl.extract` (see its docstring for the command and the output layout).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .output import FORMATS

AUDIO_SUFFIXES = (".wav", ".flac")
SAMPLE_RATE = 16000

__all__ = [
    "AUDIO_SUFFIXES",
    "SAMPLE_RATE",
    "Job",
    "find_audio_files",
    "jobs_from_dir",
    "jobs_from_list",
    "parse_layers",
    "normalize_layers",
    "audio_duration",
    "BadAudioFile",
]


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

    A symbolic link with an audio suffix whose target is missing (dangling) is listed too, so
    that the run reports it (:func:`audio_duration` raises :class:`BadAudioFile`) instead of
    skipping it unseen.

    Raises:
        ValueError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"--wav-dir {root} is not a folder")
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in AUDIO_SUFFIXES and (p.is_file() or (p.is_symlink() and not p.exists()))
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



class BadAudioFile(ValueError):
    """An input that must not be extracted: missing, a dangling link, or a truncated body.

    The message names the file and what is wrong with it.
    """


def _riff_declared_frames(path: Path) -> int | None:
    """Frames that a RIFF/WAVE header declares (``data`` chunk size / block align).

    ``None`` when the file is no plain RIFF/WAVE file, or its ``data`` size is a streaming
    placeholder (0 or 0xFFFFFFFF: length unknown when written), or a chunk is unreadable.
    Layout: RIFF header (12 bytes), then chunks of ``id (4) | size (4, little endian) |
    body (padded to even)``; ``fmt `` holds the block align at byte 12 (Microsoft
    "Multimedia Programming Interface and Data Specifications 1.0", 1991).
    """
    import struct

    block_align = None
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                body = f.read(size)
                if len(body) < 14:
                    return None
                block_align = struct.unpack("<H", body[12:14])[0]
                if size % 2:
                    f.seek(1, os.SEEK_CUR)
            elif cid == b"data":
                if block_align in (None, 0) or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                f.seek(size + size % 2, os.SEEK_CUR)


def audio_duration(path: Path) -> float:
    """Duration in seconds of an audio file, from its header (``soundfile``).

    Raises:
        BadAudioFile: ``path`` is a dangling symbolic link or does not exist, or it is a WAV
            file whose body is shorter than its header declares (a truncated copy: it would
            be extracted at the length present, silently).
        RuntimeError, soundfile.LibsndfileError: the file cannot be decoded.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise BadAudioFile(f"dangling symbolic link: {path} -> {os.readlink(path)} (no such file)")
        raise BadAudioFile(f"file not found: {path}")
    info = sf.info(str(path))
    if info.samplerate <= 0:
        raise RuntimeError(f"{path}: sample rate {info.samplerate}")
    if info.format == "WAV":
        declared = _riff_declared_frames(path)
        if declared is not None and info.frames < declared:
            raise BadAudioFile(
                f"truncated: {path}: the WAV header declares {declared} frames "
                f"({declared / info.samplerate:.3f} s) but the file holds {info.frames} "
                f"({info.frames / info.samplerate:.3f} s); the file is incomplete"
            )
    return info.frames / info.samplerate
