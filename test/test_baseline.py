"""Baseline features: Kaldi exactness (kaldi-native-fbank), librosa parity, frame counts,
padding invariance, config errors and golden hidden states.

Reference numbers (see the docstrings of the exactness tests) are computed on the
bundled sample speech and, when present, on every file of ``../shared/data/speech``.
Print the per-feature maxima with ``python -m pytest -q -s test/test_baseline.py -k exact``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import s3prl.hub as hub
from s3prl.upstream.baseline import features as F
from s3prl.util.audio import load_audio, sample_speech_files
from s3prl.util.extract import hidden_states_of_files
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    mixed_length_wavs,
    needs,
    optional_import,
)

ENTRIES = {  # entry -> (hidden size, receptive field, kaldi framing?)
    "fbank": (240, 400, True),
    "fbank_no_cmvn": (240, 400, True),
    "mfcc": (39, 400, True),
    "spectrogram": (257, 400, True),
    "mel": (80, 201, False),
    "linear": (201, 201, False),
}
SHARED_SPEECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"
CONFIG_DIR = Path(F.__file__).resolve().parent


def speech_files() -> list[Path]:
    """The bundled sample speech, plus the real speech set when this checkout has it."""
    files = list(sample_speech_files())
    if SHARED_SPEECH.is_dir():
        files += sorted(p for p in SHARED_SPEECH.iterdir() if p.suffix.lower() in (".wav", ".flac"))
    return files


@pytest.fixture(scope="module")
def speech():
    return [(f.name, load_audio(f)) for f in speech_files()]


def _one(wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return wav[None].double(), torch.tensor([wav.numel()])


# --------------------------------------------------------------------------- #
# Kaldi exactness against kaldi-native-fbank
# --------------------------------------------------------------------------- #
knf = optional_import("kaldi_native_fbank")  # only the tests below that compare with it skip
needs_knf = needs("kaldi_native_fbank")


def _knf_frames(online, wav: torch.Tensor) -> np.ndarray:
    online.accept_waveform(16000, wav.tolist())
    online.input_finished()
    return np.stack([np.asarray(online.get_frame(i)) for i in range(online.num_frames_ready)])


def _knf_fbank(wav, num_bins=80, snip_edges=True):
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = snip_edges
    opts.mel_opts.num_bins = num_bins
    return _knf_frames(knf.OnlineFbank(opts), wav)


def _knf_mfcc(wav):
    opts = knf.MfccOptions()
    opts.frame_opts.dither = 0.0
    opts.use_energy = False  # torchaudio.compliance.kaldi.mfcc default, used by s3prl's mfcc
    return _knf_frames(knf.OnlineMfcc(opts), wav)


def _knf_spectrogram(wav, energy_floor=1.0):
    """Kaldi spectrogram from kaldi-native-fbank's own window and FFT (float32).

    kaldi-native-fbank 1.22 has no spectrogram class in Python, so the frame
    processing of Kaldi's ``ProcessWindow`` (DC removal, raw energy,
    pre-emphasis) is spelled out in float32 numpy around knf's
    ``FeatureWindowFunction`` (povey) and ``Rfft`` (packed output
    ``[re0, re_N/2, re1, im1, ...]``).
    """
    fo = knf.FrameExtractionOptions()
    fo.dither = 0.0
    window = np.asarray(knf.FeatureWindowFunction(fo).window, dtype=np.float32)
    rfft = knf.Rfft(512)
    x = wav.numpy().astype(np.float32)
    n = 1 + (x.size - 400) // 160
    out = np.empty((n, 257), dtype=np.float32)
    eps = np.float32(F.FLT_EPSILON)
    for t in range(n):
        fr = x[t * 160 : t * 160 + 400].copy()
        fr -= np.float32(fr.mean(dtype=np.float32))
        energy = np.float32((fr * fr).sum(dtype=np.float32))
        fr[1:] -= np.float32(0.97) * fr[:-1].copy()
        fr[0] -= np.float32(0.97) * fr[0]
        c = np.asarray(rfft.compute(np.concatenate([fr * window, np.zeros(112, np.float32)]).tolist()))
        c = c.astype(np.float32)
        power = np.empty(257, dtype=np.float32)
        power[0], power[256] = c[0] ** 2, c[1] ** 2
        power[1:256] = c[2::2] ** 2 + c[3::2] ** 2
        out[t] = np.log(np.maximum(power, eps))
        log_e = np.log(max(energy, eps))
        out[t, 0] = max(log_e, math.log(energy_floor)) if energy_floor > 0 else log_e
    return out


def _depth(ref: np.ndarray) -> np.ndarray:
    """Nats below each frame's largest log value."""
    return ref.max(axis=1, keepdims=True) - ref


