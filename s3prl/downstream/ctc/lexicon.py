"""Pronunciation lexicon and phone vocabulary of the ``ctc`` phoneme-recognition task.

Lexicon format: LibriSpeech's ``librispeech-lexicon.txt`` (www.openslr.org/11): one entry per
line, ``WORD`` then whitespace (a tab in the official file) then the space-separated phones.
The official file uses the CMU/ARPAbet phone set with stress digits (``AH0``, ``IY1``);
with ``remove_stress`` (the default) a trailing ``0``/``1``/``2`` after letters is dropped
(``AH0`` -> ``AH``), giving the 39-phone set without stress. Other phone names (e.g. espeak-ng
mnemonics such as ``3`` or ``t#``) are kept as they are.

Rules: a word listed more than once keeps its first pronunciation (file order, then line
order; the count of such words is logged); words are matched upper-cased; an empty or
phone-less line is a ``ValueError`` naming ``file:line``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

__all__ = ["read_lexicon", "strip_stress", "PhoneVocabulary", "transcript_to_phones"]

logger = logging.getLogger(__name__)
_STRESS = re.compile(r"^([A-Za-z]+)[012]$")


def strip_stress(phone: str) -> str:
    """``AH0`` -> ``AH``; phones not of the form letters + one stress digit are unchanged."""
    m = _STRESS.match(phone)
    return m.group(1) if m else phone


def read_lexicon(paths, remove_stress: bool = True) -> dict[str, list[str]]:
    """Read lexicon files into ``{WORD: [phones]}`` (first pronunciation of each word).

    Args:
        paths: one path or a list of paths (read in order).
        remove_stress: drop CMU stress digits (:func:`strip_stress`).

    Raises:
        FileNotFoundError: a lexicon file is missing (names it).
        ValueError: a line without phones (names ``file:line``), or no entry at all.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    lexicon: dict[str, list[str]] = {}
    repeated = 0
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"lexicon file not found: {path}")
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            word, *phones = line.split()
            if not phones:
                raise ValueError(f"{path}:{lineno}: lexicon entry {word!r} has no phones")
            if remove_stress:
                phones = [strip_stress(p) for p in phones]
            key = word.upper()
            if key in lexicon:
                repeated += 1
                continue
            lexicon[key] = phones
    if not lexicon:
        raise ValueError(f"no entries in lexicon files {[str(p) for p in paths]}")
    if repeated:
        logger.info("lexicon: %d extra pronunciations ignored (first one kept)", repeated)
    return lexicon


def transcript_to_phones(transcript: str, lexicon: dict[str, list[str]]):
    """Phones of a word transcript; returns ``(phones, missing_words)``.

    ``phones`` is ``None`` when a word is missing from the lexicon (the utterance is dropped
    by the task's rule); ``missing_words`` lists those words.
    """
    phones: list[str] = []
    missing = []
    for word in transcript.split():
        entry = lexicon.get(word.upper())
        if entry is None:
            missing.append(word)
        else:
            phones += entry
    return (None if missing else phones), missing


class PhoneVocabulary:
    """Phone labels for CTC: index 0 is the blank, then the phones in the given order.

    Args:
        phones: the phone inventory (no repeats, no ``<blank>``).
    """

    blank = 0

    def __init__(self, phones: list[str]):
        if len(set(phones)) != len(phones):
            raise ValueError("the phone vocabulary has repeated phones")
        if not phones:
            raise ValueError("the phone vocabulary is empty")
        self.symbols = ["<blank>"] + list(phones)
        self.index = {p: i for i, p in enumerate(self.symbols)}

    @classmethod
    def from_lexicon(cls, lexicon: dict[str, list[str]]) -> "PhoneVocabulary":
        """Every phone of the lexicon, sorted (deterministic)."""
        return cls(sorted({p for phones in lexicon.values() for p in phones}))

    @classmethod
    def from_file(cls, path, remove_stress: bool = True) -> "PhoneVocabulary":
        """One phone per line (first column); stress digits dropped and repeats merged when
        ``remove_stress``. Raises ``FileNotFoundError`` naming ``path``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"phone vocabulary file not found: {path}")
        phones = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                p = line.split()[0]
                p = strip_stress(p) if remove_stress else p
                if p not in phones:
                    phones.append(p)
        return cls(phones)

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, phones: list[str], where: str = "") -> list[int]:
        """Ids of phones; ``ValueError`` names a phone outside the vocabulary and ``where``."""
        try:
            return [self.index[p] for p in phones]
        except KeyError as err:
            raise ValueError(
                f"phone {err.args[0]!r}{' (' + where + ')' if where else ''} is not in the "
                f"phone vocabulary {self.symbols[1:]}"
            ) from None

    def decode(self, ids: list[int]) -> str:
        """Space-separated phone string (blanks dropped)."""
        return " ".join(self.symbols[i] for i in ids if i != self.blank)
