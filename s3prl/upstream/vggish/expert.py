"""VGGish (Hershey et al., ICASSP 2017, https://arxiv.org/abs/1609.09430), the AudioSet
embedding network, as s3prl 0.4.18 runs it (the ``torchvggish`` port's weights).

Checkpoints (harritaylor/torchvggish release v0.1):

* ``vggish-10086976.pth``: the VGG state dict ``features.{0,3,6,8,11,13}.{weight,bias}``
  (Conv2d 3 x 3, padding 1: 1 -> 64 -> 128 -> 256 -> 256 -> 512 -> 512, ReLU, max-pool 2
  after the 1st, 2nd, 4th and 6th) and ``embeddings.{0,2,4}.{weight,bias}``
  (Linear 512 x 4 x 6 -> 4096 -> 4096 -> 128, each followed by ReLU);
* ``vggish_pca_params-970ea276.pth``: ``{"pca_eigen_vectors": (128, 128) array,
  "pca_means": (128,) array}``.

Front end (``vggish_input.waveform_to_examples`` / ``mel_features``): 25 ms frames
(400 samples) every 10 ms without padding, periodic Hann window, magnitude of a
512-point FFT, 64 HTK-mel bands (``1127 ln(1 + f / 700)``) from 125 to 7500 Hz
(the DC bin has weight 0), ``log(mel + 0.01)``; examples of 96 frames every 96
frames (0.96 s), incomplete ones dropped.

Network: examples ``(N, 1, 96, 64)`` -> VGG -> ``(N, 512, 6, 4)`` -> flattened as
(time, mel, channel) -> embeddings ``(N, 128)``. Post-processing (``postprocess=True``,
s3prl's default): PCA with whitening ``P (e - mu)``, clipped to [-2, 2] and
quantised to 8 bits: ``round((x + 2) * 255 / 4)`` (values 0..255 as floats).

One hidden state of 128 per example: stride 15360 samples (0.96 s; s3prl 0.4.18
declared 16000), receptive field 15600 samples (96 frames). Examples of a wav use
only its own samples, so batching never changes them.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from s3prl.upstream.baseline.features import kaldi_mel_banks
from s3prl.upstream.interface import UpstreamBase

SAMPLE_RATE = 16000
WINDOW, HOP, N_FFT = 400, 160, 512
EXAMPLE_FRAMES = 96
LOG_OFFSET = 0.01


@functools.lru_cache(maxsize=1)
def _front_end_constants() -> tuple[Tensor, Tensor]:
    """The periodic Hann window ``(400,)`` and the ``(257, 64)`` mel weights (float64), built once.

    ``mel_features.spectrogram_to_mel_matrix`` (HTK mel ``1127 ln(1 + f / 700)``, 125 - 7500 Hz,
    DC row 0) equals Kaldi's mel banks for these edges (the DC and Nyquist bins fall outside the
    band either way), so :func:`s3prl.upstream.baseline.features.kaldi_mel_banks` builds it."""
    window = torch.hann_window(WINDOW, periodic=True, dtype=torch.float64)
    return window, kaldi_mel_banks(64, N_FFT, float(SAMPLE_RATE), 125.0, 7500.0)


def vggish_log_mel(wavs: Tensor) -> Tensor:
    """``(B, samples)`` -> ``(B, 1 + (samples - 400) // 160, 64)`` VGGish log mel (float64 math)."""
    x = wavs.double()
    frames = x.unfold(-1, WINDOW, HOP)
    window, banks = _front_end_constants()
    mag = torch.fft.rfft(frames * window.to(x.device), n=N_FFT).abs()
    mel = mag @ banks.to(x.device)
    return torch.log(mel + LOG_OFFSET).to(wavs.dtype)


class VGGishNet(nn.Module):
    """The VGG of VGGish; channel and layer widths read from the state dict (parameter names as released)."""

    def __init__(self, convs: list[int], fcs: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        pools = {0, 1, 3, 5}  # max-pool after these convolutions
        for i, c in enumerate(convs):
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU()]
            if i in pools:
                layers.append(nn.MaxPool2d(2, 2))
            cin = c
        self.features = nn.Sequential(*layers)
        emb: list[nn.Module] = []
        d = convs[-1] * 4 * 6
        for out in fcs:
            emb += [nn.Linear(d, out), nn.ReLU()]
            d = out
        self.embeddings = nn.Sequential(*emb)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 1, 96, 64)`` log mel examples -> ``(N, fcs[-1])``."""
        x = self.features(x).permute(0, 2, 3, 1)  # (N, 6 time, 4 mel, C)
        return self.embeddings(x.reshape(x.size(0), -1))


def load_vggish_net(state: dict, where: str) -> VGGishNet:
    """Build :class:`VGGishNet` from the released state dict.

    Args:
        where: the checkpoint file (messages start with ``checkpoint <where>``).

    Raises:
        ValueError: not a VGGish state dict.
        CheckpointKeyError: (a ``ValueError``) missing, unexpected, misshapen,
            non-floating or NaN/Inf weights
            (:func:`s3prl.util.checkpoint.load_state_dict_strict`).
    """
    from s3prl.util.checkpoint import load_state_dict_strict

    conv_ids = [0, 3, 6, 8, 11, 13]
    if not isinstance(state, dict) or "features.0.weight" not in state or "embeddings.4.weight" not in state:
        raise ValueError(f"checkpoint {where}: not a VGGish state dict (no features.0.weight / embeddings.4.weight)")
    net = VGGishNet([state[f"features.{i}.weight"].shape[0] for i in conv_ids if f"features.{i}.weight" in state],
                    [state[f"embeddings.{i}.weight"].shape[0] for i in (0, 2, 4)])
    load_state_dict_strict(net, state, where=where, what="VGGish")
    return net


class UpstreamExpert(UpstreamBase):
    """VGGish upstream (see the module docstring).

    Args:
        ckpt: local path of ``vggish-10086976.pth`` (the VGG state dict).
        pca: local path of ``vggish_pca_params-970ea276.pth``; needed when ``postprocess``.
        postprocess: apply PCA whitening + 8-bit quantisation (s3prl's default).

    Raises:
        ValueError: files outside the released layouts, ``postprocess`` without ``pca``.
        CheckpointKeyError: (a ``ValueError``) VGG weights that do not fit
            (:func:`load_vggish_net`); PCA parameters that are not floating point
            or hold NaN/Inf (the message names the file and the entry).
    """

    downsample_rate = EXAMPLE_FRAMES * HOP
    receptive_field = WINDOW + (EXAMPLE_FRAMES - 1) * HOP

    def __init__(self, ckpt: str, pca: str | None = None, postprocess: bool = True):
        super().__init__()
        from s3prl.util.checkpoint import CheckpointKeyError, load_checkpoint

        self.net = load_vggish_net(load_checkpoint(ckpt), ckpt)
        self.postprocess = bool(postprocess)
        if self.postprocess:
            if pca is None:
                raise ValueError("postprocess=True needs the PCA parameters file (pca=...)")
            params = load_checkpoint(pca)
            if not isinstance(params, dict) or {"pca_eigen_vectors", "pca_means"} - set(params):
                raise ValueError(f"VGGish PCA file {pca}: expected keys 'pca_eigen_vectors' and 'pca_means'")
            raw = {k: torch.as_tensor(params[k]) for k in ("pca_eigen_vectors", "pca_means")}
            bad = [f"{k} has dtype {v.dtype}, not floating point" if not v.is_floating_point()
                   else f"{k} has {int((~torch.isfinite(v)).sum())} non-finite (NaN/Inf) value(s)"
                   for k, v in raw.items() if not v.is_floating_point() or not bool(torch.isfinite(v).all())]
            if bad:
                raise CheckpointKeyError(f"checkpoint {pca}: {bad}")
            matrix = raw["pca_eigen_vectors"].float()
            means = raw["pca_means"].float().reshape(-1)
            dim = self.net.embeddings[-2].out_features
            if matrix.shape != (dim, dim) or means.shape != (dim,):
                raise ValueError(f"VGGish PCA file {pca}: shapes {tuple(matrix.shape)} / {tuple(means.shape)}, "
                                 f"expected ({dim}, {dim}) / ({dim},)")
            self.register_buffer("pca_matrix", matrix)
            self.register_buffer("pca_means", means)
        self.hidden_sizes = [self.net.embeddings[-2].out_features]
        self.frame_window = self.receptive_field

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        mel = vggish_log_mel(wavs)  # (B, frames, 64)
        n_frames = torch.div(wavs_len - WINDOW, HOP, rounding_mode="floor") + 1
        n_ex = torch.div(n_frames - EXAMPLE_FRAMES, EXAMPLE_FRAMES, rounding_mode="floor") + 1
        w = int(n_ex.max())
        ex = mel[:, : w * EXAMPLE_FRAMES].reshape(wavs.size(0) * w, 1, EXAMPLE_FRAMES, mel.size(-1))
        emb = self.net(ex)
        if self.postprocess:
            pca = (emb - self.pca_means) @ self.pca_matrix.T
            emb = torch.round((pca.clamp(-2.0, 2.0) + 2.0) * (255.0 / 4.0))
        return [emb.reshape(wavs.size(0), w, -1)], n_ex
