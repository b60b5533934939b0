"""The safe checkpoint loader (s3prl.util.checkpoint): malicious pickles are refused
without running anything; the config objects real speech checkpoints pickle load.

Real omegaconf pickles: ``test/checkpoint_fixtures/omegaconf-*.pt`` were written by
omegaconf 2.0.6 / 2.1.2 / 2.3.0 themselves (see ``make_omegaconf_fixtures.py``);
omegaconf is not installed here, and the loader must not need it.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import pickle
import sys
import types
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from s3prl.util.checkpoint import (
    SAFE_GLOBALS,
    StandIn,
    UnsafeCheckpointError,
    load_checkpoint,
    to_plain,
)
from test.checkpoint_fixtures.make_omegaconf_fixtures import EXPECTED as OMEGACONF_EXPECTED

FIXTURES = Path(__file__).with_name("checkpoint_fixtures")


# ----------------------------------------------------------------------------------------------
# malicious pickles


class _Payload:
    """Pickles as ``func(arg)``: what an attacker's checkpoint would do on load."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def _payloads(marker: Path) -> dict:
    return {
        "os.system": (_Payload(os.system, f"touch {marker}"), os.system.__module__ + ".system"),
        "builtins.eval": (
            _Payload(eval, f"open({str(marker)!r}, 'w').close()"),
            "builtins.eval",
        ),
        "builtins.exec": (
            _Payload(exec, f"open({str(marker)!r}, 'w').close()"),
            "builtins.exec",
        ),
        "builtins.open": (_Payload(open, str(marker)), f"{open.__module__}.open"),  # io.open
    }


def _save(obj, path: Path, fmt: str) -> None:
    if fmt == "zip":
        torch.save(obj, path)
    elif fmt == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    elif fmt.startswith("pickle"):
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=int(fmt[len("pickle") :]))
    else:
        raise AssertionError(fmt)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("fmt", ["zip", "legacy", "pickle2", "pickle4"])
@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "builtins.exec", "builtins.open"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, kind, fmt):
    marker = tmp_path / "PWNED"
    payload, global_name = _payloads(marker)[kind]
    # the payload nested inside otherwise harmless content
    ckpt = {"model": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=1.0, x=payload)}
    path = tmp_path / f"evil-{fmt}.pt"
    _save(ckpt, path, fmt)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert repr(global_name) in msg
    assert str(path) in msg and "weights_only=False" not in msg
    assert not marker.exists()


def test_unknown_class_is_refused_by_name(tmp_path, monkeypatch):
    mod = types.ModuleType("someones_pkg.model")
    monkeypatch.setitem(sys.modules, "someones_pkg", types.ModuleType("someones_pkg"))
    monkeypatch.setitem(sys.modules, "someones_pkg.model", mod)
    Model = type("Model", (), {"__module__": "someones_pkg.model"})
    mod.Model = Model
    torch.save({"m": Model()}, tmp_path / "m.pt")
    monkeypatch.delitem(sys.modules, "someones_pkg.model")
    with pytest.raises(UnsafeCheckpointError, match="'someones_pkg.model.Model'"):
        load_checkpoint(tmp_path / "m.pt")


@dataclasses.dataclass
class HarmlessConfig:
    """A plain config class a family may declare safe."""

    layers: int = 0
    name: str = ""


def test_extra_safe_globals_admit_a_known_class(tmp_path):
    torch.save({"c": HarmlessConfig(layers=4, name="x")}, tmp_path / "c.pt")
    with pytest.raises(UnsafeCheckpointError, match="'test.test_checkpoint.HarmlessConfig'"):
        load_checkpoint(tmp_path / "c.pt")
    out = load_checkpoint(tmp_path / "c.pt", extra_safe_globals=[HarmlessConfig])
    assert out["c"] == HarmlessConfig(layers=4, name="x")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(RuntimeError, match="garbage.pt") as info:
        load_checkpoint(tmp_path / "garbage.pt")
    assert "weights_only=False" not in str(info.value)
    assert not isinstance(info.value, UnsafeCheckpointError)
    torch.save({"w": torch.randn(100, 100)}, tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match="truncated.pt"):
        load_checkpoint(tmp_path / "truncated.pt")


