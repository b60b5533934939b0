"""SSAST: Self-Supervised Audio Spectrogram Transformer (Gong, Lai, Chung & Glass,
AAAI 2022, https://arxiv.org/abs/2110.09784), as s3prl 0.4.18 runs it.

Checkpoints (``SSAST-Base-Frame-400.pth``, ``SSAST-Base-Patch-400.pth``): the state
dict of ``torch.nn.DataParallel(ASTModel(pretrain_stage=True, ...))``::

    module.v.*                       DeiT-Base (cls + dist tokens, 12 blocks, 768, 12 heads)
    module.v.patch_embed.proj.weight (768, 1, 128, 2) frame / (768, 1, 16, 16) patch
    module.v.pos_embed               (1, 2 + f * t, 768) on the pre-training grid
    module.p_input_fdim, module.p_input_tdim   0-d: pre-training input (128, 1024)
    module.cpredlayer.*, module.gpredlayer.*, module.mask_embed   pre-training heads (unused)

Fine-tuning-stage model s3prl builds (``upstream/ssast/expert.py``): patches of the
saved shape with stride (128, 1) (frame) or (10, 10) (patch); the pre-training
positional grid (1 x 512 frame, 8 x 64 patch) is cut in the middle along time and
interpolated bilinearly along frequency (patch: 8 -> 12 rows) as SSAST's
``ASTModel`` does. Windows of ``window_secs`` (1 s by default) every
``window_secs``, the fbank front end of :mod:`s3prl.upstream.ast.frontend`.
Hidden states: the 12 block outputs, per time patch the frequency patches
concatenated: 768 (frame, stride 160 samples) or 12 x 768 = 9216 (patch, stride
1600 samples).

Frame counts: a window of ``N = window_secs * 100`` fbank frames gives ``N - 1``
time patches (frame model; 99 per second) or ``(N - 16) // 10 + 1`` (patch
model; 9 per second, not 10). s3prl concatenates the windows, so later frames
drift from ``k * stride`` (by 1 % for frame, 10 % for patch); a wav has
``min(ceil(T / stride), windows * patches_per_window)`` valid frames.
"""

from __future__ import annotations

import torch
from torch import Tensor

from s3prl.modules.windowing import cut_windows, window_count
from s3prl.upstream.ast.expert import _strip, load_spectrogram_vit
from s3prl.upstream.ast.frontend import ast_fbank
from s3prl.upstream.interface import UpstreamBase

SAMPLE_RATE = 16000
FBANK_STRIDE = 160
_KINDS = {(128, 2): ("frame", (128, 1)), (16, 16): ("patch", (10, 10))}


class UpstreamExpert(UpstreamBase):
    """SSAST upstream (frame or patch model, read from the checkpoint's patch shape).

    Args:
        ckpt: local checkpoint path.
        window_secs: seconds per window (= stride between windows), >= 0.2.
        num_heads: attention heads (default width // 64 = 12 for Base).

    Raises:
        ValueError: a checkpoint outside the released layout (keys, patch shape),
            a bad window.
    """

    def __init__(self, ckpt: str, window_secs: float = 1.0, num_heads: int | None = None):
        super().__init__()
        from s3prl.util.checkpoint import load_checkpoint, note_unused_entries

        if not window_secs >= 0.2:
            raise ValueError(f"window_secs must be >= 0.2 (20 fbank frames), got {window_secs}")
        where = f"SSAST checkpoint {ckpt}"
        state = _strip(load_checkpoint(ckpt), where)
        for key in ("module.p_input_fdim", "module.p_input_tdim", "module.v.patch_embed.proj.weight"):
            if key not in state:
                raise ValueError(f"{where}: no {key!r} (not a pre-training-stage SSAST checkpoint)")
        patch = tuple(state["module.v.patch_embed.proj.weight"].shape[2:])
        if patch not in _KINDS:
            raise ValueError(f"{where}: patch shape {patch}; SSAST uses (128, 2) frames or (16, 16) patches")
        self.kind, stride = _KINDS[patch]
        # pre-training heads (cpredlayer, gpredlayer, mask_embed) are not part of the upstream
        note_unused_entries(ckpt, [k for k in state if not k.startswith(("module.v.", "module.p_input_"))],
                            "training-only entries")
        src = (int(state["module.p_input_fdim"]), int(state["module.p_input_tdim"]))
        self.window = self.stride = int(window_secs * SAMPLE_RATE)
        self.target_length = int(window_secs * SAMPLE_RATE / FBANK_STRIDE)
        self.model = load_spectrogram_vit(
            state, ckpt, src, patch, patch, stride, self.target_length, num_heads
        )
        f, t = self.model.grid
        dim = self.model.cls_token.shape[-1]
        self.patches_per_window = t
        self.downsample_rate = FBANK_STRIDE * stride[1]
        self.hidden_sizes = [f * dim] * len(self.model.blocks)
        # windows are zero padded past the wav's end (s3prl's windowing): 1 sample gives a frame
        self.receptive_field = 1
        self.frame_window = (patch[1] - 1) * FBANK_STRIDE + 400

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        n_win = window_count(wavs_len, self.stride)
        w = max(int(n_win.max()), 1)
        b = wavs.size(0)
        windows = cut_windows(wavs, w, self.window, self.stride).reshape(b * w, self.window)
        per_time, _ = self.model(ast_fbank(windows, self.target_length))
        frames = torch.minimum(
            torch.div(wavs_len + self.downsample_rate - 1, self.downsample_rate, rounding_mode="floor"),
            n_win * self.patches_per_window,
        )
        width = int(frames.max())
        return [h.reshape(b, w * h.size(1), h.size(2))[:, :width] for h in per_time], frames
