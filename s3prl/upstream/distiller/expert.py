"""DistilHuBERT upstream (the original s3prl toolkit's "distiller").

DistilHuBERT (Chang, Yang and Lee, 2021, "DistilHuBERT: Speech Representation
Learning by Layer-wise Distillation of Hidden-unit BERT",
https://arxiv.org/abs/2110.01900) is a 2-layer student of HuBERT Base: HuBERT's
convolutional feature encoder (group norm), a projection to 768 dims, the
positional convolution, 2 post-LN transformer layers, and prediction heads
that regress HuBERT's layers 4, 8 and 12 from the last transformer layer:
``Linear(768, 3 * 768) -> GELU -> per-head Linear(768, 768)``.

Checkpoint layout (the toolkit's pre-training runner, ``s3prl/pretrain/runner.py``
and ``s3prl/pretrain/distiller/pretrain_expert.py``; e.g. the released
``distilhubert_ls960_4-8-12.ckpt``): ``{"Distiller": state_dict, "Config":
{"distiller": {...}, "teacher": {...}, ...}, "Optimizer": ..., "Step": int,
"Args": argparse.Namespace, ...}``. State-dict keys:
``feature_extractor.conv_layers.{i}.0.weight``, ``feature_extractor.conv_layers.0.2.{weight,bias}``,
``post_extract_proj.*``, ``encoder.pos_conv.0.{weight_g,weight_v,bias}``,
``encoder.layer_norm.*``, ``encoder.layers.{i}.{self_attn.{q,k,v,out}_proj,self_attn_layer_norm,fc1,fc2,final_layer_norm}.*``,
``output_layer.0.{weight,bias}`` (``(inter * N, D)``), ``output_layer.2.weight``
(``(N, inter, final_dim)``) and ``output_layer.2.bias`` (``(1, 1, N, final_dim)``),
or ``output_layer.2.layer.{weight,bias}`` when ``N == 1``. Config field names
and defaults: the toolkit's ``DistillerConfig`` (``s3prl/upstream/distiller/model.py``).

Hidden states, as the original toolkit returns them (``[feat_final] +
layer_hidden + predictions``), ``1 + encoder_layers + n_tasks`` tensors
(6 for the released model, all 768-dim):

0. the projected conv features (input of the positional convolution);
1. .. ``encoder_layers``: the output of each transformer layer;
then the prediction of each head, in ``pred_layer_id`` order (HuBERT layers 4, 8, 12).
"""

from __future__ import annotations

import os
import re
from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.upstream.interface import UpstreamBase, padding_mask_or_none
from s3prl.upstream.wav2vec2.loading import load_weights, parse_conv_layers, rename_fairseq_keys
from s3prl.upstream.wav2vec2.modules import ConvFeatureEncoder, TransformerEncoder, Wav2Vec2Config
from s3prl.util.checkpoint import CheckpointKeyError, load_checkpoint, note_unused_entries, to_plain

__all__ = ["distiller_config", "PredictionHeads", "DistillerModel", "UpstreamExpert"]


