"""APC and VQ-APC upstreams: stacked GRUs over log mel filterbanks.

Papers:
    * APC: Chung, Hsu, Tang, Glass, "An Unsupervised Autoregressive Model for
      Speech Representation Learning", Interspeech 2019,
      https://arxiv.org/abs/1904.03240
    * VQ-APC: Chung, Tang, Glass, "Vector-Quantized Autoregressive Predictive
      Coding", Interspeech 2020, https://arxiv.org/abs/2005.08392

Checkpoints: the original s3prl toolkit's files
(``https://huggingface.co/leo19941227/apc_series/resolve/main/{apc,vq_apc}_{360,960}hr.ckpt``),
in the layout described in :mod:`s3prl.upstream.apc.layout`.

Architecture (facts from the original s3prl ``upstream/apc/apc.py``, itself
from https://github.com/iamyuanchung/VQ-APC ``vqapc_model.py``): ``num_layers``
single-layer unidirectional GRUs (``rnn_layers.{i}``, input ``feat_dim`` for
the first and ``hidden_size`` after), dropout on each output (inactive in
eval), and, with ``residual``, layer ``i > 0`` adds its input to its output.
VQ-APC adds Gumbel-softmax quantisers (``vq_layers``) after the last GRU; a
linear ``postnet`` predicts future frames for the training loss.

Hidden states: the original upstream returns each GRU layer's output (after
the residual sum), i.e. ``num_layers`` tensors of ``(batch, frames,
hidden_size)``. For VQ-APC the last one is taken *before* quantisation (the
original's ``feature = hiddens[-1]`` is recorded before the VQ layers), so the
quantisers and the postnet do not feed the hidden states: their weights are on
the explicit ignore list (:data:`IGNORED_HEADS`).

Padding: a wav's frames never see the other wavs' padding: the GRU state of a
wav evolves over its own frames only. In training, under autocast and off CPU
each layer runs ``nn.GRU`` on a packed sequence (``pack_padded_sequence``), as
the original does. For fp32 inference on CPU, :func:`gru_layer_inference`
computes the same recurrence itself (about 2x faster on 2 threads, see
``benchmarks/bench_apc.py``): the rows sorted by length, step ``t`` updates only
the rows still running (what packing does), with the input projection of all
frames as one matrix product and the recurrent one against a contiguous
transposed ``weight_hh`` (``addmm`` on the transposed view that ``nn.GRU``
uses is ~2x slower at batch 8 and hidden 512). A unidirectional GRU with right
padding never needs more than this: valid frames precede the padding. The
fbank input and its CMVN are computed on each wav's own samples.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from s3prl.upstream.interface import UpstreamBase

from .layout import (
    build_frontend,
    check_options,
    check_vq_paras,
    load_weights,
    read_config_model_checkpoint,
    training_head_keys,
)

__all__ = ["APC", "UpstreamExpert", "IGNORED_HEADS", "apc_state_keys", "gru_layer_inference"]

#: Parameter prefixes of the released checkpoints that do not feed the hidden
#: states: the future-frame regression head (``postnet``) and, for VQ-APC,
#: the quantisers after the last GRU (``vq_layers``; the original upstream
#: returns the last GRU output before quantisation).
IGNORED_HEADS = ("postnet", "vq_layers")

_PARAS = ("num_layers", "hidden_size", "dropout", "residual", "vq")


def gru_layer_inference(rnn: nn.GRU, x: Tensor, steps: list[int]) -> Tensor:
    """One single-layer unidirectional ``nn.GRU`` over right-padded rows, without autograd.

    The recurrence of ``torch.nn.GRU`` (gate order r, z, n in the weights)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h = n + z * (h - n)

    with ``h = 0`` before the first frame. The input projections of all frames
    are one matrix product (``b_hr``, ``b_hz`` folded in); each step is one
    matrix product with the contiguous ``W_hh^T`` and five element-wise ops
    writing straight into the output.

    Args:
        rnn: a single-layer, unidirectional ``nn.GRU`` with biases.
        x: ``(frames, batch, input_size)`` time-major input, rows sorted by
            length, longest first.
        steps: ``steps[t]`` = the number of rows with more than ``t`` valid
            frames (non-increasing, ``len(steps) == frames``), as packing's
            ``batch_sizes``.

    Returns:
        ``(frames, batch, hidden_size)``, time-major; frames past a row's
        length are zero.
    """
    frames, batch, _ = x.shape
    hidden = rnn.hidden_size
    w_hh_t = rnn.weight_hh_l0.t().contiguous()  # (hidden, 3 hidden), row-major: ~2x faster mm
    bias = rnn.bias_ih_l0.clone()
    bias[: 2 * hidden] += rnn.bias_hh_l0[: 2 * hidden]
    b_hn = rnn.bias_hh_l0[2 * hidden :]
    # input projections of the valid frames only, time-major ("packed") order
    valid = torch.arange(batch, device=x.device)[None, :] < torch.tensor(steps, device=x.device)[:, None]
    gi = torch.addmm(bias, x[valid], rnn.weight_ih_l0.t())  # (valid frames, 3 hidden)
    out = x.new_zeros(frames, batch, hidden)
    gh_buf = x.new_empty(batch, 3 * hidden)
    h = x.new_zeros(batch, hidden)
    offset = 0
    for t, n in enumerate(steps):
        h = h[:n]
        gh = torch.mm(h, w_hh_t, out=gh_buf[:n])
        g = gi[offset : offset + n]
        offset += n
        rz = torch.add(g[:, : 2 * hidden], gh[:, : 2 * hidden]).sigmoid_()
        cand = torch.addcmul(g[:, 2 * hidden :], rz[:, :hidden], gh[:, 2 * hidden :].add_(b_hn)).tanh_()
        h = torch.lerp(cand, h, rz[:, hidden:], out=out[t, :n])  # n + z * (h - n)
    return out


class APC(nn.Module):
    """The APC / VQ-APC encoder: stacked single-layer GRUs with residual links.

    Args:
        input_size: input feature dim (``feat_dim``, 80 mel bins).
        hidden_size: GRU hidden size of every layer.
        num_layers: number of GRU layers (>= 1).
        residual: add each layer's input to its output for layers ``i > 0``.
        dropout: dropout on each layer's output (training only; the original
            applies it before the residual sum).

    Parameters are named as in the original checkpoints
    (``rnn_layers.{i}.weight_ih_l0`` ...).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        residual: bool,
        dropout: float = 0.0,
    ):
        super().__init__()
        sizes = [input_size] + [hidden_size] * num_layers
        self.rnn_layers = nn.ModuleList(
            nn.GRU(input_size=sizes[i], hidden_size=hidden_size, batch_first=True)
            for i in range(num_layers)
        )
        self.residual = bool(residual)
        self.dropout = nn.Dropout(dropout)

    def forward(self, feats: Tensor, feats_len: Tensor) -> list[Tensor]:
        """Run the GRU stack on a padded batch.

        Args:
            feats: ``(batch, frames, input_size)`` input features.
            feats_len: ``(batch,)`` long, valid frames per row (>= 1).

        Returns:
            ``num_layers`` tensors ``(batch, frames, hidden_size)``: each
            layer's output after the residual sum. Only the first
            ``feats_len[b]`` frames of row ``b`` are meaningful (the rest are
            zero-filled by the packed RNN, plus the residual of padding).
        """
        if self._fast_path(feats):
            return self._forward_inference(feats, feats_len)
        total = feats.size(1)
        lengths = feats_len.detach().to("cpu", torch.long)
        x = feats
        outputs = []
        for i, rnn in enumerate(self.rnn_layers):
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            y, _ = rnn(packed)
            y, _ = pad_packed_sequence(y, batch_first=True, total_length=total)
            y = self.dropout(y)
            if self.residual and i > 0:
                y = y + x
            outputs.append(y)
            x = y
        return outputs

    def _fast_path(self, feats: Tensor) -> bool:
        """fp32 inference on CPU with one intra-op thread: :func:`gru_layer_inference` instead
        of packed ``nn.GRU``. With more threads the packed ``nn.GRU`` kernel is faster (measured
        with ``benchmarks/bench_apc.py`` on 8 wavs of 2-10 s, full-size APC: 1 thread 0.62 s vs
        0.83 s; 2 threads 0.34 s vs 0.27 s), so it is used there."""
        return (
            torch.get_num_threads() == 1
            and not self.training
            and feats.device.type == "cpu"
            and feats.dtype == torch.float32
            and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu")
            and all(rnn.weight_hh_l0.dtype == torch.float32 for rnn in self.rnn_layers)
        )

    def _forward_inference(self, feats: Tensor, feats_len: Tensor) -> list[Tensor]:
        lengths = feats_len.detach().to("cpu", torch.long).clamp(max=feats.size(1))
        sorted_len, order = torch.sort(lengths, descending=True, stable=True)
        longest = int(sorted_len[0])
        # rows still running at each step, as packing's batch_sizes
        steps = (sorted_len[None, :] > torch.arange(longest)[:, None]).sum(1).tolist()
        order_dev = order.to(feats.device)
        x = feats[:, :longest].index_select(0, order_dev).transpose(0, 1).contiguous()  # (T, B, F)
        outputs = []
        for i, rnn in enumerate(self.rnn_layers):
            y = gru_layer_inference(rnn, x, steps)
            if self.residual and i > 0:
                y = y.add_(x)
            outputs.append(y)
            x = y
        unsort = torch.empty_like(order_dev)
        unsort[order_dev] = torch.arange(order_dev.numel(), device=feats.device)
        results = []
        for y in outputs:  # back to (batch, frames, hidden) in the caller's row order
            y = y.transpose(0, 1)[unsort]  # one gather into a contiguous tensor
            if longest < feats.size(1):
                y = torch.nn.functional.pad(y, (0, 0, 0, feats.size(1) - longest))
            results.append(y)
        return results


