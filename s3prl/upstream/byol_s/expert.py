"""BYOL-S: BYOL-A trained on speech (Elbanna et al., "BYOL-S: Learning Self-supervised
Speech Representations by Bootstrapping", HEAR 2021, https://arxiv.org/abs/2206.12038),
the ``serab-byols`` HEAR models as s3prl 0.4.18 runs them: the ``default`` encoder
(AudioNTT2020, d = 2048), ``resnetish34`` (:mod:`s3prl.upstream.byol_s.resnetish`) and
``cvt`` (:mod:`s3prl.upstream.byol_s.cvt`).

Checkpoint (``default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth``,
GasserElbanna/serab-byols): the ``state_dict()`` of ``AudioNTT2020(n_mels=64, d=2048)``,
the layout of :mod:`s3prl.upstream.byol_a.expert` (forward: max + mean over time).

HEAR timestamp embeddings (``serab_byols.serab.get_timestamp_embeddings``,
``utils.frame_audio``): the audio is zero padded by half a window (0.5 s) on both
sides and cut into 1 s windows every 50 ms (``T // 800 + 1`` frames, frame ``k``
centred on ``k * 50`` ms); log-mel per window (torchaudio ``MelSpectrogram``:
n_fft 1024, win_length 400, hop 160, 64 HTK bins 60-7800 Hz, centred STFT;
``log(mel + FLT_EPSILON)``); normalised with ``compute_timestamp_stats``:
``mean = lms.mean() / N``, ``std = lms.std() / N`` over the ``N`` windows' log-mels;
one AudioNTT2020 pass per window.

Padding: s3prl took those statistics over the whole zero-padded batch, so a wav's
embeddings depended on its batch; here they are taken over the wav's own windows
(s3prl's result for a batch of one), so batching never changes them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from s3prl.modules.windowing import cut_windows
from s3prl.upstream.byol_a.expert import load_audio_ntt, log_mel
from s3prl.upstream.interface import UpstreamBase

SAMPLE_RATE = 16000


class UpstreamExpert(UpstreamBase):
    """BYOL-S (default encoder) upstream: one 2048-d embedding every ``hop_secs``.

    Args:
        ckpt: local checkpoint path.
        model_name: ``"default"``, ``"resnetish34"`` or ``"cvt"``.
        window_secs: window (1 s); hop_secs: hop between frames (0.05 s).

    Raises:
        NotImplementedError: another ``model_name``.
        ValueError: a checkpoint outside the layout.
    """

    frame_centre_offset = 0  # frame k is centred on sample k * hop

    def __init__(self, ckpt: str, model_name: str = "default", window_secs: float = 1.0,
                 hop_secs: float = 0.05):
        super().__init__()
        from s3prl.util.checkpoint import load_checkpoint

        if model_name not in ("default", "resnetish34", "cvt"):
            raise NotImplementedError(
                f"BYOL-S model {model_name!r} is not implemented ('default', 'resnetish34', 'cvt')"
            )
        self.window = int(window_secs * SAMPLE_RATE)
        self.hop = int(hop_secs * SAMPLE_RATE)
        if model_name == "default":
            self.model = load_audio_ntt(load_checkpoint(ckpt), ckpt)
            self.hidden_sizes = [self.model.fc[0].out_features]
        elif model_name == "resnetish34":
            from .resnetish import load_resnetish

            self.model = load_resnetish(load_checkpoint(ckpt), ckpt)
            self.hidden_sizes = [self.model.layer4[0].conv1.out_channels * 4]  # 64 mel / 16
        else:
            from .cvt import load_cvt

            self.model = load_cvt(load_checkpoint(ckpt), ckpt)
            self.hidden_sizes = [self.model.layers[2][0].out_channels * 4]  # 64 mel / 16
        self.downsample_rate = self.hop
        self.receptive_field = 1

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        half = self.window // 2
        frames = torch.div(wavs_len, self.hop, rounding_mode="floor") + 1
        width = int(frames.max())
        windows = cut_windows(F.pad(wavs, (half, 0)), width, self.window, self.hop)  # (B, F, window)
        lms = log_mel(windows.reshape(-1, self.window), win=400)
        lms = lms.reshape(wavs.size(0), width, *lms.shape[1:])  # (B, F, 64, 101)
        out = []
        for i, n in enumerate(frames.tolist()):
            own = lms[i, :n]
            mean, std = own.mean() / n, own.std() / n
            out.append(self.model(((own - mean) / std).unsqueeze(1)))
        emb = torch.zeros(wavs.size(0), width, out[0].size(-1), dtype=out[0].dtype, device=out[0].device)
        for i, e in enumerate(out):
            emb[i, : e.size(0)] = e
        return [emb], frames
