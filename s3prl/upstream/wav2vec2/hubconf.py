"""Entries of the wav2vec 2.0 family: wav2vec 2.0 (Baevski et al., 2020), XLSR-53 and XLS-R.

Every entry reads the architecture from its checkpoint (fairseq layouts or the
original s3prl toolkit's converted files) and returns an upstream with
``num_layers + 1`` hidden states, stride 320 samples (20 ms), receptive field
400 samples. ``dtype`` (e.g. ``torch.float16`` / ``torch.bfloat16``) converts the
parameters, for GPU use. Checkpoint URLs: fairseq's ``examples/wav2vec/README.md``
and ``examples/wav2vec/xlsr/README.md``.
"""

from s3prl.util.registry import entry

__all__ = [
    "wav2vec2_local",
    "wav2vec2_url",
    "wav2vec2_custom",
    "wav2vec2",
    "wav2vec2_base_960",
    "wav2vec2_large_960",
    "wav2vec2_large_ll60k",
    "wav2vec2_large_lv60_cv_swbd_fsh",
    "xlsr_53",
    "xls_r_300m",
    "xls_r_1b",
    "xls_r_2b",
    "wav2vec2_large_voxpopuli_100k",
    "wav2vec2_base_s2st_es_voxpopuli",
    "wav2vec2_base_s2st_en_librilight",
]

_PAPER = "https://arxiv.org/abs/2006.11477"
_BASE = "https://dl.fbaipublicfiles.com/fairseq/wav2vec/"
_VERIFIED = "parity with transformers Wav2Vec2Model (seeded weights, fairseq layout); golden hidden states"


def build_upstream(family, ckpt, refresh=False, sha256=None, require=None, **kwargs):
    """Resolve ``ckpt`` (path or URL) and build ``s3prl.upstream.<family>.expert.UpstreamExpert``.

    Shared by the wav2vec 2.0, HuBERT and data2vec hubconfs (imports the model code lazily).
    ``require``: ``"path"`` (``<family>_local``) or ``"url"`` (``<family>_url``) to reject the other kind.
    """
    import importlib

    from s3prl.util.download import entry_checkpoint

    path = entry_checkpoint(ckpt, family, require, sha256, refresh)
    expert = importlib.import_module(f"s3prl.upstream.{family}.expert")
    return expert.UpstreamExpert(path, **kwargs)


def _build(ckpt, **kwargs):
    return build_upstream("wav2vec2", ckpt, **kwargs)


@entry(model="wav2vec 2.0 (any checkpoint)", paper=_PAPER, date="2020-06", input="wav", stride=320,
       verified=_VERIFIED)
def wav2vec2_local(ckpt: str, dtype=None, **kwargs):
    """wav2vec 2.0 / XLS-R from a local checkpoint file; the architecture is read from it.

    Layouts: fairseq ``{'args', 'model'}`` (e.g. ``wav2vec_small.pt``), fairseq
    ``{'cfg', 'model', 'task_state'}`` (e.g. ``xlsr2_300m.pt``), the original s3prl
    toolkit's converted ``{'task_cfg', 'model_cfg', 'model_weight'}``, and fine-tuned
    (CTC) fairseq checkpoints (the encoder only). Stride 320 samples (20 ms).

    Args:
        ckpt: local path.
        dtype: parameter dtype (default fp32).
        kwargs: ``Wav2Vec2Config`` overrides (e.g. ``normalize=False``).
    """
    return _build(ckpt, require="path", dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 (any checkpoint)", paper=_PAPER, date="2020-06", input="wav", stride=320,
       verified=_VERIFIED)
