"""WavLM's self-attention with gated relative position bias.

WavLM (Chen et al., 2021, "WavLM: Large-Scale Self-Supervised Pre-Training for
Full Stack Speech Processing", https://arxiv.org/abs/2110.13900, Sec. 2.2 and
Eq. 2-4) adds to the attention logits a learned bias that depends on the
bucketed relative distance between key and query frames, scaled per head and
per query frame by a gate computed from the query frame's input features.

* buckets: T5-style bidirectional buckets (``num_buckets`` = 320 in the
  released models, ``max_distance`` = 800 frames): half of the buckets for
  keys to the right; within each half, distances below a quarter of
  ``num_buckets`` get their own bucket, larger ones share logarithmically
  wider buckets up to ``max_distance``;
* bias: ``relative_attention_bias`` (an ``nn.Embedding(num_buckets, heads)``)
  exists in the FIRST layer only; the bias it gives, ``(heads, T, T)``, is
  handed on to every later layer (each layer gates it with its own gate);
* gate (``gru_rel_pos``): the attention input ``x`` (after the layer's pre-LN
  for pre-LN models) split into heads, ``(B, H, T, head_dim)``, goes through
  ``grep_linear`` (``head_dim -> 8``); the 8 outputs are summed in two groups
  of 4 and squashed: ``a, b = sigmoid(sum4(.))``; the gate is
  ``a * (b * grep_a - 1) + 2`` with ``grep_a`` a ``(1, H, 1, 1)`` parameter.

State-dict names follow the UniLM release (https://github.com/microsoft/unilm,
``wavlm/WavLM.py`` and ``wavlm/modules.py``):
``self_attn.{q,k,v,out}_proj.{weight,bias}``,
``self_attn.relative_attention_bias.weight`` (layer 0 only),
``self_attn.grep_linear.{weight,bias}`` and ``self_attn.grep_a``.

Attention itself runs through :func:`torch.nn.functional.scaled_dot_product_attention`
with the gated bias plus the key padding mask as one float ``attn_mask``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["relative_position_buckets", "WavLMSelfAttention"]


def relative_position_buckets(
    length: int, num_buckets: int, max_distance: int, device: torch.device | None = None
) -> Tensor:
    """Bidirectional relative-position buckets of a ``length x length`` attention map.

    Args:
        length: number of frames ``T``.
        num_buckets: total buckets (both directions), e.g. 320.
        max_distance: distance (frames) from which all keys share the last bucket, e.g. 800.
        device: where to build the result.

    Returns:
        ``(T, T)`` long tensor; entry ``[i, j]`` is the bucket of key ``j`` seen
        from query ``i`` (relative position ``j - i``).
    """
    pos = torch.arange(length, dtype=torch.long, device=device)
    rel = pos[None, :] - pos[:, None]  # key - query
    half = num_buckets // 2
    buckets = (rel > 0).to(torch.long) * half
    dist = rel.abs()
    max_exact = half // 2
    is_small = dist < max_exact
    # Same float32 operations, in the same order, as the released implementation,
    # so that bucket boundaries agree exactly; clamp avoids log(0) on entries
    # that take the ``is_small`` branch anyway.
    scaled = (
        torch.log(dist.clamp(min=max_exact).float() / max_exact)
        / math.log(max_distance / max_exact)
        * (half - max_exact)
    )
    large = (max_exact + scaled).to(torch.long).clamp(max=half - 1)
    return buckets + torch.where(is_small, dist, large)


class WavLMSelfAttention(nn.Module):
    """Multi-head self-attention with WavLM's (gated) relative position bias.

    Args:
        embed_dim: model dim ``C``.
        num_heads: heads ``H`` (``C`` must be divisible by ``H``).
        dropout: attention-probability dropout (training only).
        has_relative_attention_bias: this layer owns the bucket embedding
            (True for layer 0 of a model with ``relative_position_embedding``).
        num_buckets, max_distance: bucket layout (see :func:`relative_position_buckets`).
        gru_rel_pos: gate the bias per head and query frame (WavLM: True).

    Forward (the plug-point signature of
    :class:`s3prl.upstream.wav2vec2.modules.SelfAttention`):
        ``x``: ``(B, T, C)``; ``attn_mask``: bool ``(B, 1, 1, T)``, True at
        VALID keys, or None; ``position_bias``: the ungated ``(H, T, T)``
        bias of the first layer, or None. Returns ``(out (B, T, C),
        position_bias)`` where ``position_bias`` is the ungated bias to hand to
        the next layer (None when the model has no relative position bias).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        has_relative_attention_bias: bool = False,
        num_buckets: int = 320,
        max_distance: int = 800,
        gru_rel_pos: bool = True,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim {embed_dim} is not divisible by the number of heads {num_heads}"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.has_relative_attention_bias = has_relative_attention_bias
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(num_buckets, num_heads)
        self.gru_rel_pos = gru_rel_pos
        if gru_rel_pos:
            self.grep_linear = nn.Linear(self.head_dim, 8)
            self.grep_a = nn.Parameter(torch.ones(1, num_heads, 1, 1))

    def compute_bias(self, length: int) -> Tensor:
        """Ungated bias ``(H, T, T)`` of this layer's bucket embedding."""
        buckets = relative_position_buckets(
            length, self.num_buckets, self.max_distance, self.relative_attention_bias.weight.device
        )
        return self.relative_attention_bias(buckets).permute(2, 0, 1)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: Tensor,
        attn_mask: Tensor | None = None,
        position_bias: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        bsz, length, _ = x.shape
        if position_bias is None and self.has_relative_attention_bias:
            position_bias = self.compute_bias(length)
        q = self._heads(self.q_proj(x))
        k = self._heads(self.k_proj(x))
        v = self._heads(self.v_proj(x))

        mask = attn_mask
        if position_bias is not None:
            bias = position_bias.to(q.dtype)[None]  # (1, H, T, T)
            if self.gru_rel_pos:
                gate_in = self._heads(x)  # (B, H, T, head_dim): the layer input, not q
                g = self.grep_linear(gate_in).view(bsz, self.num_heads, length, 2, 4).sum(-1)
                gate_a, gate_b = torch.sigmoid(g).chunk(2, dim=-1)  # (B, H, T, 1) each
                gate = gate_a * (gate_b * self.grep_a - 1.0) + 2.0
                bias = gate * bias  # (B, H, T, T): row i scaled by query i's gate
            if attn_mask is not None:
                bias = bias.masked_fill(~attn_mask, float("-inf"))
            mask = bias
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        out = out.transpose(1, 2).reshape(bsz, length, self.embed_dim)
        return self.out_proj(out), position_bias
