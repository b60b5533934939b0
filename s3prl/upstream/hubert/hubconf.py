"""Entries of the HuBERT family (Hsu et al., 2021, https://arxiv.org/abs/2106.07447).

Every entry reads the architecture from its checkpoint (fairseq layouts or the
original s3prl toolkit's converted files) and returns ``encoder_layers + 1``
hidden states, stride 320 samples (20 ms), receptive field 400 samples.
``dtype`` (e.g. ``torch.float16``) converts the parameters, for GPU use.
Checkpoint URLs: fairseq's ``examples/hubert/README.md``.
"""

from s3prl.util.registry import entry

__all__ = [
    "hubert_local",
    "hubert_url",
    "hubert_custom",
    "hubert",
    "hubert_base",
    "hubert_large_ll60k",
    "hubert_base_robust_mgr",
    "mhubert_base_vp_en_es_fr_it3",
    "contentvec",
    "contentvec_km100",
    "contentvec_km500",
    "ms_hubert",
]

_PAPER = "https://arxiv.org/abs/2106.07447"
_BASE_URL = "https://dl.fbaipublicfiles.com/hubert/hubert_base_ls960.pt"
_LARGE_URL = "https://dl.fbaipublicfiles.com/hubert/hubert_large_ll60k.pt"
_VERIFIED = "parity with transformers HubertModel (seeded weights, fairseq layout); golden hidden states"


def _build(ckpt, **kwargs):
    from s3prl.upstream.wav2vec2.hubconf import build_upstream

    return build_upstream("hubert", ckpt, **kwargs)


@entry(model="HuBERT (any checkpoint)", paper=_PAPER, date="2021-06", input="wav", stride=320, verified=_VERIFIED)
def hubert_local(ckpt: str, dtype=None, **kwargs):
    """HuBERT from a local checkpoint file; the architecture is read from it.

    Layouts: fairseq ``{'cfg', 'model', 'task_state'}`` (``hubert_base_ls960.pt``),
    fairseq ``{'args', 'model'}``, the original s3prl toolkit's converted
    ``{'task_cfg', 'model_cfg', 'model_weight'}``, fine-tuned (CTC) fairseq files
    (encoder only). Stride 320 samples (20 ms).

    Args:
        ckpt: local path.
        dtype: parameter dtype (default fp32).
        kwargs: ``Wav2Vec2Config`` overrides.
    """
    return _build(ckpt, require="path", dtype=dtype, **kwargs)


@entry(model="HuBERT (any checkpoint)", paper=_PAPER, date="2021-06", input="wav", stride=320, verified=_VERIFIED)
def hubert_url(ckpt: str, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """HuBERT from a checkpoint URL (downloaded once into the cache), any layout of
    :func:`hubert_local`. Stride 320 samples (20 ms).

    Args:
        ckpt: http(s) URL.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), checked on download.
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, sha256=sha256, require="url", dtype=dtype, **kwargs)


@entry(model="HuBERT (any checkpoint)", paper=_PAPER, date="2021-06", input="wav", stride=320, verified=_VERIFIED)
def hubert_custom(ckpt: str, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT from a local path or URL, any layout of :func:`hubert_local`. Stride 320 samples (20 ms).

    Args:
        ckpt: local path or http(s) URL.
        refresh: download again even if cached (URLs only).
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="HuBERT Base", paper=_PAPER, date="2021-06", input="wav", stride=320, layers=13, hidden_size=768,
       data="LibriSpeech 960 h", ckpt=_BASE_URL, verified=_VERIFIED)
def hubert_base(ckpt: str = _BASE_URL, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT Base (Hsu et al., 2021), pre-trained on LibriSpeech 960 h (2nd iteration, 500 clusters).

    12 post-LN transformer layers, hidden size 768, group-norm feature encoder,
    raw waveform; 13 hidden states; stride 320 samples (20 ms).
    Checkpoint: fairseq's ``hubert_base_ls960.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="HuBERT Base", paper=_PAPER, date="2021-06", input="wav", stride=320, layers=13, hidden_size=768,
       data="LibriSpeech 960 h", ckpt=_BASE_URL, verified=_VERIFIED)
def hubert(ckpt: str = _BASE_URL, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT Base (the family's default; same as :func:`hubert_base`).

    12 layers, hidden size 768, 13 hidden states, stride 320 samples (20 ms).
    Checkpoint: fairseq's ``hubert_base_ls960.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="HuBERT Large", paper=_PAPER, date="2021-06", input="wav", stride=320, layers=25, hidden_size=1024,
       data="Libri-Light 60k h", ckpt=_LARGE_URL, verified=_VERIFIED)
def hubert_large_ll60k(ckpt: str = _LARGE_URL, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT Large (Hsu et al., 2021), pre-trained on Libri-Light 60k h.

    24 pre-LN transformer layers, hidden size 1024, layer-norm feature encoder,
    normalised waveform; 25 hidden states; stride 320 samples (20 ms).
    Checkpoint: fairseq's ``hubert_large_ll60k.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


# ---------------------------------------------------------------------------------------------
# HuBERT-architecture checkpoints of other papers (URLs: s3prl 0.4.18's hubert hubconf; the
# huggingface.co/s3prl/converted_ckpts files are in the original s3prl toolkit's converted
# layout {'task_cfg', 'model_cfg', 'model_weight', 'dictionaries_symbols'}, read by hubert_local).

_CONVERTED = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/"
_MGR_URL = ("https://huggingface.co/kphuang68/HuBERT_base_robust_mgr/resolve/main/"
            "HuBERT_base_robust_mgr_best_loss_2.7821.pt")
_MHUBERT_URL = _CONVERTED + "mhubert_base_vp_en_es_fr_it3.pt"
_CONTENTVEC_100_URL = _CONVERTED + "contentvec_km100.pt"
_CONTENTVEC_500_URL = _CONVERTED + "contentvec_km500.pt"
_MS_HUBERT_URL = "https://huggingface.co/s3prl/MS-HuBERT/resolve/main/iter3.pt"
_CONTENTVEC = "https://arxiv.org/abs/2204.09224"
_VARIANT_VERIFIED = ("parity with transformers HubertModel (seeded weights in the checkpoint's layout); "
                     "golden hidden states")


@entry(model="HuBERT-MGR Base (distortion-robust HuBERT)", paper="https://arxiv.org/abs/2203.16104",
       date="2022-03", input="wav", stride=320, layers=13, hidden_size=768,
       data="LibriSpeech 960 h with MUSAN, Gaussian noise and reverberation", ckpt=_MGR_URL,
       verified=_VARIANT_VERIFIED)
def hubert_base_robust_mgr(ckpt: str = _MGR_URL, refresh: bool = False, dtype=None, **kwargs):
    """HuBERT Base made robust to distortions by domain adaptation (Huang et al., 2022),
    LibriSpeech 960 h with MUSAN noise, Gaussian noise and reverberation.

    HuBERT Base architecture (12 post-LN layers, 768); 13 hidden states; stride 320 samples
    (20 ms). Checkpoint: the authors' fairseq file on huggingface.co/kphuang68 (s3prl
    0.4.18 defaults to its converted copy ``HuBERT_base_robust_mgr_best_loss_2.7821.pt`` on
    huggingface.co/s3prl/converted_ckpts, also readable through ``ckpt=``).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="mHuBERT Base (En, Es, Fr; iteration 3)", paper="https://arxiv.org/abs/2112.08352",
       date="2021-12", input="wav", stride=320, layers=13, hidden_size=768,
       data="VoxPopuli English, Spanish and French unlabelled speech", ckpt=_MHUBERT_URL,
       verified=_VARIANT_VERIFIED)
