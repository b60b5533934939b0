"""Reduced-size wav2vec 2.0 Conformer checkpoints in fairseq's released layout (seeded weights).

Layout of ``LL_relpos_PT_no_FT`` / ``LL_rope_PT_no_FT`` / ``conformer_L.pt`` (fairseq hydra
era, ``checkpoint_utils.save_state``): ``{"cfg": {"model": Wav2Vec2Config fields with
layer_type "conformer", attn_type "espnet", pos_enc_type "rel_pos"|"rope",
depthwise_conv_kernel_size, ...}, "task": {...normalize...}, ...}, "model": state_dict, ...}``.

State-dict keys (fairseq ``Wav2Vec2Model`` with ``ConformerEncoder``; facts from
``fairseq/models/wav2vec/wav2vec2.py`` and ``fairseq/modules/conformer_layer.py``): the
wav2vec 2.0 feature encoder / projection / quantizer keys (see ``wav2vec2.py``), the unused
``encoder.pos_conv.0.*`` (built by the parent ``TransformerEncoder``), ``encoder.layer_norm``,
and per layer ``encoder.layers.{i}.``: ``ffn1.layer_norm``, ``ffn1.w_1``, ``ffn1.w_2``,
``self_attn_layer_norm``, ``self_attn.linear_{q,k,v,out}`` (+ ``linear_pos.weight``,
``pos_bias_u``, ``pos_bias_v`` for rel_pos; ``rotary_emb.inv_freq`` buffer for rope),
``conv_module.layer_norm``, ``conv_module.pointwise_conv1.weight`` (2C, C, 1),
``conv_module.depthwise_conv.weight`` (C, 1, K), ``conv_module.batch_norm.{weight, bias,
running_mean, running_var, num_batches_tracked}``, ``conv_module.pointwise_conv2.weight``,
``ffn2.*``, ``final_layer_norm``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .wav2vec2 import make_state, model_options, task_options, write_cfg_layout

KERNEL = 5  # depthwise kernel (31 in the released models)


def conformer_options(position: str, **over) -> dict:
    """fairseq model options of a (reduced) wav2vec 2.0 Conformer Large."""
    opts = model_options(_name="wav2vec2", extractor_mode="layer_norm", conv_bias=True, layer_norm_first=True,
                         encoder_layerdrop=0.0, final_dim=24, layer_type="conformer", attn_type="espnet",
                         pos_enc_type=position, depthwise_conv_kernel_size=KERNEL,
                         fp16=True)
    opts.update(over)
    return opts


def make_conformer_state(opts: dict, seed: int) -> dict:
    """The state dict: wav2vec 2.0's non-layer weights, then seeded Conformer layers."""
    sd = make_state({**opts, "encoder_layers": 0}, seed)
    gen = torch.Generator().manual_seed(seed + 1000)
    dim, ffn, heads = opts["encoder_embed_dim"], opts["encoder_ffn_embed_dim"], opts["encoder_attention_heads"]
    k = opts["depthwise_conv_kernel_size"]

    def rand(*shape, scale=0.1, offset=0.0):
        return torch.randn(*shape, generator=gen) * scale + offset

    def linear(name, n_in, n_out, bias=True):
        sd[f"{name}.weight"] = rand(n_out, n_in, scale=n_in**-0.5)
        if bias:
            sd[f"{name}.bias"] = rand(n_out)

    def norm(name):
        sd[f"{name}.weight"], sd[f"{name}.bias"] = rand(dim, scale=0.2, offset=1.0), rand(dim)

    for i in range(opts["encoder_layers"]):
        p = f"encoder.layers.{i}"
        for f in ("ffn1", "ffn2"):
            norm(f"{p}.{f}.layer_norm")
            linear(f"{p}.{f}.w_1", dim, ffn)
            linear(f"{p}.{f}.w_2", ffn, dim)
        norm(f"{p}.self_attn_layer_norm")
        for proj in ("linear_q", "linear_k", "linear_v", "linear_out"):
            linear(f"{p}.self_attn.{proj}", dim, dim)
        if opts["pos_enc_type"] == "rel_pos":
            linear(f"{p}.self_attn.linear_pos", dim, dim, bias=False)
            sd[f"{p}.self_attn.pos_bias_u"] = rand(heads, dim // heads, scale=0.3)
            sd[f"{p}.self_attn.pos_bias_v"] = rand(heads, dim // heads, scale=0.3)
        else:
            d = dim // heads
            sd[f"{p}.self_attn.rotary_emb.inv_freq"] = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
        c = f"{p}.conv_module"
        norm(f"{c}.layer_norm")
        sd[f"{c}.pointwise_conv1.weight"] = rand(2 * dim, dim, 1, scale=dim**-0.5)
        sd[f"{c}.depthwise_conv.weight"] = rand(dim, 1, k, scale=k**-0.5)
        norm(f"{c}.batch_norm")
        sd[f"{c}.batch_norm.running_mean"] = rand(dim)
        sd[f"{c}.batch_norm.running_var"] = rand(dim, scale=0.2).abs() + 0.8
        sd[f"{c}.batch_norm.num_batches_tracked"] = torch.tensor(123456)
        sd[f"{c}.pointwise_conv2.weight"] = rand(dim, dim, 1, scale=dim**-0.5)
        norm(f"{p}.final_layer_norm")
    return sd


def build(dst: Path, position: str, seed: int, name: str) -> tuple[str, Path]:
    opts = conformer_options(position)
    Path(dst).mkdir(parents=True, exist_ok=True)
    path = write_cfg_layout(Path(dst) / name, opts, task_options(True), make_conformer_state(opts, seed))
    return "wav2vec2_conformer_local", path


def build_relpos(dst: Path, seed: int = 41) -> tuple[str, Path]:
    """Like ``LL_relpos_PT_no_FT`` (no file extension, as released)."""
    return build(dst, "rel_pos", seed, "LL_relpos_PT_no_FT")


def build_rope(dst: Path, seed: int = 42) -> tuple[str, Path]:
    """Like ``LL_rope_PT_no_FT``."""
    return build(dst, "rope", seed, "LL_rope_PT_no_FT")


BUILDERS = {"wav2vec2_conformer_relpos_reduced": build_relpos, "wav2vec2_conformer_rope_reduced": build_rope}
