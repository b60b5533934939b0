"""Batched acoustic features in plain torch: Kaldi fbank / MFCC / spectrogram,
log mel / log linear spectrograms, deltas and per-utterance CMVN.

Every function takes a zero-padded batch ``wavs`` of shape ``(batch, samples)``
(float, 16 kHz, amplitude in [-1, 1] as given: no int16 rescaling, which is
what the original s3prl baseline fed to ``torchaudio.compliance.kaldi``) and
``wavs_len`` of shape ``(batch,)`` (long, valid samples per wav), and returns
``(features, frames_len)``: ``features`` is ``(batch, frames, dim)`` in the
input's dtype and on the input's device, ``frames_len`` is ``(batch,)`` long.
A wav's features use only its own valid samples (framing, edge reflection,
delta edges, CMVN statistics), so padding never changes them; frames past
``frames_len[i]`` are unspecified (callers zero them).

Formulas (facts, re-implemented here):

* Kaldi ``compute-fbank-feats`` / ``compute-mfcc-feats`` /
  ``compute-spectrogram-feats`` (``src/feat/feature-window.cc``,
  ``feature-fbank.cc``, ``feature-mfcc.cc``, ``feature-spectrogram.cc``,
  ``mel-computations.cc`` in https://github.com/kaldi-asr/kaldi): frames of
  ``frame_length`` ms every ``frame_shift`` ms (snip edges:
  ``1 + (T - L) // S`` frames), per-frame DC removal, raw log energy
  ``log(max(sum x^2, FLT_EPSILON))`` before pre-emphasis, pre-emphasis
  ``x[j] -= 0.97 x[j-1]`` (``x[0] -= 0.97 x[0]``), povey window
  ``(0.5 - 0.5 cos(2 pi n / (L - 1)))^0.85``, zero padding to the next power of
  two (512 for 400 samples), power spectrum, Kaldi mel banks (mel =
  ``1127 ln(1 + f / 700)``, triangles in the mel domain between ``low_freq``
  (20 Hz) and ``high_freq`` (0 = Nyquist), Nyquist bin unused), log with floor
  ``FLT_EPSILON = 1.1920929e-07``; MFCC = orthonormal DCT-II of the log mel
  energies (row 0 = ``sqrt(1/N)``), lifter ``1 + L/2 sin(pi i / L)``; the
  spectrogram's bin 0 is the raw log energy (floored at ``log(energy_floor)``).
* The defaults are those of ``torchaudio.compliance.kaldi`` (what the original
  s3prl baseline ran, ``s3prl/upstream/baseline/extracter.py`` in
  https://github.com/s3prl/s3prl): ``dither=0``, ``energy_floor=1.0``,
  ``num_mel_bins=23``, ``use_energy=False`` (so MFCC c0 is the DCT's c0, not
  the log energy; Kaldi's own binary defaults to ``use_energy=true``).
* Log mel / log linear spectrograms as in the original s3prl
  ``OnlinePreprocessor`` (``s3prl/upstream/baseline/preprocessor.py``): STFT
  with a periodic Hann window of ``win_ms`` (25 ms = 400 samples), hop
  ``hop_ms`` (10 ms = 160), ``n_fft = 2 (n_freq - 1)`` (400), centred frames
  with reflect padding of ``n_fft // 2`` (``1 + T // hop`` frames), power
  ``|X|^2``, HTK mel filters (``2595 log10(1 + f / 700)``, 0 Hz to Nyquist, no
  area normalisation: torchaudio ``MelScale`` defaults = librosa
  ``filters.mel(htk=True, norm=None)``), log ``log(x + 1e-10)``.
* Deltas: ``d_t = sum_{n=1}^{N} n (c_{t+n} - c_{t-n}) / (2 sum_{n=1}^{N} n^2)``
  with ``N = (win_length - 1) // 2`` and the edge frames replicated
  (torchaudio ``compute_deltas`` = Kaldi ``add-deltas`` with window 2).
* CMVN: per utterance and dimension, ``(x - mean) / (std + 1e-10)`` with the
  unbiased standard deviation over the utterance's valid frames.

Precision: the functions compute in the input's dtype; filter banks, windows
and DCT matrices are built in float64 and cast, CMVN statistics are
accumulated in float64. :class:`FeatureExtractor` (and so the baseline
upstream) computes in float64 by default and returns the input's dtype:
float32 FFT rounding alone moves log bins lying ~20 nats below a frame's peak
by 1e-3 to 1e-1 (on the bundled speech: float32 power bins off by up to 4 %
relative, log fbank by 4e-4, four times the goldens' tolerance). Everything
after the FFT (mel product, log, deltas, CMVN) costs little next to the FFT,
so it stays in float64 too, and the float32 output is the float64 result rounded.

Speed (same numbers, ``benchmarks/bench_features.py``): frames are views of
the wav (``unfold``; reflected edges gather the extended wav once), the
pre-emphasis runs once per wav, DC removal and the window are one pass
writing into the zero-padded FFT buffer, the raw energy is only computed when
used, deltas are one gather per order plus shifted differences (no per-frame
or per-wav Python loop anywhere), and CMVN / the output mask skip all-ones masks.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "FLT_EPSILON",
    "kaldi_frames",
    "kaldi_frame_count",
    "kaldi_power_spectrum",
    "kaldi_mel_banks",
    "kaldi_fbank",
    "kaldi_mfcc",
    "kaldi_spectrogram",
    "stft_frame_count",
    "stft_power",
    "htk_mel_filters",
    "log_mel_spectrogram",
    "log_linear_spectrogram",
    "deltas",
    "cmvn",
    "FeatureExtractor",
    "check_feature_config",
    "KALDI_OPTIONS",
]

#: ``std::numeric_limits<float>::epsilon()``: Kaldi's floor before every log.
FLT_EPSILON = 1.1920928955078125e-07

_WINDOWS = ("povey", "hanning", "hamming", "rectangular", "blackman")


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _check_batch(wavs: Tensor, wavs_len: Tensor) -> None:
    if not isinstance(wavs, Tensor) or not isinstance(wavs_len, Tensor):
        raise TypeError("wavs and wavs_len must be torch tensors")
    if wavs.dim() != 2:
        raise ValueError(f"wavs must be (batch, samples), got shape {tuple(wavs.shape)}")
    if not torch.is_floating_point(wavs):
        raise TypeError(f"wavs must be floating point, got {wavs.dtype}")
    if wavs_len.shape != (wavs.size(0),):
        raise ValueError(
            f"wavs_len must be ({wavs.size(0)},) to match wavs, got {tuple(wavs_len.shape)}"
        )
    if wavs_len.numel() and int(wavs_len.max()) > wavs.size(1):
        raise ValueError(
            f"wavs_len has {int(wavs_len.max())} samples but wavs only {wavs.size(1)} columns"
        )


def _ms_to_samples(ms: float, sample_rate: float) -> int:
    # Kaldi: static_cast<int32>(samp_freq * 0.001 * frame_length_ms)
    return int(sample_rate * ms * 0.001)


def _next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _valid_mask(frames_len: Tensor, num_frames: int) -> Tensor:
    return torch.arange(num_frames, device=frames_len.device)[None, :] < frames_len[:, None]


def _reflect_index(idx: Tensor, length: Tensor, mode: str) -> Tensor:
    """Map sample indices outside ``[0, length)`` back inside by reflection.

    ``mode="kaldi"``: ``-1 -> 0`` (Kaldi's ``s < 0 ? -s - 1 : 2 T - 1 - s``);
    ``mode="numpy"``: ``-1 -> 1`` (numpy/torch ``reflect``, edge not repeated).
    ``length`` broadcasts against ``idx``; indices are clamped to
    ``[0, length - 1]`` after two reflections (only reached by too-short wavs).
    """
    last = (length - 1).clamp(min=0)
    for _ in range(2):
        if mode == "kaldi":
            idx = torch.where(idx < 0, -idx - 1, idx)
            idx = torch.where(idx > last, 2 * length - 1 - idx, idx)
        else:
            idx = torch.where(idx < 0, -idx, idx)
            idx = torch.where(idx > last, 2 * last - idx, idx)
    return torch.minimum(idx.clamp(min=0), last)


def _window(window_type: str, size: int, blackman_coeff: float = 0.42) -> Tensor:
    """Kaldi's symmetric analysis windows (float64), ``a = 2 pi / (size - 1)``."""
    n = torch.arange(size, dtype=torch.float64)
    a = 2 * math.pi / (size - 1)
    if window_type == "hanning":
        return 0.5 - 0.5 * torch.cos(a * n)
    if window_type == "povey":
        return (0.5 - 0.5 * torch.cos(a * n)).pow(0.85)
    if window_type == "hamming":
        return 0.54 - 0.46 * torch.cos(a * n)
    if window_type == "rectangular":
        return torch.ones(size, dtype=torch.float64)
    if window_type == "blackman":
        return blackman_coeff - 0.5 * torch.cos(a * n) + (0.5 - blackman_coeff) * torch.cos(2 * a * n)
    raise ValueError(f"window_type must be one of {_WINDOWS}, got {window_type!r}")


# --------------------------------------------------------------------------- #
# Kaldi features
# --------------------------------------------------------------------------- #
def kaldi_frame_count(
    wavs_len: Tensor,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
    sample_rate: float = 16000.0,
    snip_edges: bool = True,
) -> Tensor:
    """Number of Kaldi frames per wav.

    Args:
        wavs_len: ``(batch,)`` long, samples per wav.
        frame_length, frame_shift: in ms (25 ms / 10 ms = 400 / 160 samples at 16 kHz).
        snip_edges: ``True``: only frames that fit, ``1 + (T - L) // S`` (0 when
            ``T < L``); ``False``: ``(T + S // 2) // S``.

    Returns:
        ``(batch,)`` long tensor of frame counts.
    """
    size = _ms_to_samples(frame_length, sample_rate)
    shift = _ms_to_samples(frame_shift, sample_rate)
    wavs_len = wavs_len.to(torch.long)
    if snip_edges:
        n = torch.div(wavs_len - size, shift, rounding_mode="floor") + 1
        return torch.where(wavs_len < size, torch.zeros_like(n), n)
    return torch.div(wavs_len + shift // 2, shift, rounding_mode="floor")


def kaldi_frames(
    wavs: Tensor,
    wavs_len: Tensor,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
    sample_rate: float = 16000.0,
    snip_edges: bool = True,
) -> tuple[Tensor, Tensor]:
    """Cut a padded batch into Kaldi analysis frames (no processing).

    Args:
        wavs: ``(batch, samples)`` float, zero padded.
        wavs_len: ``(batch,)`` long, valid samples per wav.
        frame_length, frame_shift: in ms.
        snip_edges: Kaldi's ``--snip-edges`` (see :func:`kaldi_frame_count`);
            with ``False`` frames are centred on ``f * S + S // 2`` and samples
            outside the wav are reflected inside the wav's own valid samples.

    Returns:
        ``(frames, frames_len)``: ``(batch, max_frames, L)`` and ``(batch,)`` long.
    """
    signal, frames_len, size, shift, num = _kaldi_signal(
        wavs, wavs_len, frame_length, frame_shift, sample_rate, snip_edges
    )
    if num == 0:
        return wavs.new_zeros(wavs.size(0), 0, size), frames_len
    return signal.unfold(1, size, shift)[:, :num], frames_len


def _extend(wavs: Tensor, wavs_len: Tensor, lo: int, hi: int, mode: str) -> Tensor:
    """Samples ``lo .. hi - 1`` of each wav, indices outside ``[0, wavs_len[i])``
    reflected inside the wav's own valid samples (see :func:`_reflect_index`):
    ``(batch, hi - lo)``. Cutting frames out of this extended signal gives the
    same samples as reflecting every frame's indices, with ``(hi - lo)`` instead
    of ``frames x frame length`` gathered samples."""
    idx = torch.arange(lo, hi, device=wavs.device)[None, :].expand(wavs.size(0), hi - lo)
    idx = _reflect_index(idx, wavs_len.to(wavs.device)[:, None], mode)
    return torch.gather(wavs, 1, idx)


def _kaldi_signal(
    wavs: Tensor,
    wavs_len: Tensor,
    frame_length: float,
    frame_shift: float,
    sample_rate: float,
    snip_edges: bool,
) -> tuple[Tensor, Tensor, int, int, int]:
    """``(signal, frames_len, size, shift, num)``: Kaldi frame ``f`` of wav ``i`` is
    ``signal[i, f * shift : f * shift + size]`` for ``f < num`` (``signal`` is
    ``wavs`` itself with snip edges, else the reflected extension)."""
    _check_batch(wavs, wavs_len)
    size = _ms_to_samples(frame_length, sample_rate)
    shift = _ms_to_samples(frame_shift, sample_rate)
    if size < 2 or shift < 1:
        raise ValueError(
            f"frame_length {frame_length} ms / frame_shift {frame_shift} ms give "
            f"{size} / {shift} samples; need at least 2 / 1"
        )
    frames_len = kaldi_frame_count(wavs_len, frame_length, frame_shift, sample_rate, snip_edges)
    frames_len = frames_len.to(wavs.device)
    num = int(frames_len.max()) if frames_len.numel() else 0
    if num == 0 or snip_edges:
        # snip edges: every valid frame lies inside its wav's valid samples, and
        # T_max >= (num - 1) * S + L, so unfold yields at least num frames
        return wavs, frames_len, size, shift, num
    lo = shift // 2 - size // 2  # frame f starts at f * S + S // 2 - L // 2
    signal = _extend(wavs, wavs_len, lo, lo + (num - 1) * shift + size, "kaldi")
    return signal, frames_len, size, shift, num


def kaldi_power_spectrum(
    wavs: Tensor,
    wavs_len: Tensor,
    sample_rate: float = 16000.0,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
    dither: float = 0.0,
    preemphasis_coefficient: float = 0.97,
    remove_dc_offset: bool = True,
    window_type: str = "povey",
    blackman_coeff: float = 0.42,
    round_to_power_of_two: bool = True,
    snip_edges: bool = True,
    raw_energy: bool = True,
    use_power: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Kaldi's per-frame processing up to the (power) spectrum.

    Steps (Kaldi ``ProcessWindow``): optional dither (``dither`` x N(0, 1)),
    DC removal, raw log energy, pre-emphasis, window, zero padding to
    ``n_fft`` (next power of two when ``round_to_power_of_two``), |rfft|^2
    (or |rfft| when ``use_power=False``).

    Args:
        wavs, wavs_len: padded batch ``(batch, samples)`` and ``(batch,)`` long.
        generator: random generator for the dither (only used if ``dither != 0``).
        others: Kaldi options of the same name (ms, Hz).

    Returns:
        ``(spectrum, log_energy, frames_len)``: ``(batch, frames, n_fft // 2 + 1)``
        power (or magnitude) spectrum, ``(batch, frames)`` log energy
        (``log(max(sum x^2, FLT_EPSILON))``; raw = before pre-emphasis/window,
        else after the window) and ``(batch,)`` long frame counts.
    """
    return _kaldi_power(
        wavs, wavs_len, sample_rate, frame_length, frame_shift, dither,
        preemphasis_coefficient, remove_dc_offset, window_type, blackman_coeff,
        round_to_power_of_two, snip_edges, raw_energy, use_power, generator, True,
    )  # fmt: skip


def _kaldi_power(
    wavs: Tensor,
    wavs_len: Tensor,
    sample_rate: float,
    frame_length: float,
    frame_shift: float,
    dither: float,
    preemphasis_coefficient: float,
    remove_dc_offset: bool,
    window_type: str,
    blackman_coeff: float,
    round_to_power_of_two: bool,
    snip_edges: bool,
    raw_energy: bool,
    use_power: bool,
    generator: torch.Generator | None,
    want_energy: bool,
) -> tuple[Tensor, Tensor | None, Tensor]:
    """:func:`kaldi_power_spectrum`; ``log_energy`` is ``None`` unless ``want_energy``.

    Fast path (no dither: every entry in eval mode): the per-frame steps are
    linear, so with ``m`` the frame mean, ``a`` the pre-emphasis and ``w`` the
    window, the windowed frame is ``w_j (x_j - a x_{j-1}) - (1 - a) w_j m``
    (``j = 0``: ``(1 - a) w_0 (x_0 - m)``). The pre-emphasis is applied once
    to the whole wav (not to every overlapping frame), and the windowed
    frames are written straight into the zero-padded FFT buffer: three passes
    over the frames instead of about ten. Float64 results equal the
    step-by-step computation to rounding (~1e-16 relative); the raw energy,
    when wanted, is still summed over the DC-removed frame itself.
    """
    signal, frames_len, size, shift, num = _kaldi_signal(
        wavs, wavs_len, frame_length, frame_shift, sample_rate, snip_edges
    )
    batch = wavs.size(0)
    if num == 0:
        frames = wavs.new_zeros(batch, 0, size)
    else:
        frames = signal.unfold(1, size, shift)[:, :num]
    n_fft = _next_power_of_2(size) if round_to_power_of_two else size
    window = _window(window_type, size, blackman_coeff).to(frames.device, frames.dtype)
    log_energy = None
    if num == 0:  # every wav shorter than one frame (the FFT library rejects empty input)
        return frames.new_zeros(batch, 0, n_fft // 2 + 1), frames.new_zeros(batch, 0), frames_len
    if dither == 0.0:
        a = float(preemphasis_coefficient)
        mean = frames.mean(dim=-1) if remove_dc_offset else None  # (batch, frames)
        if want_energy and raw_energy:
            centred = frames - mean[..., None] if remove_dc_offset else frames
            log_energy = torch.linalg.vecdot(centred, centred).clamp(min=FLT_EPSILON).log()
            del centred
        if a != 0.0:
            emph = signal.clone()
            emph[:, 1:] -= a * signal[:, :-1]
            emph_frames = emph.unfold(1, size, shift)[:, :num]
        else:
            emph_frames = frames
        buf = frames.new_empty(batch, num, n_fft)
        buf[..., size:] = 0.0
        body = buf[..., :size]
        torch.mul(emph_frames, window, out=body)
        if a != 0.0:  # column 0: x_0 - a x_0, not x_0 - a x_{-1}
            body[..., 0] = frames[..., 0] * ((1.0 - a) * window[0])
        if remove_dc_offset:
            body.addcmul_(mean[..., None], (1.0 - a) * window, value=-1.0)
        if want_energy and not raw_energy:
            log_energy = torch.linalg.vecdot(body, body).clamp(min=FLT_EPSILON).log()
        spec = torch.fft.rfft(buf, dim=-1)
    else:
        if dither != 0.0:
            noise = torch.randn(frames.shape, generator=generator, dtype=frames.dtype)
            frames = frames + dither * noise.to(frames.device)
        if remove_dc_offset:
            frames = frames - frames.mean(dim=-1, keepdim=True)
        if raw_energy:
            log_energy = frames.pow(2).sum(-1).clamp(min=FLT_EPSILON).log()
        if preemphasis_coefficient != 0.0:
            prev = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
            frames = frames - preemphasis_coefficient * prev
        frames = frames * window
        if not raw_energy:
            log_energy = frames.pow(2).sum(-1).clamp(min=FLT_EPSILON).log()
        spec = torch.fft.rfft(frames, n=n_fft, dim=-1)
    if use_power:
        re, im = spec.real, spec.imag
        spec = (re * re).addcmul_(im, im)
    else:
        spec = spec.abs()
    return spec, log_energy, frames_len


def kaldi_mel_banks(
    num_bins: int,
    n_fft: int,
    sample_rate: float = 16000.0,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
) -> Tensor:
    """Kaldi's triangular mel filter bank (``MelBanks``), float64.

    Args:
        num_bins: number of mel bins (> 3).
        n_fft: padded FFT size (512 for 25 ms at 16 kHz).
        low_freq, high_freq: band edges in Hz; ``high_freq <= 0`` is an offset
            from the Nyquist frequency.

    Returns:
        ``(n_fft // 2 + 1, num_bins)`` weights for ``power @ banks``; the
        Nyquist row is zero as in Kaldi.

    Raises:
        ValueError: bad bin count or band edges.
    """
    if num_bins <= 3:
        raise ValueError(f"num_mel_bins must be > 3, got {num_bins}")
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    if not (0.0 <= low_freq < nyquist and 0.0 < high_freq <= nyquist and low_freq < high_freq):
        raise ValueError(
            f"bad mel band edges: low_freq {low_freq} Hz, high_freq {high_freq} Hz, "
            f"Nyquist {nyquist} Hz"
        )

    def mel(f):
        return 1127.0 * torch.log1p(torch.as_tensor(f, dtype=torch.float64) / 700.0)

    mel_low, mel_high = mel(low_freq), mel(high_freq)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins, dtype=torch.float64)
    left = mel_low + b * delta
    center = mel_low + (b + 1) * delta
    right = mel_low + (b + 2) * delta
    fft_mel = mel(torch.arange(n_fft // 2, dtype=torch.float64) * (sample_rate / n_fft))
    up = (fft_mel[:, None] - left) / (center - left)
    down = (right - fft_mel[:, None]) / (right - center)
    banks = torch.minimum(up, down).clamp(min=0.0)  # (n_fft // 2, num_bins)
    return torch.cat([banks, banks.new_zeros(1, num_bins)], dim=0)


def _kaldi_dct(num_ceps: int, num_bins: int) -> Tensor:
    """Kaldi's DCT matrix, ``(num_bins, num_ceps)`` float64 for ``logmel @ dct``."""
    n = torch.arange(num_bins, dtype=torch.float64)
    k = torch.arange(num_ceps, dtype=torch.float64)
    dct = math.sqrt(2.0 / num_bins) * torch.cos(math.pi / num_bins * (n[:, None] + 0.5) * k[None])
    dct[:, 0] = math.sqrt(1.0 / num_bins)
    return dct


def _kaldi_mel_energies(
    spec: Tensor, num_mel_bins: int, sample_rate: float, low_freq: float, high_freq: float
) -> Tensor:
    """Mel filterbank energies ``(batch, frames, num_mel_bins)`` of a
    :func:`kaldi_power_spectrum` output ``(batch, frames, n_fft // 2 + 1)``
    (Kaldi ``MelBanks``, see :func:`kaldi_mel_banks`)."""
    n_fft = 2 * (spec.size(-1) - 1)
    banks = kaldi_mel_banks(num_mel_bins, n_fft, sample_rate, low_freq, high_freq)
    return spec @ banks.to(spec.device, spec.dtype)


def _floor_log_energy(log_energy: Tensor, energy_floor: float) -> Tensor:
    """Kaldi's energy floor: ``max(log_energy, log(energy_floor))``; none when
    ``energy_floor <= 0``."""
    if energy_floor > 0.0:
        return log_energy.clamp(min=math.log(energy_floor))
    return log_energy


def _subtract_mean(feats: Tensor, frames_len: Tensor) -> Tensor:
    mask = _valid_mask(frames_len, feats.size(1))[..., None]
    count = frames_len.clamp(min=1).to(torch.float64)[:, None]
    mean = (feats.double() * mask).sum(1) / count
    return feats - mean[:, None].to(feats.dtype)


def kaldi_fbank(
    wavs: Tensor,
    wavs_len: Tensor,
    num_mel_bins: int = 23,
    sample_rate: float = 16000.0,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
    dither: float = 0.0,
    preemphasis_coefficient: float = 0.97,
    remove_dc_offset: bool = True,
    window_type: str = "povey",
    blackman_coeff: float = 0.42,
    round_to_power_of_two: bool = True,
    snip_edges: bool = True,
    raw_energy: bool = True,
    energy_floor: float = 1.0,
    use_energy: bool = False,
    htk_compat: bool = False,
    use_log_fbank: bool = True,
    use_power: bool = True,
    subtract_mean: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Kaldi ``compute-fbank-feats`` on a padded batch.

    Defaults are ``torchaudio.compliance.kaldi.fbank``'s (the original s3prl
    baseline passes ``num_mel_bins=80``).

    Args:
        wavs: ``(batch, samples)`` float waveforms at ``sample_rate`` Hz, zero padded.
        wavs_len: ``(batch,)`` long, valid samples per wav.
        num_mel_bins: output mel bins.
        use_energy: prepend (``htk_compat``: append) the log energy, floored at
            ``log(energy_floor)`` when ``energy_floor > 0``.
        use_log_fbank: ``log(max(x, FLT_EPSILON))`` of the mel energies.
        subtract_mean: subtract each utterance's mean (over its valid frames).
        others: see :func:`kaldi_power_spectrum`.

    Returns:
        ``(fbank, frames_len)``: ``(batch, frames, num_mel_bins [+1])`` and
        ``(batch,)`` long (``1 + (T - 400) // 160`` with the defaults).
    """
    spec, log_energy, frames_len = _kaldi_power(
        wavs, wavs_len, sample_rate, frame_length, frame_shift, dither,
        preemphasis_coefficient, remove_dc_offset, window_type, blackman_coeff,
        round_to_power_of_two, snip_edges, raw_energy, use_power, generator, use_energy,
    )  # fmt: skip
    feats = _kaldi_mel_energies(spec, num_mel_bins, sample_rate, low_freq, high_freq)
    if use_log_fbank:
        feats = feats.clamp_(min=FLT_EPSILON).log_()  # feats is the fresh matmul output
    if use_energy:
        log_energy = _floor_log_energy(log_energy, energy_floor)
        parts = [feats, log_energy[..., None]] if htk_compat else [log_energy[..., None], feats]
        feats = torch.cat(parts, dim=-1)
    if subtract_mean:
        feats = _subtract_mean(feats, frames_len)
    return feats, frames_len


def kaldi_mfcc(
    wavs: Tensor,
    wavs_len: Tensor,
    num_ceps: int = 13,
    num_mel_bins: int = 23,
    cepstral_lifter: float = 22.0,
    sample_rate: float = 16000.0,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
    dither: float = 0.0,
    preemphasis_coefficient: float = 0.97,
    remove_dc_offset: bool = True,
    window_type: str = "povey",
    blackman_coeff: float = 0.42,
    round_to_power_of_two: bool = True,
    snip_edges: bool = True,
    raw_energy: bool = True,
    energy_floor: float = 1.0,
    use_energy: bool = False,
    htk_compat: bool = False,
    subtract_mean: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Kaldi ``compute-mfcc-feats`` on a padded batch.

    MFCC = Kaldi DCT of the log mel energies (floor ``FLT_EPSILON``) times the
    lifter ``1 + cepstral_lifter / 2 * sin(pi i / cepstral_lifter)``. With
    ``use_energy`` c0 is replaced by the log energy (floored at
    ``log(energy_floor)``). With ``htk_compat`` c0 moves last (times sqrt(2)
    when not ``use_energy``). Defaults are ``torchaudio.compliance.kaldi.mfcc``'s
    (``use_energy=False``), what the original s3prl ``mfcc`` entry used.

    Args:
        wavs, wavs_len: padded batch ``(batch, samples)`` and ``(batch,)`` long.
        num_ceps: cepstra kept (including c0), at most ``num_mel_bins``.
        others: see :func:`kaldi_fbank`.

    Returns:
        ``(mfcc, frames_len)``: ``(batch, frames, num_ceps)`` and ``(batch,)`` long.

    Raises:
        ValueError: ``num_ceps > num_mel_bins``.
    """
    if num_ceps > num_mel_bins:
        raise ValueError(f"num_ceps ({num_ceps}) cannot exceed num_mel_bins ({num_mel_bins})")
    spec, log_energy, frames_len = _kaldi_power(
        wavs, wavs_len, sample_rate, frame_length, frame_shift, dither,
        preemphasis_coefficient, remove_dc_offset, window_type, blackman_coeff,
        round_to_power_of_two, snip_edges, raw_energy, True, generator, use_energy,
    )  # fmt: skip
    logmel = _kaldi_mel_energies(spec, num_mel_bins, sample_rate, low_freq, high_freq)
    logmel = logmel.clamp_(min=FLT_EPSILON).log_()
    feats = logmel @ _kaldi_dct(num_ceps, num_mel_bins).to(spec.device, spec.dtype)
    if cepstral_lifter != 0.0:
        i = torch.arange(num_ceps, dtype=torch.float64)
        lifter = 1.0 + 0.5 * cepstral_lifter * torch.sin(math.pi * i / cepstral_lifter)
        feats = feats * lifter.to(spec.device, spec.dtype)
    if use_energy:
        log_energy = _floor_log_energy(log_energy, energy_floor)
        feats = torch.cat([log_energy[..., None], feats[..., 1:]], dim=-1)
    if htk_compat:
        c0 = feats[..., :1] if use_energy else feats[..., :1] * math.sqrt(2.0)
        feats = torch.cat([feats[..., 1:], c0], dim=-1)
    if subtract_mean:
        feats = _subtract_mean(feats, frames_len)
    return feats, frames_len


def kaldi_spectrogram(
    wavs: Tensor,
    wavs_len: Tensor,
    sample_rate: float = 16000.0,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
    dither: float = 0.0,
    preemphasis_coefficient: float = 0.97,
    remove_dc_offset: bool = True,
    window_type: str = "povey",
    blackman_coeff: float = 0.42,
    round_to_power_of_two: bool = True,
    snip_edges: bool = True,
    raw_energy: bool = True,
    energy_floor: float = 1.0,
    subtract_mean: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Kaldi ``compute-spectrogram-feats`` on a padded batch.

    ``log(max(|X_k|^2, FLT_EPSILON))`` for ``k = 0 .. n_fft / 2`` (257 bins for
    25 ms at 16 kHz), with bin 0 replaced by the log energy floored at
    ``log(energy_floor)`` (``energy_floor`` default 1.0 as in
    ``torchaudio.compliance.kaldi.spectrogram``, i.e. bin 0 >= 0; Kaldi's
    binary defaults to 0 = no floor).

    Returns:
        ``(spectrogram, frames_len)``: ``(batch, frames, n_fft // 2 + 1)`` and
        ``(batch,)`` long.
    """
    spec, log_energy, frames_len = kaldi_power_spectrum(
        wavs, wavs_len, sample_rate, frame_length, frame_shift, dither,
        preemphasis_coefficient, remove_dc_offset, window_type, blackman_coeff,
        round_to_power_of_two, snip_edges, raw_energy, True, generator,
    )  # fmt: skip
    feats = spec.clamp(min=FLT_EPSILON).log()
    log_energy = _floor_log_energy(log_energy, energy_floor)
    feats = torch.cat([log_energy[..., None], feats[..., 1:]], dim=-1)
    if subtract_mean:
        feats = _subtract_mean(feats, frames_len)
    return feats, frames_len


# --------------------------------------------------------------------------- #
# STFT (librosa / torchaudio style) features
# --------------------------------------------------------------------------- #
def stft_frame_count(wavs_len: Tensor, hop_length: int = 160) -> Tensor:
    """Frames of a centred STFT: ``1 + T // hop_length`` per wav (``(batch,)`` long)."""
    return torch.div(wavs_len.to(torch.long), hop_length, rounding_mode="floor") + 1


def stft_power(
    wavs: Tensor,
    wavs_len: Tensor,
    n_fft: int = 400,
    hop_length: int = 160,
    win_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Power spectrogram ``|STFT|^2`` of a padded batch, centred frames.

    Equals ``torch.stft(center=True, pad_mode="reflect", window=hann_window(win_length))``
    / ``librosa.stft(center=True, pad_mode="reflect", window="hann")`` of each
    wav alone: frame ``f`` covers samples ``f * hop - n_fft // 2 ...``, reflected
    (edge not repeated) inside the wav's own valid samples; the periodic Hann
    window of ``win_length`` is zero-padded to ``n_fft`` on both sides.

    Args:
        wavs: ``(batch, samples)`` float, zero padded.
        wavs_len: ``(batch,)`` long; each wav needs more than ``n_fft // 2``
            samples for the reflection.
        n_fft, hop_length, win_length: in samples (default 400 / 160 / n_fft).

    Returns:
        ``(power, frames_len)``: ``(batch, frames, n_fft // 2 + 1)`` and
        ``(batch,)`` long ``1 + T // hop_length``.

    Raises:
        ValueError: a wav has ``n_fft // 2`` samples or fewer (names it).
    """
    _check_batch(wavs, wavs_len)
    win_length = n_fft if win_length is None else win_length
    if not 0 < win_length <= n_fft:
        raise ValueError(f"win_length {win_length} must be in [1, n_fft={n_fft}]")
    pad = n_fft // 2
    short = (wavs_len <= pad).nonzero()
    if short.numel():
        i = int(short[0, 0])
        raise ValueError(
            f"wav {i} has {int(wavs_len[i])} samples; the centred STFT needs more than "
            f"{pad} (n_fft // 2) samples"
        )
    frames_len = stft_frame_count(wavs_len, hop_length).to(wavs.device)
    num = int(frames_len.max())
    # frame f covers samples f * hop - pad .. f * hop - pad + n_fft - 1
    signal = _extend(wavs, wavs_len, -pad, (num - 1) * hop_length - pad + n_fft, "numpy")
    frames = signal.unfold(1, n_fft, hop_length)
    window = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
    left = (n_fft - win_length) // 2
    window = torch.nn.functional.pad(window, (left, n_fft - win_length - left))
    spec = torch.fft.rfft(frames * window.to(wavs.device, wavs.dtype), dim=-1)
    re, im = spec.real, spec.imag
    return (re * re).addcmul_(im, im), frames_len


def htk_mel_filters(
    n_freqs: int,
    n_mels: int,
    sample_rate: float = 16000.0,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> Tensor:
    """HTK-mel triangular filters without normalisation, float64.

    Same as ``torchaudio.transforms.MelScale`` defaults and
    ``librosa.filters.mel(htk=True, norm=None)``: ``n_mels + 2`` points evenly
    spaced on ``2595 log10(1 + f / 700)`` between ``f_min`` and ``f_max``
    (default ``sample_rate // 2``), triangles in Hz over the STFT bin
    frequencies ``linspace(0, sample_rate / 2, n_freqs)``.

    Returns:
        ``(n_freqs, n_mels)`` weights for ``power @ filters``.
    """
    f_max = float(sample_rate // 2) if f_max is None else f_max
    freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)
    m = torch.linspace(
        2595.0 * math.log10(1.0 + f_min / 700.0),
        2595.0 * math.log10(1.0 + f_max / 700.0),
        n_mels + 2,
        dtype=torch.float64,
    )
    f = 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    up = (freqs[:, None] - f[None, :-2]) / (f[1:-1] - f[:-2])
    down = (f[None, 2:] - freqs[:, None]) / (f[2:] - f[1:-1])
    return torch.minimum(up, down).clamp(min=0.0)


def log_linear_spectrogram(
    wavs: Tensor,
    wavs_len: Tensor,
    n_fft: int = 400,
    hop_length: int = 160,
    win_length: int | None = None,
    log: bool = True,
    eps: float = 1e-10,
) -> tuple[Tensor, Tensor]:
    """``log(|STFT|^2 + eps)`` (the original s3prl ``linear`` feature).

    Returns:
        ``(feats, frames_len)``: ``(batch, frames, n_fft // 2 + 1)`` (201 for
        n_fft 400) and ``(batch,)`` long ``1 + T // hop_length``. See
        :func:`stft_power` for the framing and errors.
    """
    power, frames_len = stft_power(wavs, wavs_len, n_fft, hop_length, win_length)
    return ((power + eps).log() if log else power), frames_len


def log_mel_spectrogram(
    wavs: Tensor,
    wavs_len: Tensor,
    n_mels: int = 80,
    n_fft: int = 400,
    hop_length: int = 160,
    win_length: int | None = None,
    sample_rate: float = 16000.0,
    f_min: float = 0.0,
    f_max: float | None = None,
    log: bool = True,
    eps: float = 1e-10,
) -> tuple[Tensor, Tensor]:
    """``log(|STFT|^2 @ htk_mel_filters + eps)`` (the original s3prl ``mel`` feature).

    Returns:
        ``(feats, frames_len)``: ``(batch, frames, n_mels)`` and ``(batch,)``
        long ``1 + T // hop_length``. See :func:`stft_power` and
        :func:`htk_mel_filters`.
    """
    power, frames_len = stft_power(wavs, wavs_len, n_fft, hop_length, win_length)
    fb = htk_mel_filters(n_fft // 2 + 1, n_mels, sample_rate, f_min, f_max)
    mel = power @ fb.to(power.device, power.dtype)
    return ((mel + eps).log() if log else mel), frames_len


# --------------------------------------------------------------------------- #
# post-processing
# --------------------------------------------------------------------------- #
def deltas(feats: Tensor, frames_len: Tensor, order: int = 2, win_length: int = 5) -> Tensor:
    """Append delta features of order 1..``order`` (each the delta of the previous).

    ``d_t = sum_{n=1}^{N} n (c_{t+n} - c_{t-n}) / (2 sum n^2)``, ``N = (win_length - 1) // 2``,
    frames outside ``[0, frames_len[i])`` replaced by the utterance's first /
    last valid frame (torchaudio ``compute_deltas``, Kaldi ``add-deltas``).

    Args:
        feats: ``(batch, frames, dim)``.
        frames_len: ``(batch,)`` long, valid frames per utterance.
        order: number of delta orders (0 returns ``feats``).
        win_length: odd window length >= 3 (5 in s3prl's baseline).

    Returns:
        ``(batch, frames, dim * (order + 1))``: ``[c, d, dd, ...]`` along the last axis.

    Raises:
        ValueError: negative order or ``win_length < 3``.
    """
    if order < 0:
        raise ValueError(f"delta order must be >= 0, got {order}")
    if order == 0:
        return feats
    if win_length < 3:
        raise ValueError(f"delta win_length must be >= 3, got {win_length}")
    n = (win_length - 1) // 2
    denom = n * (n + 1) * (2 * n + 1) / 3.0
    batch, num, dim = feats.shape
    out = feats.new_empty(batch, num, dim * (order + 1))
    out[..., :dim] = feats
    if num == 0:
        return out
    # One gather per order builds the edge-replicated sequence of each wav on its
    # own valid frames (index clamp(t - n, 0, len - 1) for t in [0, num + 2n)),
    # then the regression is n shifted differences of that sequence (same terms,
    # same order of summation as the formula: bit-identical to a per-frame loop).
    # Orders are iterated (delta of the delta, edges replicated at every order:
    # torchaudio compute_deltas applied twice, what s3prl ran), which differs from
    # Kaldi add-deltas' single composite kernel in the first / last 2n frames.
    t = torch.arange(-n, num + n, device=feats.device)[None, :]
    last = (frames_len.to(feats.device)[:, None] - 1).clamp(min=0)
    index = torch.minimum(t.clamp(min=0), last)[..., None].expand(batch, num + 2 * n, dim)
    cur = feats
    for o in range(1, order + 1):
        ext = torch.gather(cur, 1, index)  # (batch, num + 2n, dim)
        d = ext[:, n + 1 : n + 1 + num] - ext[:, n - 1 : n - 1 + num]
        for k in range(2, n + 1):
            d = d + k * (ext[:, n + k : n + k + num] - ext[:, n - k : n - k + num])
        cur = out[..., o * dim : (o + 1) * dim]
        torch.div(d, denom, out=cur)
    return out


def cmvn(feats: Tensor, frames_len: Tensor, eps: float = 1e-10, use_std: bool = True) -> Tensor:
    """Per-utterance cepstral mean and variance normalisation.

    ``(x - mean) / (std + eps)`` per utterance and dimension, with mean and
    unbiased standard deviation over the utterance's valid frames only
    (statistics in float64). An utterance with a single frame has std 0 (its
    output is 0; the unbiased std of one frame is undefined).

    Args:
        feats: ``(batch, frames, dim)``.
        frames_len: ``(batch,)`` long, valid frames per utterance.
        eps: added to the std (1e-10 as in s3prl's baseline).
        use_std: ``False`` only subtracts the mean.

    Returns:
        ``(batch, frames, dim)`` in ``feats.dtype``; values past ``frames_len`` unspecified.
    """
    frames_len = frames_len.to(feats.device)
    x = feats.double()
    count = frames_len.to(torch.float64).clamp(min=1)[:, None, None]
    # multiplying by an all-ones mask changes nothing: skip it for unpadded batches
    padded = x.size(1) > 0 and bool((frames_len < x.size(1)).any())
    mask = _valid_mask(frames_len, x.size(1))[..., None] if padded else None
    mean = (x * mask if padded else x).sum(1, keepdim=True) / count
    centred = x - mean
    if not use_std:
        return centred.to(feats.dtype)
    sq = centred * centred
    var = (sq * mask if padded else sq).sum(1, keepdim=True) / (count - 1).clamp(min=1)
    return centred.div_(var.sqrt() + eps).to(feats.dtype)


# --------------------------------------------------------------------------- #
# config-driven extractor
# --------------------------------------------------------------------------- #
_KALDI_COMMON = {
    "sample_frequency", "frame_length", "frame_shift", "dither", "preemphasis_coefficient",
    "remove_dc_offset", "window_type", "blackman_coeff", "round_to_power_of_two",
    "snip_edges", "raw_energy", "energy_floor", "subtract_mean", "channel", "min_duration",
}  # fmt: skip
_KALDI_MEL = {"num_mel_bins", "low_freq", "high_freq", "use_energy", "htk_compat",
              "vtln_warp", "vtln_low", "vtln_high"}  # fmt: skip
#: Allowed options under ``kaldi.<feat_type>`` (torchaudio.compliance.kaldi names).
KALDI_OPTIONS = {
    "fbank": _KALDI_COMMON | _KALDI_MEL | {"use_log_fbank", "use_power"},
    "mfcc": _KALDI_COMMON | _KALDI_MEL | {"num_ceps", "cepstral_lifter"},
    "spectrogram": set(_KALDI_COMMON),
}
_STFT_TOP = {"sample_rate", "win_ms", "hop_ms", "n_freq", "n_mels", "n_mfcc", "eps", "input", "target"}
_STFT_INPUT = {"feat_type", "channel", "log", "delta", "cmvn"}


def _unknown(found, allowed, where: str) -> None:
    extra = sorted(set(found) - set(allowed))
    if extra:
        raise ValueError(f"unknown field(s) {extra} in {where}; allowed: {sorted(allowed)}")


def _need_mapping(value, where: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(value).__name__}: {value!r}")
    return value


def check_feature_config(config: Mapping[str, Any], ignore_keys: Sequence[str] = ()) -> dict:
    """Validate a baseline feature config and fill in the defaults.

    Two schemas, those of the original s3prl baseline yaml files:

    * Kaldi (``fbank.yaml``, ``mfcc.yaml``, ``spectrogram.yaml``)::

          kaldi:
            feat_type: fbank            # fbank | mfcc | spectrogram
            fbank: {num_mel_bins: 80, frame_length: 25.0, frame_shift: 10.0, use_log_fbank: True}
          delta: {order: 2, win_length: 5}   # optional; default order 2, window 5
          cmvn: {use_cmvn: True}             # required; optional eps (1e-10)

      Options under ``kaldi.<feat_type>`` take ``torchaudio.compliance.kaldi``
      names and defaults (see :data:`KALDI_OPTIONS`); ``vtln_warp`` must be 1,
      ``channel`` 0 or -1, ``min_duration`` 0, ``sample_frequency`` 16000.
    * STFT (``mel.yaml``, ``linear.yaml``)::

          win_ms: 25
          hop_ms: 10
          n_freq: 201        # n_fft = 2 (n_freq - 1)
          n_mels: 80
          input: {feat_type: mel, channel: 0, log: True, delta: 0, cmvn: True}

      ``feat_type`` is ``mel`` or ``linear``; ``sample_rate`` (16000),
      ``n_mfcc`` (unused), ``eps`` (1e-10) and ``target`` (a training target,
      ignored) are accepted.

    Args:
        config: the parsed yaml (a mapping).
        ignore_keys: extra top-level keys to drop silently (e.g. a checkpoint's
            ``target_level``, which its upstream applies itself).

    Returns:
        A normalised dict: ``{"kind": "kaldi", "feat_type", "options", "delta_order",
        "delta_win", "cmvn", "cmvn_eps"}`` or ``{"kind": "stft", "feat_type", "n_fft",
        "win_length", "hop_length", "n_mels", "log", "eps", "delta_order", "cmvn",
        "cmvn_eps", "sample_rate"}``.

    Raises:
        ValueError: unknown or missing fields (named), bad values.
    """
    config = dict(_need_mapping(config, "the feature config"))
    for key in ignore_keys:
        config.pop(key, None)
    if "kaldi" in config:
        _unknown(config, {"kaldi", "delta", "cmvn"}, "the feature config (kaldi schema)")
        kaldi = dict(_need_mapping(config["kaldi"], "'kaldi'"))
        feat_type = kaldi.pop("feat_type", "fbank")
        if feat_type not in KALDI_OPTIONS:
            raise ValueError(
                f"kaldi.feat_type must be one of {sorted(KALDI_OPTIONS)}, got {feat_type!r}"
            )
        _unknown(kaldi, {feat_type}, f"'kaldi' (feat_type {feat_type!r})")
        if feat_type not in kaldi:
            raise ValueError(f"missing field 'kaldi.{feat_type}' (the {feat_type} options)")
        options = dict(_need_mapping(kaldi[feat_type] or {}, f"'kaldi.{feat_type}'"))
        _unknown(options, KALDI_OPTIONS[feat_type], f"'kaldi.{feat_type}'")
        if float(options.pop("vtln_warp", 1.0)) != 1.0:
            raise ValueError("kaldi vtln_warp other than 1.0 is not supported")
        options.pop("vtln_low", None)
        options.pop("vtln_high", None)
        if options.pop("channel", -1) not in (-1, 0):
            raise ValueError("kaldi 'channel' must be -1 or 0: upstreams take mono wavs")
        if float(options.pop("min_duration", 0.0)) != 0.0:
            raise ValueError("kaldi 'min_duration' other than 0 is not supported")
        if float(options.pop("sample_frequency", 16000.0)) != 16000.0:
            raise ValueError("kaldi 'sample_frequency' must be 16000 (upstreams take 16 kHz wavs)")
        if options.get("window_type", "povey") not in _WINDOWS:
            raise ValueError(
                f"kaldi window_type must be one of {_WINDOWS}, got {options['window_type']!r}"
            )
        delta = dict(_need_mapping(config.get("delta") or {}, "'delta'"))
        _unknown(delta, {"order", "win_length"}, "'delta'")
        if "cmvn" not in config:
            raise ValueError("missing field 'cmvn' (e.g. cmvn: {use_cmvn: True})")
        cmvn_cfg = dict(_need_mapping(config["cmvn"], "'cmvn'"))
        _unknown(cmvn_cfg, {"use_cmvn", "eps"}, "'cmvn'")
        if "use_cmvn" not in cmvn_cfg:
            raise ValueError("missing field 'cmvn.use_cmvn'")
        out = {
            "kind": "kaldi",
            "feat_type": feat_type,
            "options": options,
            "delta_order": int(delta.get("order", 2)),
            "delta_win": int(delta.get("win_length", 5)),
            "cmvn": bool(cmvn_cfg["use_cmvn"]),
            "cmvn_eps": float(cmvn_cfg.get("eps", 1e-10)),
        }
    else:
        _unknown(config, _STFT_TOP, "the feature config (STFT schema; a Kaldi config needs 'kaldi')")
        if "input" not in config:
            raise ValueError(
                "missing field 'input' (e.g. input: {feat_type: mel, log: True, cmvn: True}); "
                "a Kaldi feature config needs a 'kaldi' section instead"
            )
        inp = dict(_need_mapping(config["input"], "'input'"))
        _unknown(inp, _STFT_INPUT, "'input'")
        if "feat_type" not in inp:
            raise ValueError("missing field 'input.feat_type' (mel or linear)")
        if inp["feat_type"] not in ("mel", "linear"):
            raise ValueError(
                f"input.feat_type must be 'mel' or 'linear', got {inp['feat_type']!r}"
            )
        if int(inp.get("channel", 0)) != 0:
            raise ValueError("input.channel must be 0: upstreams take mono wavs")
        sample_rate = int(config.get("sample_rate", 16000))
        if sample_rate != 16000:
            raise ValueError("sample_rate must be 16000 (upstreams take 16 kHz wavs)")
        win = round(float(config.get("win_ms", 25)) * sample_rate / 1000)
        hop = round(float(config.get("hop_ms", 10)) * sample_rate / 1000)
        n_fft = (int(config.get("n_freq", 201)) - 1) * 2
        if hop < 1 or not 0 < win <= n_fft:
            raise ValueError(
                f"need hop_ms > 0 and 0 < win_ms samples ({win}) <= n_fft = 2 (n_freq - 1) ({n_fft})"
            )
        out = {
            "kind": "stft",
            "feat_type": inp["feat_type"],
            "sample_rate": sample_rate,
            "n_fft": n_fft,
            "win_length": win,
            "hop_length": hop,
            "n_mels": int(config.get("n_mels", 40)),
            "log": bool(inp.get("log", False)),
            "eps": float(config.get("eps", 1e-10)),
            "delta_order": int(inp.get("delta", 0)),
            "delta_win": 5,
            "cmvn": bool(inp.get("cmvn", False)),
            "cmvn_eps": float(config.get("eps", 1e-10)),
        }
    if out["delta_order"] < 0:
        raise ValueError(f"delta order must be >= 0, got {out['delta_order']}")
    if out["delta_order"] > 0 and out["delta_win"] < 3:
        raise ValueError(f"delta win_length must be >= 3, got {out['delta_win']}")
    return out


class FeatureExtractor(nn.Module):
    """Baseline features from a config dict (the s3prl baseline yaml fields).

    Build it from the parsed yaml of an entry (``s3prl/upstream/baseline/*.yaml``)
    or from a classic upstream's checkpoint config (APC / NPC / Mockingjay /
    TERA audio configs use the same fields); see :func:`check_feature_config`.
    The pipeline is feature -> deltas -> CMVN, every step on each wav's own
    valid samples / frames.

    Args:
        config: feature config mapping.
        ignore_keys: top-level keys to ignore (e.g. ``("target_level",)``).
        compute_dtype: dtype of the computation (default float64: float32
            rounding in the FFT gives up to ~0.1 absolute error on log bins far
            below a frame's peak, e.g. above 4 kHz in upsampled 8 kHz audio);
            ``None`` computes in the input's dtype (e.g. on MPS, which has no
            float64). The output is cast back to the input's dtype.

    Attributes:
        output_dim (int): feature dim (fbank 80 x 3 = 240, mfcc 39,
            spectrogram 257, mel 80, linear 201 for the baseline entries).
        downsample_rate (int): samples per frame shift (160).
        receptive_field (int): fewest samples giving one frame (400 for Kaldi
            25 ms frames with snip edges; ``n_fft // 2 + 1`` = 201 for the
            centred STFT features).
        settings (dict): the normalised config.

    Dither (Kaldi ``dither``, default 0) is applied in training mode only, so
    eval mode is deterministic. Computation follows the input's device and
    dtype; the module holds no parameters or buffers.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        ignore_keys: Sequence[str] = (),
        compute_dtype: torch.dtype | None = torch.float64,
    ):
        super().__init__()
        self.compute_dtype = compute_dtype
        self.settings = check_feature_config(config, ignore_keys)
        s = self.settings
        if s["kind"] == "kaldi":
            opts = s["options"]
            self.downsample_rate = _ms_to_samples(float(opts.get("frame_shift", 10.0)), 16000)
            size = _ms_to_samples(float(opts.get("frame_length", 25.0)), 16000)
            shift = self.downsample_rate
            # snip edges: one whole frame; else (T + S // 2) // S >= 1
            self.receptive_field = size if opts.get("snip_edges", True) else shift - shift // 2
            if s["feat_type"] == "fbank":
                base = int(opts.get("num_mel_bins", 23)) + int(bool(opts.get("use_energy", False)))
            elif s["feat_type"] == "mfcc":
                base = int(opts.get("num_ceps", 13))
            else:
                n_fft = _next_power_of_2(size) if opts.get("round_to_power_of_two", True) else size
                base = n_fft // 2 + 1
        else:
            self.downsample_rate = s["hop_length"]
            self.receptive_field = s["n_fft"] // 2 + 1
            base = s["n_mels"] if s["feat_type"] == "mel" else s["n_fft"] // 2 + 1
        self.output_dim = base * (s["delta_order"] + 1)
        # fail now, not at the first forward pass, on bad option values
        probe = torch.zeros(1, max(self.receptive_field, 400))
        self._compute(probe, torch.tensor([probe.size(1)]))

    def frame_count(self, wavs_len: Tensor) -> Tensor:
        """``(batch,)`` long frames for ``(batch,)`` sample counts."""
        s = self.settings
        if s["kind"] == "kaldi":
            o = s["options"]
            return kaldi_frame_count(
                wavs_len, float(o.get("frame_length", 25.0)), float(o.get("frame_shift", 10.0)),
                16000.0, bool(o.get("snip_edges", True)),
            )  # fmt: skip
        return stft_frame_count(wavs_len, s["hop_length"])

    def _compute(self, wavs: Tensor, wavs_len: Tensor) -> tuple[Tensor, Tensor]:
        s = self.settings
        if s["kind"] == "kaldi":
            opts = dict(s["options"])
            if not self.training:
                opts["dither"] = 0.0
            fn = {"fbank": kaldi_fbank, "mfcc": kaldi_mfcc, "spectrogram": kaldi_spectrogram}
            try:
                return fn[s["feat_type"]](wavs, wavs_len, **opts)
            except TypeError as err:  # a bad option value type
                raise ValueError(f"bad kaldi.{s['feat_type']} option: {err}") from err
        if s["feat_type"] == "mel":
            return log_mel_spectrogram(
                wavs, wavs_len, s["n_mels"], s["n_fft"], s["hop_length"], s["win_length"],
                s["sample_rate"], log=s["log"], eps=s["eps"],
            )  # fmt: skip
        return log_linear_spectrogram(
            wavs, wavs_len, s["n_fft"], s["hop_length"], s["win_length"], log=s["log"], eps=s["eps"]
        )

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[Tensor, Tensor]:
        """Features of a padded batch.

        Args:
            wavs: ``(batch, samples)`` float, 16 kHz, zero padded.
            wavs_len: ``(batch,)`` long, valid samples per wav (each at least
                :attr:`receptive_field`).

        Returns:
            ``(features, frames_len)``: ``(batch, frames, output_dim)`` in the
            input's dtype on its device, and ``(batch,)`` long. Frames past
            ``frames_len[i]`` are zero.

        Raises:
            ValueError: a wav shorter than :attr:`receptive_field` (names it).
        """
        _check_batch(wavs, wavs_len)
        short = (wavs_len < self.receptive_field).nonzero()
        if short.numel():
            i = int(short[0, 0])
            raise ValueError(
                f"wav {i} has {int(wavs_len[i])} samples; these features need at least "
                f"{self.receptive_field}"
            )
        s = self.settings
        x = wavs if self.compute_dtype is None else wavs.to(self.compute_dtype)
        feats, frames_len = self._compute(x, wavs_len)
        feats = deltas(feats, frames_len, s["delta_order"], s["delta_win"])
        if s["cmvn"]:
            feats = cmvn(feats, frames_len, s["cmvn_eps"])
        feats = feats.to(wavs.dtype)
        if feats.size(1) and bool((frames_len < feats.size(1)).any()):
            feats = feats.masked_fill(~_valid_mask(frames_len, feats.size(1))[..., None], 0.0)
        return feats, frames_len
