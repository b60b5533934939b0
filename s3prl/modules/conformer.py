"""The Conformer block and a padding-aware Conformer encoder stack.

Conformer (Gulati et al. 2020, https://arxiv.org/abs/2005.08100): each block is

    x = x + 0.5 * FFN1(x)                       macaron feed-forward (pre-LN inside)
    x = x + MHSA(LN(x))                         relative-position or rotary self-attention
    x = x + Conv(x)                             LN, pointwise conv + GLU, depthwise conv,
                                                BatchNorm, swish, pointwise conv
    x = x + 0.5 * FFN2(x)
    x = LN(x)

with ``FFN(x) = w_2(swish(w_1(LN(x))))``. Parameter names follow fairseq's
``ConformerWav2Vec2EncoderLayer`` with ESPnet-style attention (``attn_type: espnet``), the
released wav2vec 2.0 Conformer layout (facts from fairseq's
``fairseq/modules/conformer_layer.py`` and ``espnet_multihead_attention.py``):
``ffn1.{layer_norm,w_1,w_2}``, ``self_attn_layer_norm``,
``self_attn.{linear_q,linear_k,linear_v,linear_out}`` (+ ``linear_pos``, ``pos_bias_u``,
``pos_bias_v`` for relative positions), ``conv_module.{layer_norm,pointwise_conv1,
depthwise_conv,batch_norm,pointwise_conv2}``, ``ffn2.*``, ``final_layer_norm``.

Padding: a wav's valid frames never depend on the rest of the batch. Attention masks the
padded keys; the convolution module zeroes the padded frames right before the depthwise
convolution (the only op mixing neighbouring frames), which is what the wav alone sees
(the convolution's own zero padding past its last frame). The released implementations
do not zero them, so their padded batches differ from single wavs near the end.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .position import apply_rotary, relative_position_table, relative_shift, rotary_cos_sin

__all__ = [
    "ConformerFeedForward",
    "ConformerConvModule",
    "RelPositionSelfAttention",
    "RotarySelfAttention",
    "ConformerBlock",
    "ConformerEncoder",
]

POSITION_TYPES = ("rel_pos", "rope")


class ConformerFeedForward(nn.Module):
    """``w_2(dropout(swish(w_1(LN(x)))))`` then dropout; ``(B, T, dim) -> (B, T, dim)``.

    Parameters: ``layer_norm``, ``w_1`` (dim -> ffn_dim), ``w_2`` (ffn_dim -> dim), with bias.
    """

    def __init__(self, dim: int, ffn_dim: int, dropout: float = 0.0, eps: float = 1e-5):
        super().__init__()
        self.layer_norm = nn.LayerNorm(dim, eps=eps)
        self.w_1 = nn.Linear(dim, ffn_dim)
        self.w_2 = nn.Linear(ffn_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.w_2(self.dropout(F.silu(self.w_1(self.layer_norm(x))))))


class ConformerConvModule(nn.Module):
    """The Conformer convolution module on ``(B, T, dim)``.

    ``LN -> pointwise conv (dim -> 2 dim, no bias) -> GLU -> [zero padded frames] ->
    depthwise conv (kernel k, same padding, no bias) -> BatchNorm -> swish -> pointwise conv
    (no bias) -> dropout``. The pointwise convs are kept as ``Conv1d`` parameters (the
    released shapes ``(out, in, 1)``) and applied as matrix products over channels.

    Args:
        dim: channels.
        kernel: depthwise kernel size (odd).
        dropout: output dropout.
    """

    def __init__(self, dim: int, kernel: int = 31, dropout: float = 0.0, eps: float = 1e-5):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"the depthwise kernel size must be odd for same padding, got {kernel}")
        self.layer_norm = nn.LayerNorm(dim, eps=eps)
        self.pointwise_conv1 = nn.Conv1d(dim, 2 * dim, 1, bias=False)
        self.depthwise_conv = nn.Conv1d(dim, dim, kernel, padding=(kernel - 1) // 2, groups=dim, bias=False)
        self.batch_norm = nn.BatchNorm1d(dim)
        self.pointwise_conv2 = nn.Conv1d(dim, dim, 1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        """``x`` (B, T, dim); ``valid`` bool (B, T), True at valid frames, or None."""
        h = F.linear(self.layer_norm(x), self.pointwise_conv1.weight[:, :, 0])
        h = F.glu(h, dim=-1)
        if valid is not None:
            h = h.masked_fill(~valid[:, :, None], 0.0)
        h = self.depthwise_conv(h.transpose(1, 2))
        h = F.silu(self.batch_norm(h)).transpose(1, 2)
        return self.dropout(F.linear(h, self.pointwise_conv2.weight[:, :, 0]))


class _HeadsMixin(nn.Module):
    def _init_projections(self, dim: int, num_heads: int, dropout: float) -> None:
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.head_dim, self.dropout = num_heads, dim // num_heads, dropout
        self.linear_q = nn.Linear(dim, dim)
        self.linear_k = nn.Linear(dim, dim)
        self.linear_v = nn.Linear(dim, dim)
        self.linear_out = nn.Linear(dim, dim)

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor]) -> Tensor:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.linear_out(out.transpose(1, 2).flatten(2))


class RelPositionSelfAttention(_HeadsMixin):
    """Self-attention with Transformer-XL relative positions (Dai et al. 2019, section 3.3).

    ``score(i, j) = ((q_i + u) . k_j + rel_shift((q_i + v) . P)_{ij}) / sqrt(d)`` with
    ``P = linear_pos(table)`` over the relative positions of
    :func:`~s3prl.modules.position.relative_position_table`, ``u`` = ``pos_bias_u``,
    ``v`` = ``pos_bias_v`` (``(heads, head_dim)``). The position term goes to
    ``scaled_dot_product_attention`` as an additive mask (``-inf`` at padded keys).

    ``forward(x, valid=None, table=None)``: ``x`` (B, T, dim), ``valid`` bool (B, T) or
    None, ``table`` the ``(2T - 1, dim)`` table (computed when None).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self._init_projections(dim, num_heads, dropout)
        self.linear_pos = nn.Linear(dim, dim, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(num_heads, self.head_dim))
        self.pos_bias_v = nn.Parameter(torch.zeros(num_heads, self.head_dim))

    def forward(self, x: Tensor, valid: Optional[Tensor] = None, table: Optional[Tensor] = None) -> Tensor:
        frames = x.size(1)
        if table is None:
            table = relative_position_table(frames, x.size(-1), x.device, x.dtype)
        q, k, v = self._heads(self.linear_q(x)), self._heads(self.linear_k(x)), self._heads(self.linear_v(x))
        pos = self.linear_pos(table.to(x.dtype)).unflatten(-1, (self.num_heads, self.head_dim)).permute(1, 2, 0)
        bias = relative_shift(torch.matmul(q + self.pos_bias_v[:, None, :], pos)) * self.head_dim**-0.5
        if valid is not None:
            bias = bias.masked_fill(~valid[:, None, None, :], float("-inf"))
        return self._attend(q + self.pos_bias_u[:, None, :], k, v, bias)


