"""wav2vec 2.0 Conformer upstream: fairseq's wav2vec 2.0 with Conformer encoder blocks.

The model (fairseq ``Wav2Vec2Model`` with ``layer_type: conformer``; facts from fairseq's
``fairseq/models/wav2vec/wav2vec2.py`` ``ConformerEncoder`` and
``fairseq/modules/conformer_layer.py``)::

    waveform -> [normalise] -> conv feature encoder -> LayerNorm -> Linear to the encoder dim
             -> zero padded frames -> [LayerNorm if not layer_norm_first]
             -> L Conformer blocks (relative-position or rotary self-attention)
             -> [LayerNorm on the last hidden state if layer_norm_first]

There is no convolutional position embedding in the Conformer encoder: its
``encoder.pos_conv.*`` weights are in the released files (created by the parent
class) but never used, and are dropped on loading, like the rotary ``inv_freq``
buffers (checked against the recomputed values). The feature encoder and the
waveform normalisation are the wav2vec 2.0 ones (:mod:`s3prl.upstream.wav2vec2.modules`);
the blocks are :mod:`s3prl.modules.conformer`.

Hidden states (s3prl's convention for the wav2vec 2.0 family): the input of every
block, then the encoder output: ``num_layers + 1`` tensors ``(batch, frames, dim)``,
stride 320 samples, receptive field 400 samples.
"""

from __future__ import annotations

import os
from typing import Optional

import torch
from torch import Tensor

from s3prl.modules.conformer import POSITION_TYPES, ConformerEncoder
from s3prl.modules.position import rotary_inv_freq
from s3prl.upstream.wav2vec2.expert import Wav2Vec2StyleUpstream
from s3prl.upstream.wav2vec2.loading import (
    config_from_fairseq,
    read_fairseq_checkpoint,
    rename_fairseq_keys,
)
from s3prl.upstream.wav2vec2.modules import Wav2Vec2Config, Wav2Vec2Model
from s3prl.util.checkpoint import CheckpointKeyError

__all__ = ["ConformerWav2Vec2Model", "UpstreamExpert", "read_conformer_checkpoint", "check_rotary_tables",
           "UNUSED_PREFIXES"]


class ConformerWav2Vec2Model(Wav2Vec2Model):
    """Waveforms -> hidden states of a wav2vec 2.0 Conformer (no training-only parts).

    Args:
        config: the feature encoder and widths (``extra["position"]``: ``"rel_pos"`` /
            ``"rope"``, ``extra["kernel"]``: depthwise kernel size).

    It is :class:`s3prl.upstream.wav2vec2.modules.Wav2Vec2Model` with the Conformer encoder
    in place of the Transformer one.

    Submodules (fairseq names): ``feature_extractor``, ``layer_norm``, ``post_extract_proj``
    (only when the conv channels differ from ``embed_dim``), ``encoder``
    (:class:`~s3prl.modules.conformer.ConformerEncoder`).

    ``forward(wavs, wavs_len) -> (hidden_states, frames_len)`` as
    :class:`s3prl.upstream.wav2vec2.modules.Wav2Vec2Model`.
    """

    def __init__(self, config: Wav2Vec2Config):
        super().__init__(config, encoder=conformer_encoder(config))


def conformer_encoder(config: Wav2Vec2Config) -> ConformerEncoder:
    """The :class:`~s3prl.modules.conformer.ConformerEncoder` ``config`` describes
    (Conformer options in ``config.extra``: ``"kernel"``, ``"position"``)."""
    return ConformerEncoder(
        config.embed_dim, config.ffn_dim, config.num_heads, config.num_layers, config.extra["kernel"],
        config.extra["position"], config.layer_norm_first, config.dropout, config.layerdrop,
        config.layer_norm_eps,
    )


