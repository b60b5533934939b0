"""IEMOCAP emotion recognition (SUPERB ER): index of the official layout.

Facts from s3prl 0.4.18 ``downstream/emotion`` (``IEMOCAP_preprocess.py``, ``expert.py``;
read, not copied) and the corpus (Busso et al., "IEMOCAP: interactive emotional dyadic motion
capture database", 2008):

- ``<root>/Session{1..5}/dialog/EmoEvaluation/<dialog>.txt``: per utterance a line
  ``[start - end]<TAB><utterance><TAB><emotion><TAB>[V, A, D]``; other lines (the
  annotators' ``C-``/``A-`` lines, headers) do not start with ``[`` and are ignored, and so
  are the sub-folders and macOS ``._*`` files.
- ``<root>/Session{N}/sentences/wav/<dialog>/<utterance>.wav``: the audio (16 kHz).
- 4 classes ``neu hap ang sad`` (labels 0..3); ``exc`` (excited) is merged into ``hap``;
  every other emotion (``fru sur fea dis oth xxx``) is left out.
- Leave-one-session-out: ``test_fold: foldN`` tests on SessionN and trains on the 4 others;
  ``valid_ratio`` (0.2) of the training utterances, drawn with a fixed seed (0), form dev.
- s3prl reads a pre-computed ``meta_data`` folder (``SessionN/{train,test}_meta_data.json``,
  made by its ``IEMOCAP_preprocess.py`` from the files above); this reader parses the
  EmoEvaluation files itself, or reads such a folder when ``meta_data`` is set.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

CLASSES = ["neu", "hap", "ang", "sad"]
#: IEMOCAP emotion code -> class (``exc`` merged into ``hap``, as in SUPERB).
EMOTION_MAP = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
SESSIONS = [f"Session{i}" for i in range(1, 6)]
LABEL_DIR = Path("dialog", "EmoEvaluation")
WAV_DIR = Path("sentences", "wav")
_LINE = re.compile(r"^\[[^\]]*\]\t(\S+)\t(\S+)\t")


def parse_session(root, session: str) -> list[tuple]:
    """The kept utterances of one session: sorted ``(wav_path, label, name)``.

    Raises:
        FileNotFoundError: the session's ``dialog/EmoEvaluation`` folder, or the wav of a kept
            utterance (``sentences/wav/<dialog>/<utterance>.wav``), is missing (named).
    """
    sess_dir = Path(root) / session
    label_dir = sess_dir / LABEL_DIR
    if not label_dir.is_dir():
        raise FileNotFoundError(
            f"emotion: expected folder {label_dir} (IEMOCAP layout) is missing"
        )
    items = []
    for txt in sorted(label_dir.glob("*.txt")):
        if txt.name.startswith("._"):
            continue
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _LINE.match(line)
            if not match or match.group(2) not in EMOTION_MAP:
                continue
            utt = match.group(1)
            dialog = utt.rsplit("_", 1)[0]
            wav = sess_dir / WAV_DIR / dialog / f"{utt}.wav"
            if not wav.is_file():
                raise FileNotFoundError(
                    f"emotion: expected file {wav} (labelled in {txt}) is missing"
                )
            items.append((wav, CLASSES.index(EMOTION_MAP[match.group(2)]), utt))
    return sorted(items, key=lambda it: it[2])


def _read_meta_json(root: Path, path: Path) -> list[tuple]:
    if not path.is_file():
        raise FileNotFoundError(f"emotion: expected meta data file {path} is missing")
    data = json.loads(path.read_text(encoding="utf-8"))
    items = []
    for entry in data["meta_data"]:
        label = EMOTION_MAP.get(entry["label"])
        if label is None:
            raise ValueError(f"emotion: {path}: unknown label {entry['label']!r}")
        wav = root / entry["path"]
        if not wav.is_file():
            raise FileNotFoundError(f"emotion: expected file {wav} (listed in {path}) is missing")
        items.append((wav, CLASSES.index(label), Path(entry["path"]).stem))
    return items


def fold_session(test_fold: str) -> str:
    """``"fold3"`` -> ``"Session3"``; raises ``ValueError`` for anything but fold1..fold5."""
    match = re.fullmatch(r"fold([1-5])", str(test_fold))
    if not match:
        raise ValueError(f"emotion: test_fold must be one of fold1..fold5, got {test_fold!r}")
    return f"Session{match.group(1)}"


def index_iemocap(root, test_fold: str = "fold1", valid_ratio: float = 0.2,
                  meta_data=None) -> dict[str, list[tuple]]:
    """Index one leave-one-session-out fold: ``{"train": [...], "dev": [...], "test": [...]}``.

    Train + dev = the 4 other sessions (sorted by utterance name, or the order of
    ``train_meta_data.json``); ``torch.randperm`` with seed 0 puts the first
    ``int((1 - valid_ratio) * n)`` of them in train, the rest in dev (s3prl's ``random_split``
    rule, seed 0).

    Raises:
        FileNotFoundError: a file or folder of the layout is missing (named).
        ValueError: a bad ``test_fold`` or ``valid_ratio``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"emotion: expected IEMOCAP folder {root} is missing")
    test_session = fold_session(test_fold)
    if not 0.0 <= float(valid_ratio) < 1.0:
        raise ValueError(f"emotion: valid_ratio must be in [0, 1), got {valid_ratio}")
    if meta_data:
        meta = Path(meta_data) / test_session
        pool = _read_meta_json(root, meta / "train_meta_data.json")
        test = _read_meta_json(root, meta / "test_meta_data.json")
    else:
        sessions = {s: parse_session(root, s) for s in SESSIONS}
        pool = [it for s in SESSIONS if s != test_session for it in sessions[s]]
        test = sessions[test_session]
    n_train = int((1 - float(valid_ratio)) * len(pool))
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(0)).tolist()
    return {
        "train": [pool[i] for i in order[:n_train]],
        "dev": [pool[i] for i in order[n_train:]],
        "test": test,
    }
