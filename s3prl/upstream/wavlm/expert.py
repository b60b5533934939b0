"""WavLM upstream: the shared wav2vec 2.0-style model with WavLM's gated relative
position bias plugged into every transformer layer.

WavLM (Chen et al., 2021, https://arxiv.org/abs/2110.13900) is HuBERT's
architecture plus the gated relative position bias of
:mod:`s3prl.upstream.wavlm.attention`: Base / Base+ are post-LN with a
group-norm feature encoder, Large is pre-LN with a layer-norm feature encoder
and normalised input waveforms.

Checkpoint layouts read (no UniLM code needed):

* UniLM release ``{"cfg": dict of WavLMConfig fields, "model": state_dict}``
  (``WavLM-Base.pt``, ``WavLM-Base+.pt``, ``WavLM-Large.pt``; the same files are
  mirrored at https://huggingface.co/s3prl/converted_ckpts);
* the fairseq training checkpoints they were cleaned from: ``{"cfg": {"model": {...},
  "task": {...}}, "model": state_dict, ...}`` with the training-only weights
  (``final_proj``, ``label_embs_concat``, ``mask_emb``, ``quantizer``,
  ``project_q``, ``spk_proj``, ``encoder.layer_norm_for_extract``,
  ``quant_in_proj``, ``quant_embedding``, ``target_glu``: ignored, a listed set)
  and the legacy parameter names ``gate_ur_linear`` / ``eco_a`` (read as
  ``grep_linear`` / ``grep_a``), as in UniLM's checkpoint-cleaning step.

Hidden states: ``encoder_layers + 1`` tensors ``(batch, frames, encoder_embed_dim)``,
the convention of :mod:`s3prl.upstream.wav2vec2.modules` (input of the first
layer, then each layer's output; final LayerNorm on the last one for pre-LN).
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping, Optional

import torch
from torch import Tensor

from s3prl.upstream.wav2vec2.expert import Wav2Vec2StyleUpstream
from s3prl.upstream.wav2vec2.loading import (
    config_from_fairseq,
    read_fairseq_checkpoint,
    rename_fairseq_keys,
)
from s3prl.upstream.wav2vec2.modules import EncoderLayer, Wav2Vec2Config

from .attention import WavLMSelfAttention

__all__ = [
    "WAVLM_IGNORED_PREFIXES",
    "wavlm_config",
    "wavlm_layer_factory",
    "rename_legacy_keys",
    "WavLMStyleUpstream",
    "UpstreamExpert",
]

#: Training-only submodules of WavLM / UniSpeech-SAT checkpoints, besides the
#: shared list of :mod:`s3prl.upstream.wav2vec2.loading` (``mask_emb``,
#: ``label_embs_concat``, ``final_proj``, ``quantizer``, ``project_q``, ``target_glu``).
WAVLM_IGNORED_PREFIXES: tuple[str, ...] = (
    "spk_proj.",
    "encoder.layer_norm_for_extract.",
    "layer_norm_for_extract.",
    "quant_in_proj.",
    "quant_embedding.",
)

_LEGACY = [(re.compile(r"\.gate_ur_linear\."), ".grep_linear."), (re.compile(r"\.eco_a$"), ".grep_a")]


def rename_legacy_keys(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Read pre-release parameter names (``gate_ur_linear`` -> ``grep_linear``,
    ``eco_a`` -> ``grep_a``); other keys unchanged."""
    out = {}
    for key, value in state.items():
        for pattern, repl in _LEGACY:
            key = pattern.sub(repl, key)
        out[key] = value
    return out


def wavlm_config(model_cfg: Mapping, task_cfg: Mapping, **overrides) -> Wav2Vec2Config:
    """:class:`~s3prl.upstream.wav2vec2.modules.Wav2Vec2Config` of a WavLM /
    UniSpeech-SAT config (UniLM ``WavLMConfig`` field names).

    ``extra`` holds ``relative_position_embedding`` (default False),
    ``num_buckets`` (320), ``max_distance`` (1280, UniLM's default; the released
    models say 800) and ``gru_rel_pos`` (False).

    Raises:
        ValueError: options this implementation does not have (a conformer
            ``structure_type``, ``expand_attention_head_size``, streaming chunks).
    """
    m = dict(model_cfg)
    if m.get("structure_type", "transformer") not in (None, "transformer"):
        raise ValueError(f"structure_type {m['structure_type']!r} is not supported (only 'transformer')")
    if int(m.get("expand_attention_head_size", -1) or -1) > 0:
        raise ValueError("expand_attention_head_size > 0 is not supported")
    if m.get("streaming"):
        raise ValueError("streaming (chunked attention) checkpoints are not supported")
    config = config_from_fairseq(m, task_cfg, **overrides)
    config.extra = dict(
        relative_position_embedding=bool(m.get("relative_position_embedding", False)),
        num_buckets=int(m.get("num_buckets", 320) or 320),
        max_distance=int(m.get("max_distance", 1280) or 1280),
        gru_rel_pos=bool(m.get("gru_rel_pos", False)),
    )
    return config


