"""The BERT-style transformer encoder of Mockingjay, TERA and Audio ALBERT.

One implementation serves the three families (they differ only in their
pre-training objective and in ``share_layer``):

* Mockingjay (Liu et al., ICASSP 2020, https://arxiv.org/abs/1910.12638);
* TERA (Liu, Li, Lee, IEEE/ACM TASLP 2021, https://arxiv.org/abs/2007.06028);
* Audio ALBERT (Chi et al., SLT 2021, https://arxiv.org/abs/2005.08575):
  one layer's weights shared by every layer (``share_layer``).

Architecture (facts read from the original toolkit, s3prl
``s3prl/upstream/mockingjay/model.py``; parameter names follow its
``state_dict`` so released checkpoints load as they are):

* input projection ``input_representations``: ``spec_transform`` (Linear,
  feature dim -> hidden size), plus a fixed sinusoidal position encoding,
  then ``LayerNorm``;
* ``num_hidden_layers`` encoder layers ``encoder.layer.<i>``: multi-head
  self-attention (``attention.self.{query,key,value}``, output
  ``attention.output.dense``) and a GELU feed-forward block
  (``intermediate.dense``, ``output.dense``); BERT's post-LN residual blocks
  (``attention.output.LayerNorm``, ``output.LayerNorm``), or pre-LN blocks
  when ``pre_layer_norm`` (then ``encoder.LayerNorm.<k>``, ``k = 0..L``,
  normalise each returned hidden state);
* every LayerNorm is the usual one (biased variance, ``eps`` inside the
  square root) with ``layer_norm_eps`` from the checkpoint (1e-12).

Hidden states, in the original's order and count (``L + 1``): the input
projection's output, then the output of each encoder layer (pre-LN: each
normalised by ``encoder.LayerNorm.<k>``).

Padding: the attention of every frame ignores the keys beyond its own
sequence (boolean key mask), and positions count from 0 in every sequence,
so a sequence's valid frames do not depend on the padding around it.
Dropout is not applied (inference only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.modules.position import sinusoid_position_encoding

__all__ = ["TransformerConfig", "TransformerEncoderModel"]

_ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),  # erf form, as the original's ``gelu``
    "relu": F.relu,
    "swish": F.silu,
}


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture hyper-parameters, read from a checkpoint's ``transformer`` config.

    Attributes:
        hidden_size: model dim (768 in the released Base/Large models).
        num_hidden_layers: encoder layers (3 for Base, 12 for Large).
        num_attention_heads: heads per attention (12).
        intermediate_size: feed-forward inner dim (3072).
        hidden_act: ``"gelu"``, ``"relu"`` or ``"swish"``.
        layer_norm_eps: LayerNorm epsilon (1e-12).
        share_layer: one set of layer weights for every layer (Audio ALBERT).
        pre_layer_norm: pre-LN blocks with per-hidden-state LayerNorms.
    """

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    share_layer: bool = False
    pre_layer_norm: bool = False

    @classmethod
    def from_dict(cls, cfg: dict, where: str = "transformer config") -> "TransformerConfig":
        """Build from the checkpoint's ``transformer`` dict.

        Training-only keys (``hidden_dropout_prob``,
        ``attention_probs_dropout_prob``, ``initializer_range``, ``input_dim``
        of pre-extracted features) are not used; ``share_layer`` and
        ``pre_layer_norm`` default to ``False`` when absent (older configs).

        Raises:
            ValueError: a required key is missing or a value is invalid (the
                message names the key and ``where``).
        """
        if not isinstance(cfg, dict):
            raise ValueError(f"{where} must be a dict, got {type(cfg).__name__}")
        required = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        missing = [k for k in required if k not in cfg]
        if missing:
            raise ValueError(f"{where} lacks the key(s) {missing}")
        try:
            out = cls(
                hidden_size=int(cfg["hidden_size"]),
                num_hidden_layers=int(cfg["num_hidden_layers"]),
                num_attention_heads=int(cfg["num_attention_heads"]),
                intermediate_size=int(cfg["intermediate_size"]),
                hidden_act=str(cfg.get("hidden_act", "gelu")),
                layer_norm_eps=float(cfg.get("layer_norm_eps", 1e-12)),
                share_layer=bool(cfg.get("share_layer", False)),
                pre_layer_norm=bool(cfg.get("pre_layer_norm", False)),
            )
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where} has an invalid value: {err}") from None
        if out.hidden_act not in _ACTIVATIONS:
            raise ValueError(
                f"{where}: hidden_act={out.hidden_act!r} is not one of {sorted(_ACTIVATIONS)}"
            )
        if out.hidden_size % out.num_attention_heads:
            raise ValueError(
                f"{where}: hidden_size {out.hidden_size} is not a multiple of "
                f"num_attention_heads {out.num_attention_heads}"
            )
        if out.num_hidden_layers < 1:
            raise ValueError(f"{where}: num_hidden_layers must be >= 1")
        return out


class _InputRepresentations(nn.Module):
    def __init__(self, cfg: TransformerConfig, input_dim: int):
        super().__init__()
        self.spec_transform = nn.Linear(input_dim, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, feats: Tensor, pos_enc: Tensor) -> Tensor:
        return self.LayerNorm(self.spec_transform(feats) + pos_enc)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        b, t, d = x.shape
        h = self.num_heads

        def split(y: Tensor) -> Tensor:
            return y.view(b, t, h, d // h).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        # key_mask: (B, T) True = attend; every row has >= 1 valid key.
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])
        return ctx.transpose(1, 2).reshape(b, t, d)


