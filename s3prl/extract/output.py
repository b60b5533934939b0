"""Output formats of an extraction run and the atomic write of every output file.

Part of :mod:`s3prl.extract`: ``pt`` / ``npy`` / ``safetensors`` writers (:data:`WRITERS`),
:func:`load_output` to read any of them back, and :func:`write_atomic`.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Callable

FORMATS = {"pt": ".pt", "npy": ".npy", "safetensors": ".safetensors"}

__all__ = ["FORMATS", "WRITERS", "write_atomic", "load_output", "frames_of_output"]


def _host() -> str:
    """This machine's name, reduced to ``[A-Za-z0-9_-]`` (it is part of temporary file names)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "localhost"


def _tmp_name(final: Path) -> Path:
    """``.NAME.<pid>.<random>@<host>.tmp`` next to ``final``: unique per writer (process and
    call), and naming the writer, so that :func:`_is_stale` can tell whether it is gone."""
    token = os.urandom(4).hex()
    return final.with_name(f".{final.name}.{os.getpid()}.{token}@{_host()}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (owned by someone else), or cannot tell: keep its file
    return True


def _is_stale(tmp: Path, final: Path) -> bool:
    """True only when ``tmp`` is provably abandoned: its name says it was written on this host
    by a process that no longer exists.

    Names: ``.NAME.<pid>.<random>@<host>.tmp`` (this module) or ``.NAME.<pid>.tmp`` (written
    by s3prl before the host was recorded; taken as this host's). A file from another host
    (a shared file system), from a live process, or with any other name is never stale.
    """
    if os.name != "posix":
        return False  # no cheap, reliable "is this pid alive" check: keep everything
    m = re.fullmatch(
        re.escape(f".{final.name}.") + r"(\d+)(?:\.[0-9a-f]+@([A-Za-z0-9_-]+))?\.tmp", tmp.name
    )
    if m is None:
        return False
    pid, host = int(m.group(1)), m.group(2)
    if host is not None and host != _host():
        return False
    return pid != os.getpid() and not _pid_alive(pid)


def write_atomic(final: Path, write: Callable, data) -> None:
    """Write ``data`` to ``final`` through a temporary file in the same folder + ``os.replace``.

    ``write(data, fileobj)`` does the serialisation. If it raises (or the process is
    killed), no file appears at ``final``; the temporary file is removed on exceptions.

    Each call writes its own ``.NAME.<pid>.<random>@<host>.tmp``, so several processes (or
    threads) writing the same output never share a temporary file; the last ``os.replace``
    wins and every reader sees a complete file. Temporary files of ``final`` left by killed
    writers are removed before writing, but only when provably stale (:func:`_is_stale`: the
    writer's process is gone on this host); another writer's file in flight is never touched.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*.tmp"):
        if _is_stale(stale, final):
            try:
                stale.unlink()
            except OSError:
                pass
    tmp = _tmp_name(final)
    try:
        with open(tmp, "wb") as f:
            write(data, f)
            f.flush()
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def _write_pt(record: dict, f) -> None:
    import torch

    torch.save(record, f)


def _write_npy(record: dict, f) -> None:
    import numpy as np
    import torch

    np.save(f, torch.stack(record["hidden_states"]).numpy())


def _write_safetensors(record: dict, f) -> None:
    from safetensors.torch import save

    tensors = {
        f"hidden_state.{k}": h.contiguous() for k, h in zip(record["layers"], record["hidden_states"])
    }
    meta = {
        "layers": ",".join(str(k) for k in record["layers"]),
        "downsample_rate": str(record["downsample_rate"]),
        "sample_rate": str(record["sample_rate"]),
        "source": record["source"],
    }
    f.write(save(tensors, metadata=meta))


WRITERS = {"pt": _write_pt, "npy": _write_npy, "safetensors": _write_safetensors}


def frames_of_output(path: Path, fmt: str) -> int:
    """Frames stored in an existing output (used to rebuild manifest lines)."""
    if fmt == "pt":
        import torch

        return int(torch.load(path, weights_only=True, map_location="cpu")["hidden_states"][0].shape[0])
    if fmt == "npy":
        import numpy as np

        return int(np.load(path, mmap_mode="r").shape[1])
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        first = sorted(f.keys())[0]
        return int(f.get_slice(first).get_shape()[0])


def load_output(path: str | os.PathLike) -> dict:
    """Read one per-utterance output of any ``--format`` back as the ``.pt`` dict.

    Returns:
        A dict with ``hidden_states`` (list of ``(frames, dim)`` tensors), ``layers``,
        ``downsample_rate``, ``sample_rate`` and ``source``. A ``.npy`` file stores only the
        array: there ``layers`` and the rates are ``None`` and ``source`` is empty (see the
        manifest).

    Raises:
        ValueError: unknown suffix.
    """
    import torch

    path = Path(path)
    if path.suffix == ".pt":
        return torch.load(path, weights_only=True, map_location="cpu")
    if path.suffix == ".npy":
        import numpy as np

        arr = torch.from_numpy(np.load(path))
        return {"hidden_states": list(arr.unbind(0)), "layers": None, "downsample_rate": None,
                "sample_rate": None, "source": ""}
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            layers = [int(k) for k in meta["layers"].split(",")]
            hidden = [f.get_tensor(f"hidden_state.{k}") for k in layers]
        return {"hidden_states": hidden, "layers": layers,
                "downsample_rate": int(meta["downsample_rate"]),
                "sample_rate": int(meta["sample_rate"]), "source": meta.get("source", "")}
    raise ValueError(f"{path}: not an extract_feat output (.pt, .npy or .safetensors)")