def wavlm_layer_factory(index: int, config: Wav2Vec2Config):
    """Encoder layer ``index``: the shared :class:`EncoderLayer` with
    :class:`~.attention.WavLMSelfAttention` (bucket embedding in layer 0 only)
    when the config has a relative position bias or gates; plain attention
    otherwise (UniSpeech-SAT)."""
    extra = config.extra
    rel = bool(extra.get("relative_position_embedding", False))
    gru = bool(extra.get("gru_rel_pos", False))
    if not rel and not gru:
        return EncoderLayer(config)
    attention = WavLMSelfAttention(
        config.embed_dim,
        config.num_heads,
        dropout=config.attention_dropout,
        has_relative_attention_bias=rel and index == 0,
        num_buckets=int(extra.get("num_buckets", 320)),
        max_distance=int(extra.get("max_distance", 800)),
        gru_rel_pos=gru,
    )
    return EncoderLayer(config, attention=attention)


class WavLMStyleUpstream(Wav2Vec2StyleUpstream):
    """A WavLM / UniSpeech-SAT upstream from an architecture and fairseq-named weights.

    Args:
        config: from :func:`wavlm_config`.
        state_dict: weights with UniLM/fairseq names (renamed here), or None.
        dtype: parameter dtype (default fp32; bf16/fp16 for GPU use).
        source: the checkpoint file (or model folder) the weights came from.
        what: what the weights are compared with, for error messages.

    Raises:
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights missing,
            unexpected (training-only ones are ignored: see :data:`WAVLM_IGNORED_PREFIXES`),
            misshapen, non-floating or non-finite (``source`` and the keys named).
    """

    def __init__(
        self,
        config: Wav2Vec2Config,
        state_dict: Optional[Mapping[str, Tensor]],
        dtype: Optional[torch.dtype] = None,
        source: Any = "checkpoint",
        what: str = "the architecture read from it",
    ):
        state = None
        if state_dict is not None:
            state = rename_fairseq_keys(rename_legacy_keys(state_dict), config.pos_conv_depth)
        super().__init__(
            config,
            state,
            layer_factory=wavlm_layer_factory,
            ignored_prefixes=WAVLM_IGNORED_PREFIXES,
            dtype=dtype,
            source=source,
            what=what,
        )


class UpstreamExpert(WavLMStyleUpstream):
    """WavLM upstream from a local checkpoint, its architecture read from the file.

    Args:
        ckpt: local checkpoint (UniLM ``{"cfg", "model"}`` or fairseq ``{"cfg":
            {"model", "task"}, "model"}`` layout).
        dtype: parameter dtype (default fp32).
        config_overrides: :class:`~s3prl.upstream.wav2vec2.modules.Wav2Vec2Config`
            fields to override (e.g. ``normalize=False``).

    Input: list of 1-D float waveforms (16 kHz), each >= 400 samples.
    Output: ``encoder_layers + 1`` hidden states ``(batch, frames, embed_dim)``,
    ``frames = floor((samples - 400) / 320) + 1``.

    Raises:
        FileNotFoundError, s3prl.util.checkpoint.UnsafeCheckpointError: see
            :func:`s3prl.upstream.wav2vec2.loading.read_fairseq_checkpoint`.
        ValueError: unknown layout, unsupported option, or weights that do not
            match the architecture (the message names the keys).
    """

    family = "wavlm"

    def __init__(self, ckpt: str | os.PathLike, dtype: Optional[torch.dtype] = None, **config_overrides):
        read = read_fairseq_checkpoint(ckpt)
        config = wavlm_config(read.model_cfg, read.task_cfg, **config_overrides)
        super().__init__(
            config, read.state_dict, dtype=dtype, source=ckpt,
            what=f"the {self.family} architecture read from it ({read.layout} layout)",
        )
