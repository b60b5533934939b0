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
import pickletools
import sys
import types
import typing
import zipfile
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
    elif fmt.startswith(("zip-p", "legacy-p")):  # torch.save(..., pickle_protocol=N)
        kind, proto = fmt.split("-p")
        torch.save(obj, path, pickle_protocol=int(proto), _use_new_zipfile_serialization=kind == "zip")
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


PROTOCOL_FORMATS = [f"{kind}-p{p}" for kind in ("zip", "legacy") for p in (0, 1, 4, 5)]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("fmt", PROTOCOL_FORMATS)
def test_malicious_checkpoint_at_any_pickle_protocol_names_the_global(tmp_path, fmt):
    """torch's own scan cannot read protocols 0/1/4/5: the static scan still names the global."""
    marker = tmp_path / "PWNED"
    payload, global_name = _payloads(marker)["os.system"]
    path = tmp_path / f"evil-{fmt}.pt"
    _save({"model": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=1.0, x=payload)}, path, fmt)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(path)
    kind, proto = fmt.split("-p")
    what = "zip format" if kind == "zip" else "legacy non-zip format"
    assert f"the Python global(s) {global_name!r}, which" in str(info.value)  # only that one
    assert f"The file is a PyTorch checkpoint ({what}) pickled with protocol {proto}." in str(info.value)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_protocol_4_memoized_module_name_is_still_named(tmp_path):
    """Protocol 4+ names a global by two strings on the stack (STACK_GLOBAL); a module string
    used twice is fetched from the memo the second time: both globals are named."""
    marker = tmp_path / "PWNED"
    evil = [_Payload(os.system, f"touch {marker}"), _Payload(os.getpid, None)]
    path = tmp_path / "evil.pt"
    _save({"model": {"w": torch.ones(2)}, "x": evil}, path, "zip-p4")
    with zipfile.ZipFile(path) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    ops = [op.name for op, _arg, _pos in pickletools.genops(data)]
    assert "BINGET" in ops and ops.count("STACK_GLOBAL") >= 3  # the memo is really used
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(path)
    sysname = os.system.__module__
    assert f"'{sysname}.getpid', '{sysname}.system'" in str(info.value)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("fmt", PROTOCOL_FORMATS)
def test_intact_checkpoint_at_unsupported_pickle_protocol_is_named_not_called_corrupt(tmp_path, fmt):
    from s3prl.util.checkpoint import UnsupportedCheckpointError

    path = tmp_path / f"ok-{fmt}.pt"
    _save({"model": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=1.0, arch="wav2vec")}, path, fmt)
    with pytest.raises(UnsupportedCheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    kind, proto = fmt.split("-p")
    what = "zip format" if kind == "zip" else "legacy non-zip format"
    intact = "intact (every zip member passes its CRC check)" if kind == "zip" else \
        "with complete pickles (the raw tensor bytes after them are not checked)"
    assert f"it is a PyTorch checkpoint ({what}) pickled with protocol {proto}, {intact}, but its pickle uses " \
           "the opcode " in msg
    opcode = msg.split("uses the opcode ")[1].split(" (")[0]
    assert opcode in {"FRAME", "DICT", "INT", "LONG", "LIST", "TUPLE", "STRING", "OBJ", "INST"} | {
        op.name for op in __import__("pickletools").opcodes if op.proto in (0, 1, 4, 5)}
    assert "download it again" not in msg and "truncated" not in msg


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("fmt", ["zip-p4", "zip-p5", "legacy-p5"])
def test_truncated_checkpoint_at_protocol_4_5_is_still_called_corrupt(tmp_path, fmt):
    path = tmp_path / "full.pt"
    _save({"model": {"w": torch.randn(300, 300)}}, path, fmt)
    data = path.read_bytes()
    cut = 150 if fmt.startswith("legacy") else len(data) // 3  # legacy: inside its pickles
    (tmp_path / "cut.pt").write_bytes(data[:cut])
    with pytest.raises(RuntimeError, match="truncated, corrupt") as info:
        load_checkpoint(tmp_path / "cut.pt")
    assert not isinstance(info.value, UnsafeCheckpointError)


def test_reconstructor_stand_in_rebuilds_only_allowlisted_classes():
    from s3prl.util.checkpoint import _safe_reconstructor

    ns = _safe_reconstructor(argparse.Namespace, object, None)
    assert type(ns) is argparse.Namespace and vars(ns) == {}
    for args in ((dict, object, None), (argparse.Namespace, dict, {}), (argparse.Namespace, object, 1), (print, object, None)):
        with pytest.raises(UnsafeCheckpointError, match="copyreg._reconstructor"):
            _safe_reconstructor(*args)


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


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 2)
        self.norm = torch.nn.BatchNorm1d(2)  # int64 buffer num_batches_tracked


