"""Trial scores from a finished ``-m inference`` run of ``sv_voxceleb1``.

``python -m s3prl.downstream.sv_voxceleb1.score_inference EXPDIR/inference.jsonl
[--trials TRIALS] [-o OUT]`` reads the runner's ``inference.jsonl`` (one
``{"wav": ..., "prediction": [embedding]}`` per line) and writes cosine trial scores with
:func:`s3prl.downstream.sv_voxceleb1.expert.score_embeddings` (default output:
``inference-trial-scores.txt`` next to the jsonl; default trials: every pair of wavs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .expert import score_embeddings


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jsonl", help="EXPDIR/inference.jsonl of an sv_voxceleb1 run")
    parser.add_argument("--trials", default=None,
                        help="trial list '[label] path1 path2' (default: every pair)")
    parser.add_argument("-o", "--output", default=None,
                        help="output file (default: inference-trial-scores.txt beside the jsonl)")
    args = parser.parse_args(argv)
    jsonl = Path(args.jsonl)
    if not jsonl.is_file():
        raise FileNotFoundError(f"inference output not found: {jsonl}")
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    out = Path(args.output) if args.output else jsonl.with_name("inference-trial-scores.txt")
    n = score_embeddings([r["wav"] for r in rows], [r["prediction"] for r in rows], out,
                         args.trials)
    print(f"wrote {n} trial scores to {out}")


if __name__ == "__main__":
    main()
