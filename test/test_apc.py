"""APC upstream: loading the released layout, an independent GRU reference, padding,
goldens, config-driven features and checkpoint errors.

Checkpoints are built by :mod:`test.checkpoint_builders.apc` (seeded, reduced size, the
released ``{"config", "model"}`` layout).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import s3prl.hub as hub
from s3prl.upstream.apc.layout import build_frontend
from s3prl.util.checkpoint import CheckpointKeyError
from test.checkpoint_builders.apc import (
    apc_config,
    apc_paras,
    apc_state,
    audio_config,
    build_apc_tiny,
    save_toolkit_checkpoint,
    write_apc_checkpoint,
)
from test.regenerate_goldens import golden_result
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
    needs,
    sample_wavs,
)

APC_ENTRIES = ["apc", "apc_360hr", "apc_960hr"]


def gru_reference(state: dict, feats: torch.Tensor, num_layers: int, residual: bool = True):
    """The APC encoder computed independently: one ``torch.nn.GRU`` per layer on ONE
    unpadded utterance ``feats`` (frames, dim), residual sum for layers > 0 (the
    original ``apc.py`` forward). Returns the per-layer outputs (frames, hidden)."""
    x = feats[None]
    outs = []
    for i in range(num_layers):
        w_ih = state[f"rnn_layers.{i}.weight_ih_l0"]
        gru = torch.nn.GRU(w_ih.shape[1], w_ih.shape[0] // 3, batch_first=True)
        gru.load_state_dict({k.split(".", 2)[2]: v for k, v in state.items() if k.startswith(f"rnn_layers.{i}.")})
        with torch.no_grad():
            y, _ = gru(x)
        if residual and i > 0:
            y = y + x
        outs.append(y[0])
        x = y
    return outs


def single_features(audio: dict, wav: torch.Tensor) -> torch.Tensor:
    """The baseline features of one wav alone (frames, dim)."""
    fe = build_frontend(audio, "APC").eval()
    feats, n = fe(wav[None], torch.tensor([wav.numel()]))
    return feats[0, : int(n[0])]


def knf_fbank_cmvn(wav: torch.Tensor, num_bins: int = 80) -> np.ndarray:
    """Independent features: kaldi-native-fbank with the original's settings (Hamming
    window, no dither, 25/10 ms) and CMVN ``(x - mean) / (1e-10 + std)`` (unbiased std)."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hamming"
    opts.frame_opts.frame_length_ms = 25
    opts.frame_opts.frame_shift_ms = 10
    opts.mel_opts.num_bins = num_bins
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, wav.tolist())
    fb.input_finished()
    x = np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)]).astype(np.float64)
    return (x - x.mean(0)) / (1e-10 + x.std(0, ddof=1))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    entry, path = build_apc_tiny(tmp_path_factory.mktemp("apc"))
    return entry, path


def test_entries_registered_with_facts():
    for name in APC_ENTRIES + ["apc_local", "apc_url"]:
        assert name in hub.options()
        info = getattr(hub, name).info
        assert info.stride == 160 and info.input == "fbank" and info.family == "apc"
        assert "1904.03240" in info.paper
    base = "https://huggingface.co/leo19941227/apc_series/resolve/main/"
    assert hub.apc.info.ckpt == hub.apc_360hr.info.ckpt == base + "apc_360hr.ckpt"
    assert hub.apc_960hr.info.ckpt == base + "apc_960hr.ckpt"
    assert (hub.apc_960hr.info.layers, hub.apc_960hr.info.hidden_size) == (3, 512)
    assert "960" in hub.apc_960hr.info.data and "360" in hub.apc.info.data
    assert "Facts:" in hub.help("apc_360hr")


def test_shapes_frames_and_metadata(tiny):
    entry, path = tiny
    model = hub.load(entry, ckpt=str(path)).eval()
    assert model.downsample_rate == 160 and model.receptive_field == 400
    assert model.num_layers == 3 and model.hidden_sizes == [32, 32, 32]
    lengths = [400, 16000, 16079, 16080]
    with torch.no_grad():
        out = model([torch.randn(n) * 0.1 for n in lengths])
    assert out["hidden_states_len"].tolist() == [1, 98, 98, 99]  # 1 + (T - 400) // 160
    assert [tuple(h.shape) for h in out["hidden_states"]] == [(4, 99, 32)] * 3
    assert out["last_hidden_state"] is out["hidden_states"][-1]


def test_matches_independent_gru_reference(tiny):
    """Batched upstream == nn.GRU run on each unpadded utterance alone (same weights)."""
    entry, path = tiny
    model = hub.load(entry, ckpt=str(path)).eval()
    state = apc_state(apc_paras(), 80, seed=11)
    _, speech = sample_wavs()
    wavs = speech + mixed_length_wavs(seed=3, seconds=(0.3, 1.7))
    with torch.no_grad():
        out = model(wavs)
    worst = 0.0
    for i, wav in enumerate(wavs):
        ref = gru_reference(state, single_features(audio_config(), wav), 3)
        n = int(out["hidden_states_len"][i])
        assert n == ref[0].shape[0]
        for k in range(3):
            worst = max(worst, (out["hidden_states"][k][i, :n] - ref[k]).abs().max().item())
    assert worst <= 1e-5, worst


