"""BYOL-S default: a seeded released-layout checkpoint vs a re-statement of serab-byols'
``get_timestamp_embeddings`` (``frame_audio``, torchaudio MelSpectrogram via librosa,
``compute_timestamp_stats``) for one wav, on the AudioNTT2020 re-statement of test_byol_a."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import s3prl.hub as hub
from test.checkpoint_builders.byol_a import make_state
from test.checkpoint_builders.byol_s import build_byol_s_default
from test.test_byol_a import reference_audio_ntt
from test.utils import assert_padding_invariant, needs


def librosa_lms(x: np.ndarray) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    power = np.abs(librosa.stft(x, n_fft=1024, hop_length=160, win_length=400, window="hann",
                                center=True, pad_mode="reflect")) ** 2
    banks = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=64, fmin=60, fmax=7800, htk=True, norm=None)
    return np.log(banks @ power + np.finfo(np.float32).eps)


def test_matches_serab_byols_restatement(tmp_path):
    _, path = build_byol_s_default(tmp_path)
    model = hub.byol_s_default(ckpt=str(path)).eval()
    assert model.hidden_sizes == [2048] and model.downsample_rate == 800
    wav = torch.randn(4000, generator=torch.Generator().manual_seed(13)) * 0.1
    padded = np.pad(wav.double().numpy(), (8000, 8000))
    starts = range(0, len(padded) - 16000 + 1, 800)
    lms = torch.from_numpy(np.stack([librosa_lms(padded[s : s + 16000]) for s in starts])).float()
    n = lms.shape[0]
    norm = (lms - lms.mean() / n) / (lms.std() / n)
    with torch.no_grad():
        ref = reference_audio_ntt(make_state(d=2048, seed=81), norm.unsqueeze(1))
        out = model([wav])
    assert int(out["hidden_states_len"][0]) == n == 4000 // 800 + 1
    assert (out["hidden_states"][0][0] - ref).abs().max() <= 1e-4


def test_padding_invariant_with_per_wav_statistics(tmp_path):
    _, path = build_byol_s_default(tmp_path)
    model = hub.byol_s_default(ckpt=str(path)).eval()
    gen = torch.Generator().manual_seed(14)
    assert assert_padding_invariant(model, [torch.randn(n, generator=gen) * 0.1 for n in (1000, 5000)],
                                    atol=1e-4) <= 1e-4
    with pytest.raises(NotImplementedError, match="'clstm'"):
        from s3prl.upstream.byol_s.expert import UpstreamExpert

        UpstreamExpert(str(path), "clstm")


@needs("transformers")
def test_resnetish34_matches_transformers_resnet_basic_layers(tmp_path):
    """resnetish34 (serab-byols' ResNetish: 7x7 stride-1 stem, BN, ReLU, 3x3/2 max-pool, then
    3-4-6-3 basic blocks) on transformers' ``ResNetBasicLayer`` (He et al., 2016)."""
    from test.checkpoint_builders.byol_s import build_byol_s_resnetish, resnetish_state
    from test.hf_reference import hf_resnet_basic_block

    _, path = build_byol_s_resnetish(tmp_path)
    model = hub.byol_s_resnetish34(ckpt=str(path)).eval()
    assert model.hidden_sizes == [4 * 64]
    state = resnetish_state()
    stem = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 7, 1, 3, bias=False), torch.nn.BatchNorm2d(8),
                               torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2, 1)).eval()
    stem.load_state_dict({"0.weight": state["conv1.weight"], **{f"1.{k[4:]}": v for k, v in state.items()
                                                                if k.startswith("bn1.")}})
    blocks, cin = [], 8
    for i, (w, n) in enumerate(zip((8, 16, 32, 64), (3, 4, 6, 3)), start=1):
        for b in range(n):
            stride = 2 if (b == 0 and i > 1) else 1
            blocks.append(hf_resnet_basic_block(state, f"layer{i}.{b}.", cin, w, stride))
            cin = w
    wav = torch.randn(2400, generator=torch.Generator().manual_seed(15)) * 0.1
    padded = np.pad(wav.double().numpy(), (8000, 8000))
    lms = torch.from_numpy(np.stack([librosa_lms(padded[s : s + 16000]) for s in range(0, 2401, 800)])).float()
    n = lms.shape[0]
    x = ((lms - lms.mean() / n) / (lms.std() / n)).unsqueeze(1)
    with torch.no_grad():
        h = stem(x)
        for blk in blocks:
            h = blk(h)
        h = h.permute(0, 3, 2, 1).flatten(2)
        ref = h.mean(1) + h.amax(1)
        out = model([wav])["hidden_states"][0][0]
    assert out.shape == ref.shape == (4, 256)
    assert 0.1 < float(ref.abs().max()) < 1e3  # a non-trivial output in a range where 1e-4 means something
    assert (out - ref).abs().max() <= 1e-4


