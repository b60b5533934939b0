"""Reduced-size WavLM checkpoints in the UniLM release layout (seeded random weights).

Layout of ``WavLM-Base+.pt`` / ``WavLM-Large.pt`` (https://github.com/microsoft/unilm/tree/master/wavlm,
loaded there with ``WavLM(WavLMConfig(ckpt['cfg'])).load_state_dict(ckpt['model'])``):
``{"cfg": dict of WavLMConfig fields, "model": state_dict}`` with keys

* ``feature_extractor.conv_layers.{i}.0.weight`` (conv, no bias),
  ``feature_extractor.conv_layers.0.2.{weight,bias}`` (group norm, "default" mode) or
  ``feature_extractor.conv_layers.{i}.2.1.{weight,bias}`` (layer norm, "layer_norm" mode);
* ``layer_norm.{weight,bias}`` (conv features), ``post_extract_proj.{weight,bias}``, ``mask_emb``;
* ``encoder.pos_conv.0.{weight_g,weight_v,bias}``, ``encoder.layer_norm.{weight,bias}``;
* ``encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}``,
  ``encoder.layers.0.self_attn.relative_attention_bias.weight`` (first layer only),
  ``encoder.layers.{i}.self_attn.grep_linear.{weight,bias}``, ``encoder.layers.{i}.self_attn.grep_a``,
  ``encoder.layers.{i}.{self_attn_layer_norm,fc1,fc2,final_layer_norm}.{weight,bias}``.

The same writer serves UniSpeech-SAT (``unispeech_sat.py``): the original s3prl toolkit's
converted UniSpeech-SAT files use this layout with ``relative_position_embedding=False``.
"""

from __future__ import annotations

from pathlib import Path

import torch

CONV = [(24, 10, 5)] + [(24, 3, 2)] * 4 + [(24, 2, 2)] * 2  # 400-sample field, 320 stride
DIM, FFN, HEADS, LAYERS, CONV_POS, CONV_POS_GROUPS = 32, 64, 4, 2, 16, 4


def unilm_cfg(**over) -> dict:
    """Every field of UniLM's ``WavLMConfig`` (reduced sizes), as the released ``cfg``."""
    cfg = dict(
        extractor_mode="default",
        encoder_layers=LAYERS,
        encoder_embed_dim=DIM,
        encoder_ffn_embed_dim=FFN,
        encoder_attention_heads=HEADS,
        activation_fn="gelu",
        layer_norm_first=False,
        conv_feature_layers=str(CONV),
        conv_bias=False,
        feature_grad_mult=0.1,
        normalize=False,
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.0,
        encoder_layerdrop=0.05,
        dropout_input=0.1,
        dropout_features=0.1,
        mask_length=10,
        mask_prob=0.8,
        mask_selection="static",
        mask_other=0.0,
        no_mask_overlap=False,
        mask_min_space=1,
        mask_channel_length=10,
        mask_channel_prob=0.0,
        mask_channel_selection="static",
        mask_channel_other=0.0,
        no_mask_channel_overlap=False,
        mask_channel_min_space=1,
        conv_pos=CONV_POS,
        conv_pos_groups=CONV_POS_GROUPS,
        relative_position_embedding=True,
        num_buckets=320,
        max_distance=800,
        gru_rel_pos=True,
    )
    cfg.update(over)
    return cfg


