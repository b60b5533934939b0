"""Entries of DeCoAR 1.0 (Ling et al., 2020, https://arxiv.org/abs/1912.01679): ``decoar*`` return
the last layer, ``decoar_layers*`` every layer, of the same checkpoints (s3prl 0.4.18's
``upstream/decoar`` and ``upstream/decoar_layers``). Stride 160 samples (10 ms)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = [
    "decoar",
    "decoar_local",
    "decoar_url",
    "decoar_custom",
    "decoar_layers",
    "decoar_layers_local",
    "decoar_layers_url",
    "decoar_layers_custom",
]

DECOAR_URL = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/checkpoint_decoar.pt"
_PAPER = "https://arxiv.org/abs/1912.01679"
_VERIFIED = "plain-torch re-statement (nn.LSTM over each unpadded utterance, kaldi-native-fbank); goldens"


def _load(ckpt, all_layers, refresh=False, sha256=None, require=None, name="decoar", **kwargs):
    from s3prl.util.download import entry_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(entry_checkpoint(ckpt, name, require, sha256, refresh), all_layers=all_layers, **kwargs)


def _facts(model, layers=None, hidden=None, ckpt=""):
    return dict(model=model, paper=_PAPER, date="2019-12", input="fbank", stride=160, layers=layers,
                hidden_size=hidden, data="LibriSpeech 960 h" if ckpt else "", ckpt=ckpt, verified=_VERIFIED)


@entry(**_facts("DeCoAR (checkpoint)"))
def decoar_local(ckpt: str, dtype=None):
    """DeCoAR 1.0 from a local checkpoint (``{'model': state_dict}``): the last layer's
    forward+backward LSTM output. Stride 160 samples (10 ms).

    Raises:
        ValueError: ``ckpt`` is a URL (use ``decoar_url``) or the file does not match the layout.
        FileNotFoundError: no such file.
    """
    return _load(ckpt, False, require="path", dtype=dtype)


@entry(**_facts("DeCoAR (checkpoint)"))
def decoar_url(ckpt: str, refresh: bool = False, sha256: str | None = None, dtype=None):
    """DeCoAR 1.0 from a checkpoint URL (downloaded once into the cache); the last layer.

    Args:
        ckpt: http(s) URL. refresh: download again. sha256: expected sha256 (hex), when known.
    """
    return _load(ckpt, False, refresh=refresh, sha256=sha256, require="url", dtype=dtype)


@entry(**_facts("DeCoAR (checkpoint)"))
def decoar_custom(ckpt: str, refresh: bool = False, dtype=None):
    """DeCoAR 1.0 from a local path or URL; the last layer. Stride 160 samples (10 ms)."""
    return _load(ckpt, False, refresh=refresh, dtype=dtype)


@entry(**_facts("DeCoAR", 1, 2048, DECOAR_URL))
def decoar(ckpt: str = DECOAR_URL, refresh: bool = False, dtype=None):
    """DeCoAR 1.0 (Ling et al., 2020), pre-trained on LibriSpeech 960 h.

    80-bin hamming Kaldi fbank with per-utterance CMVN; Linear 80 -> 1024; forward and
    backward 4-layer LSTMs (1024); 1 hidden state of 2048 (the last layer's
    ``[forward, backward]``); stride 160 samples (10 ms), receptive field 400 samples.
    Checkpoint: s3prl's ``checkpoint_decoar.pt``.
    """
    return _load(ckpt, False, refresh=refresh, dtype=dtype)


@entry(**_facts("DeCoAR, every layer (checkpoint)"))
def decoar_layers_local(ckpt: str, dtype=None):
    """DeCoAR 1.0 from a local checkpoint, every layer's output. Stride 160 samples (10 ms).

    Raises:
        ValueError: ``ckpt`` is a URL (use ``decoar_layers_url``) or the file does not match.
        FileNotFoundError: no such file.
    """
    return _load(ckpt, True, require="path", name="decoar_layers", dtype=dtype)


@entry(**_facts("DeCoAR, every layer (checkpoint)"))
def decoar_layers_url(ckpt: str, refresh: bool = False, sha256: str | None = None, dtype=None):
    """DeCoAR 1.0 from a checkpoint URL (downloaded once into the cache), every layer.

    Args:
        ckpt: http(s) URL. refresh: download again. sha256: expected sha256 (hex), when known.
    """
    return _load(ckpt, True, refresh=refresh, sha256=sha256, require="url", name="decoar_layers", dtype=dtype)


@entry(**_facts("DeCoAR, every layer (checkpoint)"))
def decoar_layers_custom(ckpt: str, refresh: bool = False, dtype=None):
    """DeCoAR 1.0 from a local path or URL, every layer. Stride 160 samples (10 ms)."""
    return _load(ckpt, True, refresh=refresh, dtype=dtype)


@entry(**_facts("DeCoAR, every layer", 4, 2048, DECOAR_URL))
def decoar_layers(ckpt: str = DECOAR_URL, refresh: bool = False, dtype=None):
    """DeCoAR 1.0 (Ling et al., 2020), LibriSpeech 960 h: the 4 layers' ``[forward,
    backward]`` LSTM outputs (4 hidden states of 2048); stride 160 samples (10 ms).
    Checkpoint: s3prl's ``checkpoint_decoar.pt``.
    """
    return _load(ckpt, True, refresh=refresh, dtype=dtype)