# ----------------------------------------------------------------------------------------------
# what real checkpoints contain


def test_tensors_and_map_location(tmp_path):
    gen = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict(w=torch.randn(3, 4, generator=gen), b=torch.randn(4, generator=gen).half())
    torch.save({"model": sd, "step": 12}, tmp_path / "sd.pt")
    out = load_checkpoint(tmp_path / "sd.pt", map_location="cpu")
    assert out["step"] == 12 and list(out["model"]) == ["w", "b"]
    assert torch.equal(out["model"]["w"], sd["w"]) and out["model"]["b"].dtype == torch.float16


def test_argparse_namespace(tmp_path):
    args = argparse.Namespace(encoder_layers=12, arch="hubert", dropout=0.1, labels=["km"], nested=None)
    torch.save({"args": args}, tmp_path / "a.pt")
    out = load_checkpoint(tmp_path / "a.pt")
    assert isinstance(out["args"], argparse.Namespace)
    assert out["args"].encoder_layers == 12 and out["args"].arch == "hubert"
    assert to_plain(out) == {
        "args": {"encoder_layers": 12, "arch": "hubert", "dropout": 0.1, "labels": ["km"], "nested": None}
    }


def test_numpy_scalars_and_arrays(tmp_path):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    obj = {
        "best_loss": np.float64(3.25),
        "num_updates": np.int64(400000),
        "f32": np.float32(0.1),
        "i32": np.int32(-5),
        "flag": np.bool_(True),
        "arr": arr,
    }
    torch.save(obj, tmp_path / "np.pt")
    out = load_checkpoint(tmp_path / "np.pt")
    assert out["best_loss"] == np.float64(3.25) and out["best_loss"].dtype == np.float64
    assert out["f32"].dtype == np.float32 and out["f32"] == np.float32(0.1)
    np.testing.assert_array_equal(out["arr"], arr)
    plain = to_plain(out)
    assert plain["best_loss"] == 3.25 and type(plain["best_loss"]) is float
    assert plain["num_updates"] == 400000 and type(plain["num_updates"]) is int
    assert plain["i32"] == -5 and plain["flag"] is True


_FAIRSEQ_DICTIONARY_SRC = '''
class Dictionary:
    """Minimal look-alike of fairseq.data.dictionary.Dictionary (same pickled state)."""

    def __init__(self, *, bos="<s>", pad="<pad>", eos="</s>", unk="<unk>"):
        self.bos_word, self.unk_word, self.pad_word, self.eos_word = bos, unk, pad, eos
        self.symbols, self.count, self.indices = [], [], {}
        self.bos_index = self.add_symbol(bos)
        self.pad_index = self.add_symbol(pad)
        self.eos_index = self.add_symbol(eos)
        self.unk_index = self.add_symbol(unk)
        self.nspecial = len(self.symbols)

    def add_symbol(self, word, n=1):
        if word in self.indices:
            self.count[self.indices[word]] += n
            return self.indices[word]
        self.indices[word] = len(self.symbols)
        self.symbols.append(word)
        self.count.append(n)
        return self.indices[word]

    def __setstate__(self, state):
        raise RuntimeError("the real class must never be used by the loader")
'''


