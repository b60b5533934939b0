"""Entries of wav2vec 2.0 with Conformer encoder blocks (fairseq ``layer_type: conformer``).

Architecture read from the checkpoint (:mod:`.expert`); ``num_layers + 1`` hidden
states, stride 320 samples (20 ms), receptive field 400 samples. URLs: s3prl 0.4.18's
``upstream/wav2vec2/hubconf.py`` (the fairseq originals; s3prl 0.4.18 defaults to its
converted copies on huggingface.co/s3prl/converted_ckpts, same weights, also readable
here through ``ckpt=``).
"""

from s3prl.util.registry import entry

__all__ = [
    "wav2vec2_conformer_local",
    "wav2vec2_conformer_url",
    "wav2vec2_conformer_custom",
    "wav2vec2_conformer_relpos",
    "wav2vec2_conformer_rope",
    "wav2vec2_conformer_large_s2st_es_voxpopuli",
    "wav2vec2_conformer_large_s2st_en_librilight",
]

_FAIRSEQ = "https://dl.fbaipublicfiles.com/fairseq/"
_LL = "https://arxiv.org/abs/2010.05171"  # the paper s3prl 0.4.18's docs cite (its Table 4)
_S2ST = "https://arxiv.org/abs/2204.02967"
_RELPOS_URL = _FAIRSEQ + "conformer/wav2vec2/librilight/LL_relpos_PT_no_FT"
_ROPE_URL = _FAIRSEQ + "conformer/wav2vec2/librilight/LL_rope_PT_no_FT"
_S2ST_ES_URL = _FAIRSEQ + "speech_to_speech/s2st_finetuning/w2v2/es/conformer_L.pt"
_S2ST_EN_URL = _FAIRSEQ + "speech_to_speech/s2st_finetuning/w2v2/en/conformer_L.pt"
_VERIFIED = ("parity with transformers Wav2Vec2ConformerModel (seeded weights, fairseq layout, "
             "rel_pos and rope); golden hidden states")


def _build(ckpt, refresh=False, sha256=None, require=None, **kwargs):
    from s3prl.util.download import entry_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(entry_checkpoint(ckpt, "wav2vec2_conformer", require, sha256, refresh), **kwargs)


@entry(model="wav2vec 2.0 Conformer (any checkpoint)", paper=_LL, date="2020-10", input="wav", stride=320,
       verified=_VERIFIED)
def wav2vec2_conformer_local(ckpt: str, dtype=None, **kwargs):
    """wav2vec 2.0 Conformer from a local fairseq checkpoint (``layer_type: conformer``,
    ``attn_type: espnet``, ``pos_enc_type: rel_pos`` or ``rope``); the architecture is read
    from it. Stride 320 samples (20 ms).

    Args:
        ckpt: local path.
        dtype: parameter dtype (default fp32).
        kwargs: ``Wav2Vec2Config`` overrides.
    """
    return _build(ckpt, require="path", dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Conformer (any checkpoint)", paper=_LL, date="2020-10", input="wav", stride=320,
       verified=_VERIFIED)
def wav2vec2_conformer_url(ckpt: str, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """wav2vec 2.0 Conformer from a checkpoint URL (downloaded once into the cache), any layout
    of :func:`wav2vec2_conformer_local`. Stride 320 samples (20 ms).

    Args:
        ckpt: http(s) URL.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), checked on download.
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, sha256=sha256, require="url", dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Conformer (any checkpoint)", paper=_LL, date="2020-10", input="wav", stride=320,
       verified=_VERIFIED)
def wav2vec2_conformer_custom(ckpt: str, refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 Conformer from a local path or a URL (see :func:`wav2vec2_conformer_local`).
    Stride 320 samples (20 ms).

    Args:
        ckpt: local path or http(s) URL.
        refresh: download again even if cached (URLs only).
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Conformer Large (relative positions)", paper=_LL, date="2020-10", input="wav",
       stride=320, layers=25, hidden_size=1024, data="Libri-Light 60k h", ckpt=_RELPOS_URL, verified=_VERIFIED)
def wav2vec2_conformer_relpos(ckpt: str = _RELPOS_URL, refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 Conformer Large with relative-position self-attention, pre-trained on
    Libri-Light 60k h (fairseq's ``LL_relpos_PT_no_FT``, no fine-tuning).

    24 Conformer blocks, hidden size 1024; 25 hidden states; stride 320 samples (20 ms).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Conformer Large (rotary positions)", paper=_LL, date="2020-10", input="wav",
       stride=320, layers=25, hidden_size=1024, data="Libri-Light 60k h", ckpt=_ROPE_URL, verified=_VERIFIED)
def wav2vec2_conformer_rope(ckpt: str = _ROPE_URL, refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 Conformer Large with rotary position embeddings, pre-trained on
    Libri-Light 60k h (fairseq's ``LL_rope_PT_no_FT``, no fine-tuning).

    24 Conformer blocks, hidden size 1024; 25 hidden states; stride 320 samples (20 ms).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Conformer Large (S2ST, Spanish)", paper=_S2ST, date="2022-04", input="wav",
       stride=320, layers=25, hidden_size=1024, data="VoxPopuli Spanish (unlabelled)", ckpt=_S2ST_ES_URL,
       verified=_VERIFIED)
def wav2vec2_conformer_large_s2st_es_voxpopuli(ckpt: str = _S2ST_ES_URL, refresh: bool = False, dtype=None,
                                               **kwargs):
    """wav2vec 2.0 Conformer Large pre-trained on Spanish VoxPopuli, the speech encoder of
    Popuri et al. 2022 (enhanced direct speech-to-speech translation); fairseq's
    ``s2st_finetuning/w2v2/es/conformer_L.pt``.

    24 Conformer blocks, hidden size 1024 (read from the checkpoint); 25 hidden states;
    stride 320 samples (20 ms).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Conformer Large (S2ST, English)", paper=_S2ST, date="2022-04", input="wav",
       stride=320, layers=25, hidden_size=1024, data="Libri-Light (unlabelled English)", ckpt=_S2ST_EN_URL,
       verified=_VERIFIED)
def wav2vec2_conformer_large_s2st_en_librilight(ckpt: str = _S2ST_EN_URL, refresh: bool = False, dtype=None,
                                                **kwargs):
    """wav2vec 2.0 Conformer Large pre-trained on Libri-Light, the English speech encoder of
    Popuri et al. 2022 (enhanced direct speech-to-speech translation); fairseq's
    ``s2st_finetuning/w2v2/en/conformer_L.pt``.

    24 Conformer blocks, hidden size 1024 (read from the checkpoint); 25 hidden states;
    stride 320 samples (20 ms).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)
