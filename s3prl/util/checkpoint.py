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

import argparse
import pickle
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

__all__ = ["load_checkpoint", "UnsafeCheckpointError", "StandIn", "SAFE_GLOBALS", "to_plain"]


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
    """Stand-in for omegaconf containers/nodes; :func:`to_plain` unwraps them."""


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
]


SAFE_GLOBALS: list = [
    argparse.Namespace,
    *[(_stand_in(n), n) for n in _STAND_IN_NAMES],
    *[(_omega(n), n) for n in _OMEGACONF_NAMES],
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
            allowed = {
                g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}" for g in allow
            }
            try:
                found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
            except Exception:  # noqa: BLE001 - unreadable file: report the original error
                found = []
            refused = sorted(set(found) - allowed)
            if not refused:
                raise RuntimeError(f"could not read checkpoint {path}: {err}") from err
            raise UnsafeCheckpointError(
                f"refused to load {path}: it asks for the Python global(s) "
                f"{', '.join(repr(r) for r in refused)}, which are not on s3prl's allowlist "
                "of safe checkpoint classes. s3prl never unpickles arbitrary code; if this is "
                "a genuine checkpoint format, please report it."
            ) from None
        except (RuntimeError, EOFError, OSError, ValueError) as err:
            raise RuntimeError(f"could not read checkpoint {path}: {err}") from err
