"""Build a VoxCeleb1-style verification layout from LibriSpeech-style speaker folders.

``python -m s3prl.downstream.sv_voxceleb1.prepare_librispeech SRC DST --test-speakers A,B,...``

``SRC`` holds ``<speaker>/.../<speaker>-<chapter>-<utt>.flac`` (e.g. the bundled
``librispeech-10spk``, or a LibriSpeech subset). ``DST`` receives::

    dev/wav/<speaker>/<chapter>/<utt>.flac    every speaker not in --test-speakers (training)
    test/wav/<speaker>/<chapter>/<utt>.flac   the --test-speakers (held out)
    veri_test2.txt                            every pair of test utterances: '<label> <p1> <p2>'
    dev_trials.txt                            every pair of training utterances (model selection)

The chapter plays VoxCeleb's video, the utterance number its clip. Files are symbolic links
to ``SRC`` (``--copy`` copies them). ``DST`` must not exist yet (the layout is built in a
temporary folder, then renamed, so a failure leaves nothing behind).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["prepare"]


def _utterances(src: Path) -> dict[str, list[tuple[str, str, Path]]]:
    by_speaker: dict[str, list[tuple[str, str, Path]]] = {}
    for path in sorted(src.rglob("*.flac")) + sorted(src.rglob("*.wav")):
        parts = path.stem.split("-")
        if len(parts) != 3:
            raise ValueError(f"{path}: expected a '<speaker>-<chapter>-<utt>' file name")
        speaker, chapter, utt = parts
        by_speaker.setdefault(speaker, []).append((chapter, utt, path))
    return by_speaker


def _pairs(keys: list[str], speaker_of) -> list[str]:
    return [f"{int(speaker_of(a) == speaker_of(b))} {a} {b}"
            for a, b in itertools.combinations(keys, 2)]


def prepare(src, dst, test_speakers: list[str], copy: bool = False) -> dict[str, int]:
    """Build the layout (see the module docstring).

    Returns:
        Counts: ``train_speakers``, ``train_utterances``, ``test_utterances``, ``test_trials``,
        ``dev_trials``.

    Raises:
        FileNotFoundError: ``src`` or a test speaker is missing. FileExistsError: ``dst``
            exists. ValueError: a file name not of the LibriSpeech form, or no training speaker.
    """
    src, dst = Path(src).resolve(), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"source folder not found: {src}")
    if dst.exists():
        raise FileExistsError(f"destination exists: {dst}")
    by_speaker = _utterances(src)
    for spk in test_speakers:
        if spk not in by_speaker:
            raise FileNotFoundError(f"test speaker {spk} has no <speaker>-<chapter>-<utt> audio "
                                    f"under {src}")
    train = sorted(s for s in by_speaker if s not in test_speakers)
    if not train:
        raise ValueError("every speaker is a test speaker: nothing left to train on")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        keys = {"dev": [], "test": []}
        for part, speakers in (("dev", train), ("test", sorted(test_speakers))):
            for spk in speakers:
                for chapter, utt, path in by_speaker[spk]:
                    rel = f"{spk}/{chapter}/{utt}{path.suffix}"
                    out = tmp / part / "wav" / rel
                    out.parent.mkdir(parents=True, exist_ok=True)
                    if copy:
                        shutil.copyfile(path, out)
                    else:
                        os.symlink(path, out)
                    keys[part].append(rel)

        def speaker_of(key: str) -> str:
            return key.split("/")[0]

        test_trials = _pairs(keys["test"], speaker_of)
        dev_trials = _pairs(keys["dev"], speaker_of)
        (tmp / "veri_test2.txt").write_text("".join(t + "\n" for t in test_trials))
        (tmp / "dev_trials.txt").write_text("".join(t + "\n" for t in dev_trials))
        tmp.rename(dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"train_speakers": len(train), "train_utterances": len(keys["dev"]),
            "test_utterances": len(keys["test"]), "test_trials": len(test_trials),
            "dev_trials": len(dev_trials)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", help="folder of <speaker>/.../<speaker>-<chapter>-<utt>.flac")
    parser.add_argument("dst", help="new folder for the VoxCeleb1-style layout")
    parser.add_argument("--test-speakers", required=True,
                        help="comma-separated held-out speaker ids")
    parser.add_argument("--copy", action="store_true", help="copy files instead of symlinks")
    args = parser.parse_args(argv)
    counts = prepare(args.src, args.dst, [s for s in args.test_speakers.split(",") if s],
                     copy=args.copy)
    print(" | ".join(f"{k}: {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
