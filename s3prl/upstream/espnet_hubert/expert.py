"""ESPnet HuBERT upstream: ESPnet's ``.pth`` + ``config.yaml`` releases, read without ESPnet.

ESPnet (``espnet2/tasks/hubert.py``, encoder ``torchaudio_hubert`` =
``espnet2/asr/encoder/hubert_encoder.py`` ``TorchAudioHuBERTPretrainEncoder``) wraps
torchaudio's ``hubert_pretrain_model``. Files (facts from those sources):

* ``*.pth`` (``latest.pth``, ``valid.loss.ave.pth``, ...): the model's flat state dict;
  the upstream's weights are under ``encoder.hubert_pretrain_model.wav2vec2.`` in
  torchaudio's names (``feature_extractor.conv_layers.{i}.conv`` / ``.layer_norm``,
  ``encoder.feature_projection.{layer_norm,projection}``,
  ``encoder.transformer.pos_conv_embed.conv.{weight_g,weight_v | parametrizations.weight.
  original0/1, bias}``, ``encoder.transformer.layer_norm``,
  ``encoder.transformer.layers.{i}.attention.{q,k,v,out}_proj``, ``.layer_norm``,
  ``.feed_forward.{intermediate_dense,output_dense}``, ``.final_layer_norm``); the
  training-only ``mask_generator.*``, ``logit_generator.*`` and ``encoder.global_step``
  are dropped, and so is any other unknown entry, both logged once (INFO, logger ``s3prl``);
  weights of a ``frontend`` / ``normalize`` / ``preencoder`` (they would transform the
  waveform before the encoder, which this upstream does not do) are refused. Released ESPnet
  HuBERT files use none of the three (``config.yaml``: ``null``; a config naming one is refused).
* ``config.yaml``: the training config; ``encoder_conf`` holds the architecture
  (``extractor_mode``, ``extractor_conv_layer_config``, ``extractor_conv_bias``,
  ``encoder_embed_dim``, ``encoder_pos_conv_kernel``, ``encoder_pos_conv_groups``,
  ``encoder_num_layers``, ``encoder_num_heads``, ``encoder_ff_interm_features``,
  ``encoder_layer_norm_first``; missing ones take the encoder's defaults).

Hidden states (as s3prl 0.4.18's ``espnet_hubert`` expert, torchaudio's
``Wav2Vec2Model.extract_features``): the output of each of the ``L`` transformer layers,
no input state; the encoder LayerNorm of pre-LN (``encoder_layer_norm_first``) models is
not applied to the last one (torchaudio applies it only in its full forward). No
waveform normalisation. Stride 320 samples, receptive field 400.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping, Optional

import torch
from torch import Tensor, nn

from s3prl.upstream.interface import UpstreamBase
from s3prl.upstream.wav2vec2.loading import load_weights
from s3prl.upstream.wav2vec2.modules import Wav2Vec2Config, Wav2Vec2Model
from s3prl.util.checkpoint import load_checkpoint, note_unused_entries
from s3prl.util.yaml_file import read_yaml_mapping

__all__ = ["PREFIX", "TRAINING_ONLY_PREFIXES", "INPUT_PREFIXES", "read_espnet_config", "rename_espnet_keys", "UpstreamExpert"]

#: where the upstream's weights live in an ESPnet HuBERT state dict
PREFIX = "encoder.hubert_pretrain_model.wav2vec2."

#: ``TorchAudioHuBERTPretrainEncoder`` defaults (ESPnet), used for fields a config omits
_DEFAULTS = dict(
    extractor_mode="group_norm",
    extractor_conv_layer_config=[[512, 10, 5]] + [[512, 3, 2]] * 4 + [[512, 2, 2]] * 2,
    extractor_conv_bias=False,
    encoder_embed_dim=768,
    encoder_pos_conv_kernel=128,
    encoder_pos_conv_groups=16,
    encoder_num_layers=12,
    encoder_num_heads=12,
    encoder_ff_interm_features=3072,
    encoder_layer_norm_first=False,
)


def read_espnet_config(config: str | os.PathLike | Mapping[str, Any]) -> Wav2Vec2Config:
    """The architecture from an ESPnet HuBERT ``config.yaml`` (path or parsed mapping).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a yaml mapping, an encoder other than ``torchaudio_hubert``, or
            an ``extractor_mode`` other than ``group_norm`` / ``layer_norm`` (names the file).
    """
    where = "the ESPnet config" if isinstance(config, Mapping) else str(config)
    config = read_yaml_mapping(config, "ESPnet HuBERT config.yaml")
    encoder = config.get("encoder", "torchaudio_hubert")
    if encoder != "torchaudio_hubert":
        raise ValueError(f"{where}: encoder {encoder!r} is not an ESPnet HuBERT ('torchaudio_hubert') encoder")
    for name in ("frontend", "normalize", "preencoder"):
        if config.get(name) is not None:
            raise ValueError(f"{where}: {name} {config.get(name)!r} transforms the waveform before the encoder; "
                             "this upstream reads raw 16 kHz waveforms only (ESPnet HuBERT: null)")
    conf = {**_DEFAULTS, **{k: v for k, v in (config.get("encoder_conf") or {}).items() if v is not None}}
    if conf["extractor_mode"] not in ("group_norm", "layer_norm"):
        raise ValueError(f"{where}: extractor_mode {conf['extractor_mode']!r} is not supported")
    return Wav2Vec2Config(
        conv_layers=tuple(tuple(int(v) for v in layer) for layer in conf["extractor_conv_layer_config"]),
        extractor_mode=conf["extractor_mode"],
        conv_bias=bool(conf["extractor_conv_bias"]),
        embed_dim=int(conf["encoder_embed_dim"]),
        num_layers=int(conf["encoder_num_layers"]),
        num_heads=int(conf["encoder_num_heads"]),
        ffn_dim=int(conf["encoder_ff_interm_features"]),
        layer_norm_first=bool(conf["encoder_layer_norm_first"]),
        conv_pos=int(conf["encoder_pos_conv_kernel"]),
        conv_pos_groups=int(conf["encoder_pos_conv_groups"]),
        normalize=False,
        dropout=float(conf.get("encoder_dropout", 0.1)),
        attention_dropout=float(conf.get("encoder_attention_dropout", 0.1)),
        activation_dropout=float(conf.get("encoder_ff_interm_dropout", 0.0)),
        layerdrop=float(conf.get("encoder_layer_drop", 0.05)),
        dropout_input=float(conf.get("encoder_projection_dropout", 0.1)),
    )


_RENAMES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.", r"feature_extractor.conv_layers.\1.norm."),
    (r"encoder\.feature_projection\.layer_norm\.", "layer_norm."),
    (r"encoder\.feature_projection\.projection\.", "post_extract_proj."),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0$", "encoder.pos_conv.weight_g"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1$", "encoder.pos_conv.weight_v"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.", "encoder.pos_conv."),
    (r"encoder\.transformer\.layer_norm\.", "encoder.layer_norm."),
    (r"encoder\.transformer\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
    (r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
    (r"encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.", r"encoder.layers.\1.final_layer_norm."),
]


#: entries of the ``.pth`` besides the upstream's weights that ESPnet's HuBERT pre-training
#: writes (``TorchAudioHuBERTPretrainEncoder``: torchaudio's masking and logit heads, the
#: ``global_step`` buffer); training-only, dropped (logged once)
TRAINING_ONLY_PREFIXES = (
    "encoder.hubert_pretrain_model.mask_generator.",
    "encoder.hubert_pretrain_model.logit_generator.",
    "encoder.global_step",
    "specaug.",
)

#: modules of ESPnet's ``TorchAudioHubertPretrainModel`` that transform the waveform before the
#: encoder (``frontend``, ``normalize`` e.g. GlobalMVN's ``mean`` / ``std``, ``preencoder``):
#: this upstream does not apply them, so weights under them are refused, never dropped
INPUT_PREFIXES = ("frontend.", "normalize.", "preencoder.")


def rename_espnet_keys(state_dict: Mapping[str, Any], source: str = "ESPnet checkpoint") -> dict:
    """The upstream's weights of an ESPnet HuBERT state dict, in
    :class:`~s3prl.upstream.wav2vec2.modules.Wav2Vec2Model`'s names.

    Entries outside :data:`PREFIX`: the training-only ones ESPnet writes
    (:data:`TRAINING_ONLY_PREFIXES`) and any other unknown name are dropped and logged once
    (:func:`s3prl.util.checkpoint.note_unused_entries`, logger ``s3prl``, level INFO); weights of
    an input transform (:data:`INPUT_PREFIXES`) are refused.

    Raises:
        ValueError: no key under :data:`PREFIX` (the message lists a few top-level names), or
            keys under :data:`INPUT_PREFIXES` (named).
    """
    out, training, unknown, transforms = {}, [], [], []
    for key, value in state_dict.items():
        key = str(key)
        if not key.startswith(PREFIX):
            if key.startswith(INPUT_PREFIXES):
                transforms.append(key)
            elif key.startswith(TRAINING_ONLY_PREFIXES):
                training.append(key)
            else:
                unknown.append(key)
            continue
        key = key[len(PREFIX):]
        for pattern, repl in _RENAMES:
            key, n = re.subn("^" + pattern, repl, key)
            if n:
                break
        out[key] = value
    if not out:
        heads = sorted({str(k).split(".")[0] for k in state_dict})[:8]
        raise ValueError(f"{source} has no ESPnet HuBERT weights (no key starts with {PREFIX!r}); "
                         f"its top-level names are {heads}")
    if transforms:
        raise ValueError(f"{source} has weights of an input transform before the encoder, which this "
                         f"upstream does not apply: {sorted(transforms)[:10]}")
    note_unused_entries(source, training, "training-only entries")
    note_unused_entries(source, unknown, "unknown entries outside " + PREFIX)
    return out


class UpstreamExpert(UpstreamBase):
    """ESPnet HuBERT upstream from a local ``.pth`` and its ``config.yaml``.

    Args:
        ckpt: local ``.pth`` path (the model state dict ESPnet saves).
        config: local ``config.yaml`` path, or its parsed mapping; default the
            ``config.yaml`` next to ``ckpt`` (ESPnet's experiment-folder layout).
        dtype: parameter dtype (default fp32).

    Input: 1-D 16 kHz waveforms of at least 400 samples (not normalised). Output: ``L``
    hidden states (the transformer layers' outputs) ``(batch, frames, embed_dim)``,
    ``frames = floor((samples - 400) / 320) + 1``.

    Raises:
        FileNotFoundError: missing ``.pth`` or ``config.yaml``.
        ValueError: unsupported config, or weights that do not match it (names the keys).
    """

    def __init__(self, ckpt: str | os.PathLike, config=None, dtype: Optional[torch.dtype] = None):
        super().__init__()
        if config is None:
            config = os.path.join(os.path.dirname(os.fspath(ckpt)), "config.yaml")
        arch = read_espnet_config(config)
        state = load_checkpoint(ckpt)
        if not isinstance(state, Mapping):
            raise ValueError(f"ESPnet checkpoint {ckpt} holds a {type(state).__name__}, not a state dict")
        source = f"ESPnet HuBERT checkpoint {ckpt}"
        weights = rename_espnet_keys(state, source)
        self.config = arch
        self.model = Wav2Vec2Model(arch)
        # torchaudio's extract_features never applies the final encoder LayerNorm
        unused = ("encoder.layer_norm.",) if arch.layer_norm_first else ()
        if arch.layer_norm_first:
            self.model.encoder.layer_norm = nn.Identity()
        load_weights(self.model, weights, ckpt, extra_ignored_prefixes=unused,
                     what="the ESPnet HuBERT its config.yaml describes")
        self.downsample_rate = arch.downsample_rate
        self.receptive_field = arch.receptive_field
        self.hidden_sizes = [arch.embed_dim] * arch.num_layers
        self.cast_parameters(dtype)
        self.eval()

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) zero padded -> (L x (batch, frames, dim), (batch,) frames)."""
        hidden_states, frames_len = self.model(wavs, wavs_len)
        return hidden_states[1:], frames_len
