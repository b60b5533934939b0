"""Fluent Speech Commands (intent classification, SUPERB IC): index of the official layout.

Facts from s3prl 0.4.18 ``downstream/fluent_commands`` (read, not copied) and the corpus
(Lugosch et al., "Speech Model Pre-training for End-to-End Spoken Language Understanding",
Interspeech 2019):

- ``<file_path>/data/train_data.csv``, ``valid_data.csv``, ``test_data.csv``: comma-separated
  with a header; the columns used are ``path`` (relative to ``file_path``, e.g.
  ``wavs/speakers/<speaker>/<uuid>.wav``), ``action``, ``object`` and ``location``.
- The intent is the three slots; each slot has its own classifier. The values of a slot are
  numbered in the order of their first appearance in ``train_data.csv`` (s3prl's
  ``Counter`` order). A valid/test value never seen in train is an error.
- Accuracy: an utterance is right when all three slots are right.
"""

from __future__ import annotations

import csv
from pathlib import Path

SLOTS = ("action", "object", "location")
CSV_FILES = {"train": "train_data.csv", "dev": "valid_data.csv", "test": "test_data.csv"}


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(
            f"fluent_commands: expected file {path} (Fluent Speech Commands layout: "
            "data/{train,valid,test}_data.csv) is missing"
        )
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("path",) + SLOTS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"fluent_commands: {path} has no column(s) {missing}")
        return list(reader)


def index_fluent_commands(file_path) -> tuple[dict[str, list[tuple]], dict[str, list[str]]]:
    """Index the corpus: ``({"train": [...], "dev": [...], "test": [...]}, slot_values)``.

    Items are ``(wav_path, (action, object, location) indices, name)``; ``name`` is the wav's
    stem. ``slot_values[slot]`` lists the values of the slot (index = label).

    Raises:
        FileNotFoundError: the folder, a csv or a listed wav is missing (the expected path is
            named).
        ValueError: a csv without the needed columns, or a dev/test slot value absent from
            train (file, row and value named).
    """
    root = Path(file_path)
    if not root.is_dir():
        raise FileNotFoundError(f"fluent_commands: expected dataset folder {root} is missing")
    tables = {split: _read_csv(root / "data" / name) for split, name in CSV_FILES.items()}
    values: dict[str, list[str]] = {slot: [] for slot in SLOTS}
    for row in tables["train"]:
        for slot in SLOTS:
            if row[slot] not in values[slot]:
                values[slot].append(row[slot])
    index = {slot: {v: i for i, v in enumerate(vals)} for slot, vals in values.items()}
    splits = {}
    for split, rows in tables.items():
        items = []
        for num, row in enumerate(rows, 2):
            csv_path = root / "data" / CSV_FILES[split]
            wav = root / row["path"]
            if not wav.is_file():
                raise FileNotFoundError(
                    f"fluent_commands: expected file {wav} (row {num} of {csv_path}) is missing"
                )
            labels = []
            for slot in SLOTS:
                if row[slot] not in index[slot]:
                    raise ValueError(
                        f"fluent_commands: {csv_path} row {num}: {slot} value {row[slot]!r} "
                        "never occurs in train_data.csv"
                    )
                labels.append(index[slot][row[slot]])
            items.append((wav, tuple(labels), wav.stem))
        splits[split] = items
    return splits, values