def read_conformer_checkpoint(ckpt: str | os.PathLike, **config_overrides) -> tuple[Wav2Vec2Config, dict, str]:
    """Read a fairseq wav2vec 2.0 Conformer checkpoint (any layout of
    :func:`s3prl.upstream.wav2vec2.loading.read_fairseq_checkpoint`).

    Returns:
        ``(config, state_dict, source)``: the architecture (Conformer options in
        ``config.extra``), the weights (renamed; still with the unused ``encoder.pos_conv.*``
        and the rotary ``inv_freq`` buffers, see :data:`UNUSED_PREFIXES` and
        :func:`check_rotary_tables`), a description for messages.

    Raises:
        ValueError: not a Conformer checkpoint (``layer_type`` is not ``"conformer"``:
            use the wav2vec2 entries), an attention other than ESPnet-style
            (``attn_type: espnet``), or a position type other than ``rel_pos`` / ``rope``.
    """
    read = read_fairseq_checkpoint(ckpt)
    cfg = dict(read.model_cfg)
    source = f"wav2vec 2.0 Conformer checkpoint {ckpt} ({read.layout} layout)"
    if cfg.get("layer_type") != "conformer":
        raise ValueError(f"{source}: layer_type is {cfg.get('layer_type')!r}, not 'conformer': "
                         "use wav2vec2_local / wav2vec2_custom for transformer checkpoints")
    position = cfg.get("pos_enc_type") or "abs"
    if position not in POSITION_TYPES:
        raise ValueError(f"{source}: pos_enc_type {position!r} is not supported (expected one of {POSITION_TYPES})")
    if cfg.get("attn_type") != "espnet":
        raise ValueError(f"{source}: attn_type {cfg.get('attn_type')!r} is not supported (the released "
                         "Conformers use 'espnet' attention)")
    extra = {"position": position, "kernel": int(cfg.get("depthwise_conv_kernel_size") or 31)}
    # the Conformer blocks always use swish (fairseq hard-codes it): activation_fn is unused
    base = {**cfg, "layer_type": "transformer", "activation_fn": "gelu"}
    config = config_from_fairseq(base, read.task_cfg, **config_overrides)
    config.extra = {**config.extra, **extra}
    state = rename_fairseq_keys(read.state_dict)
    return config, state, source


#: checkpoint weights the Conformer upstream does not read: fairseq builds the
#: convolutional positional embedding even for Conformer encoders, which never call it
UNUSED_PREFIXES = ("encoder.pos_conv.",)
#: suffix of fairseq's stored rotary frequency tables (recomputed here, checked)
ROTARY_SUFFIX = ".rotary_emb.inv_freq"


def check_rotary_tables(state: dict, config: Wav2Vec2Config, ckpt) -> None:
    """Check the rotary ``inv_freq`` tables a fairseq ``rope`` checkpoint stores (the
    model recomputes them) against base 10000's (:func:`s3prl.modules.position.rotary_inv_freq`).

    Raises:
        CheckpointKeyError: (a ``ValueError``) a table of another shape, dtype or value,
            naming ``ckpt`` and the key.
    """
    expected = rotary_inv_freq(config.embed_dim // config.num_heads)
    for key, value in sorted(state.items()):
        if not key.endswith(ROTARY_SUFFIX):
            continue
        if not (isinstance(value, Tensor) and value.is_floating_point() and value.shape == expected.shape
                and torch.allclose(value.float(), expected, rtol=1e-5, atol=1e-6)):
            raise CheckpointKeyError(f"checkpoint {ckpt}: {key} is not the base-10000 rotary frequency table")


class UpstreamExpert(Wav2Vec2StyleUpstream):
    """wav2vec 2.0 Conformer upstream from a local fairseq checkpoint.

    Args:
        ckpt: local checkpoint path.
        dtype: parameter dtype (default fp32).
        config_overrides: :class:`~s3prl.upstream.wav2vec2.modules.Wav2Vec2Config` fields.

    Input: 1-D 16 kHz waveforms of at least 400 samples. Output: ``num_layers + 1``
    hidden states ``(batch, frames, embed_dim)``, ``frames = floor((samples - 400) / 320) + 1``.

    Raises:
        ValueError: see :func:`read_conformer_checkpoint` and
            :func:`s3prl.upstream.wav2vec2.loading.load_weights` (missing / unexpected keys).
        CheckpointKeyError: (a ``ValueError``) weights missing, unexpected, misshapen,
            non-floating or non-finite, or a stored rotary table that is not base 10000's.
    """

    def __init__(self, ckpt: str | os.PathLike, dtype: Optional[torch.dtype] = None, **config_overrides):
        config, state, _ = read_conformer_checkpoint(ckpt, **config_overrides)
        rotary = [k for k in state if k.endswith(ROTARY_SUFFIX)]
        super().__init__(config, state, ignored_keys=rotary, ignored_prefixes=UNUSED_PREFIXES, dtype=dtype,
                         source=ckpt, what="the wav2vec 2.0 Conformer its config describes",
                         encoder=conformer_encoder(config))
        check_rotary_tables(state, config, ckpt)
