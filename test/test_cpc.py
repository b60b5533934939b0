"""Modified CPC: CPC_audio-layout checkpoints, reference numbers, padding, goldens, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import cpc as builders
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
)

PADS = [(5, 3), (4, 2), (2, 1), (2, 1), (2, 1)]  # (stride, padding) of conv0..conv4


def reference_forward(ckpt: dict, wav: torch.Tensor) -> list[torch.Tensor]:
    """CPC_audio semantics with plain torch ops on one unpadded wav: padded convs,
    ChannelNorm (per-frame mean / unbiased variance over channels), ReLU, then the
    recurrent net on the whole sequence."""
    w, cfg = ckpt["weights"], ckpt["config"]
    x = wav[None, None, :]
    for i, (s, p) in enumerate(PADS):
        x = F.conv1d(x, w[f"gEncoder.conv{i}.weight"], w[f"gEncoder.conv{i}.bias"], stride=s, padding=p)
        nb = f"gEncoder.batchNorm{i}."
        if cfg["normMode"] == "layerNorm":
            mu, var = x.mean(1, keepdim=True), x.var(1, keepdim=True)
            x = (x - mu) * torch.rsqrt(var + 1e-5) * w[nb + "weight"] + w[nb + "bias"]
        elif cfg["normMode"] == "instanceNorm":
            x = F.instance_norm(x, weight=w[nb + "weight"], bias=w[nb + "bias"], eps=1e-5)
        elif cfg["normMode"] == "batchNorm":
            x = F.batch_norm(x, w[nb + "running_mean"], w[nb + "running_var"], w[nb + "weight"], w[nb + "bias"])
        x = F.relu(x)
    enc = x.transpose(1, 2)
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[cfg["arMode"]]
    rnn = cls(cfg["hiddenEncoder"], cfg["hiddenGar"], num_layers=cfg["nLevelsGRU"], batch_first=True)
    rnn.load_state_dict({k[len("gAR.baseNet."):]: v for k, v in w.items() if k.startswith("gAR.")})
    seq = enc.flip(1) if cfg["cpc_mode"] == "reverse" else enc
    out, _ = rnn(seq)
    if cfg["cpc_mode"] == "reverse":
        out = out.flip(1)
    return [enc[0], out[0]]


def _check(model, ckpt, wavs):
    with torch.no_grad():
        out = model(wavs)
        worst = 0.0
        for i, wav in enumerate(wavs):
            ref = reference_forward(ckpt, wav)
            n = int(out["hidden_states_len"][i])
            for k, r in enumerate(ref):
                assert r.shape[0] == n
                worst = max(worst, (out["hidden_states"][k][i, :n] - r).abs().max().item())
    return worst


def test_local_matches_reference_and_padding(tmp_path):
    entry_name, path = builders.build_cpc(tmp_path)
    model = hub.load(entry_name, ckpt=str(path))
    assert (model.downsample_rate, model.receptive_field, model.hidden_sizes) == (160, 159, [24, 20])
    wavs = mixed_length_wavs(seed=2, seconds=(0.3, 2.0, 1.23))
    assert _check(model, load_checkpoint(path), wavs) < 1e-4
    with torch.no_grad():
        lens = model(wavs)["hidden_states_len"].tolist()
    assert lens == [30, 200, 123]  # about samples / 160 (padded convs)
    assert assert_padding_invariant(model, mixed_length_wavs(seconds=(0.5, 4.0, 2.2))) <= 1e-4


@pytest.mark.parametrize(
    "mode,cpc_mode,norm",
    [("GRU", None, "instanceNorm"), ("LSTM", "reverse", "batchNorm"), ("LSTM", None, "ID")],
)
def test_variants(tmp_path, mode, cpc_mode, norm):
    ckpt = builders.make_checkpoint(mode=mode, cpc_mode=cpc_mode, levels=1, seed=5, norm_mode=norm)
    path = tmp_path / "v.pt"
    torch.save(ckpt, path)
    model = hub.cpc_local(str(path))
    wavs = mixed_length_wavs(seed=3, seconds=(0.4, 1.5))
    assert _check(model, ckpt, wavs) < 1e-4
    assert assert_padding_invariant(model, wavs) <= 1e-4


def test_golden():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        entry_name, path = builders.build_cpc(Path(d))
        model = hub.load(entry_name, ckpt=str(path))
        assert_matches_golden("modified_cpc_tiny", hidden_states_of_files(model, sample_speech_files()))


def test_url_entry(tmp_path):
    from test.http_server import serve_directory

    _, path = builders.build_cpc(tmp_path / "files")
    wav = mixed_length_wavs(seed=4, seconds=(0.7,))
    with serve_directory(tmp_path / "files") as server:
        remote = hub.cpc_url(server.url + path.name)
        assert server.requests["/" + path.name] >= 1
    assert_same_hidden_states(remote, hub.cpc_local(str(path)), wav)


def test_bad_checkpoints(tmp_path):
    ckpt = builders.make_checkpoint()
    bad = dict(ckpt, weights=dict(ckpt["weights"]))
    bad["weights"].pop("gAR.baseNet.bias_hh_l1")
    bad["weights"]["gEncoder.conv5.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(KeyError, match=r"missing keys \['gAR.baseNet.bias_hh_l1'\]; unexpected keys \['gEncoder.conv5.weight'\]"):
        hub.cpc_local(str(tmp_path / "bad.pt"))
    torch.save({"gEncoder": ckpt["weights"]}, tmp_path / "train.pt")
    with pytest.raises(ValueError, match="expected keys 'config' and 'weights'"):
        hub.cpc_local(str(tmp_path / "train.pt"))
    torch.save(dict(ckpt, config=dict(ckpt["config"], arMode="transformer")), tmp_path / "tr.pt")
    with pytest.raises(NotImplementedError, match="arMode='transformer'"):
        hub.cpc_local(str(tmp_path / "tr.pt"))


def test_entry_metadata():
    info = hub.modified_cpc.info
    assert info.ckpt == "https://dl.fbaipublicfiles.com/librilight/CPC_checkpoints/60k_epoch4-d0f474de.pt"
    assert info.sha256 == "d0f474de" and (info.stride, info.layers, info.hidden_size) == (160, 2, 256)
    assert "Libri-light" in hub.help("modified_cpc")


@pytest.mark.slow
def test_full_size_layout_matches_registry(tmp_path):
    """A full-size seeded Libri-light-style checkpoint (256 / 256, LSTM) gives 2 x 256, stride 160."""
    torch.save(builders.make_checkpoint(enc=256, gar=256, levels=2), tmp_path / "60k.pt")
    model = hub.modified_cpc(ckpt=str(tmp_path / "60k.pt"))
    info = hub.modified_cpc.info
    assert (model.num_layers, model.hidden_sizes[-1], model.downsample_rate) == (info.layers, info.hidden_size, info.stride)
    with torch.no_grad():
        out = model(mixed_length_wavs(seed=9, seconds=(1.0,)))
    assert out["hidden_states_len"].tolist() == [100]
