"""Reduced-size HuBERT checkpoints in fairseq's released layout (seeded random weights).

Layout of ``hubert_base_ls960.pt`` / ``hubert_large_ll60k.pt`` (fairseq hydra era):
``{"cfg": {"model": HubertConfig fields (_name "hubert"), "task": HubertPretrainingConfig
fields (_name "hubert_pretraining", normalize, labels, label_rate, ...), ...}, "model":
state_dict, "task_state": {"dictionaries": [fairseq Dictionary]}, "optimizer_history": ...}``.
State-dict keys: wav2vec 2.0's (see ``wav2vec2.py``) plus the training-only
``label_embs_concat`` and ``final_proj.*``; no quantizer.
"""

from __future__ import annotations

from pathlib import Path

from .wav2vec2 import (
    fairseq_dictionary,
    make_state,
    model_options,
    saving_fairseq_classes,
    write_cfg_layout,
)


def hubert_options(**over) -> dict:
    opts = model_options(_name="hubert", label_rate=50.0, skip_masked=False, skip_nomask=False,
                         untie_final_proj=False, final_dim=16, encoder_layerdrop=0.05)
    for k in ("quantize_targets", "quantize_input", "same_quantizer", "latent_vars", "latent_groups",
              "latent_dim", "latent_temp", "num_negatives", "negatives_from_everywhere",
              "cross_sample_negatives", "codebook_negatives", "quantizer_depth", "quantizer_factor"):
        opts.pop(k)
    opts.update(over)
    return opts


def hubert_task(normalize: bool) -> dict:
    return dict(_name="hubert_pretraining", data="/checkpoint/manifests", fine_tuning=False,
                labels=["km"], label_dir="/checkpoint/labels", label_rate=50.0, sample_rate=16000,
                normalize=normalize, enable_padding=False, max_keep_size=None, max_sample_size=250000,
                min_sample_size=32000, single_target=False, random_crop=True, pad_audio=False)


def _write(path: Path, opts: dict, normalize: bool, seed: int) -> Path:
    task_state = {"dictionaries": [fairseq_dictionary([str(i) for i in range(10)])]}
    with saving_fairseq_classes():
        return write_cfg_layout(path, opts, hubert_task(normalize), make_state(opts, seed, "hubert"), task_state)


def build_base(dst: Path, seed: int = 2) -> tuple[str, Path]:
    """HuBERT Base style: group-norm encoder, post-LN, raw waveform."""
    return "hubert_local", _write(Path(dst) / "hubert_base_ls960.pt", hubert_options(), False, seed)


def build_large(dst: Path, seed: int = 3) -> tuple[str, Path]:
    """HuBERT Large style: layer-norm encoder, pre-LN, normalised waveform."""
    opts = hubert_options(extractor_mode="layer_norm", layer_norm_first=True, encoder_layerdrop=0.0)
    return "hubert_local", _write(Path(dst) / "hubert_large_ll60k.pt", opts, True, seed)


BUILDERS = {"hubert_base_reduced": build_base}


