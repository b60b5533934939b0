"""Import PyTorch Lightning even next to a broken ``torchvision``.

``pytorch_lightning`` imports ``torchmetrics``, which imports ``torchvision``
whenever its package metadata is installed. A ``torchvision`` build that does
not match the installed torch (e.g. a CUDA build next to a CPU torch) raises
``RuntimeError: operator torchvision::nms does not exist`` at import and takes
Lightning down with it, although the runner needs nothing from it. When that
happens, :func:`import_lightning` hides the broken package (as if it were not
installed) before importing Lightning; a working or absent ``torchvision`` is
left alone.
"""

from __future__ import annotations

import importlib
import sys
import warnings


def _hide_package(name: str) -> None:
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    sys.modules[name] = None  # a later `import name` raises ImportError
    from importlib.metadata import PackageNotFoundError

    import lightning_utilities.core.imports as lu_imports

    original = lu_imports._version
    if getattr(original, "_s3prl_hidden", None) is not None:
        original._s3prl_hidden.add(name)
        return
    hidden = {name}

    def _version(package: str):
        if package in hidden:
            raise PackageNotFoundError(package)
        return original(package)

    _version._s3prl_hidden = hidden
    lu_imports._version = _version


def import_lightning():
    """``pytorch_lightning``, hiding a ``torchvision`` that fails to import.

    Raises:
        ImportError: PyTorch Lightning is not installed
            (``pip install pytorch-lightning``).
    """
    if "pytorch_lightning" not in sys.modules:
        try:
            importlib.import_module("torchvision")
        except ImportError:
            pass
        except Exception as err:  # noqa: BLE001 - any import-time failure of the optional package
            warnings.warn(
                f"torchvision is installed but fails to import ({type(err).__name__}: {err}); "
                "the downstream runner hides it from PyTorch Lightning",
                RuntimeWarning,
                stacklevel=2,
            )
            _hide_package("torchvision")
    try:
        import pytorch_lightning as pl
    except ImportError as err:
        raise ImportError(
            "the downstream runner needs PyTorch Lightning: pip install pytorch-lightning"
        ) from err
    return pl