def unilm_state_dict(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights for ``cfg`` in UniLM's key layout; norms and biases
    are perturbed away from 1/0 so that every parameter matters."""
    gen = torch.Generator().manual_seed(seed)

    def w(*shape, fan_in=None):
        fan_in = fan_in or shape[-1]
        return torch.randn(*shape, generator=gen) / fan_in**0.5

    def b(*shape):
        return torch.randn(*shape, generator=gen) * 0.1

    def g(*shape):
        return 1.0 + torch.randn(*shape, generator=gen) * 0.1

    conv = eval(cfg["conv_feature_layers"])  # noqa: S307 - a literal list written above
    dim, ffn, heads = cfg["encoder_embed_dim"], cfg["encoder_ffn_embed_dim"], cfg["encoder_attention_heads"]
    sd: dict[str, torch.Tensor] = {}
    in_ch = 1
    for i, (ch, k, _) in enumerate(conv):
        sd[f"feature_extractor.conv_layers.{i}.0.weight"] = w(ch, in_ch, k, fan_in=in_ch * k)
        if cfg["conv_bias"]:
            sd[f"feature_extractor.conv_layers.{i}.0.bias"] = b(ch)
        if cfg["extractor_mode"] == "layer_norm":
            sd[f"feature_extractor.conv_layers.{i}.2.1.weight"] = g(ch)
            sd[f"feature_extractor.conv_layers.{i}.2.1.bias"] = b(ch)
        elif i == 0:
            sd["feature_extractor.conv_layers.0.2.weight"] = g(ch)
            sd["feature_extractor.conv_layers.0.2.bias"] = b(ch)
        in_ch = ch
    sd["layer_norm.weight"] = g(in_ch)
    sd["layer_norm.bias"] = b(in_ch)
    if in_ch != dim:
        sd["post_extract_proj.weight"] = w(dim, in_ch)
        sd["post_extract_proj.bias"] = b(dim)
    sd["mask_emb"] = torch.rand(dim, generator=gen)
    k, groups = cfg["conv_pos"], cfg["conv_pos_groups"]
    sd["encoder.pos_conv.0.weight_g"] = g(1, 1, k)
    sd["encoder.pos_conv.0.weight_v"] = w(dim, dim // groups, k, fan_in=dim // groups * k)
    sd["encoder.pos_conv.0.bias"] = b(dim)
    for i in range(cfg["encoder_layers"]):
        p = f"encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[p + f"self_attn.{proj}.weight"] = w(dim, dim)
            sd[p + f"self_attn.{proj}.bias"] = b(dim)
        if cfg["relative_position_embedding"] and i == 0:
            # O(1) values so that the bias visibly changes the attention
            sd[p + "self_attn.relative_attention_bias.weight"] = torch.randn(
                cfg["num_buckets"], heads, generator=gen
            )
        if cfg["gru_rel_pos"]:
            sd[p + "self_attn.grep_linear.weight"] = w(8, dim // heads)
            sd[p + "self_attn.grep_linear.bias"] = b(8)
            sd[p + "self_attn.grep_a"] = g(1, heads, 1, 1)
        sd[p + "self_attn_layer_norm.weight"] = g(dim)
        sd[p + "self_attn_layer_norm.bias"] = b(dim)
        sd[p + "fc1.weight"] = w(ffn, dim)
        sd[p + "fc1.bias"] = b(ffn)
        sd[p + "fc2.weight"] = w(dim, ffn)
        sd[p + "fc2.bias"] = b(dim)
        sd[p + "final_layer_norm.weight"] = g(dim)
        sd[p + "final_layer_norm.bias"] = b(dim)
    sd["encoder.layer_norm.weight"] = g(dim)
    sd["encoder.layer_norm.bias"] = b(dim)
    return sd


def base_cfg() -> dict:
    """WavLM Base / Base+ architecture (post-LN, group-norm extractor), reduced."""
    return unilm_cfg()


def large_cfg() -> dict:
    """WavLM Large architecture (pre-LN, layer-norm extractor, normalised input), reduced."""
    return unilm_cfg(extractor_mode="layer_norm", layer_norm_first=True, normalize=True, conv_bias=False)


def write_unilm(dst: Path, cfg: dict, seed: int = 0, name: str = "wavlm.pt") -> Path:
    """Write ``{"cfg", "model"}`` to ``dst/name``."""
    dst.mkdir(parents=True, exist_ok=True)
    path = dst / name
    torch.save({"cfg": cfg, "model": unilm_state_dict(cfg, seed)}, path)
    return path


def build_wavlm_base(dst: Path):
    return "wavlm_local", write_unilm(dst, base_cfg(), seed=1, name="wavlm_base_reduced.pt")


def build_wavlm_large(dst: Path):
    return "wavlm_local", write_unilm(dst, large_cfg(), seed=2, name="wavlm_large_reduced.pt")


BUILDERS = {
    "wavlm_base_reduced": build_wavlm_base,
    "wavlm_large_reduced": build_wavlm_large,
}


# --------------------------------------------------------------------------- transformers reference


def hf_config_kwargs(cfg: dict) -> dict:
    """``transformers`` config arguments (``WavLMConfig`` / ``UniSpeechSatConfig``) for a UniLM ``cfg``."""
    conv = eval(cfg["conv_feature_layers"])  # noqa: S307 - literal written by this module
    return dict(
        hidden_size=cfg["encoder_embed_dim"],
        num_hidden_layers=cfg["encoder_layers"],
        num_attention_heads=cfg["encoder_attention_heads"],
        intermediate_size=cfg["encoder_ffn_embed_dim"],
        conv_dim=[c for c, _, _ in conv],
        conv_kernel=[k for _, k, _ in conv],
        conv_stride=[s for _, _, s in conv],
        conv_bias=cfg["conv_bias"],
        feat_extract_norm="layer" if cfg["extractor_mode"] == "layer_norm" else "group",
        do_stable_layer_norm=cfg["layer_norm_first"],
        num_conv_pos_embeddings=cfg["conv_pos"],
        num_conv_pos_embedding_groups=cfg["conv_pos_groups"],
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
        mask_time_prob=0.05,
    )


def unilm_to_hf_state_dict(sd: dict, cfg: dict) -> dict:
    """UniLM/fairseq names -> ``transformers`` ``WavLMModel`` / ``UniSpeechSatModel`` names
    (written independently of s3prl's loader, for the parity tests)."""
    out = {}
    layer_map = {
        "self_attn.q_proj": "attention.q_proj",
        "self_attn.k_proj": "attention.k_proj",
        "self_attn.v_proj": "attention.v_proj",
        "self_attn.out_proj": "attention.out_proj",
        "self_attn.grep_linear": "attention.gru_rel_pos_linear",
        "self_attn.grep_a": "attention.gru_rel_pos_const",
        "self_attn.relative_attention_bias": "attention.rel_attn_embed",
        "self_attn_layer_norm": "layer_norm",
        "fc1": "feed_forward.intermediate_dense",
        "fc2": "feed_forward.output_dense",
        "final_layer_norm": "final_layer_norm",
    }
    for k, v in sd.items():
        parts = k.split(".")
        if k == "mask_emb":
            out["masked_spec_embed"] = v
        elif k.startswith("feature_extractor.conv_layers."):
            i = parts[2]
            if parts[3] == "0":
                out[f"feature_extractor.conv_layers.{i}.conv.{parts[-1]}"] = v
            else:
                out[f"feature_extractor.conv_layers.{i}.layer_norm.{parts[-1]}"] = v
        elif k.startswith("layer_norm."):
            out["feature_projection." + k] = v
        elif k.startswith("post_extract_proj."):
            out["feature_projection.projection." + parts[-1]] = v
        elif k.startswith("encoder.pos_conv.0."):
            name = {"weight_g": "parametrizations.weight.original0",
                    "weight_v": "parametrizations.weight.original1", "bias": "bias"}[parts[-1]]
            out["encoder.pos_conv_embed.conv." + name] = v
        elif k.startswith("encoder.layer_norm."):
            out[k] = v
        elif k.startswith("encoder.layers."):
            i, rest = parts[2], ".".join(parts[3:])
            for old, new in layer_map.items():
                if rest == old or rest.startswith(old + "."):
                    out[f"encoder.layers.{i}.{new}{rest[len(old):]}"] = v
                    break
            else:
                raise KeyError(k)
        else:
            raise KeyError(k)
    return out
