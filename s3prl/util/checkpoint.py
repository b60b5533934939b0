"""Safe checkpoint loading: ``torch.load(weights_only=True)`` plus an allowlist.

Released speech checkpoints pickle a few configuration classes besides
tensors: fairseq's ``argparse.Namespace`` (``args``), fairseq's
``Dictionary`` (``task_state['dictionaries']``), omegaconf containers, numpy
scalars. :func:`load_checkpoint` reads them with PyTorch's weights-only
unpickler, mapping exactly these known globals to harmless stand-ins; any
other global (``os.system``, ``builtins.eval``, a class of an unknown package)
is refused with :class:`UnsafeCheckpointError` naming it. Nothing in a
checkpoint is ever executed.
"""

from __future__ import annotations

import _compat_pickle
import argparse
import io
import pickle
import pickletools
import re
import typing
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

__all__ = [
    "load_checkpoint",
    "UnsafeCheckpointError",
    "StandIn",
    "SAFE_GLOBALS",
    "to_plain",
    "check_state_dict_keys",
    "CheckpointKeyError",
]


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint asks for a Python global outside the allowlist."""


class StandIn:
    """Inert replacement for a pickled object of a known third-party class.

    The unpickler creates it without calling any constructor and stores the
    pickled state in :attr:`state` (a dict for ordinary objects). Attribute
    reads fall through to that dict, so ``d.symbols`` works for a fairseq
    ``Dictionary``.
    """

    _qualname = "StandIn"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["state"] = {"args": args, **kwargs}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            # (dict_state, slot_state) as pickled for objects with __slots__
            merged = dict(state[0] or {})
            merged.update(state[1])
            state = merged
        self.__dict__["state"] = state

    def __getattr__(self, name: str) -> Any:
        state = self.__dict__.get("state")
        if isinstance(state, dict) and name in state:
            return state[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"<{self._qualname} (stand-in)>"


def _stand_in(qualname: str) -> type:
    return type(qualname.rsplit(".", 1)[-1], (StandIn,), {"_qualname": qualname})


class _OmegaConfStandIn(StandIn):
    """Stand-in for omegaconf containers/nodes; :func:`to_plain` unwraps them.

    omegaconf (2.0-2.3) pickles a container's ``__dict__``: ``_metadata``,
    ``_parent`` (the enclosing container, so the graph has cycles) and
    ``_content`` (dict of key -> node for ``DictConfig``, list of nodes for
    ``ListConfig``, or ``None`` / ``"???"`` / an interpolation string); a value
    node's state holds ``_val``. Besides :func:`to_plain`, ``cfg.model.layers``
    and ``cfg["model"]["layers"]`` read values (containers stay stand-ins, value
    nodes are unwrapped). Source: omegaconf ``basecontainer.py`` / ``base.py``
    (``__getstate__``), read for the layout only.
    """

    def _content(self) -> Any:
        state = self.__dict__.get("state")
        return state.get("_content") if isinstance(state, dict) else None

    @staticmethod
    def _unwrap(node: Any) -> Any:
        if isinstance(node, _OmegaConfStandIn):
            state = node.__dict__.get("state")
            if isinstance(state, dict) and "_val" in state and "_content" not in state:
                return to_plain(state["_val"])
        return node

    def __getattr__(self, name: str) -> Any:
        state = self.__dict__.get("state")
        if isinstance(state, dict) and name in state:
            return state[name]
        content = self._content()
        if isinstance(content, dict) and name in content:
            return self._unwrap(content[name])
        raise AttributeError(name)

    def __getitem__(self, key: Any) -> Any:
        content = self._content()
        if isinstance(content, (dict, list)):
            return self._unwrap(content[key])
        raise TypeError(f"{self._qualname} stand-in holding {content!r} is not subscriptable")

    def __len__(self) -> int:
        content = self._content()
        return len(content) if isinstance(content, (dict, list)) else 0


def _omega(qualname: str) -> type:
    return type(qualname.rsplit(".", 1)[-1], (_OmegaConfStandIn,), {"_qualname": qualname})


# Globals known to occur in released speech checkpoints. Each maps the pickled
# name to a harmless object: real classes only where constructing them runs no
# user-controlled code.
_STAND_IN_NAMES = [
    "fairseq.data.dictionary.Dictionary",
    "fairseq.data.dictionary.TruncatedDictionary",
    "fairseq.dataclass.configs.FairseqConfig",
]
_OMEGACONF_NAMES = [
    "omegaconf.dictconfig.DictConfig",
    "omegaconf.listconfig.ListConfig",
    "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata",
    "omegaconf.nodes.AnyNode",
    "omegaconf.nodes.StringNode",
    "omegaconf.nodes.IntegerNode",
    "omegaconf.nodes.FloatNode",
    "omegaconf.nodes.BooleanNode",
    "omegaconf.nodes.EnumNode",
    "omegaconf.nodes.ValueNode",
    "omegaconf.nodes.BytesNode",  # omegaconf >= 2.2
    "omegaconf.nodes.PathNode",  # omegaconf >= 2.2
    "omegaconf.base.UnionNode",  # omegaconf >= 2.3
]


def _plain_defaultdict(default_factory: Any = None, *args: Any) -> dict:
    """Stand-in for ``collections.defaultdict`` (omegaconf's ``resolver_cache``):
    a plain dict; the factory is dropped, never called."""
    return dict(*args)


SAFE_GLOBALS: list = [
    argparse.Namespace,
    *[(_stand_in(n), n) for n in _STAND_IN_NAMES],
    *[(_omega(n), n) for n in _OMEGACONF_NAMES],
    # omegaconf metadata pickles type objects (ref_type=dict/list/int/typing.Any,
    # typing.Dict/List in >= 2.1) and ``defaultdict(dict)``; calling these builtins
    # only builds plain containers/numbers.
    dict,
    list,
    int,
    float,
    str,
    bool,
    (typing.Any, "typing.Any"),
    (typing.Dict, "typing.Dict"),
    (typing.List, "typing.List"),
    (_plain_defaultdict, "collections.defaultdict"),
    np.dtype,
    (np.dtype, "numpy.core.multiarray.dtype"),
]
# numpy scalars (e.g. fairseq's ``best_loss``) and their dtype classes.
_np_scalar = getattr(np, "_core", np.core).multiarray.scalar
SAFE_GLOBALS += [
    (_np_scalar, "numpy.core.multiarray.scalar"),
    (_np_scalar, "numpy._core.multiarray.scalar"),
]
for _dt in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType", "Float16DType"):
    if hasattr(np, "dtypes") and hasattr(np.dtypes, _dt):
        SAFE_GLOBALS.append((getattr(np.dtypes, _dt), f"numpy.dtypes.{_dt}"))
# numpy arrays (numeric dtypes; an object array's items go through this same
# unpickler, so they are subject to the allowlist too).
_np_reconstruct = getattr(np, "_core", np.core).multiarray._reconstruct
SAFE_GLOBALS += [
    np.ndarray,
    (np.ndarray, "numpy.ndarray"),
    (_np_reconstruct, "numpy.core.multiarray._reconstruct"),
    (_np_reconstruct, "numpy._core.multiarray._reconstruct"),
]


def to_plain(obj: Any) -> Any:
    """Recursively turn stand-ins, namespaces and omegaconf containers into
    plain Python values (dicts, lists, scalars).

    ``argparse.Namespace`` becomes a dict of its attributes; an omegaconf
    ``DictConfig`` a dict of its content; other stand-ins their pickled state.
    """
    if isinstance(obj, argparse.Namespace):
        return {k: to_plain(v) for k, v in vars(obj).items()}
    if isinstance(obj, _OmegaConfStandIn):
        state = obj.__dict__.get("state")
        if isinstance(state, dict) and "_content" in state:
            return to_plain(state["_content"])
        if isinstance(state, dict) and "_val" in state:
            return to_plain(state["_val"])
        return to_plain(state)
    if isinstance(obj, StandIn):
        return to_plain(obj.__dict__.get("state"))
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj) if isinstance(obj, list) else tuple(
            to_plain(v) for v in obj
        )
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def load_checkpoint(
    path: str | Path,
    extra_safe_globals: Iterable = (),
    map_location: str | torch.device = "cpu",
) -> Any:
    """Load a checkpoint with ``torch.load(weights_only=True)`` and the allowlist.

    Args:
        path: a local checkpoint file (use :func:`s3prl.util.download.resolve_checkpoint`
            for URLs).
        extra_safe_globals: more ``class`` or ``(stand_in, "module.Name")``
            entries a family knows to be harmless.
        map_location: where tensors go; ``"cpu"`` by default.

    Returns:
        The unpickled object; known config classes come back as stand-ins or
        ``argparse.Namespace`` (see :func:`to_plain`).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file asks for a global outside the allowlist;
            the message names it. Nothing from the file was executed.
        RuntimeError: the file is not a readable PyTorch checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    allow = [*SAFE_GLOBALS, *extra_safe_globals]
    with torch.serialization.safe_globals(allow):
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            allowed = {_global_name(g) for g in allow}
            found = _globals_named_in(path, str(err))
            refused = sorted(found - allowed)
            if not refused:
                raise RuntimeError(
                    f"could not read checkpoint {path} with the weights-only unpickler: "
                    f"{_short_reason(err)}{_CORRUPT_HINT}"
                ) from None
            raise UnsafeCheckpointError(
                f"refused to load {path}: it asks for the Python global(s) "
                f"{', '.join(repr(r) for r in refused)}, which are not on s3prl's allowlist "
                "of safe checkpoint classes (s3prl.util.checkpoint.SAFE_GLOBALS). Nothing from "
                "the file was executed. If this is a genuine checkpoint format, please report it."
            ) from None
        except Exception as err:  # noqa: BLE001 - corrupt/truncated files fail in many ways
            raise RuntimeError(
                f"could not read checkpoint {path} ({type(err).__name__}): "
                f"{_short_reason(err)}{_CORRUPT_HINT}"
            ) from err


_CORRUPT_HINT = (
    ". The file may be truncated, corrupt or not a PyTorch checkpoint; if it was "
    "downloaded, download it again (refresh=True)."
)


def _global_name(g: Any) -> str:
    if isinstance(g, tuple):
        return g[1]
    return f"{g.__module__}.{g.__qualname__}"


_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")


def _globals_in_pickle_bytes(data: bytes) -> set:
    """Globals named by the pickle(s) in ``data`` (static scan, nothing executed).

    Handles several concatenated pickles (the legacy ``torch.save`` format) and
    ``STACK_GLOBAL`` (protocol >= 4, module and name are the last two strings).
    """
    found: set = set()
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        strings: list = []
        try:
            for op, arg, _pos in pickletools.genops(stream):
                if op.name == "GLOBAL":
                    module, _, name = str(arg).partition(" ")
                    found.add(f"{module}.{name}")
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.add(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str) and "UNICODE" in op.name:
                    strings.append(arg)
        except Exception:  # noqa: BLE001 - not (or no longer) a pickle: stop scanning
            break
        if stream.tell() == 0:
            break
    return found


def _globals_named_in(path: Path, message: str) -> set:
    """Globals a checkpoint asks for: torch's scan (zip format), a static scan
    of the pickles (zip members ``*.pkl`` or a legacy/plain pickle file), and
    any ``GLOBAL x.y`` in torch's error message."""
    found = set(_GLOBAL_IN_MESSAGE.findall(message))
    try:
        if zipfile.is_zipfile(path):
            found |= set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        else:
            found |= _globals_in_pickle_bytes(path.read_bytes())
    except Exception:  # noqa: BLE001 - unreadable: only the message's names remain
        pass
    from torch._weights_only_unpickler import _get_allowed_globals

    return {_py3_name(g) for g in found if "." in g} - set(_get_allowed_globals())


def _py3_name(qualified: str) -> str:
    """``__builtin__.long`` -> ``builtins.int`` (protocol-2 pickles use Python 2 names)."""
    module, _, name = qualified.rpartition(".")
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}"


