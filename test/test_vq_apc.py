"""VQ-APC upstream: the released layout with quantisers, pre-quantisation hidden
states (as the original s3prl upstream returns), padding, golden, key errors."""

from __future__ import annotations

import pytest
import torch

import s3prl.hub as hub
from test.checkpoint_builders.apc import apc_config, apc_paras, apc_state, audio_config
from test.checkpoint_builders.vq_apc import VQ, build_vq_apc_tiny
from test.regenerate_goldens import golden_result
from test.test_apc import gru_reference, single_features
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
    sample_wavs,
)

VQ_ENTRIES = ["vq_apc", "vq_apc_360hr", "vq_apc_960hr"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_vq_apc_tiny(tmp_path_factory.mktemp("vq_apc"))


def test_entries_registered_with_facts():
    base = "https://huggingface.co/leo19941227/apc_series/resolve/main/"
    for name in VQ_ENTRIES + ["vq_apc_local", "vq_apc_url"]:
        info = getattr(hub, name).info
        assert info.stride == 160 and info.input == "fbank" and info.family == "vq_apc"
        assert "2005.08392" in info.paper
    assert hub.vq_apc.info.ckpt == hub.vq_apc_360hr.info.ckpt == base + "vq_apc_360hr.ckpt"
    assert hub.vq_apc_960hr.info.ckpt == base + "vq_apc_960hr.ckpt"
    assert (hub.vq_apc.info.layers, hub.vq_apc.info.hidden_size) == (3, 512)


def test_hidden_states_are_the_grus_before_quantisation(tiny):
    """Each hidden state is a GRU layer's output; the last is taken before the VQ layers,
    as the original's ``feature = hiddens[-1]``."""
    entry, path = tiny
    assert entry == "vq_apc_local"
    model = hub.load(entry, ckpt=str(path)).eval()
    assert model.vq_groups == 2 and model.hidden_sizes == [32, 32, 32]
    state = apc_state(apc_paras(vq=VQ), 80, seed=12)
    _, speech = sample_wavs()
    with torch.no_grad():
        out = model(speech)
    worst = 0.0
    for i, wav in enumerate(speech):
        ref = gru_reference(state, single_features(audio_config(), wav), 3)
        n = int(out["hidden_states_len"][i])
        for k in range(3):
            worst = max(worst, (out["hidden_states"][k][i, :n] - ref[k]).abs().max().item())
    assert worst <= 1e-5, worst


def test_quantiser_weights_do_not_change_hidden_states(tmp_path, tiny):
    entry, path = tiny
    ckpt = torch.load(path, weights_only=True)
    for k in ckpt["model"]:
        if k.startswith(("vq_layers", "postnet")):
            ckpt["model"][k] = torch.randn_like(ckpt["model"][k])
    other = tmp_path / "other_vq.ckpt"
    torch.save(ckpt, other)
    wav = torch.randn(7000) * 0.1
    with torch.no_grad():
        a = hub.vq_apc_local(ckpt=str(path)).eval()([wav])
        b = hub.vq_apc_local(ckpt=str(other)).eval()([wav])
    assert all(torch.equal(x, y) for x, y in zip(a["hidden_states"], b["hidden_states"]))


def test_padding_invariance(tiny):
    entry, path = tiny
    model = hub.load(entry, ckpt=str(path))
    assert assert_padding_invariant(model, mixed_length_wavs(seed=2, seconds=(0.4, 5.0, 2.2))) <= 1e-4


def test_golden(tiny):
    entry, path = tiny
    assert_matches_golden("vq_apc_tiny", golden_result(hub.load(entry, ckpt=str(path))))


def test_url_entry_through_local_server(tmp_path, tiny):
    from test.http_server import serve_directory

    _, path = tiny
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "vq.ckpt").write_bytes(path.read_bytes())
    wav = torch.randn(3000) * 0.1
    with serve_directory(srv) as server:
        model = hub.vq_apc_url(ckpt=server.url + "vq.ckpt").eval()
        assert server.requests["/vq.ckpt"] == 1
    assert_same_hidden_states(model, hub.vq_apc_local(ckpt=str(path)).eval(), [wav])
    with pytest.raises(ValueError, match="vq_apc_url takes an http"):
        hub.vq_apc_url(ckpt=str(path))
    with pytest.raises(ValueError, match="vq_apc_local takes a local file path"):
        hub.vq_apc_local(ckpt="https://127.0.0.1:1/vq.ckpt")


def test_vq_keys_follow_the_config(tmp_path):
    paras = apc_paras(vq=VQ)
    state = apc_state(paras, 80, seed=4)
    path = tmp_path / "bad.ckpt"
    # config says 2 groups, the file lacks group 1
    torch.save(
        {"config": apc_config(paras), "model": {k: v for k, v in state.items() if not k.startswith("vq_layers.1.")}},
        path,
    )
    with pytest.raises(ValueError, match=r"missing keys \['vq_layers.1.codebook_CxE.weight'"):
        hub.vq_apc_local(ckpt=str(path))
    # quantiser weights in a file whose config has no vq
    torch.save({"config": apc_config(apc_paras()), "model": state}, path)
    with pytest.raises(ValueError, match=r"unexpected keys \['vq_layers.0.codebook_CxE.weight'"):
        hub.vq_apc_local(ckpt=str(path))


@pytest.mark.parametrize(
    "vq, words",
    [
        ({"codebook_size": [16], "code_dim": [16], "gumbel_temperature": 0.5}, "must sum to hidden_size 32"),
        ({"codebook_size": [16, 8], "code_dim": [32], "gumbel_temperature": 0.5}, "same non-zero length"),
        (dict(VQ, straight_through=True), r"unknown setting\(s\) \['straight_through'\]"),
    ],
)
def test_bad_vq_config(tmp_path, vq, words):
    path = tmp_path / "bad.ckpt"
    torch.save({"config": apc_config(apc_paras(vq=vq)), "model": apc_state(apc_paras(vq=VQ), 80, 1)}, path)
    with pytest.raises(ValueError, match=words):
        hub.vq_apc_local(ckpt=str(path))
