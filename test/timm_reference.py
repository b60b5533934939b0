"""Import ``timm`` as the independent ViT reference, even where ``torchvision`` is broken.

timm imports ``torchvision`` at module level (``FrozenBatchNorm2d`` for its norm
registry, the FX feature extractor). In this environment the installed
``torchvision`` wheel does not match torch (its C extension fails to load, so
``import torchvision`` raises ``RuntimeError: operator torchvision::nms does not
exist``). The ViT pieces used as references (``Block``, ``PatchEmbed``,
``Attention``) never touch torchvision, so when the real import fails a minimal
stand-in providing only the names timm imports is put in place for the import of
timm and removed again afterwards.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from functools import partial

import pytest
from torch import nn


def import_timm():
    """``timm`` or a pytest skip when it is not installed."""
    if importlib.util.find_spec("timm") is None:
        pytest.skip("timm is not installed")
    try:
        import timm  # noqa: F401

        return sys.modules["timm"]
    except (ImportError, RuntimeError):  # a broken or absent torchvision
        pass
    for name in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        del sys.modules[name]
    # what other code put there (e.g. a None marker for "not importable") is restored afterwards
    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if m.split(".")[0] == "torchvision"}
    finder = _StandInFinder()
    sys.meta_path.insert(0, finder)
    try:
        import timm
    finally:
        sys.meta_path.remove(finder)
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        sys.modules.update(saved)
    return timm


def timm_blocks(state: dict, prefix: str, depth: int, dim: int, heads: int) -> list[nn.Module]:
    """timm ``Block`` s (ViT/DeiT settings: qkv bias, LayerNorm eps 1e-6) holding the checkpoint's weights."""
    import_timm()
    from timm.models.vision_transformer import Block

    blocks = []
    for i in range(depth):
        blk = Block(dim, heads, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6)).eval()
        p = f"{prefix}blocks.{i}."
        blk.load_state_dict({k[len(p):]: v for k, v in state.items() if k.startswith(p)})
        blocks.append(blk)
    return blocks


class _Inert(type):
    """Metaclass of placeholders: any class attribute is another placeholder."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Inert(name, (), {})
        setattr(cls, name, value)
        return value


class _StandIn(types.ModuleType):
    """A ``torchvision.*`` module whose every attribute is an inert placeholder class."""

    __path__: list = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Inert(name, (), {})
        setattr(self, name, value)
        return value


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] == "torchvision":
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StandIn(spec.name)

    def exec_module(self, module):
        return None
