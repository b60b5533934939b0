"""NPC upstream: loading the released layout, an independent reference of the original
computation on each unpadded utterance, padding (which the original does not achieve),
goldens, variants (disable_cross_layer, dim_bottleneck, tanh) and checkpoint errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from test.checkpoint_builders.apc import audio_config, save_toolkit_checkpoint
from test.checkpoint_builders.npc import (
    build_npc_tiny,
    npc_config,
    npc_paras,
    npc_state,
    write_npc_checkpoint,
)
from test.regenerate_goldens import golden_result
from test.test_apc import single_features
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
    sample_wavs,
)

NPC_ENTRIES = ["npc", "npc_360hr", "npc_960hr"]


def npc_reference(state: dict, paras: dict, feats: torch.Tensor) -> list[torch.Tensor]:
    """The original NPC forward (``model/npc.py`` of Alexander-H-Liu/NPC) written with
    functional ops on a (batch, frames, dim) input with zero "same" padding, and the
    hooks' order of the original s3prl upstream: block i, masked conv i, ..., feat.
    The masks are rebuilt from the config (not read from the file)."""
    act = torch.relu if paras.get("activate", "relu") == "relu" else torch.tanh
    k, n = paras["kernel_size"], paras["n_blocks"]
    x = feats.transpose(1, 2)
    outs, feat = [], None
    for i in range(n):
        p = f"blocks.{i}."

        def bn(y, name, p=p):
            if not paras.get("batch_norm", True):
                return y
            return F.batch_norm(
                y, state[p + name + ".running_mean"], state[p + name + ".running_var"],
                state[p + name + ".weight"], state[p + name + ".bias"], training=False, eps=1e-5,
            )  # fmt: skip

        y = F.conv1d(x, state[p + "conv.weight"], state[p + "conv.bias"], padding=1)
        y = act(bn(y, "bn1"))
        y = bn(F.conv1d(y, state[p + "linear.weight"], state[p + "linear.bias"]), "bn2")
        if paras["residual"] and i > 0:
            y = y + x
        x = act(y)
        outs.append(x.transpose(1, 2))
        if not paras.get("disable_cross_layer", False) or i == n - 1:
            m = paras["mask_size"] + 2 * (i + 1)
            mask = torch.ones(k)
            mask[(k - m) // 2 : (k - m) // 2 + m] = 0
            w = state[f"masked_convs.{i}.conv.weight"] * mask
            z = torch.tanh(F.conv1d(x, w, state[f"masked_convs.{i}.conv.bias"], padding=(k - 1) // 2))
            z = z.transpose(1, 2)
            outs.append(z)
            feat = z if feat is None else feat + z
    if paras.get("dim_bottleneck"):
        feat = feat @ state["ae_bottleneck.weight"].T
    outs.append(feat)
    return outs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_npc_tiny(tmp_path_factory.mktemp("npc"))


def test_entries_registered_with_facts():
    base = "https://huggingface.co/leo19941227/apc_series/resolve/main/"
    for name in NPC_ENTRIES + ["npc_local", "npc_url"]:
        info = getattr(hub, name).info
        assert info.stride == 160 and info.input == "fbank" and info.family == "npc"
        assert "2011.00406" in info.paper
    assert hub.npc.info.ckpt == hub.npc_360hr.info.ckpt == base + "npc_360hr.ckpt"
    assert hub.npc_960hr.info.ckpt == base + "npc_960hr.ckpt"
    # released: 4 blocks -> 4 block outputs + 4 masked convs + the representation
    assert (hub.npc.info.layers, hub.npc.info.hidden_size) == (9, 512)


def test_shapes_frames_and_metadata(tiny):
    entry, path = tiny
    model = hub.load(entry, ckpt=str(path)).eval()
    assert model.downsample_rate == 160 and model.receptive_field == 400
    assert model.num_layers == 2 * 3 + 1 and model.hidden_sizes == [32] * 7
    with torch.no_grad():
        out = model([torch.randn(n) * 0.1 for n in (400, 16000, 16079, 16080)])
    assert out["hidden_states_len"].tolist() == [1, 98, 98, 99]
    assert [tuple(h.shape) for h in out["hidden_states"]] == [(4, 99, 32)] * 7


def test_matches_original_computation_on_each_utterance(tiny):
    entry, path = tiny
    model = hub.load(entry, ckpt=str(path)).eval()
    paras, state = npc_paras(), npc_state(npc_paras(), 80, seed=13)
    _, speech = sample_wavs()
    wavs = speech + mixed_length_wavs(seed=4, seconds=(0.05, 1.3))
    with torch.no_grad():
        out = model(wavs)
    worst = 0.0
    for i, wav in enumerate(wavs):
        ref = npc_reference(state, paras, single_features(audio_config(), wav)[None])
        n = int(out["hidden_states_len"][i])
        assert len(ref) == len(out["hidden_states"]) and ref[0].shape[1] == n
        for k, r in enumerate(ref):
            worst = max(worst, (out["hidden_states"][k][i, :n] - r[0]).abs().max().item())
    assert worst <= 1e-5, worst


def test_padding_invariance_where_the_original_fails(tiny):
    """Batched == alone; the original computation on the zero-padded batch does differ
    (its convolutions read the padding after the first block), so the test has teeth."""
    entry, path = tiny
    model = hub.load(entry, ckpt=str(path))
    wavs = mixed_length_wavs(seed=5, seconds=(0.5, 4.0, 2.1, 0.03))
    assert assert_padding_invariant(model, wavs) <= 1e-4

    paras, state = npc_paras(), npc_state(npc_paras(), 80, seed=13)
    alone = single_features(audio_config(), wavs[0])
    padded = torch.zeros(1, single_features(audio_config(), wavs[1]).shape[0], 80)
    padded[0, : alone.shape[0]] = alone
    n = alone.shape[0]
    original_batched = npc_reference(state, paras, padded)[-1][0, :n]
    original_alone = npc_reference(state, paras, alone[None])[-1][0]
    assert (original_batched - original_alone).abs().max().item() > 1e-3


def test_golden(tiny):
    entry, path = tiny
    assert_matches_golden("npc_tiny", golden_result(hub.load(entry, ckpt=str(path))))


@pytest.mark.parametrize(
    "over, sizes",
    [
        ({"disable_cross_layer": True}, [32, 32, 32, 32, 32]),  # blocks 0-2, masked 2, feat
        ({"vq": None, "dim_bottleneck": 12}, [32] * 6 + [12]),
        ({"activate": "tanh", "batch_norm": False, "residual": False, "n_blocks": 2, "kernel_size": 11}, [32] * 5),
    ],
)
def test_variants_match_reference(tmp_path, over, sizes):
    paras = npc_paras(**over)
    path = write_npc_checkpoint(tmp_path / "v.ckpt", seed=21, **over)
    model = hub.npc_local(ckpt=str(path)).eval()
    assert model.hidden_sizes == sizes
    wavs = mixed_length_wavs(seed=6, seconds=(0.7, 1.9))
    state = npc_state(paras, 80, seed=21)
    with torch.no_grad():
        out = model(wavs)
    for i, wav in enumerate(wavs):
        ref = npc_reference(state, paras, single_features(audio_config(), wav)[None])
        n = int(out["hidden_states_len"][i])
        for k, r in enumerate(ref):
            assert (out["hidden_states"][k][i, :n] - r[0]).abs().max().item() <= 1e-5
    assert assert_padding_invariant(model, wavs) <= 1e-4


def test_url_entry_through_local_server(tmp_path, tiny):
    from test.http_server import serve_directory

    _, path = tiny
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "npc.ckpt").write_bytes(path.read_bytes())
    wav = torch.randn(3000) * 0.1
    with serve_directory(srv) as server:
        model = hub.npc_url(ckpt=server.url + "npc.ckpt").eval()
        assert server.requests["/npc.ckpt"] == 1
    assert_same_hidden_states(model, hub.npc_local(ckpt=str(path)).eval(), [wav])
    with pytest.raises(ValueError, match="npc_url takes an http"):
        hub.npc_url(ckpt=str(path))
    with pytest.raises(ValueError, match="npc_local takes a local file path"):
        hub.npc_local(ckpt="http://127.0.0.1:1/npc.ckpt")


def test_missing_and_unexpected_keys_are_named(tmp_path):
    paras = npc_paras()
    state = npc_state(paras, 80, seed=1)
    missing = {k: v for k, v in state.items() if k != "masked_convs.2.conv_mask"}
    with pytest.raises(ValueError, match=r"missing keys \['masked_convs.2.conv_mask'\]"):
        hub.npc_local(ckpt=save_toolkit_checkpoint(tmp_path / "bad.ckpt", npc_config(paras), missing))
    extra = dict(state, **{"blocks.3.conv.weight": torch.zeros(32, 32, 3)})
    with pytest.raises(ValueError, match=r"unexpected keys \['blocks.3.conv.weight'\]"):
        hub.npc_local(ckpt=save_toolkit_checkpoint(tmp_path / "bad.ckpt", npc_config(paras), extra))
    # batch_norm: False in the config but BN weights in the file
    with pytest.raises(ValueError, match=r"unexpected keys \['blocks.0.bn1.bias'"):
        hub.npc_local(ckpt=save_toolkit_checkpoint(tmp_path / "bad.ckpt", npc_config(dict(paras, batch_norm=False)), state))
    bad_shape = dict(state, **{"blocks.1.linear.weight": torch.zeros(32, 32, 3)})
    with pytest.raises(ValueError, match=r"blocks.1.linear.weight: checkpoint \(32, 32, 3\) vs model \(32, 32, 1\)"):
        hub.npc_local(ckpt=save_toolkit_checkpoint(tmp_path / "bad.ckpt", npc_config(paras), bad_shape))


@pytest.mark.parametrize(
    "over, words",
    [
        ({"kernel_size": 11}, "kernel_size 11 must exceed the last block's mask size"),
        ({"mask_size": 4}, "must be odd"),
        ({"activate": "gelu"}, "'relu' or 'tanh'"),
        ({"n_blocks": 0}, "n_blocks must be >= 1"),
        ({"dilation": 2}, r"unknown setting\(s\) \['dilation'\]"),
        ({"dim_bottleneck": 8}, "cannot both be set"),
    ],
)
def test_bad_config_is_named(tmp_path, over, words):
    state = npc_state(npc_paras(), 80, seed=1)
    with pytest.raises(ValueError, match=words):
        hub.npc_local(ckpt=save_toolkit_checkpoint(tmp_path / "bad.ckpt", npc_config(npc_paras(**over)), state))