def test_fairseq_dictionary_without_fairseq(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_site" / "fairseq" / "data"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "dictionary.py").write_text(_FAIRSEQ_DICTIONARY_SRC)
    monkeypatch.syspath_prepend(str(tmp_path / "fake_site"))
    import importlib

    Dictionary = importlib.import_module("fairseq.data.dictionary").Dictionary
    d = Dictionary()
    for word in ["A", "B", "C", "A"]:
        d.add_symbol(word)
    torch.save({"task_state": {"dictionaries": [d]}, "model": {}}, tmp_path / "fs.pt")
    # fairseq is gone before loading: the loader must not need (or import) it
    for name in [m for m in sys.modules if m == "fairseq" or m.startswith("fairseq.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "fake_site" not in p])

    out = load_checkpoint(tmp_path / "fs.pt")
    assert "fairseq" not in sys.modules
    ld = out["task_state"]["dictionaries"][0]
    assert isinstance(ld, StandIn) and "fairseq.data.dictionary.Dictionary" in repr(ld)
    assert ld.symbols == ["<s>", "<pad>", "</s>", "<unk>", "A", "B", "C"]
    assert ld.count == [1, 1, 1, 1, 2, 1, 1]
    assert ld.indices["C"] == 6 and ld.pad_index == 1 and ld.nspecial == 4
    plain = to_plain(out["task_state"]["dictionaries"][0])
    assert plain["symbols"] == ld.symbols and plain["eos_word"] == "</s>"


# ----------------------------------------------------------------------------------------------
# omegaconf


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("omegaconf-*.pt")), ids=lambda p: p.stem)
def test_real_omegaconf_pickles_load_without_omegaconf(fixture):
    assert "omegaconf" not in sys.modules
    out = load_checkpoint(fixture)
    assert "omegaconf" not in sys.modules
    cfg = out["cfg"]
    assert to_plain(cfg) == OMEGACONF_EXPECTED
    # read access without converting
    assert cfg.model.encoder_layers == 2 and cfg["model"]["_name"] == "hubert"
    assert cfg.task.labels[0] == "km" and cfg.task.max_keep[1] == 2.5
    assert cfg.common.log_format is None and len(cfg) == 3
    assert to_plain(out["task_state"]["labels"]) == ["km", "phn"]
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(out["model"]["w"], torch.randn(4, 3, generator=gen))


def test_real_omegaconf_fixtures_are_present():
    versions = sorted(p.stem.split("-")[1] for p in FIXTURES.glob("omegaconf-*.pt"))
    assert versions == ["2.0.6", "2.1.2", "2.3.0"]


def _fake_omegaconf(monkeypatch) -> dict:
    """Classes named like omegaconf's, pickling the same state layout as omegaconf 2.x
    (``__getstate__`` = the instance ``__dict__``: ``_metadata``, ``_parent``, and
    ``_content`` for containers / ``_val`` for value nodes)."""
    classes = {}
    for module, names in {
        "omegaconf.base": ["ContainerMetadata", "Metadata"],
        "omegaconf.dictconfig": ["DictConfig"],
        "omegaconf.listconfig": ["ListConfig"],
        "omegaconf.nodes": ["AnyNode", "IntegerNode", "FloatNode", "StringNode", "BooleanNode"],
    }.items():
        mod = types.ModuleType(module)
        monkeypatch.setitem(sys.modules, module, mod)
        for name in names:
            cls = type(name, (), {"__module__": module, "__qualname__": name})
            setattr(mod, name, cls)
            classes[name] = cls
    monkeypatch.setitem(sys.modules, "omegaconf", types.ModuleType("omegaconf"))
    return classes


def _build(classes, value, parent=None, key=None):
    """Build fake omegaconf nodes for a plain value, like OmegaConf.create does."""

    def metadata(kind, ref_type):
        m = classes[kind]()
        m.__dict__.update(
            ref_type=ref_type, object_type=None, optional=True, key=key, flags={},
            resolver_cache=collections.defaultdict(dict),
        )
        if kind == "ContainerMetadata":
            m.__dict__.update(key_type=typing.Any, element_type=typing.Any)
        return m

    if isinstance(value, dict):
        node = classes["DictConfig"]()
        node.__dict__.update(_metadata=metadata("ContainerMetadata", typing.Any), _parent=parent)
        node._content = {k: _build(classes, v, node, k) for k, v in value.items()}
        return node
    if isinstance(value, list):
        node = classes["ListConfig"]()
        node.__dict__.update(_metadata=metadata("ContainerMetadata", typing.Any), _parent=parent)
        node._content = [_build(classes, v, node, i) for i, v in enumerate(value)]
        return node
    kind = {bool: "BooleanNode", int: "IntegerNode", float: "FloatNode", str: "StringNode"}
    node = classes[kind.get(type(value), "AnyNode")]()
    node.__dict__.update(_metadata=metadata("Metadata", typing.Any), _parent=parent, _val=value)
    return node


def test_omegaconf_like_stand_ins(tmp_path, monkeypatch):
    classes = _fake_omegaconf(monkeypatch)
    plain = {"model": {"layers": 3, "dim": 64.0, "name": "wavlm", "causal": False, "extra": None},
             "labels": ["a", {"k": 1}]}
    torch.save({"cfg": _build(classes, plain), "w": torch.zeros(1)}, tmp_path / "oc.pt")
    for name in [m for m in sys.modules if m.startswith("omegaconf")]:
        monkeypatch.delitem(sys.modules, name)
    out = load_checkpoint(tmp_path / "oc.pt")
    assert to_plain(out["cfg"]) == plain
    assert out["cfg"].model.dim == 64.0 and out["cfg"]["labels"][1]["k"] == 1
    assert "omegaconf" not in sys.modules


def test_allowlist_entries_are_classes_or_named_stand_ins():
    for g in SAFE_GLOBALS:
        if isinstance(g, tuple):
            obj, name = g
            assert isinstance(name, str) and "." in name
        else:
            assert isinstance(g, type), g
    names = {g[1] for g in SAFE_GLOBALS if isinstance(g, tuple)}
    assert "collections.defaultdict" in names and "typing.Any" in names
    # never the dangerous ones
    for bad in ("builtins.eval", "builtins.exec", "builtins.getattr", "posix.system", "os.system"):
        assert bad not in names


def test_check_state_dict_keys_names_missing_and_unexpected_keys():
    from s3prl.util.checkpoint import CheckpointKeyError, check_state_dict_keys

    check_state_dict_keys(["a", "b"], {"b": 1, "a": 2}, "same keys")  # no error
    with pytest.raises(KeyError, match=r"ckpt x: missing keys \['c'\]; unexpected keys \['d', 'e'\]"):
        check_state_dict_keys(["a", "c"], ["a", "e", "d"], "ckpt x")
    with pytest.raises(ValueError, match=r"^ckpt z: missing keys \['c'\]; unexpected keys \[\]$") as err:
        check_state_dict_keys(["c"], [], "ckpt z")  # also a ValueError; str() is the plain message
    assert isinstance(err.value, (KeyError, CheckpointKeyError))
    many = [f"k{i:02d}" for i in range(25)]
    with pytest.raises(KeyError, match=r"missing keys \['k00', 'k01', 'k02'\] \(\+22 more\); unexpected keys \[\]"):
        check_state_dict_keys(many, [], "ckpt y", limit=3)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("fmt", ["zip", "legacy", "pickle2"])
def test_malicious_numpy_object_array_is_refused_and_never_runs(tmp_path, fmt):
    """The allowlist admits numpy array reconstruction; an object-dtype array's items are
    pickled objects, so a payload hidden inside one must still be refused by name, unrun."""
    marker = tmp_path / "PWNED"
    payload, global_name = _payloads(marker)["os.system"]
    arr = np.empty(3, dtype=object)
    arr[0], arr[1], arr[2] = 1.5, payload, "x"
    ckpt = {"model": {"w": torch.ones(2)}, "extra_state": {"stats": arr}}
    path = tmp_path / f"evil-npobj-{fmt}.pt"
    _save(ckpt, path, fmt)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert repr(global_name) in msg and str(path) in msg
    assert not marker.exists()