@needs("kaldi_native_fbank")
def test_features_match_kaldi_native_fbank():
    """The fbank + CMVN recorded in the checkpoint config, through the baseline features,
    agree with kaldi-native-fbank (Hamming window) + hand-written CMVN."""
    _, speech = sample_wavs()
    for wav in speech:
        ours = single_features(audio_config(), wav).double().numpy()
        ref = knf_fbank_cmvn(wav)
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() <= 5e-4


def test_padding_invariance(tiny):
    entry, path = tiny
    model = hub.load(entry, ckpt=str(path))
    worst = assert_padding_invariant(model, mixed_length_wavs(seed=0, seconds=(0.5, 6.0, 3.2, 0.03)))
    assert worst <= 1e-4


def test_golden(tiny):
    entry, path = tiny
    assert_matches_golden("apc_tiny", golden_result(hub.load(entry, ckpt=str(path))))


def test_config_drives_features_and_architecture(tmp_path):
    """feat_dim, frame_shift, cmvn and the layer count come from the checkpoint config."""
    paras = apc_paras(hidden=16, layers=2)
    audio = audio_config(feat_dim=40, frame_shift=20, cmvn=False)
    path = tmp_path / "apc40.ckpt"
    torch.save({"config": apc_config(paras, audio), "model": apc_state(paras, 40, seed=5)}, path)
    model = hub.apc_local(ckpt=str(path)).eval()
    assert model.downsample_rate == 320 and model.hidden_sizes == [16, 16]
    assert model.frontend.output_dim == 40 and not model.frontend.settings["cmvn"]
    wav = torch.randn(8000) * 0.1
    with torch.no_grad():
        out = model([wav])
    feats = single_features(audio, wav)
    assert feats.shape == (1 + (8000 - 400) // 320, 40)
    ref = gru_reference(apc_state(paras, 40, seed=5), feats, 2)
    assert out["hidden_states_len"].tolist() == [feats.shape[0]]
    for k in range(2):
        assert (out["hidden_states"][k][0] - ref[k]).abs().max().item() <= 1e-5


def test_residual_false(tmp_path):
    paras = dict(apc_paras(), residual=False)
    path = tmp_path / "nores.ckpt"
    torch.save({"config": apc_config(paras), "model": apc_state(paras, 80, seed=6)}, path)
    model = hub.apc_local(ckpt=str(path)).eval()
    wav = torch.randn(6000) * 0.1
    with torch.no_grad():
        out = model([wav])
    ref = gru_reference(apc_state(paras, 80, seed=6), single_features(audio_config(), wav), 3, residual=False)
    assert (out["hidden_states"][2][0] - ref[2]).abs().max().item() <= 1e-5


def test_training_bookkeeping_is_not_read(tmp_path):
    """Top-level optimizer/step entries (as the NPC toolkit saves) do not matter."""
    paras = apc_paras()
    state = apc_state(paras, 80, seed=11)
    path = tmp_path / "full.ckpt"
    torch.save(
        {"config": apc_config(paras), "model": state, "optimizer": {"state": {}}, "global_step": 7, "epoch": 1},
        path,
    )
    model = hub.apc_local(ckpt=str(path)).eval()
    wav = torch.randn(4000) * 0.1
    with torch.no_grad():
        out = model([wav])
    ref = gru_reference(state, single_features(audio_config(), wav), 3)
    assert (out["hidden_states"][-1][0] - ref[-1]).abs().max().item() <= 1e-5


def test_url_entry_through_local_server(tmp_path):
    from test.http_server import serve_directory

    write_apc_checkpoint(tmp_path / "srv" / "apc_tiny.ckpt", seed=11)
    local = hub.apc_local(ckpt=str(tmp_path / "srv" / "apc_tiny.ckpt")).eval()
    with serve_directory(tmp_path / "srv") as server:
        url = server.url + "apc_tiny.ckpt"
        model = hub.apc_url(ckpt=url).eval()
        again = hub.apc_360hr(ckpt=url).eval()  # cached: no second download
        assert server.requests["/apc_tiny.ckpt"] == 1
    wav = torch.randn(5000) * 0.1
    assert_same_hidden_states(local, model, [wav])
    assert_same_hidden_states(local, again, [wav])


def test_local_and_url_entries_check_their_argument(tmp_path):
    with pytest.raises(ValueError, match="apc_local takes a local file path"):
        hub.apc_local(ckpt="http://127.0.0.1:1/x.ckpt")
    with pytest.raises(FileNotFoundError, match="apc_local"):
        hub.apc_local(ckpt=str(tmp_path / "nope.ckpt"))
    with pytest.raises(ValueError, match="apc_url takes an http"):
        hub.apc_url(ckpt=str(tmp_path / "x.ckpt"))


def test_missing_and_unexpected_keys_are_named(tmp_path):
    paras = apc_paras()
    state = apc_state(paras, 80, seed=1)
    missing = {k: v for k, v in state.items() if k != "rnn_layers.1.bias_hh_l0"}
    bad = save_toolkit_checkpoint(tmp_path / "bad.ckpt", apc_config(paras), missing)
    with pytest.raises(CheckpointKeyError) as err:
        hub.apc_local(ckpt=bad)
    assert str(err.value) == (f"checkpoint {bad} does not match the APC architecture in its config: "
                              "missing keys ['rnn_layers.1.bias_hh_l0']; unexpected keys []")
    extra = dict(state, **{"rnn_layers.3.weight_ih_l0": torch.zeros(96, 32)})
    with pytest.raises(ValueError, match=r"unexpected keys \['rnn_layers.3.weight_ih_l0'\]"):
        hub.apc_local(ckpt=save_toolkit_checkpoint(tmp_path / "bad.ckpt", apc_config(paras), extra))
    # the ignored training head must be there too: a truncated file is not silently accepted
    no_head = {k: v for k, v in state.items() if not k.startswith("postnet")}
    with pytest.raises(ValueError, match=r"missing keys \['postnet.bias', 'postnet.weight'\]"):
        hub.apc_local(ckpt=save_toolkit_checkpoint(tmp_path / "bad.ckpt", apc_config(paras), no_head))


def test_shape_mismatch_is_named(tmp_path):
    paras = apc_paras()
    state = apc_state(paras, 80, seed=1)
    state["rnn_layers.2.weight_hh_l0"] = torch.zeros(96, 16)
    bad = save_toolkit_checkpoint(tmp_path / "bad.ckpt", apc_config(paras), state)
    with pytest.raises(CheckpointKeyError, match=rf"^checkpoint {re.escape(str(bad))}: .*"
                       r"rnn_layers.2.weight_hh_l0: checkpoint \(96, 16\) vs model \(96, 32\)"):
        hub.apc_local(ckpt=bad)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda c: c["model"]["paras"].update(bidirectional=True), r"unknown setting\(s\) \['bidirectional'\]"),
        (lambda c: c["model"]["paras"].pop("hidden_size"), "lacks 'hidden_size'"),
        (lambda c: c["data"]["audio"].update(feat_type="mfcc"), "only 'fbank'"),
        (lambda c: c["data"]["audio"].update(window="hann"), r"unknown setting\(s\) \['window'\]"),
        (lambda c: c["data"].pop("audio"), "no 'audio' settings"),
        (lambda c: c["model"].pop("paras"), "no 'paras'"),
    ],
)
def test_bad_config_is_named(tmp_path, change, words):
    paras = apc_paras()
    config = apc_config(paras)
    change(config)
    with pytest.raises(ValueError, match=words):
        hub.apc_local(ckpt=save_toolkit_checkpoint(tmp_path / "bad.ckpt", config, apc_state(apc_paras(), 80, seed=1)))


