"""Reduced-size UniSpeech-SAT checkpoints (seeded random weights) in two layouts.

* the original s3prl toolkit's converted files (``unispeech_sat_base.pt`` ...,
  loaded there with UniLM's WavLM code): ``{"cfg": WavLMConfig fields with
  relative_position_embedding=False, gru_rel_pos=False, "model": state_dict}``;
  keys as in ``test/checkpoint_builders/wavlm.py`` without the relative-position parts;
* the fairseq training checkpoint of https://github.com/microsoft/UniSpeech
  (``UniSpeechSATModel``): ``{"cfg": {"model": {..., "_name": "unispeech_sat"},
  "task": {"normalize": ...}}, "model": state_dict + training-only weights,
  "optimizer_history": [...], "extra_state": {...}}``; training-only weights
  ``label_embs_concat``, ``final_proj.*``, ``spk_proj.*``, ``quantizer.{vars,weight_proj.*}``,
  ``project_q.*``, ``encoder.layer_norm_for_extract.*``, ``mask_emb``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from test.checkpoint_builders.wavlm import unilm_cfg, unilm_state_dict


def sat_cfg(large: bool = False) -> dict:
    cfg = unilm_cfg(relative_position_embedding=False, gru_rel_pos=False, max_distance=1280)
    if large:
        cfg.update(extractor_mode="layer_norm", layer_norm_first=True, normalize=True)
    return cfg


def write_converted(dst: Path, large: bool = False, seed: int = 0, name: str = "unispeech_sat.pt") -> Path:
    """The s3prl-converted ``{"cfg", "model"}`` layout."""
    dst.mkdir(parents=True, exist_ok=True)
    cfg = sat_cfg(large)
    path = dst / name
    torch.save({"cfg": cfg, "model": unilm_state_dict(cfg, seed)}, path)
    return path


def training_only_weights(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed + 1000)
    dim = cfg["encoder_embed_dim"]
    final = 16
    return {
        "label_embs_concat": torch.randn(504, final, generator=gen),
        "final_proj.weight": torch.randn(final, dim, generator=gen),
        "final_proj.bias": torch.randn(final, generator=gen),
        "spk_proj.weight": torch.randn(final, dim, generator=gen),
        "spk_proj.bias": torch.randn(final, generator=gen),
        "quantizer.vars": torch.randn(1, 640, 8, generator=gen),
        "quantizer.weight_proj.weight": torch.randn(640, dim, generator=gen),
        "quantizer.weight_proj.bias": torch.randn(640, generator=gen),
        "project_q.weight": torch.randn(final, 8, generator=gen),
        "project_q.bias": torch.randn(final, generator=gen),
        "encoder.layer_norm_for_extract.weight": torch.randn(dim, generator=gen),
        "encoder.layer_norm_for_extract.bias": torch.randn(dim, generator=gen),
    }


def write_fairseq(dst: Path, large: bool = False, seed: int = 0, name: str = "unispeech_sat_fairseq.pt") -> Path:
    """The fairseq training layout (``cfg.model`` / ``cfg.task``, training-only weights)."""
    dst.mkdir(parents=True, exist_ok=True)
    cfg = sat_cfg(large)
    model_cfg = {k: v for k, v in cfg.items() if k != "normalize"}
    model_cfg.update(
        _name="unispeech_sat", label_rate=50, structure_type="transformer", final_dim=16,
        untie_final_proj=False, logit_temp=0.1, target_glu=False, boundary_mask=False,
        utterance_contrastive_loss=True, utterance_contrastive_layer=6, num_instances=0,
        cross_sample_instances=100, quantize_targets=True, latent_vars=320, latent_groups=2,
        latent_dim=0, expand_attention_head_size=-1, streaming=False, chunk_size=0, left_chunk=0,
    )
    task_cfg = {"_name": "unispeech_sat_pretraining", "sample_rate": 16000, "normalize": cfg["normalize"],
                "label_rate": 50, "max_sample_size": 250000}
    state = unilm_state_dict(cfg, seed)
    state.update(training_only_weights(cfg, seed))
    ckpt = {
        "cfg": {"_name": None, "model": model_cfg, "task": task_cfg, "common": {"seed": 1}},
        "model": state,
        "optimizer_history": [{"criterion_name": "UniSpeechSATCriterion", "num_updates": 400000}],
        "extra_state": {"epoch": 30},
    }
    path = dst / name
    torch.save(ckpt, path)
    return path


def build_base(dst: Path):
    return "unispeech_sat_local", write_converted(dst, large=False, seed=11, name="unispeech_sat_base_reduced.pt")


def build_large(dst: Path):
    return "unispeech_sat_local", write_converted(dst, large=True, seed=12, name="unispeech_sat_large_reduced.pt")


BUILDERS = {
    "unispeech_sat_base_reduced": build_base,
    "unispeech_sat_large_reduced": build_large,
}
