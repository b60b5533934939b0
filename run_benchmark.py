#!/usr/bin/env python
"""Downstream benchmark runner: ``python run_benchmark.py -m train -n NAME -u UPSTREAM -d DOWNSTREAM``.

Same as the ``s3prl-benchmark`` console script; see ``docs/downstream.rst``.
"""

import sys

from s3prl.downstream.runner import main

if __name__ == "__main__":
    sys.exit(main())
