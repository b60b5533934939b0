"""PASE+: pase-layout checkpoint + JSON config, unbatched reference, padding, goldens, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.upstream.pase.expert import PASE_PLUS_CONFIG, WaveFe, read_pase_config
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import pase as builders
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
)


def sinc_filters(low_hz_, band_hz_, k):
    """SincConv_fast filters, written from santi-pdp/pase modules.py's description."""
    n_lin = torch.linspace(0, k / 2 - 1, steps=int(k / 2))
    window = 0.54 - 0.46 * torch.cos(2 * math.pi * n_lin / k)
    n = 2 * math.pi * torch.arange(-(k - 1) / 2.0, 0).view(1, -1) / 16000
    low = 50 + low_hz_.abs()
    high = torch.clamp(low + 50 + band_hz_.abs(), 50, 8000)
    band = (high - low)[:, 0]
    left = ((torch.sin(high @ n) - torch.sin(low @ n)) / (n / 2)) * window
    bp = torch.cat([left, 2 * band.view(-1, 1), left.flip(dims=[1])], dim=1) / (2 * band[:, None])
    return bp.view(-1, 1, k)


def reference_forward(sd: dict, cfg: dict, wav: torch.Tensor) -> list[torch.Tensor]:
    """The original WaveFe forward + s3prl hooks/align_skip on one unpadded wav (time-major QRNN)."""
    h = wav[None, None]
    skips = []
    n = len(cfg["kwidths"])
    for i, (k, s) in enumerate(zip(cfg["kwidths"], cfg["strides"])):
        p = f"blocks.{i}."
        if i == 0:
            h = F.pad(h, (k // 2, k // 2), mode="reflect")
            h = F.conv1d(h, sinc_filters(sd[p + "conv.low_hz_"], sd[p + "conv.band_hz_"], k), stride=s)
        else:
            pad = (k // 2 - 1, k // 2) if (s > 1 or k % 2 == 0) else (k // 2, k // 2)
            h = F.conv1d(F.pad(h, pad, mode="reflect"), sd[p + "conv.weight"], sd[p + "conv.bias"], stride=s)
        h = F.batch_norm(h, sd[p + "norm.running_mean"], sd[p + "norm.running_var"], sd[p + "norm.weight"], sd[p + "norm.bias"])
        h = F.prelu(h, sd[p + "act.weight"])
        if i < n - 1:
            skips.append(F.conv1d(h, sd[f"denseskips.{i}.weight"]))
    x = h[0].T[:, None, :]  # (T, 1, C) time-major like the QRNN
    xm1 = torch.cat([x[:1] * 0, x[:-1]], 0)
    y = F.linear(torch.cat([x, xm1], 2), sd["rnn.layers.0.linear.weight"], sd["rnn.layers.0.linear.bias"])
    z, f, o = y.chunk(3, dim=2)
    z, f = torch.tanh(z), torch.sigmoid(f)
    cs, prev = [], None
    for t in range(z.shape[0]):
        c = f[t] * z[t] + (0 if prev is None else (1 - f[t]) * prev)
        cs.append(c)
        prev = c
    hq = torch.sigmoid(o) * torch.stack(cs)
    w_out = F.conv1d(hq[:, 0].T[None], sd["W.weight"], sd["W.bias"])
    out = w_out

    def align(inp, skip):
        d = skip.shape[2] // inp.shape[2]
        if d > 1:
            skip = skip[:, :, : inp.shape[2] * d]
            b, c, sl = skip.shape
            skip = skip.view(b, c, sl // d, d).mean(dim=3)
        return skip

    for sk in skips:
        out = out + align(out, sk)
    final = F.batch_norm(out, sd["norm_out.running_mean"], sd["norm_out.running_var"])
    hidden = [align(final, sk) for sk in skips] + [w_out, final]
    return [t[0].T for t in hidden]


def test_local_matches_reference_and_padding(tmp_path):
    entry_name, path = builders.build_pase(tmp_path)
    model = hub.load(entry_name, ckpt=str(path))  # config: the PASE+.cfg next to the checkpoint
    assert (model.downsample_rate, model.receptive_field, model.hidden_sizes) == (160, 231, [16] * 9)
    sd = load_checkpoint(path)["state_dict"]
    wavs = mixed_length_wavs(seed=7, seconds=(0.3, 1.0, 0.61))
    worst = 0.0
    with torch.no_grad():
        out = model(wavs)
        for i, wav in enumerate(wavs):
            ref = reference_forward(sd, builders.CONFIG, wav)
            n = int(out["hidden_states_len"][i])
            assert n == math.ceil(wav.numel() / 10) // 16
            assert len(ref) == 9
            for k, r in enumerate(ref):
                assert r.shape[0] == n, (k, r.shape, n)
                worst = max(worst, (out["hidden_states"][k][i, :n] - r).abs().max().item())
    assert worst < 1e-4, worst
    assert assert_padding_invariant(model, mixed_length_wavs(seed=8, seconds=(0.4, 2.0, 1.01))) <= 1e-4


def test_golden(tmp_path):
    entry_name, path = builders.build_pase(tmp_path)
    model = hub.load(entry_name, ckpt=str(path))
    assert_matches_golden("pase_plus_tiny", hidden_states_of_files(model, sample_speech_files()))


def test_url_entry(tmp_path):
    from test.http_server import serve_directory

    _, path = builders.build_pase(tmp_path / "files")
    wav = mixed_length_wavs(seed=4, seconds=(0.7,))
    with serve_directory(tmp_path / "files") as server:
        remote = hub.pase_url(server.url + path.name, model_config=server.url + "PASE%2B.cfg")
        assert server.requests["/" + path.name] >= 1
    local = hub.pase_local(str(path), model_config=str(tmp_path / "files" / "PASE+.cfg"))
    assert_same_hidden_states(remote, local, wav)


def test_full_pase_plus_architecture_from_published_config(tmp_path):
    """The published PASE+.cfg builds the documented model: 9 x 256 states, stride 160."""
    fe = WaveFe(read_pase_config(PASE_PLUS_CONFIG))
    keys = fe.state_dict()
    assert keys["blocks.0.conv.low_hz_"].shape == (64, 1)
    assert keys["rnn.layers.0.linear.weight"].shape == (3 * 512, 2 * 512)
    assert keys["W.weight"].shape == (256, 512, 1)
    assert len([k for k in keys if k.startswith("denseskips.")]) == 7
    assert math.prod(PASE_PLUS_CONFIG["strides"]) == 160


def test_bad_inputs(tmp_path):
    _, path = builders.build_pase(tmp_path)
    sd = load_checkpoint(path)["state_dict"]
    sd.pop("W.bias")
    sd["rnn.layers.1.linear.weight"] = torch.zeros(1)
    torch.save({"step": 1, "state_dict": sd}, tmp_path / "FE_bad.ckpt")
    with pytest.raises(KeyError, match=r"missing keys \['W.bias'\]; unexpected keys \['rnn.layers.1.linear.weight'\]"):
        hub.pase_local(str(tmp_path / "FE_bad.ckpt"), model_config=str(tmp_path / "PASE+.cfg"))
    cfg = dict(builders.CONFIG, rnn_type="lstm")
    (tmp_path / "lstm.cfg").write_text(json.dumps(cfg))
    with pytest.raises(NotImplementedError, match="rnn_type='lstm'"):
        hub.pase_local(str(path), model_config=str(tmp_path / "lstm.cfg"))
    (tmp_path / "typo.cfg").write_text(json.dumps(dict(builders.CONFIG, kwidth=[1])))
    with pytest.raises(ValueError, match=r"unknown keys \['kwidth'\]"):
        hub.pase_local(str(path), model_config=str(tmp_path / "typo.cfg"))
    model = hub.pase_local(str(path))
    with pytest.raises(ValueError, match="wav 0 has 200 samples"):
        model([torch.zeros(200)])


def test_entry_metadata():
    info = hub.pase_plus.info
    assert info.ckpt == "https://www.dropbox.com/s/p8811o7eadv4pat/FE_e199.ckpt?dl=1"
    assert (info.stride, info.layers, info.hidden_size) == (160, 9, 256)


@pytest.mark.slow
def test_full_size_layout_matches_registry(tmp_path):
    """A full-size seeded PASE+ checkpoint with the published config gives 9 x 256, stride 160."""
    torch.save({"step": 199, "state_dict": builders.make_state(PASE_PLUS_CONFIG | {"emb_dim": 256})}, tmp_path / "FE.ckpt")
    model = hub.pase_plus(ckpt=str(tmp_path / "FE.ckpt"), model_config=None)
    info = hub.pase_plus.info
    assert (model.num_layers, model.hidden_sizes[-1], model.downsample_rate) == (info.layers, info.hidden_size, info.stride)
    assert model.receptive_field == 471
    with torch.no_grad():
        out = model(mixed_length_wavs(seed=9, seconds=(1.0,)))
    assert out["hidden_states_len"].tolist() == [100]
