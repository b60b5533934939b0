"""Lay fairseq ``main``'s MR-HuBERT files over an installed fairseq-fixed 0.12.3.1 (test-only env).

fairseq-fixed 0.12.3.1 has no MR-HuBERT model; fairseq ``main`` (since "Multires hubert
(#5363)", 2024-02) has it in the files below, and its ``wav2vec2.py`` differs from 0.12.3.1's only
by ``TransformerEncoder(skip_pos_conv=..., override_encoder_layer=...)``. Usage::

    python test/fairseq_main_overlay.py /path/to/fairseq-main-checkout

Without a path (or ``$FAIRSEQ_MAIN_SRC``) it does nothing and says so; the MR-HuBERT parity test
in ``test/test_fairseq_parity.py`` then skips, naming why. Never run it outside a test-only env.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

FILES = (
    "fairseq/models/multires_hubert/__init__.py",
    "fairseq/models/multires_hubert/multires_hubert.py",
    "fairseq/models/multires_hubert/multires_hubert_asr.py",
    "fairseq/tasks/multires_hubert_pretraining.py",
    "fairseq/models/wav2vec/wav2vec2.py",
)


def main(argv: list[str]) -> int:
    src = argv[1] if len(argv) > 1 else os.environ.get("FAIRSEQ_MAIN_SRC", "")
    if not src:
        print("fairseq_main_overlay: no fairseq main checkout given (arg or FAIRSEQ_MAIN_SRC): skipped")
        return 0
    spec = importlib.util.find_spec("fairseq")
    if spec is None or not spec.submodule_search_locations:
        print("fairseq_main_overlay: fairseq is not installed in this environment", file=sys.stderr)
        return 1
    site = Path(list(spec.submodule_search_locations)[0]).parent
    missing = [f for f in FILES if not (Path(src) / f).is_file()]
    if missing:
        print(f"fairseq_main_overlay: {src} is not a fairseq main checkout (missing {missing})", file=sys.stderr)
        return 1
    for rel in FILES:
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(src) / rel, site / rel)
    print(f"fairseq_main_overlay: {len(FILES)} files of {src} laid over {site / 'fairseq'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
