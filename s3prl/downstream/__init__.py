"""Downstream tasks: one folder per task (the ``-d`` name) with ``expert.py`` and ``config.yaml``."""
