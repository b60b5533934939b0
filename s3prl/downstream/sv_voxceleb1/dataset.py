"""VoxCeleb1 speaker-verification data (Nagrani et al., Interspeech 2017).

Layout (``file_path`` = the VoxCeleb1 folder)::

    <file_path>/dev/wav/<speaker>/<video>/<utt>.wav    training speakers (VoxCeleb1 dev)
    <file_path>/test/wav/<speaker>/<video>/<utt>.wav   test speakers
    trial lists: one trial per line, ``<label> <path1> <path2>``, label 1 = same speaker,
    paths relative to dev/wav (dev trials) or test/wav (test trials), e.g. the official
    ``veri_test2.txt`` (cleaned VoxCeleb1-O, 37,611 trials).

``.flac`` files are accepted next to ``.wav`` (for LibriSpeech-derived demo layouts).
Rules: a missing folder, trial list, listed speaker or trial wav raises ``FileNotFoundError``
naming the expected path; a malformed trial line raises ``ValueError`` naming ``file:line``.
Training utterances not longer than ``min_sec`` samples (s3prl's ``vad_config.min_sec``; s3prl
measures it after sox VAD, which is not applied here) are dropped, with a count in the log.
An unreadable audio file is fatal (``RuntimeError`` naming it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import soundfile as sf
import torch
from torch.utils.data import Dataset

from s3prl.util.audio import load_audio

__all__ = ["SpeakerTrainDataset", "EpochView", "TrialDataset", "read_trials", "collate"]

logger = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac")


def _num_samples(path: Path) -> int:
    try:
        info = sf.info(str(path))
    except Exception as err:  # noqa: BLE001 - libsndfile raises several types
        raise RuntimeError(f"cannot read audio file {path}: {err}") from err
    return int(round(info.frames * 16000 / info.samplerate))


class SpeakerTrainDataset(Dataset):
    """Training utterances of ``<root>/<speaker>/<video>/<utt>.wav``, labelled by speaker.

    Args:
        root: the ``dev/wav`` folder.
        speakers_file: optional file listing the speaker ids to use (one per line); ``None`` =
            every speaker folder under ``root``.
        min_samples: drop utterances with ``<= min_samples`` samples (16 kHz).
        max_timestep: crop longer utterances to this many samples (random offset, seeded by
            ``seed``, the epoch and the index); ``None`` = no crop.
        seed: crop seed (``None`` = the global seed, ``torch.initial_seed()``).

    Items: ``(wav, speaker_index, key)`` with ``key`` the path relative to ``root``.

    Raises:
        FileNotFoundError: ``root``, ``speakers_file`` or a listed speaker folder missing; no
            audio file at all.
    """

    def __init__(self, root, speakers_file=None, min_samples: int = 0,
                 max_timestep: int | None = None, seed: int | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"VoxCeleb1 training folder not found: {self.root} (expected "
                f"{self.root}/<speaker>/<video>/<utt>.wav)"
            )
        if speakers_file:
            speakers_file = Path(speakers_file)
            if not speakers_file.is_file():
                raise FileNotFoundError(f"speaker list not found: {speakers_file}")
            speakers = sorted({ln.split()[0] for ln in speakers_file.read_text().splitlines()
                               if ln.strip()})
            for spk in speakers:
                if not (self.root / spk).is_dir():
                    raise FileNotFoundError(
                        f"speaker folder not found: {self.root / spk} (listed in {speakers_file})"
                    )
        else:
            speakers = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.speakers = speakers
        self.items: list[tuple[Path, int]] = []
        dropped = 0
        for label, spk in enumerate(speakers):
            files = sorted(p for p in (self.root / spk).glob("*/*")
                           if p.suffix.lower() in AUDIO_SUFFIXES)
            for path in files:
                if _num_samples(path) > min_samples:
                    self.items.append((path, label))
                else:
                    dropped += 1
        if not self.items:
            raise FileNotFoundError(
                f"no training audio longer than {min_samples} samples under "
                f"{self.root}/<speaker>/<video>/<utt>.wav ({dropped} shorter files)"
            )
        if dropped:
            logger.warning("sv_voxceleb1 train: dropped %d of %d utterances not longer than "
                           "%d samples (vad_config.min_sec)", dropped,
                           dropped + len(self.items), min_samples)
        self.max_timestep = int(max_timestep) if max_timestep else None
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.item(index, self.epoch)

    def item(self, index: int, epoch: int, seed: int | None = None):
        """Item ``index`` as cropped in ``epoch``; ``seed`` replaces a ``None`` crop seed (else
        ``torch.initial_seed()`` when the item is read)."""
        path, label = self.items[index]
        wav = load_audio(path)
        if self.max_timestep and wav.numel() > self.max_timestep:
            base = int(self.seed) if self.seed is not None else (
                torch.initial_seed() if seed is None else int(seed))
            g = torch.Generator().manual_seed(
                (base * 1_000_003 + int(epoch) * 100_003 + index) % (2**63))
            start = int(torch.randint(0, wav.numel() - self.max_timestep + 1, (1,), generator=g))
            wav = wav[start: start + self.max_timestep]
        return wav, label, path.relative_to(self.root).as_posix()


class EpochView(Dataset):
    """The items of a :class:`SpeakerTrainDataset` as cropped in one epoch (each dataloader
    gets its own view, so building another epoch's loader never changes this one).

    Without a dataset ``seed`` the crop seed is ``torch.initial_seed()`` when the view is built
    (the runner builds each epoch's loader under a global seed from ``--seed`` and the epoch),
    not when an item is read: then DataLoader workers (their own initial seeds) and the
    runner's per-batch DDP reseeding leave the crops unchanged.
    """

    def __init__(self, dataset: SpeakerTrainDataset, epoch: int):
        self.dataset = dataset
        self.epoch = int(epoch)
        self.seed = dataset.seed if dataset.seed is not None else torch.initial_seed()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset.item(index, self.epoch, self.seed)


def read_trials(trial_file, root) -> list[tuple[int, str, str]]:
    """Read ``<label> <path1> <path2>`` lines; every path must exist under ``root``.

    Returns:
        ``[(label, path1, path2)]`` with the paths as written (relative to ``root``).

    Raises:
        FileNotFoundError: the trial file, or a wav it lists, is missing (named).
        ValueError: a line without three fields or with a label other than 0/1 (``file:line``),
            or no trial.
    """
    trial_file = Path(trial_file)
    if not trial_file.is_file():
        raise FileNotFoundError(f"trial list not found: {trial_file}")
    trials = []
    checked = set()
    for lineno, line in enumerate(trial_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or fields[0] not in ("0", "1"):
            raise ValueError(f"{trial_file}:{lineno}: expected '<0|1> <path1> <path2>', "
                             f"got {line!r}")
        for rel in fields[1:]:
            if rel not in checked:
                if not (Path(root) / rel).is_file():
                    raise FileNotFoundError(
                        f"trial audio file not found: {Path(root) / rel} "
                        f"(listed in {trial_file}:{lineno})"
                    )
                checked.add(rel)
        trials.append((int(fields[0]), fields[1], fields[2]))
    if not trials:
        raise ValueError(f"no trials in {trial_file}")
    return trials


class TrialDataset(Dataset):
    """Every distinct utterance of a trial list, once (sorted by path), for embedding.

    Items: ``(wav, -1, key)`` with ``key`` the path as written in the trial list.
    """

    def __init__(self, trial_file, root):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"VoxCeleb1 folder not found: {self.root}")
        self.trials = read_trials(trial_file, self.root)
        self.keys = sorted({p for _, a, b in self.trials for p in (a, b)})

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int):
        key = self.keys[index]
        return load_audio(self.root / key), -1, key


def collate(items):
    """``(wav, label, key)`` items -> ``(wavs, labels (batch,) long, keys)``."""
    wavs, labels, keys = zip(*items)
    return list(wavs), torch.tensor(labels, dtype=torch.long), list(keys)


def as_path(value) -> Path | None:
    """``None``/empty -> ``None``; otherwise a ``Path``."""
    return Path(os.fspath(value)) if value else None
