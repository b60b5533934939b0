"""LibriSpeech reading shared by the ``asr`` and ``ctc`` (phoneme) tasks.

Layout (Panayotov et al., ICASSP 2015; www.openslr.org/12)::

    <libri_root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <libri_root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

Each ``.trans.txt`` line is ``<speaker>-<chapter>-<utt> TRANSCRIPT`` (upper case). Subsets are
``train-clean-100``, ``dev-clean``, ``test-clean``, ... .

Rules: a missing subset folder, a chapter folder without its ``.trans.txt``, or a transcript
line whose ``.flac`` is absent raise ``FileNotFoundError`` naming the expected path; a ``.flac``
without a transcript line raises ``ValueError`` naming both files. An unreadable audio file is
fatal when it is loaded (``RuntimeError`` naming it, from :func:`s3prl.util.audio.load_audio`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from s3prl.util.audio import load_audio

__all__ = [
    "Utterance",
    "read_librispeech",
    "CharVocabulary",
    "TranscribedDataset",
    "collate_transcribed",
    "train_generator",
    "make_dataloader",
]


@dataclass(frozen=True)
class Utterance:
    """One LibriSpeech utterance: id (``<speaker>-<chapter>-<utt>``), audio path, transcript."""

    utt_id: str
    path: str
    transcript: str


def read_librispeech(root: str | os.PathLike, subsets: list[str]) -> list[Utterance]:
    """Index the utterances of LibriSpeech subsets (no audio is read).

    Args:
        root: the LibriSpeech folder that holds the subset folders.
        subsets: subset folder names, e.g. ``["train-clean-100"]``.

    Returns:
        Utterances sorted by subset order, then id.

    Raises:
        FileNotFoundError: ``root`` or a subset folder missing, a subset without any
            ``<speaker>/<chapter>/`` folder, a missing ``<speaker>-<chapter>.trans.txt``, or a
            transcript line whose ``.flac`` is missing (the message names the expected path).
        ValueError: a malformed transcript line, or a ``.flac`` with no transcript line.
    """
    root = Path(root)
    if isinstance(subsets, str):
        subsets = [subsets]
    if not root.is_dir():
        raise FileNotFoundError(f"LibriSpeech root folder not found: {root}")
    utterances: list[Utterance] = []
    for subset in subsets:
        subset_dir = root / subset
        if not subset_dir.is_dir():
            raise FileNotFoundError(
                f"LibriSpeech subset folder not found: {subset_dir} (expected "
                f"{subset_dir}/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt)"
            )
        chapters = sorted(
            c for s in subset_dir.iterdir() if s.is_dir() for c in s.iterdir() if c.is_dir()
        )
        if not chapters:
            raise FileNotFoundError(
                f"no <speaker>/<chapter>/ folders in LibriSpeech subset {subset_dir}"
            )
        for chapter in chapters:
            speaker = chapter.parent.name
            trans = chapter / f"{speaker}-{chapter.name}.trans.txt"
            if not trans.is_file():
                raise FileNotFoundError(f"LibriSpeech transcript file not found: {trans}")
            listed = set()
            for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.strip().split(maxsplit=1)
                utt_id = parts[0]
                text = parts[1] if len(parts) > 1 else ""
                if not utt_id.startswith(f"{speaker}-{chapter.name}-"):
                    raise ValueError(
                        f"{trans}:{lineno}: utterance id {utt_id!r} does not start with "
                        f"'{speaker}-{chapter.name}-'"
                    )
                flac = chapter / f"{utt_id}.flac"
                if not flac.is_file():
                    raise FileNotFoundError(
                        f"LibriSpeech audio file not found: {flac} (listed in {trans}:{lineno})"
                    )
                listed.add(utt_id)
                utterances.append(Utterance(utt_id, str(flac), " ".join(text.split())))
            for flac in sorted(chapter.glob("*.flac")):
                if flac.stem not in listed:
                    raise ValueError(f"{flac} has no transcript line in {trans}")
    return utterances


class CharVocabulary:
    """Character vocabulary for CTC: index 0 is the blank, ``|`` is the word boundary.

    Args:
        symbols: output symbols in index order after the blank (e.g. ``["|", "'", "A", ...]``).

    ``encode("AB C") -> ids of A, B, |, C``; ``decode`` maps ``|`` back to a space and collapses
    boundaries, so ``decode(encode(t)) == " ".join(t.split())``.
    """

    blank = 0
    #: default symbols: word boundary, apostrophe, A-Z (LibriSpeech transcripts use only these)
    DEFAULT_SYMBOLS = ["|", "'"] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]

    def __init__(self, symbols: list[str] | None = None):
        symbols = list(self.DEFAULT_SYMBOLS if symbols is None else symbols)
        if "|" not in symbols:
            raise ValueError("the character vocabulary needs the word boundary symbol '|'")
        if len(set(symbols)) != len(symbols):
            raise ValueError("the character vocabulary has repeated symbols")
        self.symbols = ["<blank>"] + symbols
        self.index = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "CharVocabulary":
        """Read one symbol per line (first column; fairseq ``dict.ltr.txt`` style ``SYM COUNT``
        lines work too). Raises ``FileNotFoundError`` naming ``path``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"character dictionary not found: {path}")
        symbols = [ln.split()[0] for ln in path.read_text(encoding="utf-8").splitlines()
                   if ln.strip()]
        return cls(symbols)

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, text: str, where: str = "") -> list[int]:
        """Ids of the characters of ``text`` (spaces -> ``|``).

        Raises:
            ValueError: a character outside the vocabulary (names it and ``where``).
        """
        ids = []
        for ch in "|".join(text.split()):
            if ch not in self.index:
                raise ValueError(
                    f"character {ch!r} of transcript {text!r}{' (' + where + ')' if where else ''}"
                    f" is not in the vocabulary {self.symbols[1:]}"
                )
            ids.append(self.index[ch])
        return ids

    def decode(self, ids: list[int]) -> str:
        """Text of label ids (blanks dropped, ``|`` -> space, spaces collapsed)."""
        chars = [self.symbols[i] for i in ids if i != self.blank]
        return " ".join("".join(chars).replace("|", " ").split())