def mhubert_base_vp_en_es_fr_it3(ckpt: str = _MHUBERT_URL, refresh: bool = False, dtype=None, **kwargs):
    """Multilingual HuBERT Base (Lee et al., 2021, textless speech-to-speech translation on
    real data), third training iteration on VoxPopuli English, Spanish and French.

    HuBERT Base architecture; 13 hidden states of 768; stride 320 samples (20 ms).
    Checkpoint: s3prl's converted ``mhubert_base_vp_en_es_fr_it3.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="ContentVec (100 clusters)", paper=_CONTENTVEC, date="2022-04", input="wav", stride=320,
       layers=13, hidden_size=768, data="LibriSpeech 960 h", ckpt=_CONTENTVEC_100_URL,
       verified=_VARIANT_VERIFIED)
def contentvec(ckpt: str = _CONTENTVEC_100_URL, refresh: bool = False, dtype=None, **kwargs):
    """ContentVec (Qian et al., 2022), the default: :func:`contentvec_km100`.

    HuBERT Base architecture; 13 hidden states of 768; stride 320 samples (20 ms).
    Checkpoint: s3prl's converted ``contentvec_km100.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="ContentVec (100 clusters)", paper=_CONTENTVEC, date="2022-04", input="wav", stride=320,
       layers=13, hidden_size=768, data="LibriSpeech 960 h", ckpt=_CONTENTVEC_100_URL,
       verified=_VARIANT_VERIFIED)
def contentvec_km100(ckpt: str = _CONTENTVEC_100_URL, refresh: bool = False, dtype=None, **kwargs):
    """ContentVec (Qian et al., 2022): HuBERT trained on speaker-disentangled targets
    (100 clusters), LibriSpeech 960 h. The file holds the plain HuBERT encoder (the
    release's "legacy" form, without the speaker-conditioned layers).

    HuBERT Base architecture; 13 hidden states of 768; stride 320 samples (20 ms).
    Checkpoint: s3prl's converted ``contentvec_km100.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="ContentVec (500 clusters)", paper=_CONTENTVEC, date="2022-04", input="wav", stride=320,
       layers=13, hidden_size=768, data="LibriSpeech 960 h", ckpt=_CONTENTVEC_500_URL,
       verified=_VARIANT_VERIFIED)
def contentvec_km500(ckpt: str = _CONTENTVEC_500_URL, refresh: bool = False, dtype=None, **kwargs):
    """ContentVec (Qian et al., 2022) with 500 target clusters, LibriSpeech 960 h.

    HuBERT Base architecture; 13 hidden states of 768; stride 320 samples (20 ms).
    Checkpoint: s3prl's converted ``contentvec_km500.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="MS-HuBERT Base (iteration 3)", paper="https://arxiv.org/abs/2406.05661", date="2024-06",
       input="wav", stride=320, layers=13, hidden_size=768, data="LibriSpeech 960 h", ckpt=_MS_HUBERT_URL,
       verified=_VARIANT_VERIFIED)
def ms_hubert(ckpt: str = _MS_HUBERT_URL, refresh: bool = False, dtype=None, **kwargs):
    """MS-HuBERT (Yadav et al., 2024): HuBERT pre-trained with the Swap method and a
    multi-cluster masked prediction loss; the HuBERT architecture, so only the weights
    differ (the multi-cluster projections are training-only and dropped).

    HuBERT Base architecture (read from the checkpoint); 13 hidden states of 768; stride
    320 samples (20 ms). Checkpoint: ``iter3.pt`` on huggingface.co/s3prl/MS-HuBERT.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)
