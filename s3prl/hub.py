"""Every upstream entry, plus the hub verbs users know from ``torch.hub``.

This module star-imports ``s3prl/upstream/<name>/hubconf.py`` for every
upstream folder (each hubconf lists its entries in ``__all__``), so::

    import s3prl.hub as hub
    model = hub.hubert_base()            # or hub.load("hubert_base")
    hub.options()                        # sorted entry names
    hub.options("wavlm*")                # shell-style wildcards
    print(hub.help("hubert_base"))       # paper, checkpoint, stride, hidden size, layers

Only the names in a hubconf's ``__all__`` become entries: helpers a hubconf
imports (``Path``, ``FileLock``, converters) never leak in, and names starting
with ``_`` are refused.

Importing it is cheap (no torch, no model code): hubconf files import only
:mod:`s3prl.util.registry` and the standard library at module level and
import their ``expert`` inside the entry functions; the download helpers
import ``requests``/``filelock``/``tqdm`` only when they download.

Verbs (not entries; neither :func:`options` nor ``torch.hub.list`` shows
them): :func:`options`, :func:`help`, :func:`load`, :func:`get_dir`,
:func:`set_dir`, :func:`download_url_to_file`, :func:`load_state_dict_from_url`.
"""

from __future__ import annotations

import difflib as _difflib
import fnmatch as _fnmatch
import functools as _functools
import importlib as _importlib
import inspect as _inspect
from pathlib import Path as _Path

from s3prl.util.download import (  # noqa: F401 - re-exported hub verbs
    download_url_to_file,
    get_dir,
    load_state_dict_from_url,
    set_dir,
)

VERBS = (
    "options",
    "help",
    "load",
    "get_dir",
    "set_dir",
    "download_url_to_file",
    "load_state_dict_from_url",
)

_UPSTREAM_DIR = _Path(__file__).resolve().parent / "upstream"
_ENTRIES: dict = {}


def _discover(upstream_dir: _Path, package: str) -> dict:
    """``{name: entry}`` from ``<package>.<folder>.hubconf.__all__`` for every
    ``<upstream_dir>/<folder>/hubconf.py`` (folders in sorted order).

    Raises:
        ImportError: a hubconf has no ``__all__``, lists a private (``_``) or
            non-callable name, a verb's name, or a name another hubconf already
            defines (the message names the module and the name).
    """
    entries: dict = {}
    folders = sorted(p for p in upstream_dir.iterdir() if (p / "hubconf.py").is_file())
    for folder in folders:
        module = _importlib.import_module(f"{package}.{folder.name}.hubconf")
        names = getattr(module, "__all__", None)
        if names is None:
            raise ImportError(f"{module.__name__} must define __all__ (its entry names)")
        for name in names:
            where = f"{module.__name__}.__all__"
            if not isinstance(name, str) or not name.isidentifier():
                raise ImportError(f"{where} lists {name!r}, which is not a valid entry name")
            if name.startswith("_"):
                raise ImportError(f"{where} lists private name {name!r}")
            if name in VERBS:
                raise ImportError(f"{where} lists {name!r}, which is a hub verb")
            if name in entries:
                raise ImportError(
                    f"entry {name!r} is defined twice: in {entries[name].__module__} "
                    f"and {module.__name__}"
                )
            if not hasattr(module, name):
                raise ImportError(f"{where} lists {name!r}, which the module does not define")
            fn = getattr(module, name)
            if not callable(fn) or isinstance(fn, type):
                raise ImportError(f"{where} lists {name!r}, which is not an entry function")
            entries[name] = _with_dtype_option(fn)
    return entries


def _with_dtype_option(fn):
    """Entry ``fn`` plus the ``dtype=`` option every entry takes (same name,
    docstring, ``info`` and signature via ``__wrapped__``).

    ``dtype`` (``torch.bfloat16`` / ``torch.float16`` / ``"bf16"`` / ``"fp16"``)
    is handed to the entry when its signature names it (the family then
    converts its parameters), then :meth:`s3prl.upstream.interface.UpstreamBase.set_dtype`
    makes the forward pass autocast to it and return hidden states in it.
    """

    native = "dtype" in _inspect.signature(fn).parameters

    @_functools.wraps(fn)
    def entry_with_dtype(*args, dtype=None, **kwargs):
        if dtype is None:
            return fn(*args, **kwargs)
        from s3prl.upstream.interface import resolve_dtype

        dtype = resolve_dtype(dtype)
        model = fn(*args, dtype=dtype, **kwargs) if native else fn(*args, **kwargs)
        return model.set_dtype(dtype)

    return entry_with_dtype


