"""A BERT/RoBERTa-style token encoder (post-LN transformer over token embeddings).

fairseq's RoBERTa encoder (``fairseq/models/roberta/model.py`` ``base_architecture``:
``no_scale_embedding=True``, ``layernorm_embedding=True``, ``encoder_learned_pos=True``,
``encoder_normalize_before=False``; ``fairseq/modules/positional_embedding.py``
``LearnedPositionalEmbedding``; facts only)::

    x = embed_tokens(tokens) + embed_positions(positions)     positions: padding_idx + 1, +2, ...
                                                               over non-pad tokens, padding_idx at pads
    x = layernorm_embedding(x); padded tokens zeroed
    L x post-LN layer: x = LN1(x + Attn(x)); x = LN2(x + fc2(act(fc1(x))))

Hidden states: ``L + 1`` tensors: the embedding output, then every layer's output (fairseq's
``inner_states``). Parameter names are fairseq's ``sentence_encoder`` names.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BertLayer", "RobertaEncoder"]

_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "gelu_accurate": lambda x: F.gelu(x, approximate="tanh")}


class BertLayer(nn.Module):
    """Post-LN transformer layer: ``self_attn.{q,k,v,out}_proj``, ``self_attn_layer_norm``,
    ``fc1``, ``fc2``, ``final_layer_norm``. ``forward(x, key_valid)``: ``x`` (B, T, dim),
    ``key_valid`` bool (B, T) or None."""

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, activation: str = "gelu", dropout: float = 0.0):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.num_heads, self.activation, self.dropout = num_heads, _ACTIVATIONS[activation], dropout
        self.self_attn = nn.Module()
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.self_attn, name, nn.Linear(dim, dim))
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, key_valid: Optional[Tensor] = None) -> Tensor:
        a = self.self_attn
        q, k, v = (p(x).unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for p in (a.q_proj, a.k_proj, a.v_proj))
        mask = None if key_valid is None else key_valid[:, None, None, :]
        p = self.dropout if self.training else 0.0
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        h = a.out_proj(h.transpose(1, 2).flatten(2))
        x = self.self_attn_layer_norm(x + F.dropout(h, p, self.training))
        h = self.fc2(F.dropout(self.activation(self.fc1(x)), p, self.training))
        return self.final_layer_norm(x + F.dropout(h, p, self.training))


class RobertaEncoder(nn.Module):
    """Token embeddings + learned positions + post-LN layers (see the module docstring).

    Args:
        vocab_size, dim, ffn_dim, num_heads, num_layers: sizes.
        max_positions: longest token sequence (the position table has
            ``max_positions + padding_idx + 1`` rows).
        padding_idx: the pad token index (1 in fairseq dictionaries).
        activation: ``"gelu"`` (RoBERTa), ``"relu"``, ``"gelu_accurate"``.

    ``forward(tokens) -> list of num_layers + 1 tensors (B, T, dim)``; pads (``tokens ==
    padding_idx``) are masked out of attention and zeroed after every layer (so a batch row
    made only of pads gives zeros, never NaN).
    """

    def __init__(self, vocab_size: int, dim: int, ffn_dim: int, num_heads: int, num_layers: int,
                 max_positions: int = 512, padding_idx: int = 1, activation: str = "gelu", dropout: float = 0.0):
        super().__init__()
        self.padding_idx, self.max_positions, self.dropout = padding_idx, max_positions, dropout
        self.embed_tokens = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
        self.embed_positions = nn.Embedding(max_positions + padding_idx + 1, dim, padding_idx=padding_idx)
        self.layernorm_embedding = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(BertLayer(dim, ffn_dim, num_heads, activation, dropout) for _ in range(num_layers))

    def forward(self, tokens: Tensor) -> list[Tensor]:
        if tokens.size(1) > self.max_positions:
            raise ValueError(f"{tokens.size(1)} tokens exceed max_positions {self.max_positions}")
        valid = tokens.ne(self.padding_idx)
        positions = torch.cumsum(valid, dim=1) * valid + self.padding_idx
        x = self.embed_tokens(tokens) + self.embed_positions(positions)
        x = F.dropout(self.layernorm_embedding(x), self.dropout if self.training else 0.0, self.training)
        keep = valid[:, :, None]
        x = x * keep
        # rows without any valid key attend to everything (their outputs are discarded)
        key_valid = valid | ~valid.any(dim=1, keepdim=True)
        states = [x]
        for layer in self.layers:
            x = layer(x, key_valid) * keep
            states.append(x)
        return states
