"""``python -m s3prl.extract``: the same command as ``s3prl-extract``."""

import sys

from .cli import main

sys.exit(main())
