"""s3prl 0.4.18 names that are aliases or small baselines: ``baseline``, ``customized_upstream``,
``decoar2_custom`` / ``vq_wav2vec_custom`` / ``wav2vec_custom`` (path or URL), ``stft_mag``.

``stft_mag`` is checked against a numpy re-statement of s3prl 0.4.18's
``upstream/log_stft/expert.py`` (``torch.stft(center=True, pad_mode="reflect")`` of a
periodic Hann window, magnitude): reflect-pad ``n_fft // 2`` samples on both sides, frame
``t`` = samples ``[t * hop, t * hop + n_fft)``, ``|rfft(frame * window)|``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import s3prl.hub as hub
from test.checkpoint_builders import decoar2 as decoar2_builders
from test.checkpoint_builders import vq_wav2vec as vq_builders
from test.checkpoint_builders import wav2vec as w2v_builders
from test.utils import assert_same_hidden_states, mixed_length_wavs


def _stft_mag_reference(wav: np.ndarray, n_fft=512, hop=320, log=False) -> np.ndarray:
    x = np.pad(wav.astype(np.float64), n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = 1 + (len(x) - n_fft) // hop
    out = np.stack([np.abs(np.fft.rfft(x[t * hop: t * hop + n_fft] * window)) for t in range(frames)])
    return np.log(np.maximum(out, 1e-8)) if log else out


def test_stft_mag_matches_numpy_reference():
    wavs = mixed_length_wavs(seed=5, seconds=(0.3, 1.1))
    model = hub.stft_mag().eval()
    assert (model.downsample_rate, model.receptive_field, model.hidden_sizes) == (320, 257, [257])
    with torch.no_grad():
        out = model(wavs)
    for i, wav in enumerate(wavs):
        ref = _stft_mag_reference(wav.numpy())
        n = int(out["hidden_states_len"][i])
        assert n == 1 + len(wav) // 320 == ref.shape[0]
        got = out["hidden_states"][0][i, :n].double().numpy()
        assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())
        assert out["hidden_states"][0][i, n:].abs().max() == 0 if n < out["hidden_states"][0].size(1) else True


def test_stft_mag_user_yaml_log_and_errors(tmp_path):
    cfg = tmp_path / "log_stft_mag.yaml"
    cfg.write_text("feat_type: spectrogram\nspectrogram: {n_fft: 256, hop_length: 160, win_length: 256, "
                   "window: hann, center: true, log: true}\n")
    model = hub.stft_mag(str(cfg)).eval()
    wav = mixed_length_wavs(seed=6, seconds=(0.4,))[0]
    with torch.no_grad():
        got = model([wav])["hidden_states"][0][0].double().numpy()
    ref = _stft_mag_reference(wav.numpy(), n_fft=256, hop=160, log=False)
    assert got.shape == ref.shape == (1 + len(wav) // 160, 129)
    # log is ill-conditioned where |X| is tiny (fp32 STFT rounding / |X|): compare magnitudes
    assert np.abs(np.exp(got) - ref).max() <= 1e-5 * np.abs(ref).max()
    assert got.min() >= np.log(1e-8) - 1e-6
    bad = tmp_path / "bad.yaml"
    bad.write_text("spectrogram: {n_fft: 256, hop_length: 160, win_length: 256, window: hamming, "
                   "center: true, log: true}\n")
    with pytest.raises(ValueError, match="bad.yaml: window 'hamming' is not supported"):
        hub.stft_mag(str(bad))
    bad.write_text("spectrogram: {n_fft: 256, hop_length: 160}\n")
    with pytest.raises(ValueError, match=r"missing fields \['center', 'log', 'win_length', 'window'\]"):
        hub.stft_mag(str(bad))
    with pytest.raises(FileNotFoundError, match="stft_mag: config file not found"):
        hub.stft_mag(str(tmp_path / "missing.yaml"))


def test_baseline_is_fbank_and_customized_upstream_is_example():
    wavs = mixed_length_wavs(seed=7, seconds=(0.6, 0.9))
    assert_same_hidden_states(hub.baseline(), hub.fbank(), wavs)
    assert_same_hidden_states(hub.customized_upstream(), hub.example(), wavs)
    assert hub.customized_upstream(hidden_size=8).hidden_sizes == [8, 8, 8]


@pytest.mark.parametrize(
    "family, build",
    [
        ("decoar2", decoar2_builders.build_decoar2),
        ("vq_wav2vec", vq_builders.build_kmeans),
        ("wav2vec", w2v_builders.build_wav2vec),
    ],
)
def test_custom_entries_take_a_path_or_a_url(tmp_path, family, build):
    from test.http_server import serve_directory

    _, path = build(tmp_path / "files")
    wavs = mixed_length_wavs(seed=8, seconds=(0.7,))
    reference = hub.load(f"{family}_local", ckpt=str(path))
    assert_same_hidden_states(hub.load(f"{family}_custom", ckpt=str(path)), reference, wavs)
    with serve_directory(tmp_path / "files") as server:
        model = hub.load(f"{family}_custom", ckpt=server.url + path.name)
        assert server.requests["/" + path.name] >= 1
    assert_same_hidden_states(model, reference, wavs)
    with pytest.raises(FileNotFoundError):
        hub.load(f"{family}_custom", ckpt=str(tmp_path / "missing.pt"))
