"""HuBERT upstream: the shared wav2vec 2.0-style architecture (:mod:`s3prl.upstream.wav2vec2.modules`).

HuBERT (Hsu et al., 2021, https://arxiv.org/abs/2106.07447) has wav2vec 2.0's
encoder; only its pre-training targets differ. fairseq ``HubertModel``
(``fairseq/models/hubert/hubert.py``) keeps the same state-dict names; its
training-only weights are ``label_embs_concat``, ``final_proj`` (and
``mask_emb``), dropped on loading. Base: group-norm feature encoder, post-LN,
raw waveform; Large/X-Large: layer-norm encoder, pre-LN, normalised waveform
(task ``normalize: True``) - all read from the checkpoint.
"""

from __future__ import annotations

from s3prl.upstream.wav2vec2.expert import UpstreamExpert as _Wav2Vec2Expert

__all__ = ["UpstreamExpert"]


class UpstreamExpert(_Wav2Vec2Expert):
    """HuBERT upstream from a local checkpoint in any layout of
    :mod:`s3prl.upstream.wav2vec2.loading` (fairseq ``hubert_base_ls960.pt`` is the
    hydra-era ``{'cfg', 'model', 'task_state'}`` layout).

    Args:
        ckpt: local checkpoint path.
        dtype: parameter dtype (default fp32).
        config_overrides: ``Wav2Vec2Config`` fields to override.

    Output: ``encoder_layers + 1`` hidden states ``(batch, frames, encoder_embed_dim)``,
    stride 320 samples, receptive field 400 samples.
    """

    family = "hubert"
    extra_ignored_prefixes = ("label_embs.",)
