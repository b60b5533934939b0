"""AST: Audio Spectrogram Transformer (Gong, Chung & Glass, Interspeech 2021,
https://arxiv.org/abs/2104.01778), the AudioSet-trained checkpoint s3prl 0.4.18 loads.

Checkpoint (``audioset_10_10_0.4593.pth``, the state dict of
``torch.nn.DataParallel(ASTModel(fstride=10, tstride=10, input_tdim=1024))``)::

    module.v.cls_token, module.v.dist_token        (1, 1, 768)
    module.v.pos_embed                             (1, 2 + 12 * 101, 768)
    module.v.patch_embed.proj.{weight,bias}        (768, 1, 16, 16), (768,)
    module.v.blocks.{0..11}.*                      timm ViT blocks (12 heads)
    module.v.norm.{weight,bias}
    module.v.head.*, module.v.head_dist.*          DeiT ImageNet heads (unused)
    module.mlp_head.0.{weight,bias}                LayerNorm(768)
    module.mlp_head.1.{weight,bias}                Linear(768, 527): AudioSet logits

Windowing (s3prl 0.4.18 ``upstream/ast/expert.py``): windows of ``window_secs``
(10.24 s = 1024 fbank frames) every ``stride_secs``; each window is one
forward pass of the 16 x 16 patch transformer (patch stride 10 x 10: 12
frequency x 101 time patches for 1024 frames). Two feature selections:

* ``"cls"`` (s3prl's default): one frame per window, the AudioSet logits of
  ``mlp_head((norm(x)[:, 0] + norm(x)[:, 1]) / 2)``: 1 hidden state of 527,
  stride ``stride_secs`` (163840 samples). s3prl 0.4.18 replaced the
  checkpoint's trained ``mlp_head`` with a freshly initialised (random) one at
  every load; here the checkpoint's trained head is used.
* ``"hidden_states"``: the 12 block outputs, per time patch the 12 frequency
  patches concatenated (12 x 768 = 9216), stride 10 fbank frames (1600
  samples). Each window gives 101 time patches, not 102.4, so frames of later
  windows drift by up to 1.4 patches (s3prl concatenates the windows the same
  way); a wav has ``min(ceil(T / 1600), 101 * windows)`` valid frames.

Padding: a wav's windows hold only its own samples (zeros after its end, as
when it is alone), so batching never changes its frames.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3prl.modules.vit import count_blocks, heads_for, resize_pos_grid
from s3prl.modules.windowing import cut_windows, window_count
from s3prl.upstream.interface import UpstreamBase

from .frontend import ast_fbank
from .model import SpectrogramViT

SAMPLE_RATE = 16000
FBANK_STRIDE = 160
PATCH = (16, 16)
AST_STRIDE = (10, 10)
AST_PRETRAIN_INPUT = (128, 1024)  # mel bins, frames of the released model
_IGNORED = ("module.v.head.", "module.v.head_dist.")


def _strip(state: dict, where: str) -> dict:
    if not isinstance(state, dict) or not any(k.startswith("module.v.") for k in state):
        raise ValueError(
            f"{where}: not an AST/SSAST checkpoint (expected the state dict of "
            "torch.nn.DataParallel(ASTModel): keys 'module.v.*')"
        )
    return state


def load_spectrogram_vit(
    state: dict, where: str, src_input: tuple[int, int], patch: tuple[int, int],
    pre_stride: tuple[int, int], stride: tuple[int, int], input_tdim: int,
    num_heads: int | None = None,
) -> SpectrogramViT:  # fmt: skip
    """Build a :class:`SpectrogramViT` from ``module.v.*`` weights.

    ``pre_stride`` is the patch stride of the saved ``pos_embed`` grid (computed
    on ``src_input = (mel, frames)``); the model runs with ``stride`` on
    ``input_tdim`` frames, its positional grid cut / interpolated as AST does
    (:func:`s3prl.modules.vit.resize_pos_grid`). A patch stride that differs
    from the saved projection's is the same projection applied with the new
    stride (AST sums the saved weight over input channels; the released
    weights have one channel).

    Args:
        where: the checkpoint file (messages start with ``checkpoint <where>``).

    Raises:
        ValueError: no ``module.v.cls_token`` / ``patch_embed``, a patch size or
            positional grid that does not fit.
        CheckpointKeyError: (a ``ValueError``) missing or unexpected
            ``module.v.*`` keys (ImageNet heads ``head`` / ``head_dist`` are
            ignored), misshapen, non-floating (e.g. int64) or NaN/Inf weights
            (:func:`s3prl.util.checkpoint.load_state_dict_strict`).
    """
    from s3prl.util.checkpoint import load_state_dict_strict

    v = {k[len("module.v.") :]: t for k, t in state.items()
         if k.startswith("module.v.") and not k.startswith(_IGNORED)}  # fmt: skip
    if "cls_token" not in v or "patch_embed.proj.weight" not in v:
        raise ValueError(f"checkpoint {where}: no module.v.cls_token / module.v.patch_embed.proj.weight")
    dim = v["cls_token"].shape[-1]
    depth = count_blocks(v, "")
    proj = v["patch_embed.proj.weight"]
    if proj.shape[1] != 1:  # a 3-channel ImageNet projection: AST sums the channels
        v["patch_embed.proj.weight"] = proj.sum(dim=1, keepdim=True)
    if tuple(proj.shape[2:]) != tuple(patch):
        raise ValueError(f"checkpoint {where}: patch size {tuple(proj.shape[2:])}, expected {tuple(patch)}")
    model = SpectrogramViT(
        dim, depth, heads_for(dim, num_heads), patch, stride, src_input[0], input_tdim,
        dist_token="dist_token" in v,
    )  # fmt: skip
    f_src = (src_input[0] - patch[0]) // pre_stride[0] + 1
    t_src = (src_input[1] - patch[1]) // pre_stride[1] + 1
    pos = v["pos_embed"]
    n_special = model.n_special
    if pos.shape[1] != n_special + f_src * t_src:
        raise ValueError(
            f"checkpoint {where}: pos_embed has {pos.shape[1]} positions, expected {n_special} + "
            f"{f_src} x {t_src} for a {src_input[0]} x {src_input[1]} input"
        )
    grid = pos[:, n_special:]
    if grid.is_floating_point():
        grid = resize_pos_grid(grid, (f_src, t_src), model.grid)
    else:  # resized in float and back to its dtype, which the loader below refuses by name
        grid = resize_pos_grid(grid.double(), (f_src, t_src), model.grid).to(pos.dtype)
    v["pos_embed"] = torch.cat([pos[:, :n_special], grid], dim=1)
    load_state_dict_strict(model, v, where=where, what="the spectrogram ViT (module.v.*) it describes")
    return model


class UpstreamExpert(UpstreamBase):
    """AST (AudioSet) upstream; see the module docstring.

    Args:
        ckpt: local checkpoint path.
        window_secs: seconds per window (10.24 = the 1024 frames AST was
            trained on; other values cut / interpolate the positional grid).
        stride_secs: seconds between window starts.
        feature_selection: ``"cls"`` (AudioSet logits per window) or
            ``"hidden_states"`` (12 layers of per-time-patch features).
        num_heads: attention heads (default ``width // 64``: 12 for 768).

    Raises:
        ValueError: bad ``feature_selection`` / window, or a checkpoint that is
            not in the released layout (the message names the file and keys).
    """

    def __init__(
        self, ckpt: str, window_secs: float = 10.24, stride_secs: float = 10.24,
        feature_selection: str = "cls", num_heads: int | None = None,
    ):  # fmt: skip
        super().__init__()
        from s3prl.util.checkpoint import (
            load_checkpoint,
            load_state_dict_strict,
            note_unused_entries,
        )

        if feature_selection not in ("cls", "hidden_states"):
            raise ValueError(f"feature_selection must be 'cls' or 'hidden_states', got {feature_selection!r}")
        if not 0.16 <= window_secs or not 0 < stride_secs:
            raise ValueError(f"window_secs must be >= 0.16 and stride_secs > 0, got {window_secs}, {stride_secs}")
        where = f"AST checkpoint {ckpt}"
        state = _strip(load_checkpoint(ckpt), where)
        note_unused_entries(ckpt, [k for k in state if not k.startswith(("module.v.", "module.mlp_head."))])
        self.window = int(window_secs * SAMPLE_RATE)
        self.stride = int(stride_secs * SAMPLE_RATE)
        self.target_length = int(window_secs * SAMPLE_RATE / FBANK_STRIDE)
        self.feature_selection = feature_selection
        self.model = load_spectrogram_vit(
            state, ckpt, AST_PRETRAIN_INPUT, PATCH, AST_STRIDE, AST_STRIDE, self.target_length, num_heads
        )
        head = {k[len("module.mlp_head.") :]: t for k, t in state.items() if k.startswith("module.mlp_head.")}
        dim = self.model.cls_token.shape[-1]
        n_labels = head["1.weight"].shape[0] if "1.weight" in head else 527
        self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, n_labels))
        load_state_dict_strict(self.mlp_head, head, where=ckpt, what="the AudioSet head (module.mlp_head.*)")
        f, t = self.model.grid
        self.patches_per_window = t
        if feature_selection == "cls":
            self.downsample_rate = self.stride
            self.hidden_sizes = [n_labels]
            self.frame_window = self.window
        else:
            self.downsample_rate = FBANK_STRIDE * AST_STRIDE[1]
            self.hidden_sizes = [f * dim] * len(self.model.blocks)
            self.frame_window = (PATCH[1] - 1) * FBANK_STRIDE + 400
        # windows are zero padded past the wav's end (s3prl's windowing): 1 sample gives a frame
        self.receptive_field = 1

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        n_win = window_count(wavs_len, self.stride)
        w = max(int(n_win.max()), 1)
        windows = cut_windows(wavs, w, self.window, self.stride)  # (B, w, window)
        b = wavs.size(0)
        fbank = ast_fbank(windows.reshape(b * w, self.window), self.target_length)
        per_time, final = self.model(fbank)
        if self.feature_selection == "cls":
            logits = self.mlp_head((final[:, 0] + final[:, 1]) / 2)
            return [logits.reshape(b, w, -1)], n_win
        frames = torch.minimum(
            torch.div(wavs_len + self.downsample_rate - 1, self.downsample_rate, rounding_mode="floor"),
            n_win * self.patches_per_window,
        )
        width = int(frames.max())
        return [h.reshape(b, w * h.size(1), h.size(2))[:, :width] for h in per_time], frames