class _DenseNorm(nn.Module):
    """``dense`` + residual (+ ``LayerNorm`` for post-LN): the original's
    ``TransformerSelfOutput`` / ``TransformerOutput``."""

    def __init__(self, in_dim: int, cfg: TransformerConfig):
        super().__init__()
        self.post_ln = not cfg.pre_layer_norm
        self.dense = nn.Linear(in_dim, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        y = self.dense(x) + residual
        return self.LayerNorm(y) if self.post_ln else y


class _Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.pre_ln = cfg.pre_layer_norm
        self.self = _SelfAttention(cfg)
        self.output = _DenseNorm(cfg.hidden_size, cfg)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        # pre-LN: the original reuses ``output.LayerNorm`` before the attention
        inp = self.output.LayerNorm(x) if self.pre_ln else x
        return self.output(self.self(inp, key_mask), x)


class _Intermediate(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.act = _ACTIVATIONS[cfg.hidden_act]

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.pre_ln = cfg.pre_layer_norm
        self.attention = _Attention(cfg)
        self.intermediate = _Intermediate(cfg)
        self.output = _DenseNorm(cfg.intermediate_size, cfg)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        a = self.attention(x, key_mask)
        # pre-LN: the original reuses ``output.LayerNorm`` before the FFN
        inp = self.output.LayerNorm(a) if self.pre_ln else a
        return self.output(self.intermediate(inp), a)


class _Encoder(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if cfg.share_layer:
            shared = _Layer(cfg)
            self.layer = nn.ModuleList([shared] * cfg.num_hidden_layers)
        else:
            self.layer = nn.ModuleList([_Layer(cfg) for _ in range(cfg.num_hidden_layers)])
        if cfg.pre_layer_norm:
            self.LayerNorm = nn.ModuleList(
                [
                    nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
                    for _ in range(cfg.num_hidden_layers + 1)
                ]
            )
        else:
            self.LayerNorm = None

    def forward(self, x: Tensor, key_mask: Tensor) -> list[Tensor]:
        states = [x]
        for layer in self.layer:
            x = layer(x, key_mask)
            states.append(x)
        if self.LayerNorm is not None:
            states = [ln(s) for ln, s in zip(self.LayerNorm, states)]
        return states


class TransformerEncoderModel(nn.Module):
    """The encoder (``Transformer`` entry of a released checkpoint).

    Args:
        cfg: architecture.
        input_dim: feature dim of the input frames (80 for log mel, 240 for
            fbank + deltas, 201 for a linear spectrogram).

    ``forward(feats, lengths)``: ``feats`` ``(batch, frames, input_dim)``
    float, ``lengths`` ``(batch,)`` long valid frames (>= 1 each) ->
    ``cfg.num_hidden_layers + 1`` tensors ``(batch, frames, hidden_size)``.
    Values past a sequence's length are unspecified (the caller zeroes them).
    """

    def __init__(self, cfg: TransformerConfig, input_dim: int):
        super().__init__()
        self.cfg = cfg
        self.input_dim = input_dim
        self.input_representations = _InputRepresentations(cfg, input_dim)
        self.encoder = _Encoder(cfg)

    def forward(self, feats: Tensor, lengths: Tensor) -> list[Tensor]:
        t = feats.size(1)
        key_mask = torch.arange(t, device=feats.device)[None, :] < lengths[:, None]
        pos = sinusoid_position_encoding(t, self.cfg.hidden_size, device=feats.device)
        x = self.input_representations(feats, pos.to(feats.dtype)[None])
        return self.encoder(x, key_mask)

    def expected_keys(self) -> list[str]:
        """State-dict keys of a checkpoint's ``Transformer`` entry, as the
        original saves them (every layer index listed, also when shared)."""
        keys = [f"input_representations.{k}" for k in self.input_representations.state_dict()]
        layer_keys = list(self.encoder.layer[0].state_dict())
        for i in range(self.cfg.num_hidden_layers):
            keys += [f"encoder.layer.{i}.{k}" for k in layer_keys]
        if self.encoder.LayerNorm is not None:
            for i in range(self.cfg.num_hidden_layers + 1):
                keys += [f"encoder.LayerNorm.{i}.weight", f"encoder.LayerNorm.{i}.bias"]
        return keys

    def alias_keys(self) -> dict[str, str]:
        """Extra keys the original's pre-LN layers save (module aliases):
        ``encoder.layer.<i>.attention.LayerNorm.*`` is
        ``attention.output.LayerNorm.*`` and ``encoder.layer.<i>.LayerNorm.*``
        is ``output.LayerNorm.*``. Maps alias -> canonical key; empty for post-LN."""
        if not self.cfg.pre_layer_norm:
            return {}
        out = {}
        for i in range(self.cfg.num_hidden_layers):
            for p in ("weight", "bias"):
                pre = f"encoder.layer.{i}."
                out[f"{pre}attention.LayerNorm.{p}"] = f"{pre}attention.output.LayerNorm.{p}"
                out[f"{pre}LayerNorm.{p}"] = f"{pre}output.LayerNorm.{p}"
        return out
