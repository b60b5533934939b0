"""Entries of ESPnet's HuBERT releases (Chen et al., 2023, https://arxiv.org/abs/2306.06672, and
WavLabLM, Chen et al., 2023, https://arxiv.org/abs/2309.15317): a ``.pth`` state dict plus its
``config.yaml``, read without ESPnet (:mod:`.expert`).

URLs: s3prl 0.4.18's ``upstream/espnet_hubert/hubconf.py`` (``espnet_hubert_large_gs_ll60k``'s
config is fetched from the ``raw/`` address; s3prl 0.4.18 lists the ``blob/`` page, which
serves HTML). Hidden states: the ``L`` transformer layers' outputs (s3prl 0.4.18's choice);
stride 320 samples (20 ms).
"""

from s3prl.util.registry import entry

__all__ = [
    "espnet_hubert_local",
    "espnet_hubert_url",
    "espnet_hubert_custom",
    "cvhubert",
    "wavlablm_ek_40k",
    "wavlablm_ms_40k",
    "wavlablm_mk_40k",
    "espnet_hubert_base_iter0",
    "espnet_hubert_base_iter1",
    "espnet_hubert_large_gs_ll60k",
]

_PAPER = "https://arxiv.org/abs/2306.06672"
_WAVLABLM = "https://arxiv.org/abs/2309.15317"
_HF = "https://huggingface.co/espnet/"
_VERIFIED = ("re-statement of torchaudio's HuBERT forward (written from its source) on seeded weights "
             "in ESPnet's layout; golden hidden states")


def _pair(repo: str, folder: str, pth: str) -> tuple[str, str]:
    return f"{_HF}{repo}/resolve/main/{folder}/{pth}", f"{_HF}{repo}/raw/main/{folder}/config.yaml"


_CV = _pair("espnet_cvhubert", "exp/hubert_iter2_train_ssl_torchaudiohubert_base_960h_pretrain_it2_raw",
            "latest.pth")
_EK = _pair("WavLabLM-EK-40k", "exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_cont_raw_layer_9",
            "5epoch.pth")
_MS = _pair("WavLabLM-MS-40k",
            "exp_babel/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_babel_light_raw_layer_9",
            "5epoch.pth")
_MK = _pair("WavLabLM-MK-40k",
            "exp_li/hubert_iter2_train_ssl_torchaudiohubert_large_960h_pretrain_it2_wavlm_raw_layer_9",
            "valid.acc_m.ave_10best.pth")
_IT0 = _pair("simpleoier_librispeech_hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw",
             "exp/hubert_iter0_train_ssl_torchaudiohubert_base_960h_pretrain_it0_raw", "valid.loss.ave.pth")
_IT1 = _pair("simpleoier_librispeech_hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw",
             "exp/hubert_iter1_train_ssl_torchaudiohubert_base_960h_pretrain_it1_raw", "valid.loss.ave.pth")
_GS = _pair("hubert_large_gs_16_librilight60k",
            "mnt/datastore/exp/hubert_iter1_train_ssl_torchaudiohubert_large_960h_pretrain_it2_bins_raw",
            "valid.loss.ave_10best.pth")


def _build(ckpt, config=None, refresh=False, sha256=None, require=None, dtype=None):
    from s3prl.util.download import entry_checkpoint, is_url, resolve_checkpoint

    from .expert import UpstreamExpert

    path = entry_checkpoint(ckpt, "espnet_hubert", require, sha256, refresh)
    if config is not None and not isinstance(config, dict) and is_url(config):
        config = resolve_checkpoint(config, refresh=refresh)
    elif config is None and is_url(ckpt):
        raise ValueError(f"ESPnet HuBERT checkpoint URL {ckpt} needs config= (the URL or path of its config.yaml)")
    return UpstreamExpert(path, config=config, dtype=dtype)


@entry(model="ESPnet HuBERT (any checkpoint)", paper=_PAPER, date="2023-06", input="wav", stride=320,
       verified=_VERIFIED)
def espnet_hubert_local(ckpt: str, config=None, dtype=None):
    """ESPnet HuBERT from a local ``.pth`` and its ``config.yaml`` (default: the
    ``config.yaml`` next to the ``.pth``, ESPnet's experiment folder). Stride 320 samples.

    Args:
        ckpt: local ``.pth`` path.
        config: local path (or URL) of the training ``config.yaml``.
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, config, require="path", dtype=dtype)


@entry(model="ESPnet HuBERT (any checkpoint)", paper=_PAPER, date="2023-06", input="wav", stride=320,
       verified=_VERIFIED)
def espnet_hubert_url(ckpt: str, config: str = None, refresh: bool = False, sha256=None, dtype=None):
    """ESPnet HuBERT from a ``.pth`` URL and its ``config.yaml`` (URL or path), downloaded once
    into the cache. Stride 320 samples.

    Args:
        ckpt: http(s) URL of the ``.pth``.
        config: URL or local path of the ``config.yaml`` (required).
        refresh: download again even if cached.
        sha256: expected sha256 of the ``.pth`` (hex, full or prefix).
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, config, refresh=refresh, sha256=sha256, require="url", dtype=dtype)


@entry(model="ESPnet HuBERT (any checkpoint)", paper=_PAPER, date="2023-06", input="wav", stride=320,
       verified=_VERIFIED)
