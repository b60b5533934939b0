"""NPC upstream: Non-autoregressive Predictive Coding over log mel filterbanks.

Paper: Liu, Chung, Glass, "Non-Autoregressive Predictive Coding for Learning
Speech Representations from Local Dependencies", Interspeech 2021,
https://arxiv.org/abs/2011.00406 (code: https://github.com/Alexander-H-Liu/NPC).

Checkpoints: the original s3prl toolkit's files
(``https://huggingface.co/leo19941227/apc_series/resolve/main/npc_{360,960}hr.ckpt``),
in the layout described in :mod:`s3prl.upstream.apc.layout`.

Architecture (facts from ``model/npc.py`` of Alexander-H-Liu/NPC, the same as
s3prl's ``upstream/npc/npc.py``):

* ``n_blocks`` conv blocks ``blocks.{i}``: Conv1d(kernel 3, "same" zero
  padding) -> BatchNorm -> act -> Conv1d(kernel 1) -> BatchNorm -> dropout
  -> (+ input if ``residual`` and ``i > 0``) -> act; ``act`` is ReLU or tanh.
* after each block (or only after the last one with
  ``disable_cross_layer``), a masked conv block ``masked_convs.{i}``: a
  Conv1d of ``kernel_size`` ("same" zero padding) whose weight is multiplied
  by the stored ``conv_mask`` (zero over the ``mask_size + 2 (i + 1)``
  central taps), then tanh.
* the representation is the sum of the masked conv outputs; VQ layers
  (``vq_layers``) and a linear ``postnet`` predict the masked frame for the
  training loss; with ``dim_bottleneck`` a bias-free linear
  ``ae_bottleneck`` maps the representation first.

Hidden states (the order in which the original s3prl upstream's hooks
fire): for each block ``i``, the block's output then its masked conv's
output (when it has one), then the final representation (the sum, after
``ae_bottleneck`` if any, before the VQ layers). The released models (4
blocks) give 9 hidden states of 512 dims. The VQ layers and the postnet do not
feed them: their weights are on the explicit ignore list.

Padding: the original convolves the padded batch, so a wav's last frames
see the other wavs' padding (and garbage from the conv biases there). Here
each block's output is zeroed past the wav's last frame before the next
convolution reads it, which is exactly the zero "same" padding the wav gets
when alone: batched == alone.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from s3prl.upstream.apc.layout import (
    build_frontend,
    check_options,
    check_vq_paras,
    load_weights,
    read_config_model_checkpoint,
    training_head_keys,
)
from s3prl.upstream.conv import conv1d, conv_module
from s3prl.upstream.interface import UpstreamBase, padding_mask

__all__ = ["NPC", "ConvBlock", "MaskedConvBlock", "UpstreamExpert", "npc_state_keys"]

_PARAS = (
    "hidden_size",
    "n_blocks",
    "dropout",
    "residual",
    "kernel_size",
    "mask_size",
    "vq",
    "batch_norm",
    "activate",
    "disable_cross_layer",
    "dim_bottleneck",
)
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class ConvBlock(nn.Module):
    """NPC conv block (kernel-3 conv, BN, act, kernel-1 conv, BN, dropout,
    residual, act) on ``(batch, channels, frames)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        residual: bool,
        dropout: float,
        batch_norm: bool,
        activate: str,
    ):
        super().__init__()
        self.residual = residual
        self.act = nn.ReLU() if activate == "relu" else nn.Tanh()
        self.conv = nn.Conv1d(input_size, hidden_size, kernel_size=3, padding=1)
        self.linear = nn.Conv1d(hidden_size, hidden_size, kernel_size=1)
        self.batch_norm = batch_norm
        if batch_norm:
            self.bn1 = nn.BatchNorm1d(hidden_size)
            self.bn2 = nn.BatchNorm1d(hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, input_size, frames)`` -> ``(batch, hidden_size, frames)``."""
        y = conv_module(self.conv, x)
        if self.batch_norm:
            y = self.bn1(y)
        y = conv_module(self.linear, self.act(y))
        if self.batch_norm:
            y = self.bn2(y)
        y = self.dropout(y)
        if self.residual:
            y = y + x
        return self.act(y)


class MaskedConvBlock(nn.Module):
    """NPC masked conv: ``tanh(conv1d(x, conv_mask * weight))``, "same" padding.

    ``conv_mask`` (a buffer stored in the checkpoints) is zero over the
    ``mask_size`` central taps, so a frame's output never sees the frame
    itself nor its ``(mask_size - 1) / 2`` neighbours on each side.
    """

    def __init__(self, hidden_size: int, kernel_size: int, mask_size: int):
        super().__init__()
        self.pad = (kernel_size - 1) // 2
        self.conv = nn.Conv1d(hidden_size, hidden_size, kernel_size, padding=self.pad)
        head = (kernel_size - mask_size) // 2
        mask = torch.ones_like(self.conv.weight)
        mask[:, :, head : head + mask_size] = 0
        self.register_buffer("conv_mask", mask)

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, hidden, frames)`` -> ``(batch, frames, hidden)``."""
        y = conv1d(x, self.conv.weight * self.conv_mask, self.conv.bias, padding=self.pad)
        return torch.tanh(y.transpose(1, 2))