def wav2vec2_url(ckpt: str, refresh: bool = False, sha256=None, dtype=None, **kwargs):
    """wav2vec 2.0 / XLS-R from a checkpoint URL (downloaded once into the cache), any
    layout of :func:`wav2vec2_local`. Stride 320 samples (20 ms).

    Args:
        ckpt: http(s) URL.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), checked on download.
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, sha256=sha256, require="url", dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 (any checkpoint)", paper=_PAPER, date="2020-06", input="wav", stride=320,
       verified=_VERIFIED)
def wav2vec2_custom(ckpt: str, refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 / XLS-R from a local path or a URL, any layout of :func:`wav2vec2_local`.
    Stride 320 samples (20 ms).

    Args:
        ckpt: local path or http(s) URL.
        refresh: download again even if cached (URLs only).
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Base", paper=_PAPER, date="2020-06", input="wav", stride=320, layers=13,
       hidden_size=768, data="LibriSpeech 960 h", ckpt=_BASE + "wav2vec_small.pt", verified=_VERIFIED)
def wav2vec2_base_960(ckpt: str = _BASE + "wav2vec_small.pt", refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 Base (Baevski et al., 2020), pre-trained on LibriSpeech 960 h, no fine-tuning.

    12 post-LN transformer layers, hidden size 768, group-norm feature encoder, no
    input normalisation; 13 hidden states; stride 320 samples (20 ms).
    Checkpoint: fairseq's ``wav2vec_small.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Base", paper=_PAPER, date="2020-06", input="wav", stride=320, layers=13,
       hidden_size=768, data="LibriSpeech 960 h", ckpt=_BASE + "wav2vec_small.pt", verified=_VERIFIED)
def wav2vec2(ckpt: str = _BASE + "wav2vec_small.pt", refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 Base (the family's default; same as :func:`wav2vec2_base_960`).

    12 layers, hidden size 768, 13 hidden states, stride 320 samples (20 ms).
    Checkpoint: fairseq's ``wav2vec_small.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Large", paper=_PAPER, date="2020-06", input="wav", stride=320, layers=25,
       hidden_size=1024, data="LibriSpeech 960 h", ckpt=_BASE + "libri960_big.pt", verified=_VERIFIED)
def wav2vec2_large_960(ckpt: str = _BASE + "libri960_big.pt", refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 Large (Baevski et al., 2020), pre-trained on LibriSpeech 960 h.

    24 transformer layers, hidden size 1024, 25 hidden states, stride 320 samples
    (20 ms); the layer-norm placement and input normalisation are read from the
    checkpoint. Checkpoint: fairseq's ``libri960_big.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Large (LV-60)", paper=_PAPER, date="2020-06", input="wav", stride=320, layers=25,
       hidden_size=1024, data="Libri-Light 60k h", ckpt=_BASE + "wav2vec_vox_new.pt", verified=_VERIFIED)
def wav2vec2_large_ll60k(ckpt: str = _BASE + "wav2vec_vox_new.pt", refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 Large LV-60 (Baevski et al., 2020), pre-trained on Libri-Light 60k h.

    24 pre-LN transformer layers, hidden size 1024, layer-norm feature encoder,
    normalised input; 25 hidden states; stride 320 samples (20 ms).
    Checkpoint: fairseq's ``wav2vec_vox_new.pt`` (updated Oct. 2020).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Large (LV-60 + CV + SWBD + FSH), robust wav2vec 2.0",
       paper="https://arxiv.org/abs/2104.01027", date="2021-04", input="wav", stride=320, layers=25,
       hidden_size=1024, data="Libri-Light 60k h + CommonVoice + Switchboard + Fisher",
       ckpt=_BASE + "w2v_large_lv_fsh_swbd_cv.pt", verified=_VERIFIED)
def wav2vec2_large_lv60_cv_swbd_fsh(ckpt: str = _BASE + "w2v_large_lv_fsh_swbd_cv.pt", refresh: bool = False,
                                    dtype=None, **kwargs):
    """Robust wav2vec 2.0 Large (Hsu et al., 2021), pre-trained on Libri-Light 60k h,
    CommonVoice, Switchboard and Fisher.

    24 pre-LN transformer layers, hidden size 1024, 25 hidden states, stride 320
    samples (20 ms). Checkpoint: fairseq's ``w2v_large_lv_fsh_swbd_cv.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="XLSR-53", paper="https://arxiv.org/abs/2006.13979", date="2020-06", input="wav", stride=320,
       layers=25, hidden_size=1024, data="MLS + CommonVoice + BABEL, 56k h, 53 languages",
       ckpt=_BASE + "xlsr_53_56k.pt", verified=_VERIFIED)
def xlsr_53(ckpt: str = _BASE + "xlsr_53_56k.pt", refresh: bool = False, dtype=None, **kwargs):
    """XLSR-53 (Conneau et al., 2020): wav2vec 2.0 Large pre-trained on 56k h in 53 languages.

    24 pre-LN transformer layers, hidden size 1024, 25 hidden states, stride 320
    samples (20 ms). Checkpoint: fairseq's ``xlsr_53_56k.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


_XLSR = "https://arxiv.org/abs/2111.09296"
_XLSR_DATA = "436k h in 128 languages (VoxPopuli, MLS, CommonVoice, VoxLingua107, BABEL)"


@entry(model="XLS-R 300M", paper=_XLSR, date="2021-11", input="wav", stride=320, layers=25, hidden_size=1024,
       data=_XLSR_DATA, ckpt=_BASE + "xlsr2_300m.pt", verified=_VERIFIED)
def xls_r_300m(ckpt: str = _BASE + "xlsr2_300m.pt", refresh: bool = False, dtype=None, **kwargs):
    """XLS-R 300M (Babu et al., 2021): wav2vec 2.0 pre-trained on 436k h in 128 languages.

    24 pre-LN transformer layers, hidden size 1024, 25 hidden states, stride 320
    samples (20 ms). Checkpoint: fairseq's ``xlsr2_300m.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="XLS-R 1B", paper=_XLSR, date="2021-11", input="wav", stride=320, layers=49, hidden_size=1280,
       data=_XLSR_DATA, ckpt=_BASE + "xlsr2_960m_1000k.pt", verified=_VERIFIED)