_ENTRIES.update(_discover(_UPSTREAM_DIR, "s3prl.upstream"))
globals().update(_ENTRIES)


def options(pattern: str = "*") -> list:
    """Sorted names of the upstream entries matching a shell-style wildcard.

    Example: ``options("wavlm*")``, ``options("*_local")``, ``options("?pc")``.
    The hub verbs are never listed.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"options(pattern): pattern must be a str, got {type(pattern).__name__}")
    return sorted(n for n in _ENTRIES if _fnmatch.fnmatchcase(n, pattern))


def _entry(name: str):
    if not isinstance(name, str):
        raise TypeError(f"entry name must be a str, got {type(name).__name__}")
    if name not in _ENTRIES:
        key = name.lower().replace("-", "_")
        close = _difflib.get_close_matches(key, list(_ENTRIES), n=5, cutoff=0.6)
        close += [n for n in sorted(_ENTRIES) if key and key in n and n not in close][: 5 - len(close)]
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ValueError(
            f"unknown upstream entry {name!r}{hint} (s3prl.hub.options() lists all "
            f"{len(_ENTRIES)} entries)"
        )
    return _ENTRIES[name]


def help(name: str) -> str:  # noqa: A001 - mirrors torch.hub.help
    """The docstring of entry ``name`` (what ``torch.hub.help`` prints): what it
    is, paper, checkpoint source, stride, hidden size, number of hidden states;
    followed by a ``Code:`` section naming the family (upstream folder), the entry
    function (module, file, line) and the module of the model code with its file,
    so that a name leads to the file in one step.

    Raises:
        ValueError: ``name`` is not an entry (the message lists close names).
    """
    fn = _entry(name)
    return (fn.__doc__ or "").rstrip("\n") + "\n\n" + _code_facts(name, fn)


def _code_facts(name: str, fn) -> str:
    """``Code:`` section of :func:`help`: family, entry function and model module with files.

    The model module is the ``...expert`` module the entry function imports, itself or
    through the helper functions of its ``hubconf`` it calls (read from the source, nothing
    is imported but the packages), else its family's ``expert.py``.
    """
    import ast
    import importlib.util

    original = _inspect.unwrap(fn)
    module = original.__module__
    package = module.rpartition(".")[0]
    entry_file = _inspect.getsourcefile(original)
    line = _inspect.getsourcelines(original)[1]
    functions = {
        node.name: node
        for node in ast.parse(_Path(entry_file).read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef)
    }
    model, todo, seen = None, [original.__name__], set()
    while todo and model is None:
        fname = todo.pop(0)
        if fname in seen or fname not in functions:
            continue
        seen.add(fname)
        for node in ast.walk(functions[fname]):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1] == "expert":
                model = importlib.util.resolve_name("." * node.level + node.module, package)
                break
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                todo.append(node.func.id)
    if model is None and (_Path(entry_file).parent / "expert.py").is_file():
        model = f"{package}.expert"
    spec = importlib.util.find_spec(model) if model else None
    family = getattr(getattr(fn, "info", None), "family", "") or package.rpartition(".")[2]
    rows = [
        ("family", family),
        ("entry", f"{module}.{original.__name__} ({entry_file}, line {line})"),
        ("model code", f"{model} ({spec.origin})" if spec is not None and spec.origin else "-"),
    ]
    return "    Code:\n" + "\n".join(f"    {k}: {v}" for k, v in rows) + "\n"


def load(name: str, **kwargs):
    """Build upstream ``name`` with the entry's options:
    ``load("hubert_base", refresh=True)``, ``load("hubert_local", ckpt=path)``.

    Returns:
        The upstream model (an ``nn.Module``; see
        :class:`s3prl.upstream.interface.UpstreamBase`).

    Raises:
        ValueError: ``name`` is not an entry (the message lists close names).
    """
    return _entry(name)(**kwargs)
