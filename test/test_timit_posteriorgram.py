"""TIMIT phone posteriorgram (s3prl's ConvBank head) on a seeded checkpoint in the layout s3prl's
downstream runner saves, vs an ``nn.Linear`` / ``nn.Conv1d`` re-statement of
``downstream/timit_phone/model.py:ConvBank`` on the ``fbank`` upstream (eval: no dropout)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import s3prl.hub as hub
from test.checkpoint_builders.timit_posteriorgram import (
    KERNELS,
    build_timit,
    downstream_state,
    write_checkpoint,
)
from test.utils import assert_padding_invariant


def test_matches_convbank_restatement(tmp_path):
    _, path = build_timit(tmp_path)
    model = hub.timit_posteriorgram_local(str(path)).eval()
    assert model.hidden_sizes == [39] and model.downsample_rate == 160
    wav = torch.randn(12000, generator=torch.Generator().manual_seed(17)) * 0.1
    sd = downstream_state()
    inp, out_lin = nn.Linear(240, 64), nn.Linear(96, 39)
    inp.load_state_dict({"weight": sd["model.in_linear.weight"], "bias": sd["model.in_linear.bias"]})
    out_lin.load_state_dict({"weight": sd["model.out_linear.weight"], "bias": sd["model.out_linear.bias"]})
    cnns = []
    for i, k in enumerate(KERNELS):
        c = nn.Conv1d(64, 32, k, padding=k // 2)
        c.load_state_dict({"weight": sd[f"model.cnns.{i}.weight"], "bias": sd[f"model.cnns.{i}.bias"]})
        cnns.append(c)
    with torch.no_grad():
        feats = hub.fbank()([wav])["last_hidden_state"]
        h = torch.relu(inp(feats)).transpose(1, 2)
        h = torch.relu(torch.cat([c(h) for c in cnns], 1)).transpose(1, 2)
        ref = torch.softmax(out_lin(h), dim=-1)
        out = model([wav])["hidden_states"][0]
    assert out.shape == ref.shape == (1, 1 + (12000 - 400) // 160, 39)
    assert (out - ref).abs().max() <= 1e-5
    torch.testing.assert_close(out.sum(-1), torch.ones(1, out.shape[1]))


def test_padding_invariant_and_errors(tmp_path):
    _, path = build_timit(tmp_path)
    model = hub.timit_posteriorgram_local(str(path)).eval()
    gen = torch.Generator().manual_seed(18)
    assert assert_padding_invariant(model, [torch.randn(n, generator=gen) * 0.1 for n in (800, 9000)]) <= 1e-5
    bad = write_checkpoint(tmp_path / "bad.ckpt", upstream="no_such_upstream")
    with pytest.raises(ValueError, match="'no_such_upstream', which is not an s3prl.hub entry"):
        hub.timit_posteriorgram_local(str(bad))
    state = downstream_state()
    del state["model.cnns.2.bias"]
    bad = write_checkpoint(tmp_path / "bad2.ckpt", state=state)
    with pytest.raises(ValueError, match="missing keys.*cnns.2.bias"):
        hub.timit_posteriorgram_local(str(bad))