def distiller_config(options: Mapping) -> tuple[Wav2Vec2Config, dict]:
    """Architecture of a distiller from its ``Config["distiller"]`` options.

    Returns:
        ``(config, heads)``: the shared :class:`Wav2Vec2Config` (feature encoder,
        positional conv, transformer layers) and the head options
        ``{"n_tasks", "inter_dim", "final_dim", "pred_layer_id"}``.

    Raises:
        ValueError: options no released DistilHuBERT uses and this implementation
            does not have (``task_emb_type``/``out_layer_type`` other than
            ``"expand-last"``, ``attention_type`` other than ``"original"``,
            pre-LN layers, 0 transformer layers).
    """
    o = dict(options)

    def get(name, default):
        value = o.get(name)
        return default if value is None else value

    for name in ("task_emb_type", "out_layer_type"):
        if get(name, "expand-last") != "expand-last":
            raise ValueError(f"distiller option {name}={o[name]!r} is not supported (only 'expand-last')")
    if get("attention_type", "original") != "original":
        raise ValueError(f"distiller attention_type={o['attention_type']!r} is not supported (only 'original')")
    if bool(get("layer_norm_first", False)):
        raise ValueError("distiller layer_norm_first=True is not supported (released models are post-LN)")
    n_layers = int(get("encoder_layers", 1))
    if n_layers < 1:
        raise ValueError("distiller with encoder_layers=0 is not supported")
    mode = get("extractor_mode", "default")
    if mode not in ("default", "layer_norm"):
        raise ValueError(f"distiller extractor_mode={mode!r}: expected 'default' or 'layer_norm'")
    embed = int(get("encoder_embed_dim", 768))
    config = Wav2Vec2Config(
        conv_layers=parse_conv_layers(
            get("extractor_conv_feature_layers", "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2")
        ),
        extractor_mode="group_norm" if mode == "default" else "layer_norm",
        conv_bias=False,  # the distiller's feature extractor never has conv biases
        embed_dim=embed,
        num_layers=n_layers,
        num_heads=int(get("encoder_attention_heads", 12)),
        ffn_dim=int(get("encoder_ffn_embed_dim", 3072)),
        activation=str(get("activation_fn", "gelu")),
        layer_norm_first=False,
        conv_pos=int(get("conv_pos", 128)),
        conv_pos_groups=int(get("conv_pos_groups", 16)),
        dropout=float(get("dropout", 0.1)),
        attention_dropout=float(get("attention_dropout", 0.1)),
        activation_dropout=float(get("activation_dropout", 0.1)),
        layerdrop=float(get("encoder_layerdrop", 0.0)),
    )
    n_tasks = int(get("n_tasks", 12))
    pred = list(get("pred_layer_id", list(range(1, n_tasks + 1))))
    if len(pred) != n_tasks:
        raise ValueError(f"distiller pred_layer_id {pred} does not have n_tasks={n_tasks} entries")
    inter = int(get("out_layer_inter_dim", -1))
    heads = dict(
        n_tasks=n_tasks,
        inter_dim=inter if inter > 0 else embed,
        final_dim=int(get("final_dim", 768)),
        pred_layer_id=[int(p) for p in pred],
    )
    return config, heads


class PredictionHeads(nn.Module):
    """The distiller's output layer: ``N`` heads predicting teacher layers.

    ``h = GELU(proj(x))`` with ``proj: Linear(dim, N * inter)``; head ``k`` is
    ``h[..., k*inter:(k+1)*inter] @ weight[k] + bias[k]`` (``weight``: ``(N,
    inter, final)``, ``bias``: ``(1, 1, N, final)``; one ``nn.Linear`` ``single``
    when ``N == 1``).

    Input: ``(B, T, dim)``. Output: list of ``N`` tensors ``(B, T, final)``.
    """

    def __init__(self, dim: int, n_tasks: int, inter_dim: int, final_dim: int):
        super().__init__()
        self.n_tasks, self.inter_dim = n_tasks, inter_dim
        self.proj = nn.Linear(dim, inter_dim * n_tasks)
        if n_tasks > 1:
            self.weight = nn.Parameter(torch.empty(n_tasks, inter_dim, final_dim))
            self.bias = nn.Parameter(torch.zeros(1, 1, n_tasks, final_dim))
            nn.init.uniform_(self.weight, -(inter_dim**-0.5), inter_dim**-0.5)
        else:
            self.single = nn.Linear(inter_dim, final_dim)

    def forward(self, x: Tensor) -> list[Tensor]:
        h = F.gelu(self.proj(x))
        if self.n_tasks == 1:
            return [self.single(h)]
        h = h.unflatten(-1, (self.n_tasks, self.inter_dim))  # (B, T, N, inter)
        out = torch.einsum("btni,nif->btnf", h, self.weight) + self.bias
        return list(out.unbind(2))


