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
import logging
import pickletools
import re
import typing
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch

__all__ = [
    "load_checkpoint",
    "UnsafeCheckpointError",
    "UnsupportedCheckpointError",
    "StandIn",
    "SAFE_GLOBALS",
    "to_plain",
    "load_state_dict_strict",
    "note_unused_entries",
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


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """Stand-in for ``copyreg._reconstructor``, which pickle protocols 0 and 1 call to
    rebuild a plain object (``argparse.Namespace``, fairseq's ``Dictionary``...).

    The real function calls ``base.__new__`` / ``base.__init__``; this one only
    creates ``object.__new__(cls)`` for a class the allowlist already admitted
    (``argparse.Namespace`` or a stand-in); the pickle's ``BUILD`` then sets its
    attributes as for protocol 2. Anything else is refused.
    """
    if base is not object or state is not None or not (
        isinstance(cls, type) and issubclass(cls, (argparse.Namespace, StandIn))
    ):
        raise UnsafeCheckpointError(
            f"refused copyreg._reconstructor({getattr(cls, '__qualname__', cls)!r}, "
            f"{getattr(base, '__qualname__', base)!r}, ...): only plain allowlisted classes are rebuilt"
        )
    return object.__new__(cls)


SAFE_GLOBALS += [
    (_safe_reconstructor, "copyreg._reconstructor"),
    (object, "builtins.object"),  # the ``base`` argument above; calling it builds an empty object
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
            the message names it (and what the file is). Nothing from the file
            was executed.
        UnsupportedCheckpointError: (a ``RuntimeError``) an intact file pickled
            with a protocol whose opcodes the weights-only unpickler lacks (0, 1,
            4, 5); the message names the format, protocol and opcode.
        RuntimeError: the file is not a readable PyTorch checkpoint (truncated,
            corrupt, or another kind of file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    allow = [*SAFE_GLOBALS, *extra_safe_globals]
    with torch.serialization.safe_globals(allow):
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # noqa: BLE001 - refused, unsupported or corrupt: say which
            raise _explain_failure(path, err, {_global_name(g) for g in allow}) from None


class UnsupportedCheckpointError(RuntimeError):
    """An intact checkpoint in a pickle format the weights-only unpickler cannot read.

    PyTorch's weights-only unpickler reads the opcodes of pickle protocols 2 and
    3 (``torch.save`` writes protocol 2); a file saved with
    ``pickle_protocol=0, 1, 4 or 5`` can use opcodes it refuses. The message says
    what the file is (zip or legacy format, protocol) and which opcode was
    refused. Nothing from the file was executed.
    """


_CORRUPT_HINT = (
    ". The file may be truncated, corrupt or not a PyTorch checkpoint; if it was "
    "downloaded, download it again (refresh=True)."
)
_UNSUPPORTED_OPERAND = re.compile(r"Unsupported operand (\d+)")


def _explain_failure(path: Path, err: BaseException, allowed: set) -> Exception:
    """The error to raise for a checkpoint ``torch.load(weights_only=True)`` refused.

    In this order: a global outside the allowlist (:class:`UnsafeCheckpointError`,
    naming it); an intact file whose pickle uses an opcode the weights-only
    unpickler lacks (:class:`UnsupportedCheckpointError`, naming the format,
    protocol and opcode); else a ``RuntimeError`` that says the file may be
    truncated or corrupt. All found by reading the file's pickles statically.
    """
    info = _inspect_pickles(path)
    message = str(err)
    found = set(_GLOBAL_IN_MESSAGE.findall(message)) | info.globals
    if info.fmt == "zip":
        try:
            found |= set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except Exception:  # noqa: BLE001 - protocols 0/1/4/5: our own scan above covers them
            pass
    from torch._weights_only_unpickler import _get_allowed_globals

    refused = sorted({_py3_name(g) for g in found if "." in g} - set(_get_allowed_globals()) - allowed)
    if refused:
        return UnsafeCheckpointError(
            f"refused to load {path}: it asks for the Python global(s) "
            f"{', '.join(repr(r) for r in refused)}, which are not on s3prl's allowlist "
            "of safe checkpoint classes (s3prl.util.checkpoint.SAFE_GLOBALS). Nothing from "
            f"the file was executed. The file is {info.describe()}. If this is a genuine "
            "checkpoint format, please report it."
        )
    operand = _UNSUPPORTED_OPERAND.search(message)
    if operand and info.intact:
        op = pickletools.code2op.get(chr(int(operand.group(1))))
        name = f"{op.name} ({int(operand.group(1))})" if op else operand.group(1)
        return UnsupportedCheckpointError(
            f"could not read checkpoint {path}: it is {info.describe()}, {info.intact_words()}, but its pickle "
            f"uses the opcode {name}, which PyTorch's weights-only unpickler does not read (it "
            "reads pickle protocols 2 and 3; torch.save writes 2). The file was refused without "
            "running any of it. If you trust its source, re-save it with the default protocol: "
            "torch.save(torch.load(path, weights_only=False), new_path)."
        )
    what = f" (the file looks like {info.describe()})" if info.fmt != "unknown" else ""
    return RuntimeError(
        f"could not read checkpoint {path}{what} ({type(err).__name__}): "
        f"{_short_reason(err)}{_CORRUPT_HINT}"
    )


@dataclass
class _PickleInfo:
    """What a static read of a checkpoint's pickles found (nothing executed)."""

    fmt: str = "unknown"  # "zip", "legacy" (torch.save before 1.6 / _use_new_zipfile_serialization=False)
    protocol: int | None = None
    intact: bool = False
    globals: set = field(default_factory=set)

    def describe(self) -> str:
        kind = {"zip": "a PyTorch checkpoint (zip format)",
                "legacy": "a PyTorch checkpoint (legacy non-zip format)"}.get(self.fmt, "an unknown file")
        return kind if self.protocol is None else f"{kind} pickled with protocol {self.protocol}"

    def intact_words(self) -> str:
        if self.fmt == "zip":
            return "intact (every zip member passes its CRC check)"
        return "with complete pickles (the raw tensor bytes after them are not checked)"


def _scan_pickle(data: bytes, start: int = 0) -> tuple[int, int | None, set]:
    """Parse one pickle of ``data`` at ``start`` with :mod:`pickletools` (static).

    Returns:
        ``(end, protocol, globals)``: the offset after its ``STOP``, its protocol
        (the ``PROTO`` argument; without one, the highest protocol its opcodes
        need: 0 or 1) and the ``module.name`` globals it names (``GLOBAL``, and
        ``STACK_GLOBAL`` from the strings pushed or fetched from the memo).

    Raises:
        ValueError: the bytes are not one complete pickle.
    """
    stream = io.BytesIO(data)
    stream.seek(start)
    found: set = set()
    proto, needed = None, 0
    memo: dict = {}
    strings: list = []  # recent string pushes (or None for any other push)
    end = None
    for op, arg, _pos in pickletools.genops(stream):
        needed = max(needed, op.proto)
        if op.name == "PROTO":
            proto = int(arg)
        elif op.name == "GLOBAL":
            module, _, name = str(arg).partition(" ")
            found.add(f"{module}.{name}")
        elif op.name == "STACK_GLOBAL":
            if len(strings) >= 2 and isinstance(strings[-2], str) and isinstance(strings[-1], str):
                found.add(f"{strings[-2]}.{strings[-1]}")
            else:
                found.add("<unknown>.<STACK_GLOBAL>")
        elif op.name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            key = len(memo) if op.name == "MEMOIZE" else arg
            memo[key] = strings[-1] if strings else None
            continue
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            strings.append(memo.get(arg))
            continue
        elif op.name == "STOP":
            end = stream.tell()
        strings.append(arg if isinstance(arg, str) and "UNICODE" in op.name else None)
    if end is None:
        raise ValueError("incomplete pickle")
    return end, (proto if proto is not None else needed), found


def _inspect_pickles(path: Path) -> _PickleInfo:
    """Find a checkpoint's format, pickle protocol, completeness and named globals."""
    info = _PickleInfo()
    try:
        if zipfile.is_zipfile(path):
            info.fmt = "zip"
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith("data.pkl")]
                if not names:
                    return info
                data = zf.read(names[0])
                crc_ok = zf.testzip() is None
            _end, info.protocol, info.globals = _scan_pickle(data)
            info.intact = crc_ok
            return info
        data = path.read_bytes()
        # legacy format: magic number, protocol version, sys info, the object,
        # the storage keys (five pickles), then the raw storage bytes
        offset, protocols = 0, []
        for _ in range(5):
            offset, proto, found = _scan_pickle(data, offset)
            protocols.append(proto)
            info.globals |= found
        info.fmt, info.protocol, info.intact = "legacy", protocols[3], True
    except Exception:  # noqa: BLE001 - not (or no longer) parseable: what was found stays
        pass
    return info


def _global_name(g: Any) -> str:
    if isinstance(g, tuple):
        return g[1]
    return f"{g.__module__}.{g.__qualname__}"


_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")


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
    """A checkpoint's weights do not fit the model.

    Raised by :func:`load_state_dict_strict` (the one weight loader of every
    upstream family) for missing or unexpected keys, a tensor of the wrong
    shape, a non-floating (e.g. int64) tensor where the model has floating
    weights, NaN/Inf values, or an entry that is not a tensor. The message
    names the checkpoint file and the keys.

    Both a ``KeyError`` and a ``ValueError``: ``except ValueError`` catches a bad
    checkpoint from every upstream family. ``str()`` is the plain message (not
    ``KeyError``'s repr).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _key_list(keys: list, limit: int) -> str:
    more = len(keys) - limit
    return f"{keys[:limit]}" + (f" (+{more} more)" if more > 0 else "")


_logger = logging.getLogger(__name__)
_NOTED: set = set()


def note_unused_entries(where: Any, entries: Iterable[str], what: str = "non-weight entries") -> None:
    """Log, once per checkpoint and set of names, the entries a loader leaves unread.

    Checkpoints carry training state besides the weights (step counters,
    optimizer and scheduler state, runner settings, training-only heads).
    They are no reason to refuse a file; this records at ``INFO`` level which
    ones were skipped, so a user can see it (``logging.getLogger("s3prl")``).

    Args:
        where: the checkpoint file (or a description of it).
        entries: names of the unread entries (nothing is logged when empty).
        what: how to call them in the message.
    """
    names = sorted(map(str, entries))
    if not names:
        return
    token = (str(where), what, tuple(names))
    if token in _NOTED:
        return
    _NOTED.add(token)
    _logger.info("checkpoint %s: ignoring %s %s", where, what, _key_list(names, 20))


def load_state_dict_strict(
    module: torch.nn.Module,
    state_dict: Any,
    *,
    where: Any,
    rename: Mapping[str, str] | Callable[[str], str] | None = None,
    ignore_prefixes: Iterable[str] = (),
    ignore_keys: Iterable[str] = (),
    require_ignored: Iterable[str] = (),
    what: str = "the architecture its config describes",
    limit: int = 20,
) -> dict:
    """Load a checkpoint's weights into ``module`` strictly, checking every tensor.

    The one weight loader of all upstream families. Steps: rename the
    checkpoint's keys (``rename``), drop the training-only ones
    (``ignore_keys``, ``ignore_prefixes``), then require exactly the module's
    ``state_dict()`` keys, each a tensor of the module's shape, of a floating
    dtype where the module's is floating (integer buffers must stay integer),
    with finite values only. Floating tensors are cast to the module's dtype.

    Args:
        module: the model to fill (its parameters and persistent buffers).
        state_dict: the checkpoint's weights, name -> tensor.
        where: the checkpoint file; every message starts with ``checkpoint <where>``.
        rename: checkpoint key -> module key, as a dict (keys not in it are kept)
            or a function of the key. Applied before the ``ignore_*`` checks.
        ignore_prefixes: (renamed) keys starting with one of these are dropped
            (training-only heads, EMA teachers...).
        ignore_keys: (renamed) keys that are dropped when present.
        require_ignored: keys the original model always has but the upstream
            does not read: they must be present, and are dropped.
        what: what the weights were compared with, for the message.
        limit: how many keys of each kind a message lists (sorted).

    Returns:
        The dict that was loaded (module key -> tensor, as in the checkpoint).

    Raises:
        CheckpointKeyError: (a ``KeyError`` and a ``ValueError``) the weights are
            not a mapping; two checkpoint keys rename to one; keys are missing or
            unexpected (``missing keys [...]; unexpected keys [...]``); an entry is
            not a tensor; a shape differs (``key: checkpoint (a, b) vs model (c, d)``);
            a dtype is not floating where the model's is (or the reverse); a tensor
            holds NaN/Inf (named with the count). Lists longer than ``limit`` end
            with ``(+N more)``.
    """
    head = f"checkpoint {where}"
    if not isinstance(state_dict, Mapping):
        raise CheckpointKeyError(
            f"{head}: the weights are a {type(state_dict).__name__}, not a state dict (name -> tensor)"
        )
    if rename is None:
        def _rename(k: str) -> str:
            return k
    elif callable(rename):
        _rename = rename
    else:
        table = dict(rename)

        def _rename(k: str) -> str:
            return table.get(k, k)

    renamed: dict = {}
    origin: dict = {}
    for key, value in state_dict.items():
        new = _rename(str(key))
        if new in renamed:
            raise CheckpointKeyError(f"{head}: keys {origin[new]!r} and {key!r} both name {new!r}")
        renamed[new], origin[new] = value, key
    prefixes = tuple(ignore_prefixes)
    dropped_keys = set(ignore_keys) | set(require_ignored)
    kept = {k: v for k, v in renamed.items() if k not in dropped_keys and not k.startswith(prefixes)}
    own = module.state_dict()
    missing = sorted(set(own) - set(kept)) + sorted(set(require_ignored) - set(renamed))
    unexpected = sorted(set(kept) - set(own))
    if missing or unexpected:
        raise CheckpointKeyError(
            f"{head} does not match {what}: missing keys {_key_list(missing, limit)}; "
            f"unexpected keys {_key_list(unexpected, limit)}"
        )
    problems = []
    for k in sorted(kept):
        v, ref = kept[k], own[k]
        if not isinstance(v, torch.Tensor):
            problems.append(f"{k} holds a {type(v).__name__}, not a tensor")
        elif tuple(v.shape) != tuple(ref.shape):
            problems.append(f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(ref.shape)}")
        elif v.is_complex() or v.is_floating_point() != ref.is_floating_point():
            problems.append(f"{k} has dtype {v.dtype}, the model's is {ref.dtype}")
        elif v.is_floating_point() and v.device.type != "meta" and v.numel() \
                and not bool(torch.isfinite(torch.stack(torch.aminmax(v.detach()))).all()):
            # min/max propagate NaN and reach +-Inf: one reduction, no mask of the size of the
            # tensor (~10x faster than isfinite on a 95M-parameter model); count only on failure
            bad = int((~torch.isfinite(v)).sum())
            problems.append(f"{k} has {bad} non-finite (NaN/Inf) value(s) of {v.numel()}")
    if problems:
        raise CheckpointKeyError(
            f"{head}: weights that do not fit {what}: {_key_list(problems, limit)}"
        )
    with torch.no_grad():
        module.load_state_dict(kept, strict=True)
    return kept
