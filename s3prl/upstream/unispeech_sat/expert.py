"""UniSpeech-SAT upstream.

UniSpeech-SAT (Chen et al., 2021, "UniSpeech-SAT: Universal Speech
Representation Learning with Speaker Aware Pre-Training",
https://arxiv.org/abs/2110.05752; code https://github.com/microsoft/UniSpeech)
is a HuBERT-style model: the released Base / Base+ models are post-LN with a
group-norm feature encoder, Large is pre-LN with a layer-norm feature encoder
and normalised input. Its speaker-aware pre-training adds only training-time
parts (utterance-mixing, the speaker contrastive loss with ``spk_proj``,
``quantizer``/``project_q``, ``layer_norm_for_extract``), none of which the
upstream uses.

The original s3prl toolkit loads the released models with UniLM's WavLM code
(``WavLM(WavLMConfig(ckpt['cfg'])).load_state_dict(ckpt['model'])``) from its
converted ``{"cfg", "model"}`` files; their config has no relative position
bias, which :func:`s3prl.upstream.wavlm.expert.wavlm_config` reads from the
file (so a checkpoint that does set ``relative_position_embedding`` still loads
correctly). Layouts, ignored keys and hidden states: as
:mod:`s3prl.upstream.wavlm.expert`.
"""

from __future__ import annotations

from s3prl.upstream.wavlm.expert import UpstreamExpert as _WavLMExpert

__all__ = ["UpstreamExpert"]


class UpstreamExpert(_WavLMExpert):
    """UniSpeech-SAT upstream from a local checkpoint (UniLM ``{"cfg", "model"}``
    or fairseq ``{"cfg": {"model", "task"}, "model"}`` layout), architecture read
    from the file.

    Args:
        ckpt: local checkpoint path.
        dtype: parameter dtype (default fp32).
        config_overrides: architecture overrides (e.g. ``normalize=False``).

    Input: list of 1-D float waveforms (16 kHz), each >= 400 samples.
    Output: ``encoder_layers + 1`` hidden states ``(batch, frames, embed_dim)``.

    Raises:
        FileNotFoundError, ValueError, s3prl.util.checkpoint.UnsafeCheckpointError:
            as :class:`s3prl.upstream.wavlm.expert.UpstreamExpert`.
    """

    family = "unispeech_sat"
