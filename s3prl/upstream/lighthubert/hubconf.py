"""Entries of LightHuBERT (Wang et al., Interspeech 2022, https://arxiv.org/abs/2203.15610): the
once-for-all supernet checkpoints and their subnets (s3prl 0.4.18's ``upstream/lighthubert``
names and URLs, huggingface.co/mechanicalsea/lighthubert). Stride 320 samples (20 ms)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = [
    "lighthubert_local",
    "lighthubert_url",
    "lighthubert",
    "lighthubert_small",
    "lighthubert_base",
    "lighthubert_stage1",
]

_PAPER = "https://arxiv.org/abs/2203.15610"
_HF = "https://huggingface.co/mechanicalsea/lighthubert/resolve/main/"
_VERIFIED = ("re-statement of the supernet slicing and HuBERT forward (written from the original source) "
             "on a seeded reduced supernet; goldens")


def _build(ckpt, refresh=False, sha256=None, require=None, subnet=None, dtype=None):
    from s3prl.util.download import entry_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(entry_checkpoint(ckpt, "lighthubert", require, sha256, refresh), subnet=subnet, dtype=dtype)


_ANY = dict(model="LightHuBERT (any supernet checkpoint)", paper=_PAPER, date="2022-03", input="wav", stride=320,
            verified=_VERIFIED)


@entry(**_ANY)
def lighthubert_local(ckpt: str, subnet: dict | None = None, dtype=None):
    """LightHuBERT from a local supernet checkpoint: the subnet s3prl 0.4.18 takes for it
    (``student_hubert``: the largest; ``hubert_pruner``: the supernet's fixed subnet), or
    ``subnet=`` (``embed_dim``, ``atten_dim``, ``heads_num``, ``ffn_embed``, ``layer_num``).
    Stride 320 samples."""
    return _build(ckpt, require="path", subnet=subnet, dtype=dtype)


@entry(**_ANY)
def lighthubert_url(ckpt: str, refresh: bool = False, sha256: str | None = None, subnet: dict | None = None,
                    dtype=None):
    """LightHuBERT from a supernet checkpoint URL (downloaded once into the cache); see
    :func:`lighthubert_local`.

    Args:
        ckpt: http(s) URL. refresh: download again. sha256: expected sha256 (hex), when known.
    """
    return _build(ckpt, refresh=refresh, sha256=sha256, require="url", subnet=subnet, dtype=dtype)


def _named(model, name, layers, hidden, data="LibriSpeech 960 h"):
    return dict(model=model, paper=_PAPER, date="2022-03", input="wav", stride=320, layers=layers,
                hidden_size=hidden, data=data, ckpt=_HF + name, verified=_VERIFIED)


@entry(**_named("LightHuBERT Small", "lighthubert_small.pt", 13, 384))
def lighthubert(ckpt: str = _HF + "lighthubert_small.pt", refresh: bool = False, dtype=None):
    """LightHuBERT, the family default: :func:`lighthubert_small`."""
    return _build(ckpt, refresh=refresh, dtype=dtype)


@entry(**_named("LightHuBERT Small", "lighthubert_small.pt", 13, 384))
def lighthubert_small(ckpt: str = _HF + "lighthubert_small.pt", refresh: bool = False, dtype=None):
    """LightHuBERT Small: the small supernet's subnet (384 dims, 6 heads, FFN 1536, 12 layers);
    13 hidden states of 384 (projected features and the 12 layers); stride 320 samples."""
    return _build(ckpt, refresh=refresh, dtype=dtype)


@entry(**_named("LightHuBERT Base", "lighthubert_base.pt", 13, 640))
def lighthubert_base(ckpt: str = _HF + "lighthubert_base.pt", refresh: bool = False, dtype=None):
    """LightHuBERT Base: the base supernet's subnet (640 dims, 10 heads, FFN 2560, 12 layers);
    13 hidden states of 640; stride 320 samples."""
    return _build(ckpt, refresh=refresh, dtype=dtype)


@entry(**_named("LightHuBERT Stage 1 (distilled supernet)", "lighthubert_stage1.pt", 13, 768))
def lighthubert_stage1(ckpt: str = _HF + "lighthubert_stage1.pt", refresh: bool = False, dtype=None):
    """LightHuBERT after stage 1 (the distilled ``student_hubert``): its largest subnet
    (768 dims, 12 heads, FFN 3072, 12 layers); 13 hidden states of 768; stride 320 samples."""
    return _build(ckpt, refresh=refresh, dtype=dtype)
