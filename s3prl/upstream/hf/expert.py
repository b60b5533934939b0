"""Upstreams from Hugging Face model folders, on s3prl's own implementation.

:func:`build_hf_upstream` reads a folder (or a repo id in the local Hugging Face
cache) with :func:`s3prl.upstream.hf.convert.load_hf_folder` (``config.json`` +
``model.safetensors`` / ``pytorch_model.bin``; ``transformers`` is not imported)
and builds the family's upstream from the translated config and weights:
wav2vec 2.0 / HuBERT on :class:`s3prl.upstream.wav2vec2.expert.Wav2Vec2StyleUpstream`,
WavLM / UniSpeech-SAT on :class:`s3prl.upstream.wavlm.expert.WavLMStyleUpstream`.

Hidden states: ``num_hidden_layers + 1`` tensors ``(batch, frames, hidden_size)``,
the same as ``transformers``' ``output_hidden_states`` except that for
``do_stable_layer_norm`` (pre-LN) models the last one has the final LayerNorm
applied (it equals ``last_hidden_state``), as in fairseq's layer results.

Input normalisation: ``transformers`` models never normalise; their feature
extractor does when ``preprocessor_config.json`` says ``do_normalize`` (large
LV-60 / XLS-R models need it). With ``normalize=None`` (default) the upstream
follows that file; a folder without it (what ``save_pretrained`` on a model
writes) is an error asking for an explicit ``normalize=True/False``, since a
silent guess gives wrong hidden states for one kind of model or the other.
Normalisation is computed per wav on its valid samples only.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

import torch

from .convert import load_hf_folder

__all__ = ["build_hf_upstream"]


def build_hf_upstream(
    path_or_repo_id: str | os.PathLike,
    model_types: Iterable[str] | None = None,
    revision: str = "main",
    normalize: Optional[bool] = None,
    dtype: Optional[torch.dtype] = None,
):
    """An upstream from a Hugging Face model folder or cached repo id.

    Args:
        path_or_repo_id: folder with ``config.json`` and weights, or a Hub repo id
            already in the local cache (offline only).
        model_types: accepted ``config.json`` ``model_type`` values (None: all of
            :data:`~.convert.SUPPORTED_MODEL_TYPES`).
        revision: cache revision for a repo id.
        normalize: per-utterance waveform normalisation; None = follow
            ``preprocessor_config.json`` ``do_normalize`` (required when the
            folder has no such file).
        dtype: parameter dtype (default fp32).

    Raises:
        FileNotFoundError: no such folder / not cached / no weights.
        ValueError: unsupported or unexpected ``model_type``, unsupported
            options, unknown or missing parameters (named); ``normalize=None``
            and no ``preprocessor_config.json`` in the folder.
    """
    model_type, cfg, state = load_hf_folder(path_or_repo_id, revision)
    if model_types is not None and model_type not in set(model_types):
        raise ValueError(
            f"{path_or_repo_id} holds a {model_type!r} model, but this entry reads "
            f"{', '.join(sorted(model_types))}: use hf_custom (any supported model_type)"
        )
    overrides = {"layer_norm_eps": cfg["layer_norm_eps"]}
    if normalize is not None:
        cfg = {**cfg, "normalize": bool(normalize)}
    elif cfg["normalize"] is None:
        raise ValueError(
            f"{path_or_repo_id} has no preprocessor_config.json, so whether the model expects "
            "normalised waveforms (do_normalize) is unknown: pass normalize=True (e.g. the large "
            "LV-60 / XLS-R wav2vec 2.0 models) or normalize=False (e.g. wav2vec 2.0 Base), "
            "as the model's preprocessor_config.json on the Hub says"
        )
    source, what = path_or_repo_id, f"the Hugging Face {model_type} architecture in its config.json"
    if model_type in ("wavlm", "unispeech-sat"):
        from s3prl.upstream.wavlm.expert import WavLMStyleUpstream, wavlm_config

        config = wavlm_config(cfg, cfg, **overrides)
        return WavLMStyleUpstream(config, state, dtype=dtype, source=source, what=what)
    from s3prl.upstream.wav2vec2.expert import Wav2Vec2StyleUpstream
    from s3prl.upstream.wav2vec2.loading import (
        config_from_fairseq,
        load_weights,
        rename_fairseq_keys,
    )

    config = config_from_fairseq(cfg, cfg, **overrides)
    state = rename_fairseq_keys(state, config.pos_conv_depth)
    if cfg["feature_layer_norm"]:
        return Wav2Vec2StyleUpstream(config, state, dtype=dtype, source=source, what=what)
    # no LayerNorm on the conv features (feat_proj_layer_norm=False): build, drop it, load
    upstream = Wav2Vec2StyleUpstream(config, None)
    upstream.model.layer_norm = torch.nn.Identity()
    load_weights(upstream.model, state, source, what=what)
    return upstream.cast_parameters(dtype).eval()
