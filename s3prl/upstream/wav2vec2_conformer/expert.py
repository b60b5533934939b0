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
from torch import Tensor, nn

from s3prl.modules.conformer import POSITION_TYPES, ConformerEncoder
from s3prl.modules.position import rotary_inv_freq
from s3prl.upstream.interface import UpstreamBase
from s3prl.upstream.wav2vec2.loading import (
    config_from_fairseq,
    load_weights,
    read_fairseq_checkpoint,
    rename_fairseq_keys,
)
from s3prl.upstream.wav2vec2.modules import ConvFeatureEncoder, Wav2Vec2Config, normalize_waveforms
from s3prl.util.checkpoint import CheckpointKeyError

__all__ = ["ConformerWav2Vec2Model", "UpstreamExpert", "read_conformer_checkpoint", "check_rotary_tables",
           "UNUSED_PREFIXES"]


class ConformerWav2Vec2Model(nn.Module):
    """Waveforms -> hidden states of a wav2vec 2.0 Conformer (no training-only parts).

    Args:
        config: the feature encoder and widths (``extra["position"]``: ``"rel_pos"`` /
            ``"rope"``, ``extra["kernel"]``: depthwise kernel size).

    Submodules (fairseq names): ``feature_extractor``, ``layer_norm``, ``post_extract_proj``
    (only when the conv channels differ from ``embed_dim``), ``encoder``
    (:class:`~s3prl.modules.conformer.ConformerEncoder`).

    ``forward(wavs, wavs_len) -> (hidden_states, frames_len)`` as
    :class:`s3prl.upstream.wav2vec2.modules.Wav2Vec2Model`.
    """

    def __init__(self, config: Wav2Vec2Config):
        super().__init__()
        self.config = config
        conv_dim = config.conv_layers[-1][0]
        self.feature_extractor = ConvFeatureEncoder(config.conv_layers, config.extractor_mode, config.conv_bias,
                                                    config.layer_norm_eps)
        self.layer_norm = nn.LayerNorm(conv_dim, eps=config.layer_norm_eps)
        self.post_extract_proj = nn.Linear(conv_dim, config.embed_dim) if conv_dim != config.embed_dim else None
        self.dropout_input = nn.Dropout(config.dropout_input)
        self.encoder = ConformerEncoder(
            config.embed_dim, config.ffn_dim, config.num_heads, config.num_layers, config.extra["kernel"],
            config.extra["position"], config.layer_norm_first, config.dropout, config.layerdrop,
            config.layer_norm_eps,
        )

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        if self.config.normalize:
            wavs = normalize_waveforms(wavs, wavs_len)
        features, frames_len = self.feature_extractor(wavs, wavs_len)
        features = self.layer_norm(features.transpose(1, 2))
        if self.post_extract_proj is not None:
            features = self.post_extract_proj(features)
        features = self.dropout_input(features)
        n_frames = features.size(1)
        valid = None
        if bool((frames_len < n_frames).any()):
            valid = torch.arange(n_frames, device=features.device)[None, :] < frames_len[:, None]
        return self.encoder(features, valid), frames_len


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


class UpstreamExpert(UpstreamBase):
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
        super().__init__()
        config, state, source = read_conformer_checkpoint(ckpt, **config_overrides)
        self.config = config
        self.model = ConformerWav2Vec2Model(config)
        rotary = [k for k in state if k.endswith(ROTARY_SUFFIX)]
        load_weights(self.model, state, ckpt, extra_ignored_keys=rotary, extra_ignored_prefixes=UNUSED_PREFIXES,
                     what="the wav2vec 2.0 Conformer its config describes")
        check_rotary_tables(state, config, ckpt)
        self.downsample_rate = config.downsample_rate
        self.receptive_field = config.receptive_field
        self.hidden_sizes = [config.embed_dim] * (config.num_layers + 1)
        self.cast_parameters(dtype)
        self.eval()

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) zero padded, ``wavs_len`` (batch,) ->
        (``num_layers + 1`` x (batch, frames, embed_dim), (batch,) valid frames)."""
        return self.model(wavs, wavs_len)