class NPC(nn.Module):
    """The NPC encoder (conv blocks + masked conv blocks), padding-safe.

    Args:
        input_size: input feature dim (80 mel bins).
        hidden_size, n_blocks, residual, kernel_size, mask_size, dropout,
        batch_norm, activate, disable_cross_layer, dim_bottleneck: as in the
            checkpoint's ``config["model"]["paras"]``.

    Parameters are named as in the original checkpoints.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        n_blocks: int,
        residual: bool,
        kernel_size: int,
        mask_size: int,
        dropout: float = 0.0,
        batch_norm: bool = True,
        activate: str = "relu",
        disable_cross_layer: bool = False,
        dim_bottleneck: int | None = None,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            ConvBlock(
                input_size if i == 0 else hidden_size,
                hidden_size,
                residual and i > 0,
                dropout,
                batch_norm,
                activate,
            )
            for i in range(n_blocks)
        )
        self.has_masked = [not disable_cross_layer or i == n_blocks - 1 for i in range(n_blocks)]
        self.masked_convs = nn.ModuleDict(
            {
                str(i): MaskedConvBlock(hidden_size, kernel_size, mask_size + 2 * (i + 1))
                for i in range(n_blocks)
                if self.has_masked[i]
            }
        )
        self.ae_bottleneck = (
            nn.Linear(hidden_size, dim_bottleneck, bias=False) if dim_bottleneck else None
        )

    def forward(self, feats: Tensor, feats_len: Tensor) -> list[Tensor]:
        """Hidden states of a padded batch.

        Args:
            feats: ``(batch, frames, input_size)``.
            feats_len: ``(batch,)`` long, valid frames per row.

        Returns:
            list of ``(batch, frames, dim)``: block 0, masked conv 0, block 1,
            ..., final representation (see the module doc).
        """
        valid = padding_mask(feats_len.to(feats.device), feats.size(1))[:, None, :]
        x = feats.transpose(1, 2).masked_fill(~valid, 0.0)
        hidden_states = []
        feat = None
        for i, block in enumerate(self.blocks):
            # zero past each wav's end: the next convolutions then see exactly
            # the zero padding they get when the wav is alone
            x = block(x).masked_fill(~valid, 0.0)
            hidden_states.append(x.transpose(1, 2))
            if self.has_masked[i]:
                masked = self.masked_convs[str(i)](x)
                hidden_states.append(masked)
                feat = masked if feat is None else feat + masked
        if self.ae_bottleneck is not None:
            feat = self.ae_bottleneck(feat)
        hidden_states.append(feat)
        return hidden_states


def _check_paras(paras: Mapping[str, Any]) -> dict:
    where = "NPC checkpoint config['model']['paras']"
    check_options(paras, _PARAS, where)
    for key in ("hidden_size", "n_blocks", "residual", "kernel_size", "mask_size"):
        if key not in paras:
            raise ValueError(f"{where} lacks {key!r}")
    out = {
        "hidden_size": int(paras["hidden_size"]),
        "n_blocks": int(paras["n_blocks"]),
        "residual": bool(paras["residual"]),
        "kernel_size": int(paras["kernel_size"]),
        "mask_size": int(paras["mask_size"]),
        "dropout": float(paras.get("dropout", 0.0)),
        "batch_norm": bool(paras.get("batch_norm", True)),
        "activate": paras.get("activate", "relu"),
        "disable_cross_layer": bool(paras.get("disable_cross_layer", False)),
        "dim_bottleneck": paras.get("dim_bottleneck"),
    }
    if out["n_blocks"] < 1:
        raise ValueError(f"{where}: n_blocks must be >= 1, got {out['n_blocks']}")
    if out["kernel_size"] % 2 == 0 or out["mask_size"] % 2 == 0:
        raise ValueError(
            f"{where}: kernel_size {out['kernel_size']} and mask_size {out['mask_size']} must be odd"
        )
    largest_mask = out["mask_size"] + 2 * out["n_blocks"]
    if out["kernel_size"] <= largest_mask:
        raise ValueError(
            f"{where}: kernel_size {out['kernel_size']} must exceed the last block's mask "
            f"size mask_size + 2 * n_blocks = {largest_mask}"
        )
    if out["activate"] not in ("relu", "tanh"):
        raise ValueError(f"{where}['activate'] must be 'relu' or 'tanh', got {out['activate']!r}")
    vq = paras.get("vq")
    if vq is not None and out["dim_bottleneck"] is not None:
        raise ValueError(f"{where}: 'vq' and 'dim_bottleneck' cannot both be set")
    out["vq_groups"] = check_vq_paras(vq, out["hidden_size"], where)
    if out["dim_bottleneck"] is not None:
        out["dim_bottleneck"] = int(out["dim_bottleneck"])
    return out


def npc_state_keys(paras: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(used, ignored)`` state-dict keys of an NPC checkpoint, from checked paras."""
    used = []
    for i in range(paras["n_blocks"]):
        used += [f"blocks.{i}.{m}.{p}" for m in ("conv", "linear") for p in ("weight", "bias")]
        if paras["batch_norm"]:
            used += [f"blocks.{i}.{bn}.{p}" for bn in ("bn1", "bn2") for p in _BN]
        if not paras["disable_cross_layer"] or i == paras["n_blocks"] - 1:
            used += [
                f"masked_convs.{i}.conv.weight",
                f"masked_convs.{i}.conv.bias",
                f"masked_convs.{i}.conv_mask",
            ]
    if paras["dim_bottleneck"] is not None:
        used.append("ae_bottleneck.weight")
    return used, training_head_keys(paras["vq_groups"])


