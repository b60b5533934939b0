"""torch.hub entry point of s3prl.

``torch.hub.load("s3prl/s3prl", "hubert_base")`` or, from a clone,
``torch.hub.load(REPO_DIR, "hubert_base", source="local")``. The entries are
exactly those of :mod:`s3prl.hub` (``s3prl.hub.options()``) with the same
docstrings (what ``torch.hub.help`` prints); ``torch.hub.list`` shows them and
nothing else (the hub verbs live in :mod:`s3prl.hub` only).
"""

dependencies = ["torch", "numpy", "requests", "filelock", "tqdm", "yaml"]

import s3prl.hub as _hub  # noqa: E402 - torch.hub reads `dependencies` first

globals().update({_name: getattr(_hub, _name) for _name in _hub.options()})