class RotarySelfAttention(_HeadsMixin):
    """Self-attention with rotary position embeddings applied to the layer input before
    the query and key projections (fairseq's ``RotaryPositionMultiHeadedAttention``: the
    input, split into heads, is rotated; the value projection reads the unrotated input).

    ``forward(x, valid=None, table=None)``: ``table`` is ``(cos, sin)`` of
    :func:`~s3prl.modules.position.rotary_cos_sin` for ``T`` frames (computed when None).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, base: float = 10000.0):
        super().__init__()
        self._init_projections(dim, num_heads, dropout)
        self.base = base

    def forward(self, x: Tensor, valid: Optional[Tensor] = None, table=None) -> Tensor:
        if table is None:
            table = rotary_cos_sin(x.size(1), self.head_dim, self.base, x.device)
        rotated = apply_rotary(x.unflatten(-1, (self.num_heads, self.head_dim)), *table).flatten(2)
        q, k = self._heads(self.linear_q(rotated)), self._heads(self.linear_k(rotated))
        v = self._heads(self.linear_v(x))
        mask = None if valid is None else valid[:, None, None, :]
        return self._attend(q, k, v, mask)


class ConformerBlock(nn.Module):
    """One Conformer block (see the module docstring), ``(B, T, dim) -> (B, T, dim)``.

    Args:
        dim, ffn_dim, num_heads: widths.
        kernel: depthwise convolution kernel (31 in the released wav2vec 2.0 Conformers).
        position: ``"rel_pos"`` or ``"rope"``.
        dropout: every dropout of the block (fairseq uses one value).
    """

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, kernel: int = 31, position: str = "rel_pos",
                 dropout: float = 0.0, eps: float = 1e-5):
        super().__init__()
        if position not in POSITION_TYPES:
            raise ValueError(f"position must be one of {POSITION_TYPES}, got {position!r}")
        self.ffn1 = ConformerFeedForward(dim, ffn_dim, dropout, eps)
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=eps)
        attention = RelPositionSelfAttention if position == "rel_pos" else RotarySelfAttention
        self.self_attn = attention(dim, num_heads, dropout)
        self.self_attn_dropout = nn.Dropout(dropout)
        self.conv_module = ConformerConvModule(dim, kernel, dropout, eps)
        self.ffn2 = ConformerFeedForward(dim, ffn_dim, dropout, eps)
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Tensor, valid: Optional[Tensor] = None, table=None) -> Tensor:
        x = x + 0.5 * self.ffn1(x)
        x = x + self.self_attn_dropout(self.self_attn(self.self_attn_layer_norm(x), valid, table))
        x = x + self.conv_module(x, valid)
        x = x + 0.5 * self.ffn2(x)
        return self.final_layer_norm(x)


class ConformerEncoder(nn.Module):
    """A stack of :class:`ConformerBlock` returning every hidden state.

    As fairseq's wav2vec 2.0 ``ConformerEncoder``: padded frames are zeroed, then
    ``layer_norm`` is applied before the first block (``layer_norm_first=False``) or to
    the last hidden state (``layer_norm_first=True``, the released models); no
    convolutional position embedding (positions enter through the attention only).

    Args:
        dim, ffn_dim, num_heads, num_layers, kernel, position: the blocks (see
            :class:`ConformerBlock`).
        layer_norm_first: where the encoder LayerNorm goes (above).
        dropout: dropout of the blocks and of the encoder input.
        layerdrop: probability of skipping a block in training (its input is repeated
            as its output, so the number of hidden states never changes).

    ``forward(x, valid=None) -> list of num_layers + 1 tensors (B, T, dim)``: the input of
    every block, then the output of the last (after the LayerNorm when
    ``layer_norm_first``). ``valid``: bool (B, T), True at valid frames, or None.
    """

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, num_layers: int, kernel: int = 31,
                 position: str = "rel_pos", layer_norm_first: bool = True, dropout: float = 0.0,
                 layerdrop: float = 0.0, eps: float = 1e-5):
        super().__init__()
        self.position, self.layer_norm_first, self.layerdrop = position, layer_norm_first, layerdrop
        self.dim, self.head_dim = dim, dim // num_heads
        self.layer_norm = nn.LayerNorm(dim, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            ConformerBlock(dim, ffn_dim, num_heads, kernel, position, dropout, eps) for _ in range(num_layers)
        )

    def position_table(self, frames: int, device, dtype):
        """The table every block's attention reads (computed once per forward)."""
        if self.position == "rel_pos":
            return relative_position_table(frames, self.dim, device, dtype)
        return rotary_cos_sin(frames, self.head_dim, 10000.0, device)

    def forward(self, x: Tensor, valid: Optional[Tensor] = None) -> list[Tensor]:
        if valid is not None:
            x = x.masked_fill(~valid[:, :, None], 0.0)
        table = self.position_table(x.size(1), x.device, x.dtype)
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        hidden_states = [x]
        for layer in self.layers:
            if not (self.training and self.layerdrop > 0 and torch.rand(()) < self.layerdrop):
                x = layer(x, valid, table)
            hidden_states.append(x)
        if self.layer_norm_first:
            hidden_states[-1] = self.layer_norm(hidden_states[-1])
        return hidden_states