def _tiny_state(seed=0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {
        "proj.weight": torch.randn(2, 3, generator=gen), "proj.bias": torch.randn(2, generator=gen),
        "norm.weight": torch.rand(2, generator=gen) + 0.5, "norm.bias": torch.randn(2, generator=gen),
        "norm.running_mean": torch.randn(2, generator=gen), "norm.running_var": torch.rand(2, generator=gen) + 0.5,
        "norm.num_batches_tracked": torch.tensor(7),
    }


def test_load_state_dict_strict_loads_renamed_and_ignored_keys():
    from s3prl.util.checkpoint import load_state_dict_strict

    state = _tiny_state()
    ckpt = {("old." + k if k.startswith("proj.") else k): v.double() if k == "proj.weight" else v
            for k, v in state.items()}
    ckpt.update({"head.weight": torch.zeros(1), "postnet.bias": torch.zeros(1)})
    model = _Tiny()
    loaded = load_state_dict_strict(model, ckpt, where="x.pt", rename=lambda k: k.removeprefix("old."),
                                    ignore_prefixes=("head.",), require_ignored=("postnet.bias",))
    assert sorted(loaded) == sorted(state)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k].to(v.dtype)), k
    assert model.proj.weight.dtype == torch.float32  # float64 in the file, cast to the model's dtype
    state = _tiny_state()
    state["w"] = state.pop("norm.bias")
    model = _Tiny()
    load_state_dict_strict(model, {**state, "step": torch.tensor(3)}, where="x.pt", rename={"w": "norm.bias"},
                           ignore_keys=("step",))
    assert torch.equal(model.norm.bias, state["w"])


def _strict_error(state, **kw) -> str:
    from s3prl.util.checkpoint import CheckpointKeyError, load_state_dict_strict

    with pytest.raises(CheckpointKeyError) as err:
        load_state_dict_strict(_Tiny(), state, where="/ck/model.pt", **kw)
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    return str(err.value)


def test_load_state_dict_strict_errors_name_the_file_and_the_keys():
    """One error type (CheckpointKeyError: KeyError + ValueError) for every way the weights can be wrong."""
    good = _tiny_state()
    msg = _strict_error({k: v for k, v in good.items() if k != "proj.bias"} | {"extra": torch.zeros(1)})
    assert msg == ("checkpoint /ck/model.pt does not match the architecture its config describes: "
                   "missing keys ['proj.bias']; unexpected keys ['extra']")
    msg = _strict_error(good, require_ignored=("postnet.weight",), what="APC")
    assert msg == "checkpoint /ck/model.pt does not match APC: missing keys ['postnet.weight']; unexpected keys []"
    msg = _strict_error({**good, "proj.weight": torch.zeros(3, 2)})
    assert msg.startswith("checkpoint /ck/model.pt: weights that do not fit") and \
        "proj.weight: checkpoint (3, 2) vs model (2, 3)" in msg
    msg = _strict_error({**good, "proj.weight": torch.ones(2, 3, dtype=torch.int64)})
    assert "proj.weight has dtype torch.int64, the model's is torch.float32" in msg
    msg = _strict_error({**good, "norm.num_batches_tracked": torch.tensor(7.0)})
    assert "norm.num_batches_tracked has dtype torch.float32, the model's is torch.int64" in msg
    nan = good["proj.weight"].clone()
    nan[0, 1] = float("nan")
    inf = good["norm.bias"].clone()
    inf[1] = -float("inf")
    msg = _strict_error({**good, "proj.weight": nan, "norm.bias": inf})
    assert "norm.bias has 1 non-finite (NaN/Inf) value(s) of 2" in msg
    assert "proj.weight has 1 non-finite (NaN/Inf) value(s) of 6" in msg
    assert "proj.bias holds a list, not a tensor" in _strict_error({**good, "proj.bias": [1.0, 2.0]})
    assert _strict_error([1, 2]) == "checkpoint /ck/model.pt: the weights are a list, not a state dict (name -> tensor)"
    msg = _strict_error({**good, "old.proj.bias": good["proj.bias"]}, rename=lambda k: k.removeprefix("old."))
    assert msg == "checkpoint /ck/model.pt: keys 'proj.bias' and 'old.proj.bias' both name 'proj.bias'"
    many = {f"k{i:02d}": torch.zeros(1) for i in range(25)}
    msg = _strict_error({**good, **many}, limit=3)
    assert msg.endswith("unexpected keys ['k00', 'k01', 'k02'] (+22 more)")


def test_note_unused_entries_logs_once(caplog):
    from s3prl.util.checkpoint import note_unused_entries

    with caplog.at_level("INFO", logger="s3prl.util.checkpoint"):
        note_unused_entries("/ck/once.pt", ["Optimizer", "Global_Step"])
        note_unused_entries("/ck/once.pt", ["Global_Step", "Optimizer"])
        note_unused_entries("/ck/once.pt", [])
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["checkpoint /ck/once.pt: ignoring non-weight entries ['Global_Step', 'Optimizer']"]


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


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_load_state_dict_strict_finds_non_finite_in_any_float_dtype(dtype, value):
    """The finiteness check (a min/max reduction) sees one NaN/Inf anywhere, in every float dtype;
    empty tensors pass."""
    good = _tiny_state()
    for pos in (0, 3, 5):
        w = good["proj.weight"].to(dtype)
        w.view(-1)[pos] = value
        msg = _strict_error({**good, "proj.weight": w})
        assert "proj.weight has 1 non-finite (NaN/Inf) value(s) of 6" in msg, (pos, msg)


def test_load_state_dict_strict_accepts_empty_float_tensors():
    from s3prl.util.checkpoint import load_state_dict_strict

    class _Empty(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("e", torch.zeros(0, 4))

    model = _Empty()
    load_state_dict_strict(model, {"e": torch.zeros(0, 4)}, where="x.pt")
    assert model.e.shape == (0, 4)
