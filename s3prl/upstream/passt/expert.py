"""PaSST: Patchout faSt Spectrogram Transformer (Koutini, Schlüter, Eghbal-zadeh &
Widmer, Interspeech 2022, https://arxiv.org/abs/2110.05069), the HEAR 2021 models
(``hear21passt``) as s3prl 0.4.18 runs them.

Checkpoints (``passt-s-f128-p16-s10-ap.476-swa.pt`` and the 20 s / 30 s / STFT-hop
100 / 160 variants, GitHub releases of kkoutini/PaSST): the model's state dict
(optionally under ``"model"``)::

    patch_embed.proj.{weight (D, 1, 16, 16), bias}   patch stride 10 x 10
    cls_token, dist_token (1, 1, D); new_pos_embed (1, 2, D): their positions
    freq_new_pos_embed (1, D, 12, 1); time_new_pos_embed (1, D, 1, T_grid)
    blocks.{i}.*  timm ViT blocks (DeiT-Base: D 768, 12 heads, eps 1e-6)
    norm.*; head.0 (LayerNorm, eps 1e-5), head.1 (Linear(D, 527)); head_dist (unused)

Network (``PaSST.forward`` in eval mode, no patchout): patches ``(B, D, F', T')``
+ ``time_new_pos_embed[..., :T']`` + ``freq_new_pos_embed``, flattened
frequency-major, cls / dist tokens (+ ``new_pos_embed``) in front, blocks, norm;
``features = (x[:, 0] + x[:, 1]) / 2``, ``logits = head(features)``; the HEAR
embedding (mode ``"all"``) is ``[logits (527), features (768)]`` = 1295.

HEAR timestamp embeddings (``wrapper.get_timestamp_embeddings``): audio at 32 kHz,
reflect padded by half a window on both sides, windows of ``window_secs``
(160 ms) every ``stride_secs`` (50 ms), one network pass per window; frame ``k``
is centred on ``k * stride``. Variants concatenate levels:

* ``*2level`` / ``*2lvl``: the 160 ms embedding and one of a 5x longer window
  (800 ms; ``base2levelmel``: 4x, 640 ms) -> 2590;
* ``*mel``: plus the 128 x 6 mel frames of a ``6 hop`` window -> 768 + 2590 = 3358.

The one hidden state is that embedding, ``floor(T / 800) + 1`` frames (stride 800
samples at 16 kHz). Padding: s3prl resampled and windowed the zero-padded batch,
so the last frames of a shorter wav saw the batch's zeros instead of the reflection
of its own end; here each wav is reflect padded at its own end, as when alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.modules.vit import PatchEmbed, count_blocks, heads_for, stack_blocks
from s3prl.upstream.interface import UpstreamBase

from .frontend import passt_mel, resample

SR = 32000
PASST_S_URL = "https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt"
PASST_20S_URL = "https://github.com/kkoutini/PaSST/releases/download/v0.0.5/passt-s-f128-20sec-p16-s10-ap.474-swa.pt"
PASST_30S_URL = "https://github.com/kkoutini/PaSST/releases/download/v0.0.5/passt-s-f128-30sec-p16-s10-ap.473-swa.pt"
PASST_HOP100_URL = ("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/"
                    "passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt")
PASST_HOP160_URL = ("https://github.com/kkoutini/PaSST/releases/download/v0.0.3-audioset/"
                    "passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt")

#: variant -> (STFT hop at 32 kHz, window multipliers of the levels, mel-level window or 0, URL)
VARIANTS = {
    "base": (320, (1,), 0, PASST_S_URL),
    "base2level": (320, (1, 5), 0, PASST_S_URL),
    "base2levelmel": (320, (1, 4), 1920, PASST_S_URL),
    "base20sec": (320, (1,), 0, PASST_20S_URL),
    "base30sec": (320, (1,), 0, PASST_30S_URL),
    "hop100base": (100, (1,), 0, PASST_HOP100_URL),
    "hop100base2lvl": (100, (1, 5), 0, PASST_HOP100_URL),
    "hop100base2lvlmel": (100, (1, 5), 600, PASST_HOP100_URL),
    "hop160base": (160, (1,), 0, PASST_HOP160_URL),
    "hop160base2lvl": (160, (1, 5), 0, PASST_HOP160_URL),
    "hop160base2lvlmel": (160, (1, 5), 960, PASST_HOP160_URL),
}


class PaSSTNet(nn.Module):
    """The PaSST network in eval mode (see the module docstring); parameter names as released."""

    def __init__(self, dim: int, depth: int, heads: int, f_grid: int, t_grid: int, classes: int):
        super().__init__()
        self.patch_embed = PatchEmbed(1, dim, (16, 16), (10, 10))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.new_pos_embed = nn.Parameter(torch.zeros(1, 2, dim))
        self.freq_new_pos_embed = nn.Parameter(torch.zeros(1, dim, f_grid, 1))
        self.time_new_pos_embed = nn.Parameter(torch.zeros(1, dim, 1, t_grid))
        self.blocks = stack_blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, classes))

    def forward(self, mel: Tensor) -> Tensor:
        """``(N, 128, frames)`` mel -> ``(N, classes + dim)`` = ``[logits, features]``."""
        x = self.patch_embed.proj(mel.unsqueeze(1))  # (N, D, F', T')
        t = x.size(-1)
        if t > self.time_new_pos_embed.size(-1):
            raise ValueError(
                f"a window gives {t} time patches, more than the {self.time_new_pos_embed.size(-1)} "
                "this checkpoint has positions for: use a shorter window_secs"
            )
        x = x + self.time_new_pos_embed[..., :t] + self.freq_new_pos_embed
        x = x.flatten(2).transpose(1, 2)
        n = x.size(0)
        special = torch.cat([self.cls_token, self.dist_token], dim=1) + self.new_pos_embed
        x = torch.cat([special.expand(n, -1, -1), x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        features = (x[:, 0] + x[:, 1]) / 2
        return torch.cat([self.head(features), features], dim=-1)


def load_passt_net(state: dict, where: str, num_heads: int | None = None) -> PaSSTNet:
    """Build :class:`PaSSTNet` from a released state dict (``head_dist`` ignored).

    Args:
        state: the state dict, or a dict holding it under ``model`` (its other
            top-level entries are logged once and not read).
        where: the checkpoint file (messages start with ``checkpoint <where>``).

    Raises:
        ValueError: not a PaSST state dict.
        CheckpointKeyError: (a ``ValueError``) missing, unexpected, misshapen,
            non-floating or NaN/Inf weights
            (:func:`s3prl.util.checkpoint.load_state_dict_strict`).
    """
    from s3prl.util.checkpoint import load_state_dict_strict, note_unused_entries

    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        note_unused_entries(where, [k for k in state if k != "model"])
        state = state["model"]
    if not isinstance(state, dict) or "time_new_pos_embed" not in state:
        raise ValueError(f"checkpoint {where}: not a PaSST checkpoint (no 'time_new_pos_embed')")
    sd = state
    dim = sd["cls_token"].shape[-1]
    net = PaSSTNet(dim, count_blocks(sd, ""), heads_for(dim, num_heads), sd["freq_new_pos_embed"].shape[2],
                   sd["time_new_pos_embed"].shape[3], sd["head.1.weight"].shape[0] if "head.1.weight" in sd else 527)
    load_state_dict_strict(net, sd, where=where, ignore_prefixes=("head_dist.",), what="PaSST")
    return net


class UpstreamExpert(UpstreamBase):
    """PaSST HEAR embeddings as one hidden state (see the module docstring).

    Args:
        ckpt: local checkpoint path.
        variant: one of :data:`VARIANTS` (``"base"``, ``"base2level"``, ...).
        window_secs: window of the first level (0.16 s).
        stride_secs: hop between frames (0.05 s).
        num_heads: attention heads (default width // 64 = 12).

    Raises:
        ValueError: unknown variant, a stride that is not a whole number of
            16 kHz samples, a checkpoint outside the released layout.
    """

    frame_centre_offset = 0  # frame k is centred on sample k * stride

    def __init__(self, ckpt: str, variant: str = "base", window_secs: float = 0.16,
                 stride_secs: float = 0.05, num_heads: int | None = None):
        super().__init__()
        from s3prl.util.checkpoint import load_checkpoint

        if variant not in VARIANTS:
            raise ValueError(f"unknown PaSST variant {variant!r}; one of {sorted(VARIANTS)}")
        self.hop_stft, levels, mel_window, _ = VARIANTS[variant]
        window = int(window_secs * 1000 * SR / 1000)
        self.hop = int(stride_secs * 1000 * SR / 1000)
        if self.hop % 2 or self.hop <= 0:
            raise ValueError(f"stride_secs={stride_secs} is not a whole number of 16 kHz samples")
        self.windows = [window * m for m in levels] + ([mel_window] if mel_window else [])
        self.mel_level = bool(mel_window)
        self.net = load_passt_net(load_checkpoint(ckpt), ckpt, num_heads)
        emb = self.net.head[1].out_features + self.net.cls_token.shape[-1]
        self.hidden_sizes = [emb * len(levels) + (128 * 6 if mel_window else 0)]
        self.downsample_rate = self.hop // 2
        # reflect padding needs more than half a window of the wav itself (at 32 kHz)
        self.receptive_field = max(w // 2 for w in self.windows) // 2 + 1
        self.variant = variant

    def _level(self, x32: Tensor, lens32: Tensor, frames: Tensor, window: int, mel_only: bool) -> Tensor:
        pad = window // 2
        segments = []
        for i in range(x32.size(0)):
            own = F.pad(x32[i : i + 1, None, : int(lens32[i])], (pad, pad), mode="reflect")[0, 0]
            segments.append(own.unfold(0, window, self.hop)[: int(frames[i])])
        seg = torch.cat(segments)
        mel = passt_mel(seg, self.hop_stft)
        if mel_only:
            emb = mel.reshape(seg.size(0), -1)
        else:
            emb = self.net(mel)
        out = emb.new_zeros(x32.size(0), int(frames.max()), emb.size(-1))
        start = 0
        for i, n in enumerate(frames.tolist()):
            out[i, :n] = emb[start : start + n]
            start += n
        return out

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        x32 = resample(wavs)
        lens32 = wavs_len * 2
        frames = torch.div(lens32, self.hop, rounding_mode="floor") + 1
        parts = [
            self._level(x32, lens32, frames, w, mel_only=self.mel_level and k == len(self.windows) - 1)
            for k, w in enumerate(self.windows)
        ]
        return [torch.cat(parts, dim=-1)], frames