class UpstreamExpert(UpstreamBase):
    """NPC upstream from a checkpoint in the original toolkit's layout.

    Args:
        ckpt: local checkpoint file (``{"config": ..., "model": state_dict}``,
            see :mod:`s3prl.upstream.apc.layout`).

    Input: list of 1-D float waveforms at 16 kHz, each at least
    ``receptive_field`` samples (the fbank window: 400 samples = 25 ms for the
    released models).

    Output: ``2 * n_blocks + 1`` hidden states (9 for the released models; ``n_blocks
    + 2`` with ``disable_cross_layer``) of shape ``(batch, frames, hidden_size)``
    (512 for the released models), ``frames = 1 + (samples - 400) // 160``
    (stride 160 samples = 10 ms).

    Padding invariance holds in eval mode (BatchNorm with running statistics,
    no dropout), the mode for extracting hidden states.

    Raises:
        FileNotFoundError: ``ckpt`` does not exist.
        ValueError: the checkpoint is not in the layout, or its config has unknown
            or inconsistent settings.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights
            missing, unexpected, misshapen, non-floating or non-finite (the file and
            the keys named).
    """

    def __init__(self, ckpt: str | os.PathLike, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"NPC upstream got unexpected options: {sorted(kwargs)}")
        config, state = read_config_model_checkpoint(ckpt, "NPC")
        self.frontend = build_frontend(config["data"]["audio"], "NPC")
        paras = _check_paras(config["model"]["paras"])
        self.config = config
        _used, ignored = npc_state_keys(paras)
        self.model = NPC(
            self.frontend.output_dim,
            paras["hidden_size"],
            paras["n_blocks"],
            paras["residual"],
            paras["kernel_size"],
            paras["mask_size"],
            paras["dropout"],
            paras["batch_norm"],
            paras["activate"],
            paras["disable_cross_layer"],
            paras["dim_bottleneck"],
        )
        # the checkpoints key masked convs by block index: masked_convs.{i}.*
        load_weights(self.model, state, ignored, "NPC", ckpt)
        self.downsample_rate = self.frontend.downsample_rate
        self.receptive_field = self.frontend.receptive_field
        h = paras["hidden_size"]
        sizes = []
        for i in range(paras["n_blocks"]):
            sizes.append(h)
            if self.model.has_masked[i]:
                sizes.append(h)
        sizes.append(paras["dim_bottleneck"] or h)
        self.hidden_sizes = sizes

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs``: ``(batch, samples)``, ``wavs_len``: ``(batch,)`` ->
        hidden states ``(batch, frames, dim)`` and ``(batch,)`` frames."""
        feats, feats_len = self.frontend(wavs, wavs_len)
        return self.model(feats, feats_len), feats_len
