"""Reduced-size MR-HuBERT checkpoints (seeded random weights) in the original s3prl toolkit's
converted layout (s3prl 0.4.18 ``upstream/multires_hubert/convert.py``, the released files):
``{"task_cfg": MultiresHubertPretrainingConfig fields (dict), "model_cfg": MultiresHubertConfig
fields (dict), "model_weight": state dict, "dictionaries_symbols": [[...] per resolution]}``, or
in fairseq main's own layout (``{"cfg": {"model", "task", ...}, "model", "task_state"}``).
The cfg dicts hold exactly fairseq main's dataclass fields (:data:`MR_MODEL_FIELDS`,
:data:`MR_TASK_FIELDS`).

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

from .wav2vec2 import (
    fairseq_dictionary,
    make_state,
    model_options,
    saving_fairseq_classes,
    write_cfg_layout,
)

KERNEL = 3


# fairseq main ``fairseq/models/multires_hubert/multires_hubert.py`` ``MultiresHubertConfig``:
# every field (``_name`` from ``FairseqDataclass``) with its default, in declaration order, as
# ``OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)`` writes it (fairseq's trainer
# ``state_dict``): ``label_rate`` resolved from ``II("task.label_rate")``, tuples as lists.
# ``label_rate_ratios`` is ``MISSING`` there (always given).
MR_MODEL_FIELDS = dict(
    _name="multires_hubert", label_rate=50.0, label_rate_ratios=None, extractor_mode="default",
    encoder_layers=2, override_encoder_layers="", encoder_embed_dim=768, encoder_ffn_embed_dim=3072,
    encoder_attention_heads=12, activation_fn="gelu", layer_type="transformer", conv_adapator_kernal=7,
    use_plain_updownsample=False, dropout=0.1, attention_dropout=0.1, activation_dropout=0.0,
    encoder_layerdrop=0.0, dropout_input=0.0, dropout_features=0.0, final_dim=0, untie_final_proj=True,
    layer_norm_first=False, conv_feature_layers="[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
    conv_bias=False, logit_temp=0.1, target_glu=False, feature_grad_mult=1.0, use_single_target=False,
    use_single_prediction=False, use_multi_stream=False, mask_length=10, mask_prob=0.65,
    mask_selection="static", mask_other=0.0, no_mask_overlap=False, mask_min_space=1,
    mask_channel_length=10, mask_channel_prob=0.0, mask_channel_selection="static", mask_channel_other=0.0,
    no_mask_channel_overlap=False, mask_channel_min_space=1, conv_pos=128, conv_pos_groups=16,
    latent_temp=[2.0, 0.5, 0.999995], skip_masked=False, skip_nomask=False, checkpoint_activations=False,
    required_seq_len_multiple=2, depthwise_conv_kernel_size=31, attn_type="", pos_enc_type="abs", fp16=False,
)

# fairseq main ``fairseq/tasks/multires_hubert_pretraining.py`` ``MultiresHubertPretrainingConfig``
# (``data`` and ``label_rate_ratios`` are ``MISSING`` there; the values below are a run's).
MR_TASK_FIELDS = dict(
    _name="multires_hubert_pretraining", data="/checkpoint/manifests", fine_tuning=False,
    labels=["km50", "km25"], label_dir="/checkpoint/labels", label_rate=50.0, label_rate_ratios=None,
    sample_rate=16000, normalize=False, enable_padding=False, max_keep_size=None, max_sample_size=250000,
    min_sample_size=32000, random_crop=True, pad_audio=False,
)


def _weight_options(ratios, override: str, plain: bool, layers: int) -> dict:
    """The options the seeded weights are drawn from (wav2vec 2.0 builder's reduced sizes)."""
    return model_options(_name="multires_hubert", label_rate=50.0, label_rate_ratios=list(ratios),
                         override_encoder_layers=override, encoder_layers=layers, conv_adapator_kernal=KERNEL,
                         use_plain_updownsample=plain, use_single_target=False, use_single_prediction=False,
                         untie_final_proj=True, final_dim=16, required_seq_len_multiple=2)


def mr_options(ratios, override: str, plain: bool, layers: int = 1) -> dict:
    """``MultiresHubertConfig`` as a released file holds it: exactly the dataclass's fields; the
    reduced architecture values (dims, heads, conv stack, positional conv) from
    :func:`_weight_options`, the rest fairseq's defaults."""
    weights = _weight_options(ratios, override, plain, layers)
    return {k: weights.get(k, v) for k, v in MR_MODEL_FIELDS.items()}


def mr_task(ratios) -> dict:
    """``MultiresHubertPretrainingConfig`` fields of a run (no waveform normalisation)."""
    return {**MR_TASK_FIELDS, "label_rate_ratios": list(ratios)}


def make_mr_state(opts: dict, seed: int) -> dict:
    """Seeded state dict of ``MultiresHubertModel`` for ``opts`` (from :func:`_weight_options`)."""
    base = make_state({**opts, "encoder_layers": 0}, seed, "none")
    sd = {k: v for k, v in base.items() if not k.startswith("encoder.")}
    gen = torch.Generator().manual_seed(seed + 7)
    dim, ffn = opts["encoder_embed_dim"], opts["encoder_ffn_embed_dim"]
    ratios = opts["label_rate_ratios"]
    r = len(ratios) // 2
    # fairseq main: an empty override gives every block ``encoder_layers`` layers
    # (``TransformerEncoder(cfg, override_encoder_layer=None)``)
    override = opts["override_encoder_layers"]
    layers = eval(override) if override else [opts["encoder_layers"]] * (2 * r + 1)  # noqa: S307

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


def _symbols(ratios) -> list:
    return [["<s>", "<pad>", "</s>", "<unk>", *map(str, range(16))] for _ in range(len(ratios) // 2 + 1)]


def build(dst: Path, ratios=(1, 2), override="[2, 1, 2]", plain=False, seed=91, name="mrhubert_mono_base.pt",
          layers: int = 1, layout: str = "converted"):
    """Write a reduced MR-HuBERT checkpoint.

    ``layout="converted"``: the original s3prl toolkit's ``convert.py`` file (the released
    huggingface.co/s3prl/mr_hubert files): ``{"task_cfg": cfg["task"], "model_cfg": cfg["model"],
    "model_weight", "dictionaries_symbols"}``. ``layout="fairseq"``: what fairseq main's
    trainer saves (``checkpoint_utils.save_state``): ``{"cfg": {"model", "task", ...}, "model",
    "task_state": {"dictionaries"}, "optimizer_history", ...}``. Same cfg dicts in both.
    """
    weights = _weight_options(ratios, override, plain, layers)
    model_cfg, task_cfg = mr_options(ratios, override, plain, layers), mr_task(ratios)
    Path(dst).mkdir(parents=True, exist_ok=True)
    path = Path(dst) / name
    state = make_mr_state(weights, seed)
    if layout == "converted":
        torch.save({"task_cfg": task_cfg, "model_cfg": model_cfg, "model_weight": state,
                    "dictionaries_symbols": _symbols(ratios)}, path)
    elif layout == "fairseq":
        task_state = {"dictionaries": [fairseq_dictionary(s[4:]) for s in _symbols(ratios)]}
        with saving_fairseq_classes():
            write_cfg_layout(path, model_cfg, task_cfg, state, task_state)
    else:
        raise ValueError(f"layout {layout!r}: 'converted' or 'fairseq'")
    return "multires_hubert_local", path


def build_base(dst: Path) -> tuple[str, Path]:
    return build(dst)


def build_base_fairseq(dst: Path) -> tuple[str, Path]:
    """:func:`build_base`'s model in fairseq main's own checkpoint layout."""
    return build(dst, layout="fairseq", name="mrhubert_mono_base_fairseq.pt")


def build_three_resolutions_plain(dst: Path) -> tuple[str, Path]:
    """Two resolution steps (50, 25, 12.5 Hz) with the plain up/down samplers; no layer
    override: every block has ``encoder_layers`` (2) layers."""
    return build(dst, ratios=(1, 2, 1, 2), override="", plain=True, seed=92, name="mr3_plain.pt", layers=2)


BUILDERS = {"multires_hubert_reduced": build_base}
