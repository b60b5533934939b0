"""Every family loads its weights through ``load_state_dict_strict``: a checkpoint in its
official layout (the seeded builders) whose weights are int64, NaN/Inf or misshapen is refused
with one error type (``CheckpointKeyError``, a ``ValueError``) naming the file and the keys,
instead of giving NaN / wrong hidden states or torch's raw ``RuntimeError``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import s3prl.hub as hub
from s3prl.util.checkpoint import CheckpointKeyError, load_checkpoint
from test.regenerate_goldens import collect_builders

BUILDERS, _ = collect_builders()
#: one builder per entry (family layout)
CASES = {}
for _golden, _fn in sorted(BUILDERS.items()):
    CASES.setdefault(_golden.split("_reduced")[0].split("_tiny")[0].split("_base")[0], _golden)
WEIGHT_ENTRIES = (
    "model_weight", "model", "weights", "Transformer", "Distiller", "state_dict", "Upstream", "Downstream",
)


def _weights(ck) -> dict:
    """The state dict inside a checkpoint of any released layout."""
    for key in WEIGHT_ENTRIES:
        if isinstance(ck, dict) and isinstance(ck.get(key), dict):
            return ck[key]
    assert isinstance(ck, dict) and all(isinstance(v, torch.Tensor) for v in ck.values()), type(ck)
    return ck


def _rewrite(path: Path, change) -> Path:
    """``path`` with ``change(name, tensor)`` applied to every floating weight, saved next to it.
    Classes the file pickles (e.g. the toolkit's schedule objects) come back as stand-ins, so
    the rewritten file keeps only plain entries of the layout."""
    from s3prl.upstream.mockingjay.layout import SCHEDULE_STAND_INS

    ck = load_checkpoint(path, extra_safe_globals=SCHEDULE_STAND_INS)
    if isinstance(ck, dict):  # stand-ins do not pickle again; both entries are training state
        ck.pop("Optimizer", None)
        ck.pop("task_state", None)
    sd = _weights(ck)
    for k, v in list(sd.items()):
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            sd[k] = change(k, v)
    out = path.with_name("bad-" + path.name)
    torch.save(ck, out)
    return out


def _nan(_k, v):
    v = v.clone()
    v.view(-1)[0] = float("nan")
    if v.numel() > 1:
        v.view(-1)[-1] = float("inf")
    return v


CHANGES = {
    "int64": (lambda _k, v: v.round().long(), "has dtype torch.int64, the model's is torch.float32"),
    "nan": (_nan, "non-finite (NaN/Inf) value(s)"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_weights_are_refused_naming_file_and_keys(case, change, tmp_path):
    entry, path = BUILDERS[CASES[case]][1](tmp_path)
    fn, words = CHANGES[change]
    bad = _rewrite(Path(path), fn)
    with pytest.raises(CheckpointKeyError) as err:
        hub.load(entry, ckpt=str(bad))
    msg = str(err.value)
    assert msg.startswith(f"checkpoint {bad}"), msg
    assert words in msg, msg
    assert isinstance(err.value, ValueError)


def test_cpc_misshapen_weight_names_file_and_key(tmp_path):
    """Before: torch's raw RuntimeError from load_state_dict, without the file."""
    entry, path = BUILDERS["modified_cpc_tiny"][1](tmp_path)
    ck = load_checkpoint(path)
    ck["weights"]["gAR.baseNet.weight_hh_l1"] = torch.zeros(80, 7)
    torch.save(ck, path)
    with pytest.raises(CheckpointKeyError) as err:
        hub.load(entry, ckpt=str(path))
    assert str(err.value) == (
        f"checkpoint {path}: weights that do not fit the architecture its config describes: "
        "['gAR.baseNet.weight_hh_l1: checkpoint (80, 7) vs model (80, 20)']"
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_non_weight_top_level_entries_are_logged_once_in_every_family(case, tmp_path, caplog):
    """Step counters / optimizer / runner settings next to the weights never make a family
    refuse its file (the rule Mockingjay broke for ``Global_Step``); they are logged once."""
    from s3prl.upstream.mockingjay.layout import SCHEDULE_STAND_INS

    entry, path = BUILDERS[CASES[case]][1](tmp_path)
    ck = load_checkpoint(path, extra_safe_globals=SCHEDULE_STAND_INS)
    if all(isinstance(v, torch.Tensor) for v in ck.values()):
        pytest.skip("a bare state dict (PASE): every top-level entry is a weight")
    ck.pop("Optimizer", None)
    ck.pop("task_state", None)
    ck.update({"Global_Step": 5000, "runner": {"lr": 1e-4, "total_steps": 10}})
    bad = Path(path).with_name("extra-" + Path(path).name)
    torch.save(ck, bad)
    with caplog.at_level("INFO", logger="s3prl.util.checkpoint"):
        hub.load(entry, ckpt=str(bad))
        hub.load(entry, ckpt=str(bad))
    logged = [r.getMessage() for r in caplog.records if "Global_Step" in r.getMessage()]
    assert len(logged) == 1 and logged[0].startswith(f"checkpoint {bad}: ignoring non-weight entries ["), logged
    assert "'runner'" in logged[0]
