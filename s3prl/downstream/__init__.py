"""Downstream benchmark: task folders (``<name>/expert.py`` + ``config.yaml``) and the runner.

Each sub-folder with an ``expert.py`` is a task, named by the runner's ``-d``
argument; see ``docs/downstream.rst`` and ``docs/how_to_add_downstream.rst``.
The runner is :mod:`s3prl.downstream.runner` (``run_benchmark.py`` /
``s3prl-benchmark``).
"""
