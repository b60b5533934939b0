"""Speech Commands v0.01 (keyword spotting, SUPERB KS): index of the official layout.

Facts from s3prl 0.4.18 ``downstream/speech_commands`` (read, not copied) and the dataset's
README (Warden, "Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition", 2018):

- 12 classes, in this order: the 10 command words ``yes no up down left right on off stop go``,
  ``_unknown_`` (every other word folder) and ``_silence_``.
- Train root (``speech_commands_root``): one folder per word with ``*.wav`` files,
  ``_background_noise_/*.wav`` (long noise recordings), ``validation_list.txt`` and
  ``testing_list.txt`` (``word/file.wav`` lines, relative to the root). Train = every word
  file in neither list; dev = the files of ``validation_list.txt``. Each background-noise file
  is one ``_silence_`` item of train and of dev (s3prl does the same); it is cut to a random
  1 s window every time it is drawn.
- Test: the official separate test set (``speech_commands_test_root``: folders
  ``_silence_``, ``_unknown_`` and the 10 words, 1 s clips), or, when that key is null, the
  files of the train root's ``testing_list.txt`` (non-command words -> ``_unknown_``; this
  list has no ``_silence_`` item).
- s3prl reads every file with a -3 dB gain (sox ``gain -3.0``); so does this reader.
- s3prl chooses the dev/test files with the hash rule that generated the official lists; here
  the lists themselves are read.
"""

from __future__ import annotations

from pathlib import Path

CLASSES = [
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
    "_unknown_",
    "_silence_",
]
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
BACKGROUND = "_background_noise_"
GAIN_DB = -3.0
#: Silence items are 1 s windows of the background-noise recordings.
SILENCE_SAMPLES = 16000


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"speech_commands: expected {what} {path} (Speech Commands v0.01 layout) is missing"
        )
    return path


def _read_list(root: Path, name: str) -> list[str]:
    path = _require(root / name, "file")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln]


def _label_of_word(word: str) -> int:
    return CLASSES.index(word) if word in CLASSES[:10] else CLASSES.index(UNKNOWN)


def _item(root: Path, rel: str, label: int) -> tuple:
    path = root / rel
    return (path, label, "-".join(Path(rel).parts[-2:]))


def index_train_root(root) -> dict[str, list[tuple]]:
    """Index the train root: ``{"train": [...], "dev": [...], "testing_list": [...],
    "silence": [...]}``, each a sorted list of ``(path, label, name)``.

    ``name`` is ``word-file.wav`` (s3prl's file id). ``silence`` holds the background-noise
    files (label ``_silence_``).

    Raises:
        FileNotFoundError: the root, ``validation_list.txt``, ``testing_list.txt``,
            ``_background_noise_/`` (or a wav in it) or a file named by a list is missing (names
            the expected path).
    """
    root = _require(Path(root), "train root folder")
    valid = _read_list(root, "validation_list.txt")
    test = _read_list(root, "testing_list.txt")
    noise_dir = _require(root / BACKGROUND, "folder")
    silence = [
        (p, CLASSES.index(SILENCE), f"{BACKGROUND}-{p.name}")
        for p in sorted(noise_dir.glob("*.wav"))
    ]
    if not silence:
        raise FileNotFoundError(
            f"speech_commands: no *.wav in {noise_dir} (the background noise of the _silence_ class)"
        )
    held_out = set(valid) | set(test)
    train = []
    for word_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if word_dir.name == BACKGROUND or word_dir.name.startswith("."):
            continue
        label = _label_of_word(word_dir.name)
        for wav in sorted(word_dir.glob("*.wav")):
            rel = f"{word_dir.name}/{wav.name}"
            if rel not in held_out:
                train.append(_item(root, rel, label))

    def listed(rels: list[str], list_name: str) -> list[tuple]:
        items = []
        for rel in rels:
            if len(Path(rel).parts) != 2:
                raise ValueError(
                    f"speech_commands: {root / list_name}: line {rel!r} is not 'word/file.wav'"
                )
            _require(root / rel, f"file (listed in {list_name})")
            items.append(_item(root, rel, _label_of_word(Path(rel).parts[0])))
        return items

    return {
        "train": train,
        "dev": listed(valid, "validation_list.txt"),
        "testing_list": listed(test, "testing_list.txt"),
        "silence": silence,
    }


def index_test_root(test_root) -> list[tuple]:
    """Index the official separate test set: ``<test_root>/<class>/*.wav`` for the 12 classes.

    Returns a sorted list of ``(path, label, name)``.

    Raises:
        FileNotFoundError: the root or one of the 12 class folders is missing (named).
        ValueError: a folder that is not one of the 12 classes.
    """
    root = _require(Path(test_root), "test root folder")
    for name in CLASSES:
        _require(root / name, "test class folder")
    items = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if class_dir.name.startswith("."):
            continue
        if class_dir.name not in CLASSES:
            raise ValueError(
                f"speech_commands: unexpected folder {class_dir} in the test set; the official "
                f"test set has exactly the folders {CLASSES}"
            )
        label = CLASSES.index(class_dir.name)
        for wav in sorted(class_dir.glob("*.wav")):
            items.append((wav, label, f"{class_dir.name}-{wav.name}"))
    return items