def _check_paras(paras: Mapping[str, Any]) -> dict:
    where = "APC checkpoint config['model']['paras']"
    check_options(paras, _PARAS, where)
    for key in ("num_layers", "hidden_size", "residual"):
        if key not in paras:
            raise ValueError(f"{where} lacks {key!r}")
    num_layers, hidden = int(paras["num_layers"]), int(paras["hidden_size"])
    if num_layers < 1 or hidden < 1:
        raise ValueError(f"{where}: num_layers and hidden_size must be >= 1, got {num_layers}, {hidden}")
    groups = check_vq_paras(paras.get("vq"), hidden, where)
    return {
        "num_layers": num_layers,
        "hidden_size": hidden,
        "residual": bool(paras["residual"]),
        "dropout": float(paras.get("dropout", 0.0)),
        "vq_groups": groups,
    }


def apc_state_keys(num_layers: int, vq_groups: int) -> tuple[list[str], list[str]]:
    """``(used, ignored)`` state-dict keys of an APC / VQ-APC checkpoint."""
    used = [
        f"rnn_layers.{i}.{name}"
        for i in range(num_layers)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    ]
    return used, training_head_keys(vq_groups)


class UpstreamExpert(UpstreamBase):
    """APC / VQ-APC upstream from a checkpoint in the original toolkit's layout.

    Args:
        ckpt: local checkpoint file (``{"config": ..., "model": state_dict}``,
            see :mod:`s3prl.upstream.apc.layout`).

    Input: list of 1-D float waveforms at 16 kHz, each at least
    ``receptive_field`` samples (the fbank window: 400 samples = 25 ms for the
    released models).

    Output: ``num_layers`` hidden states (3 for the released models) of shape
    ``(batch, frames, hidden_size)`` (512 for the released models), one per
    GRU layer, with ``frames = 1 + (samples - 400) // 160`` (Kaldi frames with
    snip edges; stride 160 samples = 10 ms).

    Raises:
        FileNotFoundError: ``ckpt`` does not exist.
        ValueError: the checkpoint is not in the layout, or its config has unknown
            or inconsistent settings.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights
            missing, unexpected, misshapen, non-floating or non-finite (the file and
            the keys named).
    """

    #: No regrouping by length: the recurrence skips finished rows (as packing does), so
    #: padding costs nothing, while each extra group re-reads every GRU weight matrix once
    #: per frame (the per-frame cost at batch 8 is that read, not the arithmetic).
    max_padding_waste = None

    def __init__(self, ckpt: str | os.PathLike, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"APC upstream got unexpected options: {sorted(kwargs)}")
        config, state = read_config_model_checkpoint(ckpt, "APC")
        self.frontend = build_frontend(config["data"]["audio"], "APC")
        paras = _check_paras(config["model"]["paras"])
        self.config = config
        self.vq_groups = paras["vq_groups"]
        _used, ignored = apc_state_keys(paras["num_layers"], paras["vq_groups"])
        self.model = APC(
            self.frontend.output_dim,
            paras["hidden_size"],
            paras["num_layers"],
            paras["residual"],
            paras["dropout"],
        )
        load_weights(self.model, state, ignored, "APC", ckpt)
        self.downsample_rate = self.frontend.downsample_rate
        self.receptive_field = self.frontend.receptive_field
        self.hidden_sizes = [paras["hidden_size"]] * paras["num_layers"]

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs``: ``(batch, samples)``, ``wavs_len``: ``(batch,)`` ->
        ``num_layers`` x ``(batch, frames, hidden_size)`` and ``(batch,)`` frames."""
        feats, feats_len = self.frontend(wavs, wavs_len)
        return self.model(feats, feats_len), feats_len
