"""BYOL-A: Bootstrap Your Own Latent for Audio (Niizumi, Takeuchi, Ohishi, Harada &
Kashino, IJCNN 2021, https://arxiv.org/abs/2103.06695), AudioNTT2020 encoder, as
s3prl 0.4.18 runs it.

Checkpoints (``AudioNTT2020-BYOLA-64x96d{512,1024,2048}.pth``, nttcslab/byol-a): the
state dict of ``AudioNTT2020(n_mels=64, d)`` (optionally under ``"state_dict"``, key
prefixes before ``features.`` / ``fc.`` dropped, as ``NetworkCommonMixIn.load_weight``
does)::

    features.{0,4,8}.{weight,bias}   Conv2d(64 or 1 -> 64, 3 x 3, padding 1)
    features.{1,5,9}.{weight,bias,running_mean,running_var,num_batches_tracked}  BatchNorm2d(64)
    fc.0.{weight,bias}               Linear(64 x 8 = 512, d)
    fc.3.{weight,bias}               Linear(d, d)

Forward (eval): log-mel ``(N, 1, 64, frames)`` -> 3 x [conv 3x3, BN, ReLU, max-pool 2]
-> ``(N, 64, 8, frames // 8)`` -> per time step the 8 mel x 64 channel values
(mel-major) -> ``ReLU(fc3(ReLU(fc0(.))))`` -> max over time + mean over time: ``(N, d)``.

Front end (torchaudio ``MelSpectrogram`` defaults with BYOL-A's config): n_fft 1024,
win 1024 (periodic Hann), hop 160, centred reflect-padded STFT, power 2, 64 HTK mel
bins from 60 to 7800 Hz (no area normalisation), ``log(mel + FLT_EPSILON)``, then
``(x + 5.4919195) / 5.0389895`` (the fixed statistics s3prl uses).

Windowing (s3prl): windows of ``window_secs`` (1 s) every ``stride_secs`` (1 s), the
last zero padded; one embedding per window. A wav of ``T`` samples has
``ceil(T / stride)`` frames; its windows hold only its own samples, so batching
never changes them.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from s3prl.modules.windowing import cut_windows, window_count
from s3prl.upstream.baseline.features import htk_mel_filters
from s3prl.upstream.interface import UpstreamBase

SAMPLE_RATE = 16000
NORM_MEAN, NORM_STD = -5.4919195, 5.0389895
FLT_EPSILON = 1.1920928955078125e-07


@functools.lru_cache(maxsize=8)
def _stft_constants(n_fft: int, win: int, n_mels: int, f_min: float, f_max: float) -> tuple[Tensor, Tensor]:
    """The periodic Hann window ``(win,)`` and HTK-mel filters ``(n_fft // 2 + 1, n_mels)``
    (float64, built once per setting; the filters are
    ``torchaudio.functional.melscale_fbanks(..., norm=None, mel_scale="htk")``)."""
    banks = htk_mel_filters(n_fft // 2 + 1, n_mels, float(SAMPLE_RATE), f_min, f_max)
    return torch.hann_window(win, dtype=torch.float64), banks


def log_mel(windows: Tensor, n_fft: int = 1024, win: int = 1024, hop: int = 160, n_mels: int = 64,
            f_min: float = 60.0, f_max: float = 7800.0) -> Tensor:
    """``(N, samples)`` -> ``(N, n_mels, 1 + samples // hop)`` ``log(mel power + FLT_EPSILON)``."""
    window, banks = _stft_constants(n_fft, win, n_mels, f_min, f_max)
    spec = torch.stft(windows, n_fft, hop_length=hop, win_length=win,
                      window=window.to(windows.device, windows.dtype), center=True,
                      pad_mode="reflect", return_complex=True)
    power = spec.real**2 + spec.imag**2
    return (torch.einsum("fm,nft->nmt", banks.to(windows.device, windows.dtype), power) + FLT_EPSILON).log()


class AudioNTT2020(nn.Module):
    """The BYOL-A encoder (see the module docstring); parameter names as released."""

    def __init__(self, n_mels: int = 64, d: int = 2048):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv2d(1 if i == 0 else 64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(2, stride=2)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(64 * (n_mels // 8), d), nn.ReLU(), nn.Dropout(0.3),
                                nn.Linear(d, d), nn.ReLU())

    def frames(self, x: Tensor) -> Tensor:
        """``(N, 1, mel, T)`` -> ``(N, T // 8, d)`` per-time features before pooling."""
        x = self.features(x).permute(0, 3, 2, 1)  # (N, T', mel', ch)
        return self.fc(x.reshape(x.size(0), x.size(1), -1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.frames(x)
        return h.max(dim=1).values + h.mean(dim=1)


def load_audio_ntt(state: dict, where: str, n_mels: int = 64) -> AudioNTT2020:
    """AudioNTT2020 from a released state dict (``d`` read from ``fc.0.weight``).

    Args:
        state: the state dict, or a dict holding it under ``state_dict`` (its
            other top-level entries are logged once and not read).
        where: the checkpoint file (messages start with ``checkpoint <where>``).

    Raises:
        ValueError: no ``fc.0.weight``.
        CheckpointKeyError: (a ``ValueError``) missing, unexpected, misshapen,
            non-floating or NaN/Inf weights
            (:func:`s3prl.util.checkpoint.load_state_dict_strict`).
    """
    from s3prl.util.checkpoint import load_state_dict_strict, note_unused_entries

    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        note_unused_entries(where, [k for k in state if k != "state_dict"])
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {where}: not a state dict")
    def encoder_key(k: str) -> str | None:  # from the first 'features.' / 'fc.' component on
        parts = str(k).split(".")
        hits = [i for i, p in enumerate(parts) if p in ("features", "fc")]
        return ".".join(parts[hits[0]:]) if hits else None

    note_unused_entries(where, [k for k in state if encoder_key(k) is None],
                        "entries outside the encoder (no 'features.' / 'fc.')")
    ours = {k: v for k, v in state.items() if encoder_key(k) is not None}
    fc0 = [v for k, v in ours.items() if encoder_key(k) == "fc.0.weight"]
    if not fc0:
        raise ValueError(f"checkpoint {where}: not an AudioNTT2020 state dict (no 'fc.0.weight')")
    model = AudioNTT2020(n_mels, fc0[0].shape[0])
    # the renaming refuses two keys that name one weight (e.g. 'a.fc.0.weight', 'b.fc.0.weight')
    load_state_dict_strict(model, ours, where=where, rename=encoder_key, what="AudioNTT2020")
    return model


class UpstreamExpert(UpstreamBase):
    """BYOL-A upstream: one embedding per window (see the module docstring).

    Args:
        ckpt: local checkpoint path.
        window_secs, stride_secs: windowing in seconds (1.0, 1.0 as s3prl).

    Raises:
        ValueError: a window shorter than 8 mel frames, a checkpoint outside the layout.
    """

    def __init__(self, ckpt: str, window_secs: float = 1.0, stride_secs: float = 1.0):
        super().__init__()
        from s3prl.util.checkpoint import load_checkpoint

        self.window = int(window_secs * SAMPLE_RATE)
        self.stride = int(stride_secs * SAMPLE_RATE)
        if self.window < 8 * 160 or self.stride < 1:
            raise ValueError(f"window_secs must be >= 0.08 and stride_secs > 0, got {window_secs}, {stride_secs}")
        self.model = load_audio_ntt(load_checkpoint(ckpt), ckpt)
        self.hidden_sizes = [self.model.fc[0].out_features]
        self.downsample_rate = self.stride
        self.receptive_field = 1
        self.frame_window = self.window

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        n_win = window_count(wavs_len, self.stride)
        w = int(n_win.max())
        windows = cut_windows(wavs, w, self.window, self.stride).reshape(-1, self.window)
        mel = (log_mel(windows) - NORM_MEAN) / NORM_STD
        emb = self.model(mel.unsqueeze(1))
        return [emb.reshape(wavs.size(0), w, -1)], n_win

