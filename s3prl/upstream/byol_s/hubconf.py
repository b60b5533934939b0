"""Entries of BYOL-S (Elbanna et al., 2022, https://arxiv.org/abs/2206.12038)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["byol_s_default", "byol_s_cvt", "byol_s_resnetish34"]

BYOL_S_RESNETISH34_URL = ("https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/"
                          "resnetish34_BYOLAs64x96-2105271915-e100-bs256-lr0003-rs42.pth")
BYOL_S_CVT_URL = ("https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/"
                  "cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512_BYOLAs64x96-osandbyolaloss6373-e100-bs256-lr0003-rs42.pth")
BYOL_S_DEFAULT_URL = ("https://github.com/GasserElbanna/serab-byols/raw/main/checkpoints/"
                      "default2048_BYOLAs64x96-2105311814-e100-bs256-lr0003-rs42.pth")


@entry(model="BYOL-S (AudioNTT2020, default)", paper="https://arxiv.org/abs/2206.12038", date="2022-06",
       input="log-mel (64 bins, 1 s windows every 50 ms)", stride=800, layers=1, hidden_size=2048,
       data="AudioSet speech subset", ckpt=BYOL_S_DEFAULT_URL,
       verified="log-mel vs librosa; seeded checkpoint vs a re-statement of serab-byols' "
       "get_timestamp_embeddings for one wav")
def byol_s_default(ckpt: str = BYOL_S_DEFAULT_URL, refresh: bool = False, window_secs: float = 1.0,
                   hop_secs: float = 0.05, **kwargs):
    """BYOL-S default encoder: a 2048-d embedding of the 1 s around every 50 ms (see
    :mod:`s3prl.upstream.byol_s.expert`; its normalisation statistics are per wav)."""
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(str(resolve_checkpoint(ckpt, refresh=refresh)), "default", window_secs, hop_secs,
                          **kwargs)


@entry(model="BYOL-S (ResNetish-34)", paper="https://arxiv.org/abs/2206.12038", date="2022-06",
       input="log-mel (64 bins, 1 s windows every 50 ms)", stride=800, layers=1, hidden_size=2048,
       data="AudioSet speech subset", ckpt=BYOL_S_RESNETISH34_URL,
       verified="seeded reduced checkpoint in the released layout vs transformers "
       "ResNetBasicLayer blocks")
def byol_s_resnetish34(ckpt: str = BYOL_S_RESNETISH34_URL, refresh: bool = False, window_secs: float = 1.0,
                       hop_secs: float = 0.05, **kwargs):
    """BYOL-S ResNetish-34 encoder: a 2048-d embedding of the 1 s around every 50 ms (see
    :mod:`s3prl.upstream.byol_s.expert` and :mod:`s3prl.upstream.byol_s.resnetish`)."""
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(str(resolve_checkpoint(ckpt, refresh=refresh)), "resnetish34", window_secs,
                          hop_secs, **kwargs)


@entry(model="BYOL-S (CvT)", paper="https://arxiv.org/abs/2206.12038", date="2022-06",
       input="log-mel (64 bins, 1 s windows every 50 ms)", stride=800, layers=1, hidden_size=2048,
       data="AudioSet speech subset", ckpt=BYOL_S_CVT_URL,
       verified="seeded checkpoint in the released layout vs an einsum re-statement of the CvT forward")
def byol_s_cvt(ckpt: str = BYOL_S_CVT_URL, refresh: bool = False, window_secs: float = 1.0,
               hop_secs: float = 0.05, **kwargs):
    """BYOL-S CvT encoder (3 stages, widths 64/256/512): a 2048-d embedding of the 1 s around
    every 50 ms (see :mod:`s3prl.upstream.byol_s.expert` and :mod:`s3prl.upstream.byol_s.cvt`)."""
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(str(resolve_checkpoint(ckpt, refresh=refresh)), "cvt", window_secs, hop_secs,
                          **kwargs)
