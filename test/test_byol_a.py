"""BYOL-A: log-mel front end vs librosa, and the seeded released-layout checkpoint vs an
``nn.Sequential`` re-statement of ``AudioNTT2020`` (nttcslab/byol-a ``byol_a/models.py``;
s3prl 0.4.18 ``upstream/byol_a``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import s3prl.hub as hub
from s3prl.upstream.byol_a.expert import NORM_MEAN, NORM_STD, log_mel
from test.checkpoint_builders.byol_a import build_byol_a_512, make_state
from test.utils import assert_padding_invariant


def librosa_log_mel(x: np.ndarray) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    power = np.abs(librosa.stft(x, n_fft=1024, hop_length=160, win_length=1024, window="hann",
                                center=True, pad_mode="reflect")) ** 2
    banks = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=64, fmin=60, fmax=7800, htk=True, norm=None)
    return np.log(banks @ power + np.finfo(np.float32).eps)


def test_log_mel_matches_librosa():
    x = torch.randn(16000, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 0.1
    ours = log_mel(x[None])[0]
    ref = torch.from_numpy(librosa_log_mel(x.numpy()))
    assert ours.shape == ref.shape == (64, 101)
    assert (ours - ref).abs().max() <= 1e-4


def reference_audio_ntt(state: dict, mel: torch.Tensor) -> torch.Tensor:
    layers = []
    for i in range(3):
        layers += [nn.Conv2d(1 if i == 0 else 64, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2, 2)]
    feats = nn.Sequential(*layers).eval()
    feats.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")})
    x = feats(mel)  # (N, 64, 8, T)
    x = x.permute(0, 3, 2, 1).flatten(2)
    x = torch.relu(torch.relu(x @ state["fc.0.weight"].T + state["fc.0.bias"]) @ state["fc.3.weight"].T
                   + state["fc.3.bias"])
    return x.max(dim=1).values + x.mean(dim=1)


def test_checkpoint_matches_reference(tmp_path):
    _, path = build_byol_a_512(tmp_path)
    model = hub.byol_a_512(ckpt=str(path)).eval()
    assert model.hidden_sizes == [512] and model.downsample_rate == 16000
    gen = torch.Generator().manual_seed(3)
    wavs = [torch.randn(40000, generator=gen) * 0.1, torch.randn(9000, generator=gen) * 0.1]
    with torch.no_grad():
        out = model(wavs)
        win = torch.zeros(4, 16000)
        win[0], win[1], win[2, :8000], win[3, :9000] = wavs[0][:16000], wavs[0][16000:32000], wavs[0][32000:], wavs[1]
        mel = torch.from_numpy(np.stack([librosa_log_mel(w.double().numpy()) for w in win])).float()
        ref = reference_audio_ntt(make_state(), ((mel - NORM_MEAN) / NORM_STD).unsqueeze(1))
    assert out["hidden_states_len"].tolist() == [3, 1]
    assert (out["hidden_states"][0][0] - ref[:3]).abs().max() <= 1e-4
    assert (out["hidden_states"][0][1, 0] - ref[3]).abs().max() <= 1e-4


def test_padding_invariant_and_errors(tmp_path):
    _, path = build_byol_a_512(tmp_path)
    model = hub.byol_a_512(ckpt=str(path)).eval()
    gen = torch.Generator().manual_seed(4)
    assert assert_padding_invariant(model, [torch.randn(n, generator=gen) * 0.1 for n in (3000, 35000)]) <= 1e-4
    state = make_state()
    del state["features.9.running_var"]
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError, match="missing keys.*features.9.running_var"):
        hub.byol_a_512(ckpt=str(bad))
    torch.save({"state_dict": {"encoder.weight": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="not an AudioNTT2020 state dict"):
        hub.byol_a_512(ckpt=str(bad))
    # two prefixes naming one weight: refused by name, not last-one-wins
    state = make_state()
    state["ema.fc.0.bias"] = state["fc.0.bias"] + 1
    torch.save(state, bad)
    with pytest.raises(ValueError) as err:
        hub.byol_a_512(ckpt=str(bad))
    assert str(err.value) == f"checkpoint {bad}: keys 'fc.0.bias' and 'ema.fc.0.bias' both name 'fc.0.bias'"