# Tolerances. The reference is float32; its rounding moves log bins that lie far
# below a frame's peak (ratio < e^-15, i.e. > 65 dB down, near the FLT_EPSILON floor)
# by up to a few 1e-3. Within 15 nats of the peak the spec's 1e-3 holds everywhere.
ATOL = 1e-3
DEEP_ATOL = 1e-2
SHALLOW = 15.0


@needs_knf
def test_kaldi_fbank_exact(speech):
    """fbank (80 bins, before deltas/CMVN) vs kaldi-native-fbank.

    Measured on the 4 bundled + 17 shared files (float64 here, float32 reference):
    max abs diff 2.3e-3 overall (at bins ~21 nats below the frame peak, value ~-14.8),
    2.3e-4 within 15 nats of each frame's peak.
    """
    worst_all = worst_shallow = 0.0
    for name, wav in speech:
        ref = _knf_fbank(wav)
        ours, n = F.kaldi_fbank(*_one(wav), num_mel_bins=80)
        ours = ours[0].numpy()
        assert ours.shape == ref.shape == (1 + (wav.numel() - 400) // 160, 80), name
        assert int(n[0]) == ref.shape[0]
        d = np.abs(ours - ref)
        shallow = d[_depth(ref) < SHALLOW].max()
        assert shallow <= ATOL, f"{name}: fbank max abs diff {shallow:.3g} within {SHALLOW} nats"
        assert d.max() <= DEEP_ATOL, f"{name}: fbank max abs diff {d.max():.3g}"
        worst_all, worst_shallow = max(worst_all, d.max()), max(worst_shallow, shallow)
    print(f"\nfbank vs kaldi-native-fbank over {len(speech)} files: max abs diff "
          f"{worst_all:.3g} (within {SHALLOW:g} nats of the frame peak: {worst_shallow:.3g})")  # fmt: skip


@needs_knf
def test_kaldi_mfcc_exact(speech):
    """MFCC (13, before deltas/CMVN) vs kaldi-native-fbank (use_energy=False).

    MFCC mixes all 23 log mel bins through the DCT and a lifter of up to 12, so
    the float32 reference's deep-bin rounding reaches it: measured max abs diff
    4.0e-3 overall, mean abs diff < 1e-4. The DCT / lifter stage alone (applied
    to knf's own log mel energies) matches to < 1e-4.
    """
    worst = 0.0
    for name, wav in speech:
        ref = _knf_mfcc(wav)
        ours, _ = F.kaldi_mfcc(*_one(wav))
        ours = ours[0].numpy()
        assert ours.shape == ref.shape == (1 + (wav.numel() - 400) // 160, 13), name
        d = np.abs(ours - ref)
        assert d.max() <= DEEP_ATOL, f"{name}: mfcc max abs diff {d.max():.3g}"
        assert d.mean() <= 1e-4, f"{name}: mfcc mean abs diff {d.mean():.3g}"
        worst = max(worst, d.max())
    print(f"\nmfcc vs kaldi-native-fbank over {len(speech)} files: max abs diff {worst:.3g}")
    # the cepstral stage alone: knf's 23-bin log mel -> our DCT + lifter == knf's MFCC
    name, wav = speech[0]
    logmel = torch.from_numpy(_knf_fbank(wav, num_bins=23)).double()
    i = torch.arange(13, dtype=torch.float64)
    ceps = logmel @ F._kaldi_dct(13, 23) * (1 + 11 * torch.sin(math.pi * i / 22))
    assert np.abs(ceps.numpy() - _knf_mfcc(wav)).max() <= 1e-4


@needs_knf
def test_kaldi_spectrogram_exact(speech):
    """Spectrogram (257 log power bins, bin 0 = log energy floored at 0, before CMVN)
    vs kaldi-native-fbank's povey window and FFT.

    Measured: max abs diff 5.0e-3 overall (deep bins), 4.4e-4 within 15 nats of
    each frame's peak.
    """
    worst_all = worst_shallow = 0.0
    for name, wav in speech:
        ref = _knf_spectrogram(wav)
        ours, _ = F.kaldi_spectrogram(*_one(wav))
        ours = ours[0].numpy()
        assert ours.shape == ref.shape == (1 + (wav.numel() - 400) // 160, 257), name
        d = np.abs(ours - ref)
        shallow = d[_depth(ref) < SHALLOW].max()
        assert shallow <= ATOL, f"{name}: spectrogram diff {shallow:.3g} within {SHALLOW} nats"
        assert d.max() <= DEEP_ATOL, f"{name}: spectrogram max abs diff {d.max():.3g}"
        worst_all, worst_shallow = max(worst_all, d.max()), max(worst_shallow, shallow)
    print(f"\nspectrogram vs kaldi-native-fbank window+FFT over {len(speech)} files: max abs "
          f"diff {worst_all:.3g} (within {SHALLOW:g} nats of the frame peak: {worst_shallow:.3g})")  # fmt: skip


@needs_knf
def test_kaldi_no_snip_edges_and_energy(speech):
    """Kaldi options beyond the entries: snip_edges=False (reflected edges), use_energy."""
    name, wav = speech[0]
    ref = _knf_fbank(wav, num_bins=40, snip_edges=False)
    ours, n = F.kaldi_fbank(*_one(wav), num_mel_bins=40, snip_edges=False)
    assert int(n[0]) == ref.shape[0] == (wav.numel() + 80) // 160
    d = np.abs(ours[0].numpy() - ref)
    assert d[_depth(ref) < SHALLOW].max() <= ATOL and d.max() <= DEEP_ATOL
    opts = knf.MfccOptions()
    opts.frame_opts.dither = 0.0
    opts.energy_floor = 1.0
    ref = _knf_frames(knf.OnlineMfcc(opts), wav)  # use_energy=True: c0 = log energy
    ours, _ = F.kaldi_mfcc(*_one(wav), use_energy=True, energy_floor=1.0)
    assert np.abs(ours[0].numpy() - ref).max() <= DEEP_ATOL
    assert np.abs(ours[0, :, 0].numpy() - ref[:, 0]).max() <= ATOL


def _np_kaldi_power(x: np.ndarray, window: str, preemph: float, dc: bool, raw: bool,
                    snip: bool, pow2: bool) -> tuple[np.ndarray, np.ndarray]:
    """Kaldi ``ExtractWindow`` + ``ProcessWindow`` frame by frame in float64 numpy (from
    ``feature-window.cc``): frame ``f`` starts at ``f * 160`` (snip edges) or
    ``f * 160 + 80 - 200`` with samples outside the wav reflected (``-1 -> 0``); DC
    removal, raw log energy, pre-emphasis ``x[j] -= a x[j - 1]`` from the end
    (``x[0] -= a x[0]``), window, zero padding, |rfft|^2."""
    size, shift, T = 400, 160, x.size
    n_frames = 1 + (T - size) // shift if snip else (T + shift // 2) // shift
    n = np.arange(size)
    a = 2 * np.pi / (size - 1)
    win = {"povey": (0.5 - 0.5 * np.cos(a * n)) ** 0.85, "hamming": 0.54 - 0.46 * np.cos(a * n),
           "rectangular": np.ones(size)}[window]  # fmt: skip
    n_fft = 512 if pow2 else size
    power, energy = [], []
    for f in range(n_frames):
        start = f * shift if snip else f * shift + shift // 2 - size // 2
        idx = np.arange(start, start + size)
        idx = np.where(idx < 0, -idx - 1, idx)
        idx = np.where(idx >= T, 2 * T - 1 - idx, idx)
        fr = x[idx].copy()
        if dc:
            fr -= fr.mean()
        if raw:
            energy.append(max((fr * fr).sum(), F.FLT_EPSILON))
        for j in range(size - 1, 0, -1):
            fr[j] -= preemph * fr[j - 1]
        fr[0] -= preemph * fr[0]
        fr *= win
        if not raw:
            energy.append(max((fr * fr).sum(), F.FLT_EPSILON))
        power.append(np.abs(np.fft.rfft(fr, n=n_fft)) ** 2)
    return np.stack(power), np.log(np.array(energy))


@pytest.mark.parametrize(
    "window,preemph,dc,raw,snip,pow2",
    [("povey", 0.97, True, True, True, True), ("hamming", 0.5, True, False, True, True),
     ("rectangular", 0.0, False, True, False, False), ("povey", 0.97, True, False, False, True)],
)  # fmt: skip
def test_kaldi_power_options_step_by_step(speech, window, preemph, dc, raw, snip, pow2):
    """The batched power spectrum (pre-emphasis on the whole wav, DC removal folded
    after the window) equals Kaldi's frame-by-frame steps in float64 (1e-9 of the
    largest bin), for each wav of a padded batch of real speech (one with a DC offset)."""
    a, b = speech[2][1], speech[0][1]  # LibriSpeech (32720 samples), AudioMNIST (8618)
    wavs = [a[:9600], a[16000:21600] + 0.4, b[:8000]]
    lens = torch.tensor([w.numel() for w in wavs])
    batch = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True).double()
    spec, log_e, n = F.kaldi_power_spectrum(
        batch, lens, window_type=window, preemphasis_coefficient=preemph, remove_dc_offset=dc,
        raw_energy=raw, snip_edges=snip, round_to_power_of_two=pow2,
    )  # fmt: skip
    for i, w in enumerate(wavs):
        ref_p, ref_e = _np_kaldi_power(w.double().numpy(), window, preemph, dc, raw, snip, pow2)
        assert int(n[i]) == len(ref_p)
        ours = spec[i, : len(ref_p)].numpy()
        assert ours.shape == ref_p.shape
        assert np.abs(ours - ref_p).max() <= 1e-9 * ref_p.max()
        np.testing.assert_allclose(log_e[i, : len(ref_e)].numpy(), ref_e, rtol=0, atol=1e-9)


def test_kaldi_functions_on_wavs_shorter_than_a_frame():
    """No frame at all (every wav < 400 samples): empty outputs of the right width."""
    x = torch.randn(2, 300, dtype=torch.float64)
    lens = torch.tensor([300, 200])
    for fn, dim in [(F.kaldi_fbank, 23), (F.kaldi_mfcc, 13), (F.kaldi_spectrogram, 257)]:
        out, n = fn(x, lens)
        assert out.shape == (2, 0, dim) and n.tolist() == [0, 0]
    spec, log_e, _ = F.kaldi_power_spectrum(x, lens)
    assert spec.shape == (2, 0, 257) and log_e.shape == (2, 0)


# --------------------------------------------------------------------------- #
# mel / linear against librosa
# --------------------------------------------------------------------------- #
def test_mel_linear_match_librosa(speech):
    """log mel / log linear vs librosa (float64 both sides): max abs diff < 1e-6."""
    librosa = pytest.importorskip("librosa")
    fb = librosa.filters.mel(
        sr=16000, n_fft=400, n_mels=80, fmin=0.0, fmax=8000.0, htk=True, norm=None, dtype=np.float64
    ).T
    assert np.abs(F.htk_mel_filters(201, 80).numpy() - fb).max() < 1e-12
    worst = {"mel": 0.0, "linear": 0.0}
    for name, wav in speech:
        y = wav.double().numpy()
        power = np.abs(
            librosa.stft(y, n_fft=400, hop_length=160, win_length=400, window="hann",
                         center=True, pad_mode="reflect")
        ).T ** 2  # fmt: skip
        refs = {"linear": np.log(power + 1e-10), "mel": np.log(power @ fb + 1e-10)}
        outs = {
            "linear": F.log_linear_spectrogram(*_one(wav))[0][0].numpy(),
            "mel": F.log_mel_spectrogram(*_one(wav))[0][0].numpy(),
        }
        for k in refs:
            assert outs[k].shape == refs[k].shape == (1 + wav.numel() // 160, refs[k].shape[1])
            d = np.abs(outs[k] - refs[k]).max()
            assert d < 1e-6, f"{name}: {k} max abs diff {d:.3g} vs librosa"
            worst[k] = max(worst[k], d)
    print(f"\nvs librosa over {len(speech)} files: mel {worst['mel']:.3g}, linear {worst['linear']:.3g}")


# --------------------------------------------------------------------------- #
# deltas and CMVN
# --------------------------------------------------------------------------- #
def _np_deltas(x: np.ndarray, win: int = 5) -> np.ndarray:
    n = (win - 1) // 2
    pad = np.pad(x, ((n, n), (0, 0)), mode="edge")
    num = sum(k * (pad[n + k : n + k + len(x)] - pad[n - k : n - k + len(x)]) for k in range(1, n + 1))
    return num / (2 * sum(k * k for k in range(1, n + 1)))


def test_deltas_and_cmvn_per_utterance():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 12, 4, generator=gen, dtype=torch.float64)
    lens = torch.tensor([12, 5, 1])
    out = F.deltas(feats, lens, order=2, win_length=5)
    normed = F.cmvn(out, lens)
    assert out.shape == (3, 12, 12)
    for i, n in enumerate(lens.tolist()):
        x = feats[i, :n].numpy()
        d1 = _np_deltas(x)
        d2 = _np_deltas(d1)
        ref = np.concatenate([x, d1, d2], axis=1)
        np.testing.assert_allclose(out[i, :n].numpy(), ref, atol=1e-12)
        if n > 1:
            ref_n = (ref - ref.mean(0)) / (ref.std(0, ddof=1) + 1e-10)
            np.testing.assert_allclose(normed[i, :n].numpy(), ref_n, atol=1e-9)
        else:  # one frame: std taken as 0, output 0 (the unbiased std is undefined)
            assert normed[i, :n].abs().max() == 0
    assert F.deltas(feats, lens, order=0) is feats
    with pytest.raises(ValueError, match="win_length"):
        F.deltas(feats, lens, order=1, win_length=1)


# --------------------------------------------------------------------------- #
# the upstream entries
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_shapes_and_frame_counts(name):
    dim, min_samples, kaldi = ENTRIES[name]
    model = hub.load(name).eval()
    assert model.hidden_sizes == [dim] and model.num_layers == 1
    assert model.downsample_rate == 160 and model.receptive_field == min_samples
    info = getattr(hub, name).info
    assert (info.hidden_size, info.layers, info.stride, info.input) == (dim, 1, 160, "wav")
    lengths = [min_samples, 401, 559, 560, 16000, 16001]
    gen = torch.Generator().manual_seed(1)
    wavs = [torch.randn(n, generator=gen) * 0.1 for n in lengths]
    with torch.no_grad():
        out = model(wavs)
    expected = [1 + (n - 400) // 160 if kaldi else 1 + n // 160 for n in lengths]
    assert out["hidden_states_len"].tolist() == expected
    h = out["hidden_states"][0]
    assert h.shape == (len(lengths), max(expected), dim) and h.dtype == torch.float32
    assert torch.isfinite(h).all()
    if name in ("fbank", "mfcc", "spectrogram", "mel", "linear"):  # CMVN: zero mean per utterance
        i = lengths.index(16000)
        assert h[i, : expected[i]].mean(0).abs().max() < 1e-4
        assert (h[i, : expected[i]].std(0) - 1).abs().max() < 1e-3


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_padding_invariant(name):
    model = hub.load(name)
    worst = assert_padding_invariant(model, mixed_length_wavs(seconds=(0.5, 10.0, 3.2)))
    assert worst <= 1e-4


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_matches_golden(name):
    model = hub.load(name)
    assert_matches_golden(name, hidden_states_of_files(model, sample_speech_files()))


def test_entries_follow_the_feature_functions():
    """The entries are the feature functions + deltas + CMVN, as the yaml files say."""
    wav = load_audio(sample_speech_files()[0])
    x, n = _one(wav)
    with torch.no_grad():
        fb = hub.fbank_no_cmvn()([wav])["hidden_states"][0][0]
        spec = hub.spectrogram()([wav])["hidden_states"][0][0]
    raw, frames = F.kaldi_fbank(x, n, num_mel_bins=80)
    assert torch.allclose(fb.double(), F.deltas(raw, frames)[0], atol=1e-5)
    raw, frames = F.kaldi_spectrogram(x, n)
    assert torch.allclose(spec.double(), F.cmvn(raw, frames)[0], atol=1e-4)


def test_bad_input_names_the_wav():
    model = hub.fbank()
    with pytest.raises(ValueError, match="empty"):
        model([])
    with pytest.raises(ValueError, match="wav 1 .*2-D"):
        model([torch.zeros(800), torch.zeros(2, 800)])
    with pytest.raises(TypeError, match="wav 0 .*dtype"):
        model([torch.zeros(800, dtype=torch.int16)])
    with pytest.raises(ValueError, match="wav 1 has 399 samples.*400"):
        model([torch.zeros(800), torch.zeros(399)])
    with pytest.raises(ValueError, match="wav 0 .*NaN"):
        model([torch.full((800,), float("nan"))])
    with pytest.raises(ValueError, match="wav 0 has 200 samples.*201"):
        hub.mel()([torch.zeros(200)])
    extractor = F.FeatureExtractor({"kaldi": {"fbank": {}}, "cmvn": {"use_cmvn": False}})
    with pytest.raises(ValueError, match="wav 1 has 100 samples"):
        extractor(torch.zeros(2, 800), torch.tensor([800, 100]))


# --------------------------------------------------------------------------- #
# configs
# --------------------------------------------------------------------------- #
def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "feat.yaml"
    path.write_text(text)
    return path


def test_baseline_local_equals_builtin(tmp_path):
    path = _write(tmp_path, (CONFIG_DIR / "mfcc.yaml").read_text())
    wavs = mixed_length_wavs(seconds=(0.5, 1.0))
    with torch.no_grad():
        a = hub.baseline_local(model_config=str(path))(wavs)["hidden_states"][0]
        b = hub.mfcc()(wavs)["hidden_states"][0]
    assert torch.equal(a, b)
    custom = _write(
        tmp_path,
        "kaldi:\n  feat_type: fbank\n  fbank: {num_mel_bins: 40, use_energy: true}\n"
        "delta: {order: 1}\ncmvn: {use_cmvn: false}\n",
    )
    model = hub.baseline_local(model_config=custom)
    assert model.hidden_sizes == [82]  # (40 + energy) x (1 + 1 delta)


@pytest.mark.parametrize(
    "text, message",
    [
        ("kaldi: {feat_type: fbank, fbank: {}}\ncmvn: {use_cmvn: true}\nbogus: 1\n", r"\['bogus'\]"),
        ("kaldi: {feat_type: fbank, fbank: {num_mel_bin: 80}}\ncmvn: {use_cmvn: true}\n", r"\['num_mel_bin'\].*kaldi.fbank"),
        ("kaldi: {feat_type: fbank, fbank: {}}\n", "missing field 'cmvn'"),
        ("kaldi: {feat_type: fbank, fbank: {}}\ncmvn: {}\n", "missing field 'cmvn.use_cmvn'"),
        ("kaldi: {feat_type: fbank}\ncmvn: {use_cmvn: true}\n", "missing field 'kaldi.fbank'"),
        ("kaldi: {feat_type: plp, plp: {}}\ncmvn: {use_cmvn: true}\n", "feat_type.*plp"),
        ("kaldi: {feat_type: fbank, fbank: {}}\ndelta: {order: 2, win: 5}\ncmvn: {use_cmvn: true}\n", r"\['win'\].*'delta'"),
        ("kaldi: {feat_type: fbank, fbank: {window_type: kaiser}}\ncmvn: {use_cmvn: true}\n", "window_type"),
        ("kaldi: {feat_type: mfcc, mfcc: {num_ceps: 30}}\ncmvn: {use_cmvn: true}\n", "num_ceps"),
        ("win_ms: 25\nhop_ms: 10\nn_freq: 201\n", "missing field 'input'"),
        ("n_freq: 201\ninput: {log: true}\n", "missing field 'input.feat_type'"),
        ("n_freq: 201\ninput: {feat_type: phase}\n", "feat_type.*phase"),
        ("n_freq: 201\ninput: {feat_type: mel, logg: true}\n", r"\['logg'\].*'input'"),
        ("n_freq: 201\nhop: 10\ninput: {feat_type: mel}\n", r"\['hop'\]"),
        ("- just\n- a list\n", "mapping"),
        ("kaldi: [unclosed\n", "cannot parse"),
    ],
)
def test_bad_config_names_the_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as err:
        hub.baseline_local(model_config=str(path))
    assert str(path) in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        hub.baseline_local(model_config=str(tmp_path / "nope.yaml"))
    with pytest.raises(TypeError, match="model_config"):
        hub.baseline_local(model_config=3)


def test_checkpoint_style_config_with_ignored_keys():
    """Classic upstreams build the extractor from their checkpoint's audio config."""
    audio = {"target_level": -25, "win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mels": 80,
             "n_mfcc": 13, "input": {"feat_type": "mel", "channel": 0, "log": True, "delta": 0,
             "cmvn": True}, "target": {"feat_type": "linear", "log": True}}  # fmt: skip
    with pytest.raises(ValueError, match="target_level"):
        F.FeatureExtractor(audio)
    ex = F.FeatureExtractor(audio, ignore_keys=("target_level",))
    assert (ex.output_dim, ex.downsample_rate, ex.receptive_field) == (80, 160, 201)
    wav = torch.randn(1, 4000, generator=torch.Generator().manual_seed(0))
    feats, n = ex(wav, torch.tensor([4000]))
    ref, _ = F.log_mel_spectrogram(wav.double(), torch.tensor([4000]))
    assert torch.allclose(feats.double(), F.cmvn(ref, n), atol=1e-5)


def test_dither_only_in_training():
    cfg = {"kaldi": {"feat_type": "fbank", "fbank": {"dither": 1e-3}}, "delta": {"order": 0},
           "cmvn": {"use_cmvn": False}}
    ex = F.FeatureExtractor(cfg)
    wav, n = torch.zeros(1, 1600), torch.tensor([1600])
    ex.eval()
    assert torch.equal(ex(wav, n)[0], ex(wav, n)[0])
    assert ex(wav, n)[0].max() == pytest.approx(math.log(F.FLT_EPSILON))  # floor, no noise
    ex.train()
    assert ex(wav, n)[0].max() > math.log(F.FLT_EPSILON) + 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_on_cuda_matches_cpu(name):
    wavs = mixed_length_wavs(seconds=(0.5, 3.0))
    with torch.no_grad():
        cpu = hub.load(name)(wavs)
        gpu = hub.load(name)([w.cuda() for w in wavs])
    assert gpu["hidden_states"][0].device.type == "cuda"
    assert torch.equal(cpu["hidden_states_len"], gpu["hidden_states_len"].cpu())
    assert (cpu["hidden_states"][0] - gpu["hidden_states"][0].cpu()).abs().max() <= 1e-4
