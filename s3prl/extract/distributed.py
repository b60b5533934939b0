"""``torchrun`` sharding of an extraction run: rank bookkeeping and the rank-0 merge.

Part of :mod:`s3prl.extract`: every rank plans the same batches and runs every N-th one
(:func:`s3prl.extract.extract_files` with ``rank``/``world_size``); results go through
files, so the ranks only meet at one barrier.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .manifest import write_manifest
from .runner import Report

__all__ = ["Dist", "part_path", "merge_parts"]


@dataclass
class Dist:
    """This process's place in a ``torchrun`` job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Dist:
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


def part_path(out_dir: Path, rank: int, world_size: int) -> Path:
    return out_dir / f".extract-part-{rank}-of-{world_size}.json"


def merge_parts(out_dir: Path, world_size: int, jobs, fmt: str, wall: float) -> Report:
    """Rank 0: sum the ranks' reports (part files) and write the merged manifest."""
    total = Report()
    for r in range(world_size):
        part = part_path(out_dir, r, world_size)
        data = json.loads(part.read_text(encoding="utf-8"))
        total.written += data["written"]
        total.skipped += data["skipped"]
        total.failed += [tuple(f) for f in data["failed"]]
        total.audio_seconds += data["audio_seconds"]
        total.records += data["records"]
    total.wall_seconds = wall
    write_manifest(out_dir, jobs, total.records, fmt)
    for r in range(world_size):
        part_path(out_dir, r, world_size).unlink(missing_ok=True)
    return total
