"""LightHuBERT upstream (Wang et al., Interspeech 2022, https://arxiv.org/abs/2203.15610): a
once-for-all HuBERT supernet from which subnets are taken by slicing its weights.

Facts (s3prl 0.4.18 ``upstream/lighthubert``: ``lighthubert.py``, ``modules/scaling_*.py``):

* checkpoint: fairseq hydra layout ``{"cfg": {"model": {..., "_name": "hubert_pruner" |
  "student_hubert", "pruner_supernet": ".../base.yaml" | ".../small.yaml"}}, "model":
  state_dict}`` with HuBERT's fairseq key names (``encoder.pos_conv.0.{weight_g,weight_v,
  bias}``, ``encoder.layers.{i}.self_attn.{q,k,v,out}_proj``, ...) plus the training-only
  ``layer_pred_heads.*`` and ``mask_emb``;
* subnet: ``student_hubert`` -> the search space's largest subnet; ``hubert_pruner`` -> the
  supernet type's fixed subnet (base: 640 dims, 10 heads, FFN 2560, 12 layers; small: 384
  dims, 6 heads, FFN 1536, 12 layers); heads are always 64 wide;
* slicing: ``Linear`` ``W[:out, :in]`` (``fc1`` / ``fc2`` in ``ffn / embed`` equal splits of
  the supernet FFN, each split cut to ``sample_ffn / ratio`` rows / columns), LayerNorm
  ``[:dim]``, positional conv: the weight-normed full weight, then ``[:dim, :dim/groups]``;
  a subnet with ``layer_num < 12`` keeps the layers of a fixed depth map;
* forward: ``F.layer_norm`` of every waveform, HuBERT's feature encoder, LayerNorm,
  ``post_extract_proj``, then the (sliced) transformer encoder. Hidden states: the projected
  features (before the positional convolution) and every kept layer's output (no final
  LayerNorm): ``layer_num + 1`` states.

Here a subnet's sliced weights are loaded into the wav2vec 2.0-style model
(:mod:`s3prl.upstream.wav2vec2.modules`), with per-layer FFN sizes and head counts.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Mapping, Optional

import torch
from torch import Tensor, nn

from s3prl.upstream.interface import UpstreamBase, padding_mask_or_none
from s3prl.upstream.wav2vec2.loading import (
    config_from_fairseq,
    load_weights,
    read_fairseq_checkpoint,
    rename_fairseq_keys,
)
from s3prl.upstream.wav2vec2.modules import EncoderLayer, Wav2Vec2Config, Wav2Vec2Model
from s3prl.util.checkpoint import CheckpointKeyError

__all__ = ["SUBNETS", "DEPTH_MAPS", "default_subnet", "slice_supernet", "UpstreamExpert"]

#: kept layers (1) of the 12-layer supernet for each layer count (LightHuBERT's depth maps)
DEPTH_MAPS = {
    6: [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0],
    7: [1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0],
    8: [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0],
    9: [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0],
    10: [1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0],
    11: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
    12: [1] * 12,
}


def _uniform(dim: int, heads: int, ffn: int, layers: int = 12) -> dict:
    return {"embed_dim": dim, "atten_dim": [heads * 64] * layers, "heads_num": [heads] * layers,
            "ffn_embed": [ffn] * layers, "layer_num": layers}


#: the released supernets' subnets: ``(supernet type, "subnet" | "max")``
SUBNETS = {
    ("base", "subnet"): _uniform(640, 10, 2560),
    ("small", "subnet"): _uniform(384, 6, 1536),
    ("base", "max"): _uniform(768, 12, 3072),
    ("small", "max"): _uniform(512, 8, 2048),
}


def default_subnet(model_cfg: Mapping, source: str = "checkpoint") -> dict:
    """The subnet s3prl 0.4.18 takes for a checkpoint (module docstring). A checkpoint whose
    supernet is not the released 768-dim one (e.g. a reduced test model) has no table
    entry: its default is the whole supernet.

    Raises:
        ValueError: a model ``_name`` other than ``hubert_pruner`` / ``student_hubert``.
    """
    name = model_cfg.get("_name")
    if name not in ("hubert_pruner", "student_hubert"):
        raise ValueError(f"{source}: model _name {name!r} is not a LightHuBERT one "
                         "('hubert_pruner' or 'student_hubert')")
    kind = str(model_cfg.get("supernet_type") or "base").lower()
    if name == "hubert_pruner":
        supernet = str(model_cfg.get("pruner_supernet") or "").lower()
        kind = "small" if supernet.endswith("small.yaml") else "base" if supernet.endswith("base.yaml") else kind
    dim = int(model_cfg.get("encoder_embed_dim", 768))
    if dim != 768:
        heads = int(model_cfg.get("encoder_attention_heads", dim // 64))
        return _uniform(dim, heads, int(model_cfg.get("encoder_ffn_embed_dim", 4 * dim)),
                        int(model_cfg.get("encoder_layers", 12)))
    return dict(SUBNETS[(kind, "max" if name == "student_hubert" else "subnet")])


def _split_slice(w: Tensor, dim: int, full: int, splits: int, sample: int, ratio: float) -> Tensor:
    """LightHuBERT's ``SLinear`` slicing along ``dim`` of a weight made of ``splits`` equal
    parts of ``full // splits``: from each of the first ``ceil(ratio)`` parts, the first
    ``int(sample / ratio)`` entries (the last part cut to what remains of ``sample``)."""
    if splits == 1 or sample == full:
        return w.narrow(dim, 0, sample)
    size = int(sample / ratio)
    parts = torch.split(w, full // splits, dim=dim)[: math.ceil(ratio)]
    return torch.cat([p.narrow(dim, 0, min(size, sample - i * size)) for i, p in enumerate(parts)], dim=dim)


def slice_supernet(state: Mapping[str, Tensor], model_cfg: Mapping, subnet: Mapping,
                   source: object = "checkpoint") -> tuple[dict, list[int]]:
    """The subnet's weights (fairseq names, kept layers renumbered) and the kept supernet layers.

    The slices keep the checkpoint's dtypes and values (the positional convolution's weight
    norm is re-expressed for the slice only when both its tensors are floating), so that the
    strict load of the result refuses non-floating or non-finite weights.

    Args:
        source: the checkpoint file, for messages.

    Raises:
        ValueError: an inconsistent subnet (``atten_dim != heads * 64``, attention width
            other than ``embed_dim``, unknown ``layer_num``, sizes beyond the supernet).
        CheckpointKeyError: (a ``ValueError``) a supernet weight the slice needs is missing
            (or not a tensor), naming ``source`` and the key.
    """

    def need(key: str) -> Tensor:
        value = state.get(key)
        if not isinstance(value, Tensor):
            raise CheckpointKeyError(f"checkpoint {source}: missing keys [{key!r}] (a LightHuBERT supernet weight "
                                     "the subnet is sliced from)")
        return value

    full_dim = int(model_cfg.get("encoder_embed_dim", 768))
    full_ffn = int(model_cfg.get("encoder_ffn_embed_dim", 3072))
    n_layers = int(model_cfg.get("encoder_layers", 12))
    dim, layer_num = int(subnet["embed_dim"]), int(subnet["layer_num"])
    if layer_num == n_layers:
        kept = list(range(n_layers))
    elif n_layers == 12 and layer_num in DEPTH_MAPS:
        kept = [i for i, keep in enumerate(DEPTH_MAPS[layer_num]) if keep]
    else:
        raise ValueError(f"subnet layer_num {layer_num} is not a LightHuBERT depth ({sorted(DEPTH_MAPS)})")
    if dim > full_dim:
        raise ValueError(f"subnet embed_dim {dim} exceeds the supernet's {full_dim}")
    for j in range(layer_num):
        if subnet["atten_dim"][j] != subnet["heads_num"][j] * 64 or subnet["atten_dim"][j] != dim:
            raise ValueError(f"subnet layer {j}: atten_dim {subnet['atten_dim'][j]} must be heads_num * 64 and "
                             f"equal embed_dim {dim} (the released subnets' shape)")
        if subnet["ffn_embed"][j] > full_ffn:
            raise ValueError(f"subnet layer {j}: ffn_embed {subnet['ffn_embed'][j]} exceeds the supernet's {full_ffn}")
    out = {}
    for key, value in state.items():
        if key.startswith(("encoder.layers.", "encoder.pos_conv.", "encoder.layer_norm.", "post_extract_proj.")):
            continue
        out[key] = value
    out["post_extract_proj.weight"] = need("post_extract_proj.weight")[:dim]
    out["post_extract_proj.bias"] = need("post_extract_proj.bias")[:dim]
    for name in ("weight", "bias"):
        out[f"encoder.layer_norm.{name}"] = need(f"encoder.layer_norm.{name}")[:dim]
    g, v = need("encoder.pos_conv.0.weight_g"), need("encoder.pos_conv.0.weight_v")
    groups = int(model_cfg.get("conv_pos_groups", 16))
    if g.is_floating_point() and v.is_floating_point():
        weight = (g.float() * v.float() / v.float().pow(2).sum(dim=(0, 1), keepdim=True).sqrt())[:dim, : dim // groups]
        out["encoder.pos_conv.0.weight_v"] = weight  # re-expressed as weight norm of the slice
        out["encoder.pos_conv.0.weight_g"] = weight.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    else:  # left as stored: the strict load names the dtype
        out["encoder.pos_conv.0.weight_v"], out["encoder.pos_conv.0.weight_g"] = v[:dim, : dim // groups], g
    out["encoder.pos_conv.0.bias"] = need("encoder.pos_conv.0.bias")[:dim]
    splits = full_ffn // full_dim
    for j, i in enumerate(kept):
        src, dst = f"encoder.layers.{i}.", f"encoder.layers.{j}."
        for proj in ("q_proj", "k_proj", "v_proj"):
            out[dst + f"self_attn.{proj}.weight"] = need(src + f"self_attn.{proj}.weight")[:dim, :dim]
            out[dst + f"self_attn.{proj}.bias"] = need(src + f"self_attn.{proj}.bias")[:dim]
        out[dst + "self_attn.out_proj.weight"] = need(src + "self_attn.out_proj.weight")[:dim, :dim]
        out[dst + "self_attn.out_proj.bias"] = need(src + "self_attn.out_proj.bias")[:dim]
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            for name in ("weight", "bias"):
                out[dst + f"{norm}.{name}"] = need(src + f"{norm}.{name}")[:dim]
        ffn = int(subnet["ffn_embed"][j])
        ratio = ffn / dim
        out[dst + "fc1.weight"] = _split_slice(need(src + "fc1.weight")[:, :dim], 0, full_ffn, splits, ffn, ratio)
        out[dst + "fc1.bias"] = _split_slice(need(src + "fc1.bias"), 0, full_ffn, splits, ffn, ratio)
        out[dst + "fc2.weight"] = _split_slice(need(src + "fc2.weight"), 1, full_ffn, splits, ffn, ratio)[:dim]
        out[dst + "fc2.bias"] = need(src + "fc2.bias")[:dim]
    return out, kept


class UpstreamExpert(UpstreamBase):
    """A LightHuBERT subnet from a local supernet checkpoint.

    Args:
        ckpt: local path (fairseq hydra layout, see the module docstring).
        subnet: ``{"embed_dim": int, "atten_dim": [..], "heads_num": [..], "ffn_embed": [..],
            "layer_num": int}`` to take another subnet; default :func:`default_subnet`.
        dtype: parameter dtype (default fp32).

    Output: ``layer_num + 1`` hidden states ``(batch, frames, embed_dim)`` (the projected
    features, then every kept layer); stride 320 samples, receptive field 400.

    Raises:
        ValueError: not a LightHuBERT checkpoint, an unsupported subnet.
        CheckpointKeyError: (a ``ValueError``) weights missing, unexpected, misshapen,
            non-floating or non-finite (the file and the keys named).
    """

    def __init__(self, ckpt: str | os.PathLike, subnet: Optional[Mapping] = None, dtype=None):
        super().__init__()
        read = read_fairseq_checkpoint(ckpt)
        source = f"LightHuBERT checkpoint {ckpt}"
        cfg = dict(read.model_cfg)
        subnet = dict(subnet) if subnet is not None else default_subnet(cfg, source)
        sliced, kept = slice_supernet(read.state_dict, cfg, subnet, ckpt)
        dim = int(subnet["embed_dim"])
        base = {**cfg, "encoder_embed_dim": dim, "encoder_layers": len(kept), "layer_type": "transformer",
                "encoder_attention_heads": int(subnet["heads_num"][0]), "encoder_ffn_embed_dim": int(subnet["ffn_embed"][0])}
        config = config_from_fairseq(base, {"normalize": True})
        heads, ffns = [int(h) for h in subnet["heads_num"]], [int(f) for f in subnet["ffn_embed"]]

        def layer_factory(index: int, cfg_: Wav2Vec2Config) -> nn.Module:
            return EncoderLayer(dataclasses.replace(cfg_, num_heads=heads[index], ffn_dim=ffns[index]))

        self.config, self.subnet, self.kept_layers = config, subnet, kept
        self.model = Wav2Vec2Model(config, layer_factory)
        state = rename_fairseq_keys(sliced)
        unused = ("layer_pred_heads.",)
        if config.layer_norm_first:  # the hidden states are the raw layer outputs
            self.model.encoder.layer_norm = nn.Identity()
            unused += ("encoder.layer_norm.",)
        load_weights(self.model, state, ckpt, extra_ignored_prefixes=unused,
                     what="the LightHuBERT subnet taken from it")
        self.downsample_rate = config.downsample_rate
        self.receptive_field = config.receptive_field
        self.hidden_sizes = [dim] * (len(kept) + 1)
        self.cast_parameters(dtype)
        self.eval()

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        x, frames_len = self.model.extract_features(wavs, wavs_len)  # config.normalize is True
        states = self.model.encoder(x, padding_mask_or_none(frames_len, x.size(1)))
        return [x, *states[1:]], frames_len
