"""``OUTPUT_DIR/manifest.jsonl``: one JSON line per utterance with an output.

Part of :mod:`s3prl.extract`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .jobs import Job, audio_duration
from .output import frames_of_output, write_atomic

MANIFEST_NAME = "manifest.jsonl"

__all__ = ["MANIFEST_NAME", "write_manifest"]


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
                seconds = round(audio_duration(job.source), 4)
            except Exception:  # noqa: BLE001
                seconds = None
            rec = {
                "utterance": job.utterance,
                "source": str(job.source),
                "seconds": seconds,
                "frames": frames_of_output(final, fmt),
                "output": rel_out,
            }
        lines.append(json.dumps(rec, sort_keys=True))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda text, f: f.write(text.encode("utf-8")), "".join(s + "\n" for s in lines))
    return path
