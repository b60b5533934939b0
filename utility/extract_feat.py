#!/usr/bin/env python3
"""Extract hidden states of an s3prl upstream (also installed as ``s3prl-extract``).

    python utility/extract_feat.py NAME OUTPUT_DIR                  # OUTPUT_DIR/NAME.pt, bundled sample speech
    python utility/extract_feat.py NAME OUTPUT_DIR --wav-dir DIR    # one output per .wav/.flac under DIR

See ``python utility/extract_feat.py --help`` and :mod:`s3prl.extract` for the options
and the output format.
"""

import sys
from pathlib import Path

try:
    import s3prl  # noqa: F401
except ImportError:  # run from a clone without ``pip install -e .``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s3prl.extract import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
