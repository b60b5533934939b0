"""Reduced-size ESPnet HuBERT releases (seeded random weights): ``<exp>/valid.loss.ave.pth`` +
``<exp>/config.yaml``.

Layout (ESPnet ``espnet2/tasks/hubert.py`` + ``TorchAudioHuBERTPretrainEncoder``; torchaudio
``hubert_pretrain_model``): the ``.pth`` is the model's flat state dict,
``encoder.hubert_pretrain_model.wav2vec2.`` + torchaudio's wav2vec 2.0 names
(``feature_extractor.conv_layers.{i}.conv.weight`` [+ ``.bias``],
``feature_extractor.conv_layers.{i}.layer_norm.{weight,bias}`` (GroupNorm on layer 0 in
``group_norm`` mode, LayerNorm on every layer in ``layer_norm`` mode),
``encoder.feature_projection.{layer_norm,projection}.*``,
``encoder.transformer.pos_conv_embed.conv.{weight_g,weight_v,bias}`` (torch weight_norm; newer
torchaudio: ``parametrizations.weight.original0/1``), ``encoder.transformer.layer_norm.*``,
``encoder.transformer.layers.{i}.attention.{q,k,v,out}_proj.*``, ``.layer_norm.*``,
``.feed_forward.{intermediate_dense,output_dense}.*``, ``.final_layer_norm.*``), plus
``encoder.hubert_pretrain_model.mask_generator.mask_embedding``,
``encoder.hubert_pretrain_model.logit_generator.{final_proj.weight,final_proj.bias,
label_embeddings}`` and ``encoder.global_step``. ``config.yaml``: ESPnet's training options
with ``encoder: torchaudio_hubert`` and ``encoder_conf``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from .wav2vec2 import CONV, DIM, FFN, HEADS, LAYERS

CONV_POS, CONV_POS_GROUPS = 16, 4


def encoder_conf(large: bool) -> dict:
    return dict(
        extractor_mode="layer_norm" if large else "group_norm",
        extractor_conv_layer_config=[list(c) for c in CONV],
        extractor_conv_bias=large,
        encoder_embed_dim=DIM,
        encoder_projection_dropout=0.1,
        encoder_pos_conv_kernel=CONV_POS,
        encoder_pos_conv_groups=CONV_POS_GROUPS,
        encoder_num_layers=LAYERS,
        encoder_num_heads=HEADS,
        encoder_attention_dropout=0.1,
        encoder_ff_interm_features=FFN,
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.1,
        encoder_layer_norm_first=large,
        encoder_layer_drop=0.05,
        mask_prob=0.8,
        mask_length=10,
        num_classes=500,
        final_dim=16,
        feature_grad_mult=0.1,
    )


def espnet_config(large: bool) -> dict:
    """An ESPnet HuBERT pre-training ``config.yaml`` (the options ESPnet writes, abridged)."""
    return dict(
        config="conf/tuning/train_ssl_torchaudiohubert_base_960h_pretrain_it1.yaml",
        print_config=False, log_level="INFO", dry_run=False, iterator_type="sequence",
        output_dir="exp/hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw",
        ngpu=1, seed=0, num_workers=1, max_epoch=100, patience=None, val_scheduler_criterion=["valid", "loss"],
        keep_nbest_models=10, optim="adam", optim_conf={"lr": 0.0005}, scheduler="warmuplr",
        scheduler_conf={"warmup_steps": 32000}, token_list=[str(i) for i in range(500)] + ["<unk>"],
        init=None, collate_fn_conf=None, input_size=None, num_classes=500, use_preprocessor=True,
        frontend=None, frontend_conf={}, specaug=None, specaug_conf={}, normalize=None, normalize_conf={},
        preencoder=None, preencoder_conf={}, encoder="torchaudio_hubert", encoder_conf=encoder_conf(large),
        model="torchaudio", model_conf={}, required=["output_dir", "token_list"], version="202209",
        distributed=False,
    )


def make_state(large: bool, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.1, offset=0.0):
        return torch.randn(*shape, generator=gen) * scale + offset

    p = "encoder.hubert_pretrain_model.wav2vec2."
    sd = {}

    def norm(name, n):
        sd[f"{p}{name}.weight"], sd[f"{p}{name}.bias"] = rand(n, scale=0.2, offset=1.0), rand(n)

    def linear(name, n_in, n_out):
        sd[f"{p}{name}.weight"], sd[f"{p}{name}.bias"] = rand(n_out, n_in, scale=n_in**-0.5), rand(n_out)

    in_ch = 1
    for i, (ch, k, _s) in enumerate(CONV):
        sd[f"{p}feature_extractor.conv_layers.{i}.conv.weight"] = rand(ch, in_ch, k, scale=(in_ch * k) ** -0.5)
        if large:
            sd[f"{p}feature_extractor.conv_layers.{i}.conv.bias"] = rand(ch)
        if large or i == 0:
            norm(f"feature_extractor.conv_layers.{i}.layer_norm", ch)
        in_ch = ch
    norm("encoder.feature_projection.layer_norm", in_ch)
    linear("encoder.feature_projection.projection", in_ch, DIM)
    conv = "encoder.transformer.pos_conv_embed.conv."
    g_name, v_name = (("parametrizations.weight.original0", "parametrizations.weight.original1") if large
                      else ("weight_g", "weight_v"))
    sd[p + conv + g_name] = rand(1, 1, CONV_POS, scale=0.2, offset=1.0)
    sd[p + conv + v_name] = rand(DIM, DIM // CONV_POS_GROUPS, CONV_POS)
    sd[p + conv + "bias"] = rand(DIM)
    norm("encoder.transformer.layer_norm", DIM)
    for i in range(LAYERS):
        lp = f"encoder.transformer.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear(lp + "attention." + proj, DIM, DIM)
        norm(lp + "layer_norm", DIM)
        linear(lp + "feed_forward.intermediate_dense", DIM, FFN)
        linear(lp + "feed_forward.output_dense", FFN, DIM)
        norm(lp + "final_layer_norm", DIM)
    sd["encoder.hubert_pretrain_model.mask_generator.mask_embedding"] = rand(DIM)
    sd["encoder.hubert_pretrain_model.logit_generator.final_proj.weight"] = rand(16, DIM)
    sd["encoder.hubert_pretrain_model.logit_generator.final_proj.bias"] = rand(16)
    sd["encoder.hubert_pretrain_model.logit_generator.label_embeddings"] = rand(500, 16)
    sd["encoder.global_step"] = torch.tensor([400000])
    return sd


def build(dst: Path, large: bool = False, seed: int = 61) -> tuple[str, Path]:
    exp = Path(dst) / ("hubert_large_exp" if large else "hubert_base_exp")
    exp.mkdir(parents=True, exist_ok=True)
    (exp / "config.yaml").write_text(yaml.safe_dump(espnet_config(large), sort_keys=False), encoding="utf-8")
    path = exp / "valid.loss.ave.pth"
    torch.save(make_state(large, seed), path)
    return "espnet_hubert_local", path


def build_base(dst: Path) -> tuple[str, Path]:
    return build(dst, False, 61)


def build_large(dst: Path) -> tuple[str, Path]:
    return build(dst, True, 62)


BUILDERS = {"espnet_hubert_base_reduced": build_base, "espnet_hubert_large_reduced": build_large}
