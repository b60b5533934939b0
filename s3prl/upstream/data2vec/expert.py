"""data2vec (audio) upstream: the shared wav2vec 2.0-style architecture
(:mod:`s3prl.upstream.wav2vec2.modules`).

data2vec (Baevski et al., 2022, https://arxiv.org/abs/2202.03555), fairseq
``Data2VecAudioModel`` (``examples/data2vec/models/data2vec_audio.py``): wav2vec
2.0's encoder with a layer-norm feature encoder, post-LN layers, normalised
waveform (task ``normalize: True``) and a positional conv *stack*
(``pos_conv_depth`` = 5 convs of kernel ``max(3, conv_pos // depth)`` = 19, each
followed by an affine-free LayerNorm and GELU) instead of one weight-normed conv.
Training-only weights dropped on loading: ``final_proj``, ``mask_emb``, the EMA
teacher ``_ema``.
"""

from __future__ import annotations

from s3prl.upstream.wav2vec2.expert import UpstreamExpert as _Wav2Vec2Expert

__all__ = ["UpstreamExpert"]


class UpstreamExpert(_Wav2Vec2Expert):
    """data2vec (audio) upstream from a local checkpoint in any layout of
    :mod:`s3prl.upstream.wav2vec2.loading` (fairseq ``audio_base_ls.pt`` is the
    hydra-era ``{'cfg', 'model', ...}`` layout).

    Args:
        ckpt: local checkpoint path.
        dtype: parameter dtype (default fp32).
        config_overrides: ``Wav2Vec2Config`` fields to override.

    Output: ``encoder_layers + 1`` hidden states ``(batch, frames, encoder_embed_dim)``,
    stride 320 samples, receptive field 400 samples.
    """

    family = "data2vec"