def xls_r_1b(ckpt: str = _BASE + "xlsr2_960m_1000k.pt", refresh: bool = False, dtype=None, **kwargs):
    """XLS-R 1B (Babu et al., 2021): wav2vec 2.0 pre-trained on 436k h in 128 languages.

    48 pre-LN transformer layers, hidden size 1280, 49 hidden states, stride 320
    samples (20 ms). Checkpoint: fairseq's ``xlsr2_960m_1000k.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="XLS-R 2B", paper=_XLSR, date="2021-11", input="wav", stride=320, layers=49, hidden_size=1920,
       data=_XLSR_DATA, ckpt=_BASE + "xlsr2_2B_1000k.pt", verified=_VERIFIED)
def xls_r_2b(ckpt: str = _BASE + "xlsr2_2B_1000k.pt", refresh: bool = False, dtype=None, **kwargs):
    """XLS-R 2B (Babu et al., 2021): wav2vec 2.0 pre-trained on 436k h in 128 languages.

    48 pre-LN transformer layers, hidden size 1920, 49 hidden states, stride 320
    samples (20 ms). Checkpoint: fairseq's ``xlsr2_2B_1000k.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)



# ---------------------------------------------------------------------------------------------
# More wav2vec 2.0 checkpoints (URLs: s3prl 0.4.18's wav2vec2 hubconf, the original releases;
# s3prl 0.4.18 defaults to converted copies on huggingface.co/s3prl/converted_ckpts, also
# readable through ckpt=).

_VOXPOPULI_URL = "https://dl.fbaipublicfiles.com/voxpopuli/models/wav2vec2_large_100k.pt"
_S2ST = "https://arxiv.org/abs/2204.02967"
_S2ST_BASE = _BASE.replace("wav2vec/", "speech_to_speech/s2st_finetuning/w2v2/")


@entry(model="wav2vec 2.0 Large (VoxPopuli 100k)", paper="https://arxiv.org/abs/2101.00390", date="2021-01",
       input="wav", stride=320, layers=25, hidden_size=1024,
       data="VoxPopuli 100k h unlabelled speech, 23 languages", ckpt=_VOXPOPULI_URL, verified=_VERIFIED)
def wav2vec2_large_voxpopuli_100k(ckpt: str = _VOXPOPULI_URL, refresh: bool = False, dtype=None, **kwargs):
    """wav2vec 2.0 Large pre-trained on the 100k h of unlabelled VoxPopuli speech in 23
    languages (Wang et al., 2021); no fine-tuning.

    24 transformer layers, hidden size 1024 (the layer-norm placement and input
    normalisation are read from the checkpoint); 25 hidden states; stride 320 samples
    (20 ms). Checkpoint: VoxPopuli's ``wav2vec2_large_100k.pt``.
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Base (S2ST, Spanish)", paper=_S2ST, date="2022-04", input="wav", stride=320,
       layers=13, hidden_size=768, data="VoxPopuli Spanish (unlabelled)",
       ckpt=_S2ST_BASE + "es/transformer_B.pt", verified=_VERIFIED)
def wav2vec2_base_s2st_es_voxpopuli(ckpt: str = _S2ST_BASE + "es/transformer_B.pt", refresh: bool = False,
                                    dtype=None, **kwargs):
    """wav2vec 2.0 Base pre-trained on Spanish VoxPopuli, the speech encoder of Popuri et al.
    2022 (enhanced direct speech-to-speech translation); fairseq's
    ``s2st_finetuning/w2v2/es/transformer_B.pt``.

    12 transformer layers, hidden size 768; 13 hidden states; stride 320 samples (20 ms).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)


@entry(model="wav2vec 2.0 Base (S2ST, English)", paper=_S2ST, date="2022-04", input="wav", stride=320,
       layers=13, hidden_size=768, data="Libri-Light (unlabelled English)",
       ckpt=_S2ST_BASE + "en/transformer_B.pt", verified=_VERIFIED)
def wav2vec2_base_s2st_en_librilight(ckpt: str = _S2ST_BASE + "en/transformer_B.pt", refresh: bool = False,
                                     dtype=None, **kwargs):
    """wav2vec 2.0 Base pre-trained on Libri-Light, the English speech encoder of Popuri et al.
    2022 (enhanced direct speech-to-speech translation); fairseq's
    ``s2st_finetuning/w2v2/en/transformer_B.pt``.

    12 transformer layers, hidden size 768; 13 hidden states; stride 320 samples (20 ms).
    """
    return _build(ckpt, refresh=refresh, dtype=dtype, **kwargs)