class DistillerModel(nn.Module):
    """Waveforms -> the distiller's hidden states (see the module docstring).

    Submodules: ``feature_extractor`` (:class:`ConvFeatureEncoder`),
    ``post_extract_proj`` (when the conv channels differ from ``embed_dim``),
    ``encoder`` (:class:`TransformerEncoder`), ``heads`` (:class:`PredictionHeads`).
    """

    def __init__(self, config: Wav2Vec2Config, heads: Mapping):
        super().__init__()
        self.config = config
        conv_dim = config.conv_layers[-1][0]
        self.feature_extractor = ConvFeatureEncoder(
            config.conv_layers, config.extractor_mode, config.conv_bias, config.layer_norm_eps
        )
        self.post_extract_proj = (
            nn.Linear(conv_dim, config.embed_dim) if conv_dim != config.embed_dim else None
        )
        self.encoder = TransformerEncoder(config)
        self.heads = PredictionHeads(config.embed_dim, heads["n_tasks"], heads["inter_dim"], heads["final_dim"])

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        feats, frames_len = self.feature_extractor(wavs, wavs_len)
        x = feats.transpose(1, 2)
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        layers = self.encoder(x, padding_mask_or_none(frames_len, x.size(1)))[1:]  # drop the encoder input (after pos conv + LN)
        return [x, *layers, *self.heads(layers[-1])], frames_len


_HEAD_RENAMES = [
    (re.compile(r"^output_layer\.0\.(weight|bias)$"), r"heads.proj.\1"),
    (re.compile(r"^output_layer\.2\.(weight|bias)$"), r"heads.\1"),
    (re.compile(r"^output_layer\.2\.layer\.(weight|bias)$"), r"heads.single.\1"),
]


def _rename(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for key, value in rename_fairseq_keys(state).items():
        for pattern, repl in _HEAD_RENAMES:
            key, n = pattern.subn(repl, key)
            if n:
                break
        out[key] = value
    return out


class UpstreamExpert(UpstreamBase):
    """DistilHuBERT (distiller) upstream from a local checkpoint of the original
    s3prl toolkit (``{"Distiller": state_dict, "Config": {"distiller": ...}, ...}``).

    Args:
        ckpt: local checkpoint path.
        dtype: parameter dtype (default fp32; bf16/fp16 for GPU use).

    Input: list of 1-D float waveforms (16 kHz), each >= 400 samples.
    Output: ``1 + encoder_layers + n_tasks`` hidden states ``(batch, frames, dim)``
    (6 x 768 for DistilHuBERT), ``frames = floor((samples - 400) / 320) + 1``.

    Raises:
        FileNotFoundError: no such file.
        s3prl.util.checkpoint.UnsafeCheckpointError: the file asks for a global
            outside the allowlist.
        ValueError: the file is not in the distiller layout (names its top-level
            keys) or has unsupported options.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights missing,
            unexpected, misshapen, non-floating or non-finite (the file and the keys named).
    """

    def __init__(self, ckpt: str | os.PathLike, dtype: Optional[torch.dtype] = None):
        super().__init__()
        states = load_checkpoint(ckpt)
        if not isinstance(states, Mapping) or "Distiller" not in states or "Config" not in states:
            keys = sorted(map(str, states.keys())) if isinstance(states, Mapping) else type(states).__name__
            raise ValueError(
                f"checkpoint {ckpt} is not a distiller checkpoint: expected the keys 'Distiller' "
                f"(weights) and 'Config'; found {keys}"
            )
        note_unused_entries(ckpt, [k for k in states if k not in ("Distiller", "Config")])
        config_all = to_plain(states["Config"])
        if not isinstance(config_all, Mapping) or not isinstance(config_all.get("distiller"), Mapping):
            raise ValueError(f"checkpoint {ckpt}: Config has no 'distiller' section")
        config, heads = distiller_config(config_all["distiller"])
        self.config, self.pred_layer_id = config, heads["pred_layer_id"]
        self.model = DistillerModel(config, heads)
        if not isinstance(states["Distiller"], Mapping):
            raise CheckpointKeyError(f"checkpoint {ckpt}: 'Distiller' is a {type(states['Distiller']).__name__}, "
                                     "not a state dict")
        load_weights(self.model, _rename(states["Distiller"]), ckpt, what="the distiller architecture in its Config")
        self.downsample_rate = config.downsample_rate
        self.receptive_field = config.receptive_field
        self.hidden_sizes = [config.embed_dim] * (1 + config.num_layers) + [heads["final_dim"]] * heads["n_tasks"]
        self.cast_parameters(dtype)
        self.eval()

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) zero padded, ``wavs_len`` (batch,) -> hidden states, valid frames."""
        return self.model(wavs, wavs_len)