def test_not_the_layout(tmp_path):
    path = tmp_path / "sd.ckpt"
    torch.save(apc_state(apc_paras(), 80, seed=1), path)  # a bare state dict
    with pytest.raises(ValueError, match=r"lacks the key\(s\) \['config', 'model'\]"):
        hub.apc_local(ckpt=str(path))


def test_inference_recurrence_equals_packed_gru(tiny, monkeypatch):
    """fp32 CPU inference with one thread runs gru_layer_inference (rows sorted, finished rows
    skipped); with several threads, or with autograd on, it runs packed nn.GRU as the original
    does: same valid frames (1e-5), rows in
    the caller's order, zero past each row's frames. No regrouping by length (the recurrence
    wastes nothing on padding)."""
    import s3prl.upstream.apc.expert as apc_expert

    entry, path = tiny
    model = hub.load(entry, ckpt=str(path)).eval()
    assert model.max_padding_waste is None
    torch.manual_seed(5)
    lengths = [3000, 16000, 400, 9000, 16000]  # unsorted, a tie, a 1-frame wav
    wavs = [torch.randn(n) * 0.1 for n in lengths]
    calls = []
    real = apc_expert.gru_layer_inference
    monkeypatch.setattr(apc_expert, "gru_layer_inference", lambda *a: calls.append(1) or real(*a))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # the recurrence is used with one intra-op thread only
        with torch.no_grad():
            fast = model(wavs)
        assert len(calls) == 3  # one per layer
        packed = model(wavs)  # autograd on: the packed nn.GRU path
        assert len(calls) == 3
        torch.set_num_threads(2)  # several threads: packed nn.GRU (faster there) also without autograd
        with torch.no_grad():
            packed_no_grad = model(wavs)
        assert len(calls) == 3
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(packed_no_grad["hidden_states"], packed["hidden_states"]):
        assert torch.equal(a, b.detach())
    assert torch.equal(fast["hidden_states_len"], packed["hidden_states_len"])
    for a, b in zip(fast["hidden_states"], packed["hidden_states"]):
        assert a.shape == b.shape
        assert (a - b.detach()).abs().max().item() <= 1e-5
