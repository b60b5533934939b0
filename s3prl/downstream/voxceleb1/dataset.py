"""VoxCeleb1 speaker identification (SUPERB SID): index of the official layout.

Facts from s3prl 0.4.18 ``downstream/voxceleb1`` (read, not copied) and the VoxCeleb1
release (Nagrani et al., "VoxCeleb: a large-scale speaker identification dataset", 2017):

- ``iden_split.txt`` (``meta_data``): one line per utterance, ``<set> <id>/<video>/<utt>.wav``,
  set ``1`` = train, ``2`` = dev, ``3`` = test.
- Audio: ``<file_path>/wav/<id>/<video>/<utt>.wav``. The official release ships two archives
  (``vox1_dev_wav``, ``vox1_test_wav``), each with its own ``wav/`` folder; s3prl looks the
  listed path up under ``<file_path>/*/wav/``, so both ``<file_path>/wav/...`` and
  ``<file_path>/<archive>/wav/...`` are accepted here (first match in that order).
- Any format ``soundfile`` reads is accepted: a list may name ``.flac`` files (the bundled
  ``sample_data/librispeech-10spk`` does).
- Classes: the speaker ids of the whole list, sorted (for the official list: ``id10001`` ...
  ``id11251``, the 1,251 classes of s3prl, whose label is ``int(id[2:]) - 10001``: the same
  order). Train utterances longer than ``max_timestep`` samples are cut to a random window
  of that length; dev and test are read whole.
"""

from __future__ import annotations

from pathlib import Path

#: The set numbers of ``iden_split.txt``.
SPLIT_NUMBERS = {"1": "train", "2": "dev", "3": "test"}


def read_iden_split(meta_data) -> list[tuple[str, str]]:
    """``[(split, relative_path), ...]`` from an ``iden_split.txt``-style file.

    Raises:
        FileNotFoundError: the file is missing (named).
        ValueError: a line that is not ``<1|2|3> <id>/<video>/<utt>`` (file and line named).
    """
    path = Path(meta_data)
    if not path.is_file():
        raise FileNotFoundError(
            f"voxceleb1: expected split file {path} (VoxCeleb1 iden_split.txt: "
            "'<1|2|3> <id>/<video>/<utt>.wav' per line) is missing"
        )
    rows = []
    for num, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in SPLIT_NUMBERS or len(Path(parts[1]).parts) != 3:
            raise ValueError(
                f"voxceleb1: {path} line {num}: {line!r} is not '<1|2|3> <id>/<video>/<utt>.wav'"
            )
        rows.append((SPLIT_NUMBERS[parts[0]], parts[1]))
    if not rows:
        raise ValueError(f"voxceleb1: {path} lists no utterance")
    return rows


def wav_roots(file_path) -> list[Path]:
    """The ``wav/`` folders under ``file_path``: ``file_path/wav`` then ``file_path/*/wav``.

    Raises:
        FileNotFoundError: ``file_path`` or every ``wav/`` folder is missing (named).
    """
    root = Path(file_path)
    if not root.is_dir():
        raise FileNotFoundError(f"voxceleb1: expected dataset folder {root} is missing")
    roots = [root / "wav"] + sorted(p / "wav" for p in root.iterdir() if p.is_dir())
    roots = [r for r in roots if r.is_dir()]
    if not roots:
        raise FileNotFoundError(
            f"voxceleb1: expected folder {root / 'wav'} (or {root}/<archive>/wav) is missing"
        )
    return roots


def index_voxceleb1(file_path, meta_data) -> tuple[dict[str, list[tuple]], list[str]]:
    """Index VoxCeleb1 SID: ``({"train": [...], "dev": [...], "test": [...]}, speakers)``.

    Items are ``(path, label, name)``: ``label`` indexes ``speakers`` (sorted ids of the whole
    list), ``name`` is ``id-video-utt`` (s3prl's name, without extension). Order: the list's.

    Raises:
        FileNotFoundError: the list, the folder or a listed utterance is missing (the expected
            path is named).
        ValueError: a malformed list line.
    """
    rows = read_iden_split(meta_data)
    roots = wav_roots(file_path)
    speakers = sorted({Path(rel).parts[0] for _, rel in rows})
    label_of = {spk: i for i, spk in enumerate(speakers)}
    splits: dict[str, list[tuple]] = {"train": [], "dev": [], "test": []}
    for split, rel in rows:
        path = next((r / rel for r in roots if (r / rel).is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"voxceleb1: expected file {roots[0] / rel} (listed in {meta_data}) is missing"
                + (f"; also looked in {[str(r) for r in roots[1:]]}" if len(roots) > 1 else "")
            )
        parts = Path(rel).parts
        name = "-".join(parts[:2] + (Path(parts[2]).stem,))
        splits[split].append((path, label_of[parts[0]], name))
    return splits, speakers