def _short_reason(err: BaseException) -> str:
    """torch's error without its advice to retry with ``weights_only=False``."""
    text = str(err)
    m = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\n\n|$)", text, re.S)
    if m and m.group(1).strip():
        return m.group(1).strip()
    lines = [
        ln.strip()
        for ln in text.splitlines()
        if ln.strip() and "weights_only" not in ln and "torch.load to learn more" not in ln
    ]
    return " ".join(lines) or type(err).__name__


class CheckpointKeyError(KeyError, ValueError):
    """A checkpoint's state-dict keys do not match the model (missing or unexpected keys).

    Both a ``KeyError`` and a ``ValueError``: ``except ValueError`` catches a bad
    checkpoint from every upstream family (most report key mismatches as
    ``ValueError``). ``str()`` is the plain message (not ``KeyError``'s repr).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _key_list(keys: list, limit: int) -> str:
    more = len(keys) - limit
    return f"{keys[:limit]}" + (f" (+{more} more)" if more > 0 else "")


def check_state_dict_keys(expected: Iterable[str], found: Iterable[str], where: str, limit: int = 20) -> None:
    """Refuse a state dict whose keys differ from the model's.

    Args:
        expected: the keys the model loads (e.g. ``model.state_dict().keys()``).
        found: the checkpoint's keys (training-only keys already removed).
        where: the start of the message, naming the checkpoint and what it was
            compared with (e.g. ``"checkpoint x.pt does not match DeCoAR 2.0"``).
        limit: how many keys of each kind the message lists (sorted).

    Raises:
        CheckpointKeyError: (a ``KeyError`` and a ``ValueError``)
            ``"<where>: missing keys [...]; unexpected keys [...]"`` when
            a key is missing or unexpected (lists longer than ``limit`` end
            with ``(+N more)``).
    """
    expected, found = set(expected), set(found)
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise CheckpointKeyError(
            f"{where}: missing keys {_key_list(missing, limit)}; "
            f"unexpected keys {_key_list(unexpected, limit)}"
        )