def espnet_hubert_custom(ckpt: str, config=None, refresh: bool = False, dtype=None):
    """ESPnet HuBERT from a local path or URL of the ``.pth`` and of its ``config.yaml``
    (a local ``.pth`` defaults to the ``config.yaml`` next to it). Stride 320 samples.

    Args:
        ckpt: local path or http(s) URL of the ``.pth``.
        config: local path or URL of the ``config.yaml``.
        refresh: download again even if cached (URLs only).
        dtype: parameter dtype (default fp32).
    """
    return _build(ckpt, config, refresh=refresh, dtype=dtype)


@entry(model="CV-HuBERT Base (ESPnet)", paper=_WAVLABLM, date="2023-09", input="wav", stride=320, layers=12,
       hidden_size=768, data="CommonVoice 11 multilingual, 13.6k h", ckpt=_CV[0], verified=_VERIFIED)
def cvhubert(ckpt: str = _CV[0], config: str = _CV[1], refresh: bool = False, dtype=None):
    """HuBERT Base trained with ESPnet on 13.6k h of multilingual CommonVoice 11 (20 ms
    frames; second iteration). 12 hidden states of 768 (the layers' outputs); stride 320.
    """
    return _build(ckpt, config, refresh=refresh, dtype=dtype)


@entry(model="WavLabLM-EK-40k (ESPnet HuBERT Large)", paper=_WAVLABLM, date="2023-09", input="wav",
       stride=320, layers=24, hidden_size=1024,
       data="Openli110 (CommonVoice, VoxPopuli, MLS, Googlei18n; about 39k h)", ckpt=_EK[0], verified=_VERIFIED)
def wavlablm_ek_40k(ckpt: str = _EK[0], config: str = _EK[1], refresh: bool = False, dtype=None):
    """WavLabLM-EK (Chen et al., 2023): initialised from HuBERT Large (LL-60k) and trained
    further on Openli110 with English (LibriSpeech) k-means targets.
    24 hidden states of 1024 (the layers' outputs); stride 320.
    """
    return _build(ckpt, config, refresh=refresh, dtype=dtype)


@entry(model="WavLabLM-MS-40k (ESPnet HuBERT Large)", paper=_WAVLABLM, date="2023-09", input="wav",
       stride=320, layers=24, hidden_size=1024,
       data="Openli110 (CommonVoice, VoxPopuli, MLS, Googlei18n; about 39k h)", ckpt=_MS[0], verified=_VERIFIED)
def wavlablm_ms_40k(ckpt: str = _MS[0], config: str = _MS[1], refresh: bool = False, dtype=None):
    """WavLabLM-MS (Chen et al., 2023): trained from scratch on Openli110 with multilingual
    k-means targets and multi-stage training. 24 hidden states of 1024; stride 320.
    """
    return _build(ckpt, config, refresh=refresh, dtype=dtype)


@entry(model="WavLabLM-MK-40k (ESPnet HuBERT Large)", paper=_WAVLABLM, date="2023-09", input="wav",
       stride=320, layers=24, hidden_size=1024,
       data="Openli110 (CommonVoice, VoxPopuli, MLS, Googlei18n; about 39k h)", ckpt=_MK[0], verified=_VERIFIED)
def wavlablm_mk_40k(ckpt: str = _MK[0], config: str = _MK[1], refresh: bool = False, dtype=None):
    """WavLabLM-MK (Chen et al., 2023): trained from scratch on Openli110 with multilingual
    k-means targets. 24 hidden states of 1024; stride 320.
    """
    return _build(ckpt, config, refresh=refresh, dtype=dtype)


@entry(model="ESPnet HuBERT Base (iteration 0)", paper=_PAPER, date="2023-06", input="wav", stride=320,
       layers=12, hidden_size=768, data="LibriSpeech 960 h", ckpt=_IT0[0], verified=_VERIFIED)
def espnet_hubert_base_iter0(ckpt: str = _IT0[0], config: str = _IT0[1], refresh: bool = False, dtype=None):
    """HuBERT Base pre-trained with ESPnet on LibriSpeech 960 h, first iteration (MFCC k-means
    targets). 12 hidden states of 768 (the layers' outputs); stride 320.
    """
    return _build(ckpt, config, refresh=refresh, dtype=dtype)


@entry(model="ESPnet HuBERT Base (iteration 1)", paper=_PAPER, date="2023-06", input="wav", stride=320,
       layers=12, hidden_size=768, data="LibriSpeech 960 h", ckpt=_IT1[0], verified=_VERIFIED)
def espnet_hubert_base_iter1(ckpt: str = _IT1[0], config: str = _IT1[1], refresh: bool = False, dtype=None):
    """HuBERT Base pre-trained with ESPnet on LibriSpeech 960 h, second iteration.
    12 hidden states of 768 (the layers' outputs); stride 320.
    """
    return _build(ckpt, config, refresh=refresh, dtype=dtype)


@entry(model="ESPnet HuBERT Large (GigaSpeech units)", paper=_PAPER, date="2023-06", input="wav", stride=320,
       layers=24, hidden_size=1024, data="Libri-Light 60k h (units from a GigaSpeech 10k h model)", ckpt=_GS[0],
       verified=_VERIFIED)
def espnet_hubert_large_gs_ll60k(ckpt: str = _GS[0], config: str = _GS[1], refresh: bool = False, dtype=None):
    """HuBERT Large pre-trained with ESPnet on Libri-Light 60k h, with targets from a model
    trained on GigaSpeech 10k h. 24 hidden states of 1024 (the layers' outputs); stride 320.
    """
    return _build(ckpt, config, refresh=refresh, dtype=dtype)
