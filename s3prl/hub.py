"""Every upstream entry, plus the hub verbs users know from ``torch.hub``.

This module star-imports ``s3prl/upstream/<name>/hubconf.py`` for every
upstream folder (each hubconf lists its entries in ``__all__``), so::

    import s3prl.hub as hub
    model = hub.hubert_base()            # or hub.load("hubert_base")
    hub.options()                        # sorted entry names, wildcards allowed

Importing it is cheap: hubconf files import their model code lazily, inside
the entry functions.

Verbs (not entries): :func:`options`, :func:`help`, :func:`load`,
:func:`get_dir`, :func:`set_dir`, :func:`download_url_to_file`,
:func:`load_state_dict_from_url`.
"""

from __future__ import annotations

import builtins as _builtins
import fnmatch as _fnmatch
import importlib as _importlib
from pathlib import Path as _Path

from s3prl.util.download import (  # noqa: F401 - re-exported hub verbs
    download_url_to_file,
    get_dir,
    load_state_dict_from_url,
    set_dir,
)

_UPSTREAM_DIR = _Path(__file__).resolve().parent / "upstream"
_ENTRIES: dict[str, object] = {}


def _star_import_all() -> None:
    """``from s3prl.upstream.<name>.hubconf import *`` for every upstream folder."""
    for folder in sorted(p for p in _UPSTREAM_DIR.iterdir() if (p / "hubconf.py").is_file()):
        module = _importlib.import_module(f"s3prl.upstream.{folder.name}.hubconf")
        names = getattr(module, "__all__", None)
        if names is None:
            raise ImportError(f"{module.__name__} must define __all__ (its entry names)")
        for name in names:
            if name.startswith("_"):
                raise ImportError(f"{module.__name__}.__all__ lists private name {name!r}")
            if name in _ENTRIES:
                raise ImportError(f"entry {name!r} is defined twice (again in {module.__name__})")
            fn = getattr(module, name)
            if not callable(fn):
                raise ImportError(f"{module.__name__}.{name} is in __all__ but not callable")
            _ENTRIES[name] = fn
            globals()[name] = fn


_star_import_all()


def options(pattern: str = "*") -> list[str]:
    """Sorted names of the upstream entries, filtered by a shell-style wildcard.

    Example: ``options("wavlm*")``.
    """
    return sorted(n for n in _ENTRIES if _fnmatch.fnmatchcase(n, pattern))


def _entry(name: str):
    if name not in _ENTRIES:
        close = [n for n in _ENTRIES if name.lower().replace("-", "_") in n][:5]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown upstream entry {name!r}{hint} (see s3prl.hub.options())")
    return _ENTRIES[name]


def help(name: str) -> str:  # noqa: A001 - mirrors torch.hub.help
    """The docstring of entry ``name`` (what ``torch.hub.help`` prints)."""
    return _entry(name).__doc__ or ""


def load(name: str, **kwargs):
    """Build upstream ``name``: ``load("hubert_base", refresh=True)``.

    Raises:
        ValueError: ``name`` is not an entry.
    """
    return _entry(name)(**kwargs)


del _builtins
