"""torch.hub entry point of s3prl.

``torch.hub.load("s3prl/s3prl", "hubert_base")`` or, from a clone,
``torch.hub.load(REPO_DIR, "hubert_base", source="local")``. The entries are
exactly those of :mod:`s3prl.hub` (``s3prl.hub.options()``).
"""

dependencies = ["torch", "numpy", "requests", "filelock", "tqdm", "yaml"]

import s3prl.hub as _hub  # noqa: E402

globals().update({_name: getattr(_hub, _name) for _name in _hub.options()})
