"""Reduced-size data2vec (audio) checkpoints in fairseq's released layout (seeded random weights).

Layout of ``audio_base_ls.pt`` (fairseq hydra era): ``{"cfg": {"model":
Data2VecAudioConfig fields (_name "data2vec_audio"), "task": {"_name":
"audio_pretraining", "normalize": True, ...}, ...}, "model": state_dict, ...}``.
State-dict keys: wav2vec 2.0's (see ``wav2vec2.py``) except the positional conv,
a stack ``encoder.pos_conv.{i}.0.{weight,bias}`` (``pos_conv_depth`` convs, kernel
``max(3, conv_pos // pos_conv_depth)``, affine-free LayerNorm), plus the training-only
``final_proj.*`` and the EMA teacher's parameters under ``_ema``.
"""

from __future__ import annotations

from pathlib import Path

from .wav2vec2 import make_state, model_options, task_options, write_cfg_layout

# reduced positional stack: depth 2, kernel max(3, 10 // 2) = 5 (released: 5 convs of kernel 19)
POS_DEPTH, POS_CONV = 2, 10


def data2vec_options(**over) -> dict:
    opts = model_options(
        _name="data2vec_audio", extractor_mode="layer_norm", encoder_layerdrop=0.05, dropout_input=0.0,
        dropout_features=0.0, feature_grad_mult=1.0, pos_conv_depth=POS_DEPTH, conv_pos=POS_CONV,
        loss_beta=0.0, loss_scale=None, average_top_k_layers=2, layer_norm_target_layer=False,
        instance_norm_target_layer=True, instance_norm_targets=False, layer_norm_targets=False,
        batch_norm_target_layer=False, group_norm_target_layer=False, ema_decay=0.999, ema_end_decay=0.9999,
        ema_anneal_end_step=30000, ema_transformer_only=True, ema_layers_only=True, max_update=400000,
        min_target_var=0.1, min_pred_var=0.01,
    )
    for k in ("quantize_targets", "quantize_input", "same_quantizer", "final_dim", "latent_vars", "latent_groups"):
        opts.pop(k)
    opts.update(over)
    return opts


def build_base(dst: Path, seed: int = 4) -> tuple[str, Path]:
    """data2vec Base style: layer-norm encoder, post-LN, positional conv stack, normalised waveform."""
    opts = data2vec_options()
    return "data2vec_local", write_cfg_layout(Path(dst) / "audio_base_ls.pt", opts, task_options(True),
                                              make_state(opts, seed, "data2vec"))


BUILDERS = {"data2vec_base_reduced": build_base}