class TranscribedDataset(Dataset):
    """Utterances with integer label sequences.

    Items are ``(wav, labels, utt_id)``: ``wav`` 1-D float32 16 kHz tensor, ``labels`` 1-D long.
    """

    def __init__(self, utterances: list[Utterance], labels: list[list[int]]):
        if len(utterances) != len(labels):
            raise ValueError("one label sequence per utterance expected")
        self.utterances = utterances
        self.labels = labels

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int):
        utt = self.utterances[index]
        wav = load_audio(utt.path)
        return wav, torch.tensor(self.labels[index], dtype=torch.long), utt.utt_id


def collate_transcribed(items):
    """Batch ``(wav, labels, utt_id)`` items into ``(wavs, labels, utt_ids)`` lists."""
    wavs, labels, ids = zip(*items)
    return list(wavs), list(labels), list(ids)


def train_generator(seed: int | None, epoch: int) -> torch.Generator:
    """Generator for the training order of ``epoch``: seeded from ``seed`` (the ``seed`` key of
    datarc) or, when it is ``None``, from the global seed (``torch.initial_seed()``, set by the
    runner's ``--seed``), so data order is reproducible and resumable."""
    base = torch.initial_seed() if seed is None else int(seed)
    return torch.Generator().manual_seed((base * 1_000_003 + int(epoch)) % (2**63))


def make_dataloader(dataset, batch_size: int, train: bool, epoch: int, seed, num_workers: int,
                    collate_fn) -> DataLoader:
    """DataLoader following the downstream contract: shuffle only for training, with
    :func:`train_generator`; evaluation keeps the index order.

    The generator belongs to the ``RandomSampler``, not to the ``DataLoader``: a DataLoader's
    own generator is also drawn from when an iterator starts, so iterating the loader and
    listing its ``batch_sampler`` (what the runner does to skip the batches already trained on
    when it resumes mid-epoch) would give different orders. The loader gets a separate seeded
    generator, so starting an iterator never draws from the global RNG.
    """
    sampler = (RandomSampler(dataset, generator=train_generator(seed, epoch)) if train
               else SequentialSampler(dataset))
    # the loader's own generator only seeds the workers; without it, starting an iterator
    # would draw from the global RNG (dropout's), which a resumed run restores past that draw
    return DataLoader(
        dataset,
        batch_size=int(batch_size),
        sampler=sampler,
        num_workers=int(num_workers),
        collate_fn=collate_fn,
        drop_last=False,
        generator=train_generator(seed, epoch + 7919),
    )