def _channel_norm(x, g, b):
    return (x - x.mean(1, keepdim=True)) / (x.var(1, unbiased=False, keepdim=True).sqrt() + 1e-5) * g + b


def reference_cvt(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """serab-byols ``CvT.forward`` restated with F.conv2d / einsum / softmax."""
    import torch.nn.functional as F

    from test.checkpoint_builders.byol_s import CVT_STAGES

    def dwproj(p, x, stride):
        bnp = {k: sd[f"{p}.net.1.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
        y = F.conv2d(x, sd[f"{p}.net.0.weight"], None, stride, 1, groups=x.shape[1])
        y = F.batch_norm(y, bnp["running_mean"], bnp["running_var"], bnp["weight"], bnp["bias"], False, 0.0, 1e-5)
        return F.conv2d(y, sd[f"{p}.net.2.weight"])

    for s, (_, _, k, heads, _) in enumerate(CVT_STAGES):
        x = F.conv2d(x, sd[f"layers.{s}.0.weight"], sd[f"layers.{s}.0.bias"], (4, 2, 2)[s], k // 2)
        x = _channel_norm(x, sd[f"layers.{s}.1.g"], sd[f"layers.{s}.1.b"])
        p = f"layers.{s}.2.layers.0."
        h = _channel_norm(x, sd[f"{p}0.norm.g"], sd[f"{p}0.norm.b"])
        q = dwproj(f"{p}0.fn.to_q", h, 1)
        k_, v = dwproj(f"{p}0.fn.to_kv", h, 2).chunk(2, dim=1)
        b, _, X, Y = q.shape

        def split(t, b=b, heads=heads):
            return t.reshape(b, heads, 64, -1).permute(0, 1, 3, 2).reshape(b * heads, -1, 64)

        attn = torch.softmax(torch.einsum("bid,bjd->bij", split(q), split(k_)) * 64**-0.5, dim=-1)
        out = torch.einsum("bij,bjd->bid", attn, split(v)).reshape(b, heads, X * Y, 64).permute(0, 1, 3, 2)
        x = F.conv2d(out.reshape(b, heads * 64, X, Y), sd[f"{p}0.fn.to_out.0.weight"], sd[f"{p}0.fn.to_out.0.bias"]) + x
        h = _channel_norm(x, sd[f"{p}1.norm.g"], sd[f"{p}1.norm.b"])
        h = F.conv2d(F.gelu(F.conv2d(h, sd[f"{p}1.fn.net.0.weight"], sd[f"{p}1.fn.net.0.bias"])),
                     sd[f"{p}1.fn.net.3.weight"], sd[f"{p}1.fn.net.3.bias"])
        x = h + x
    x = x.permute(0, 3, 2, 1).flatten(2)
    return x.mean(1) + x.amax(1)


def test_cvt_matches_restatement(tmp_path):
    from test.checkpoint_builders.byol_s import build_byol_s_cvt, cvt_state

    _, path = build_byol_s_cvt(tmp_path)
    model = hub.byol_s_cvt(ckpt=str(path)).eval()
    assert model.hidden_sizes == [2048]
    wav = torch.randn(1600, generator=torch.Generator().manual_seed(16)) * 0.1
    padded = np.pad(wav.double().numpy(), (8000, 8000))
    lms = torch.from_numpy(np.stack([librosa_lms(padded[s : s + 16000]) for s in range(0, 1601, 800)])).float()
    n = lms.shape[0]
    x = ((lms - lms.mean() / n) / (lms.std() / n)).unsqueeze(1)
    with torch.no_grad():
        ref = reference_cvt(cvt_state(), x)
        out = model([wav])["hidden_states"][0][0]
    assert out.shape == ref.shape == (3, 2048)
    assert 0.1 < float(ref.abs().max()) < 1e3
    assert (out - ref).abs().max() <= 1e-4
