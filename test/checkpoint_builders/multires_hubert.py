"""Reduced-size MR-HuBERT checkpoints (seeded random weights) in the original s3prl toolkit's
converted layout (s3prl 0.4.18 ``upstream/multires_hubert/convert.py``):
``{"task_cfg": dict, "model_cfg": MultiresHubertConfig fields (dict), "model_weight": state
dict, "dictionaries_symbols": [[...] per resolution]}``.

State-dict keys (``MultiresHubertModel``): ``feature_extractor.*``, ``layer_norm.*``,
``post_extract_proj.*``, ``mask_emb``; per block (``encoders.{i}.``, ``middle_encoder.``,
``decoders.{i}.``) a fairseq ``TransformerEncoder``: ``pos_conv.0.{weight_g,weight_v,bias}``
(``encoders.0`` only), ``layer_norm.*``, ``layers.{j}.{self_attn.{k,v,q,out}_proj,
self_attn_layer_norm,fc1,fc2,final_layer_norm}.*``; adapters ``downsample_modules.{i}.`` /
``upsample_modules.{i}.``: ``upsample_conv.0.weight`` (ConvTranspose1d, (C, C, k)),
``upsample_conv.2.{weight,bias}`` (GroupNorm(1)), ``downsample_conv.0.weight`` (Conv1d),
``downsample_conv.2.*``; training-only ``final_projs.{r}.*``, ``label_embs_concat.{r}``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .hubert import hubert_task
from .wav2vec2 import make_state, model_options

KERNEL = 3


def mr_options(ratios, override: str, plain: bool) -> dict:
    opts = model_options(_name="multires_hubert", label_rate=50.0, label_rate_ratios=list(ratios),
                         override_encoder_layers=override, encoder_layers=1, conv_adapator_kernal=KERNEL,
                         use_plain_updownsample=plain, use_single_target=False, use_single_prediction=False,
                         untie_final_proj=True, final_dim=16, required_seq_len_multiple=2)
    return opts


def make_mr_state(opts: dict, seed: int) -> dict:
    base = make_state({**opts, "encoder_layers": 0}, seed, "none")
    sd = {k: v for k, v in base.items() if not k.startswith("encoder.")}
    gen = torch.Generator().manual_seed(seed + 7)
    dim, ffn = opts["encoder_embed_dim"], opts["encoder_ffn_embed_dim"]
    ratios = opts["label_rate_ratios"]
    r = len(ratios) // 2
    layers = eval(opts["override_encoder_layers"]) if opts["override_encoder_layers"] else [1] * (2 * r + 1)  # noqa: S307

    def rand(*shape, scale=0.1, offset=0.0):
        return torch.randn(*shape, generator=gen) * scale + offset

    def block(prefix, n, pos_conv):
        if pos_conv:
            sd[prefix + "pos_conv.0.weight_g"] = rand(1, 1, opts["conv_pos"], scale=0.2, offset=1.0)
            sd[prefix + "pos_conv.0.weight_v"] = rand(dim, dim // opts["conv_pos_groups"], opts["conv_pos"])
            sd[prefix + "pos_conv.0.bias"] = rand(dim)
        sd[prefix + "layer_norm.weight"], sd[prefix + "layer_norm.bias"] = rand(dim, scale=0.2, offset=1.0), rand(dim)
        for j in range(n):
            p = f"{prefix}layers.{j}."
            for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
                sd[p + f"self_attn.{proj}.weight"], sd[p + f"self_attn.{proj}.bias"] = rand(dim, dim, scale=dim**-0.5), rand(dim)
            for norm in ("self_attn_layer_norm", "final_layer_norm"):
                sd[p + f"{norm}.weight"], sd[p + f"{norm}.bias"] = rand(dim, scale=0.2, offset=1.0), rand(dim)
            sd[p + "fc1.weight"], sd[p + "fc1.bias"] = rand(ffn, dim, scale=dim**-0.5), rand(ffn)
            sd[p + "fc2.weight"], sd[p + "fc2.bias"] = rand(dim, ffn, scale=ffn**-0.5), rand(dim)

    def adapter(prefix, up: bool, down: bool):
        for kind, on in (("upsample_conv", up), ("downsample_conv", down)):
            if on:
                sd[f"{prefix}{kind}.0.weight"] = rand(dim, dim, KERNEL, scale=(dim * KERNEL) ** -0.5)
                sd[f"{prefix}{kind}.2.weight"] = rand(dim, scale=0.2, offset=1.0)
                sd[f"{prefix}{kind}.2.bias"] = rand(dim)

    plain = opts["use_plain_updownsample"]
    for i in range(r):
        block(f"encoders.{i}.", layers[i], i == 0)
        block(f"decoders.{i}.", layers[2 * r - i], False)
        adapter(f"downsample_modules.{i}.", not plain, True)
        adapter(f"upsample_modules.{i}.", True, not plain)
    block("middle_encoder.", layers[r], r == 0)
    for i in range(r + 1):
        sd[f"final_projs.{i}.weight"], sd[f"final_projs.{i}.bias"] = rand(16, dim), rand(16)
        sd[f"label_embs_concat.{i}"] = rand(20, 16)
    return sd


def build(dst: Path, ratios=(1, 2), override="[2, 1, 2]", plain=False, seed=91, name="mrhubert_mono_base.pt"):
    opts = mr_options(ratios, override, plain)
    Path(dst).mkdir(parents=True, exist_ok=True)
    path = Path(dst) / name
    symbols = [["<s>", "<pad>", "</s>", "<unk>", *map(str, range(16))] for _ in range(len(ratios) // 2 + 1)]
    torch.save({"task_cfg": hubert_task(False), "model_cfg": opts, "model_weight": make_mr_state(opts, seed),
                "dictionaries_symbols": symbols}, path)
    return "multires_hubert_local", path


def build_base(dst: Path) -> tuple[str, Path]:
    return build(dst)


def build_three_resolutions_plain(dst: Path) -> tuple[str, Path]:
    """Two resolution steps (50, 25, 12.5 Hz) with the plain up/down samplers."""
    return build(dst, ratios=(1, 2, 1, 2), override="", plain=True, seed=92, name="mr3_plain.pt")


BUILDERS = {"multires_hubert_reduced": build_base}
