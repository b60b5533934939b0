"""PaSST (hear21passt as s3prl 0.4.18 wraps it): resampler, mel front end and the whole
windowed embedding vs re-statements (numpy STFT + kaldi-native-fbank mel banks, Hugging
Face transformers ``ViTLayer`` blocks), on a seeded checkpoint in the released layout.

``hear21passt`` itself needs torchaudio, which does not import here, hence the
re-statement of its ``wrapper.get_timestamp_embeddings`` / ``AugmentMelSTFT`` / ``PaSST``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.upstream.passt.frontend import passt_mel, resample, sinc_resample_kernel
from test.checkpoint_builders.passt import DEPTH, DIM, build_passt, make_state
from test.hf_reference import hf_vit_blocks
from test.utils import assert_padding_invariant, needs


def test_resampler_interpolates_band_limited_signals():
    kernel, width = sinc_resample_kernel(16000, 32000)
    assert width == 7 and kernel.shape == (2, 1, 15)  # ceil(6 / 0.99) taps each side
    t16 = torch.arange(16000, dtype=torch.float64) / 16000
    t32 = torch.arange(32000, dtype=torch.float64) / 32000
    for f in (440.0, 1000.0, 3000.0):  # the 6-zero-crossing Hann sinc droops towards 8 kHz
        y = resample(torch.sin(2 * math.pi * f * t16)[None])[0]
        assert y.shape == (32000,)
        err = (y - torch.sin(2 * math.pi * f * t32))[200:-200].abs().max()
        assert err < 5e-3, (f, float(err))


def numpy_mel(x: np.ndarray, hop: int) -> np.ndarray:
    """AugmentMelSTFT (eval) restated: pre-emphasis, centred STFT, Kaldi banks, log, scaling."""
    knf = pytest.importorskip("kaldi_native_fbank")
    x = x[1:] - 0.97 * x[:-1]
    xp = np.pad(x, 512, mode="reflect")
    win = np.zeros(1024)
    win[112:912] = np.hanning(800)
    frames = np.stack([xp[i * hop : i * hop + 1024] * win for i in range(1 + (len(x)) // hop)])
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # (frames, 513)
    opts = knf.MelBanksOptions()
    opts.num_bins, opts.low_freq, opts.high_freq = 128, 0.0, 15000.0
    fo = knf.FrameExtractionOptions()
    fo.samp_freq, fo.frame_length_ms = 32000, 32.0
    banks = np.array(knf.MelBanks(opts, fo, 1.0).get_matrix())[:, :513]
    return ((np.log(power @ banks.T + 1e-5) + 4.5) / 5.0).T


@pytest.mark.parametrize("hop, n", [(320, 5120), (100, 600)])
def test_mel_front_end(hop, n):
    x = torch.randn(n, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 0.1
    ours = passt_mel(x[None], hop)[0]
    ref = torch.from_numpy(numpy_mel(x.numpy(), hop))
    assert ours.shape == ref.shape == (128, 1 + (n - 1) // hop)
    assert (ours - ref).abs().max() <= 1e-4


def reference_embedding(state: dict, x32: torch.Tensor, window: int, hop: int = 1600) -> torch.Tensor:
    """wrapper.get_timestamp_embeddings (one sound), the PaSST forward restated on transformers
    ``ViTLayer`` blocks."""
    blocks = hf_vit_blocks(state, "", DEPTH, DIM, DIM // 64)
    pad = window // 2
    xp = F.pad(x32[None, None], (pad, pad), mode="reflect")[0, 0]
    out = []
    for k in range((xp.numel() - window) // hop + 1):
        mel = torch.from_numpy(numpy_mel(xp[k * hop : k * hop + window].double().numpy(), 320)).float()
        x = F.conv2d(mel[None, None], state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=10)
        x = x + state["time_new_pos_embed"][..., : x.shape[-1]] + state["freq_new_pos_embed"]
        x = x.flatten(2).transpose(1, 2)
        cls = state["cls_token"] + state["new_pos_embed"][:, :1]
        dist = state["dist_token"] + state["new_pos_embed"][:, 1:]
        x = torch.cat([cls, dist, x], dim=1)
        for blk in blocks:
            x = blk(x)
        x = F.layer_norm(x, (DIM,), state["norm.weight"], state["norm.bias"], 1e-6)
        feat = (x[:, 0] + x[:, 1]) / 2
        logits = F.linear(F.layer_norm(feat, (DIM,), state["head.0.weight"], state["head.0.bias"]),
                          state["head.1.weight"], state["head.1.bias"])
        out.append(torch.cat([logits, feat], dim=-1)[0])
    return torch.stack(out)


@needs("transformers")
def test_base2levelmel_matches_reference(tmp_path):
    _, path = build_passt(tmp_path)
    model = hub.passt_local(str(path), variant="base2levelmel").eval()
    assert model.hidden_sizes == [2 * (527 + DIM) + 768] and model.downsample_rate == 800
    wav = torch.randn(11000, generator=torch.Generator().manual_seed(11)) * 0.1
    state = make_state()
    with torch.no_grad():
        out = model([wav])
        x32 = resample(wav[None])[0]
        lvl1 = reference_embedding(state, x32, 5120)
        lvl2 = reference_embedding(state, x32, 20480)
        pad = 960
        xp = F.pad(x32[None, None], (pad, pad), mode="reflect")[0, 0]
        mel = torch.stack([torch.from_numpy(numpy_mel(xp[k * 1600 : k * 1600 + 1920].double().numpy(), 320))
                           .float().reshape(-1) for k in range(lvl1.size(0))])
    n = 1 + 22000 // 1600
    assert int(out["hidden_states_len"][0]) == n == lvl1.size(0) == lvl2.size(0)
    ref = torch.cat([lvl1, lvl2, mel], dim=-1)
    assert (out["hidden_states"][0][0] - ref).abs().max() <= 1e-4


def test_padding_invariant_with_own_reflection(tmp_path):
    _, path = build_passt(tmp_path)
    model = hub.passt_local(str(path), variant="base2level").eval()
    gen = torch.Generator().manual_seed(12)
    wavs = [torch.randn(n, generator=gen) * 0.1 for n in (7000, 20000, 12345)]
    assert assert_padding_invariant(model, wavs) <= 1e-4
    with pytest.raises(ValueError, match="at least 6401 samples"):
        model([torch.randn(6400)])


def test_bad_checkpoints_and_options(tmp_path):
    _, path = build_passt(tmp_path)
    with pytest.raises(ValueError, match="unknown PaSST variant 'large'"):
        hub.passt_local(str(path), variant="large")
    state = make_state()
    del state["blocks.1.attn.qkv.bias"]
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(ValueError, match="missing keys.*blocks.1.attn.qkv.bias"):
        hub.passt_local(str(bad))
    torch.save({"weights": {}}, bad)
    with pytest.raises(ValueError, match="not a PaSST checkpoint"):
        hub.passt_local(str(bad))
