"""Entries of the MOS predictors of s3prl 0.4.18 (``upstream/mos_prediction/hubconf.py``): a
mean-opinion-score head on wav2vec 2.0 / TERA / APC, trained on VCC 2018 listening tests."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = [
    "mos_wav2vec2", "mos_wav2vec2_local", "mos_wav2vec2_url",
    "mos_tera", "mos_tera_local", "mos_tera_url",
    "mos_apc", "mos_apc_local", "mos_apc_url",
]

MOS_WAV2VEC2_URL = "https://www.dropbox.com/s/s9zpouk5svu1a4l/wav2vec2-dev-SRCC-best.ckpt?dl=1"
MOS_TERA_URL = "https://www.dropbox.com/s/w4jk5bujaoosk69/tera-dev-SRCC-best.ckpt?dl=1"
MOS_APC_URL = "https://www.dropbox.com/s/ulng31as15hsvz1/apc-dev-SRCC-best.ckpt?dl=1"

_PAPER = "https://arxiv.org/abs/2104.03017"
_INPUT = "wav (1 s segments every 0.5 s, through its upstream)"
_VERIFIED = ("seeded checkpoints in the released layout vs a re-statement of s3prl's segmenting, "
             "Featurizer average and MosDownstream head on the upstream loaded from its own layout")


def _load(ckpt, upstream, refresh=False, sha256=None, upstream_ckpt=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(str(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)), upstream,
                          upstream_ckpt=upstream_ckpt, **kwargs)


@entry(model="MOS predictor on wav2vec 2.0 Base", paper=_PAPER, date="2021-04", input=_INPUT, stride=8000,
       layers=1, hidden_size=1, data="VCC 2018 listening tests", ckpt=MOS_WAV2VEC2_URL, verified=_VERIFIED)
def mos_wav2vec2(ckpt: str = MOS_WAV2VEC2_URL, refresh: bool = False, upstream_ckpt: str | None = None, **kwargs):
    """Predicted MOS (1 to 5) of each wav, from s3prl's head on wav2vec 2.0 Base (see
    :mod:`s3prl.upstream.mos_prediction.expert`): ``out["scores"]`` ``(batch,)`` and the segment
    scores as the hidden state.

    Args:
        ckpt: the MOS checkpoint (path or URL; default: the s3prl 0.4.18 release).
        upstream_ckpt: the wav2vec2 checkpoint giving the upstream's architecture and front end
            (default: ``Args.upstream_ckpt`` when it is a local file, else the ``wav2vec2`` entry's
            release, downloaded once as s3prl does).
    """
    return _load(ckpt, "wav2vec2", refresh, upstream_ckpt=upstream_ckpt, **kwargs)


@entry(model="MOS predictor on wav2vec 2.0 Base (local checkpoint)", paper=_PAPER, input=_INPUT, stride=8000,
       layers=1, hidden_size=1, verified=_VERIFIED)
def mos_wav2vec2_local(ckpt: str, upstream_ckpt: str | None = None, **kwargs):
    """:func:`mos_wav2vec2` from a local checkpoint in the released layout.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``mos_wav2vec2_url``) or not in the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "mos_wav2vec2_local"), "wav2vec2", upstream_ckpt=upstream_ckpt, **kwargs)


@entry(model="MOS predictor on wav2vec 2.0 Base (checkpoint URL)", paper=_PAPER, input=_INPUT, stride=8000,
       layers=1, hidden_size=1, verified=_VERIFIED)
def mos_wav2vec2_url(ckpt: str, refresh: bool = False, sha256: str | None = None, upstream_ckpt: str | None = None,
                     **kwargs):
    """:func:`mos_wav2vec2` from a checkpoint URL (downloaded once into the cache).

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``mos_wav2vec2_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "mos_wav2vec2_url"), "wav2vec2", refresh, sha256, upstream_ckpt, **kwargs)


@entry(model="MOS predictor on TERA", paper=_PAPER, date="2021-04", input=_INPUT, stride=8000,
       layers=1, hidden_size=1, data="VCC 2018 listening tests", ckpt=MOS_TERA_URL, verified=_VERIFIED)
def mos_tera(ckpt: str = MOS_TERA_URL, refresh: bool = False, upstream_ckpt: str | None = None, **kwargs):
    """Predicted MOS (1 to 5) of each wav, from s3prl's head on TERA (see
    :mod:`s3prl.upstream.mos_prediction.expert`): ``out["scores"]`` ``(batch,)`` and the segment
    scores as the hidden state.

    Args:
        ckpt: the MOS checkpoint (path or URL; default: the s3prl 0.4.18 release).
        upstream_ckpt: the tera checkpoint giving the upstream's architecture and front end
            (default: ``Args.upstream_ckpt`` when it is a local file, else the ``tera`` entry's
            release, downloaded once as s3prl does).
    """
    return _load(ckpt, "tera", refresh, upstream_ckpt=upstream_ckpt, **kwargs)


@entry(model="MOS predictor on TERA (local checkpoint)", paper=_PAPER, input=_INPUT, stride=8000,
       layers=1, hidden_size=1, verified=_VERIFIED)
def mos_tera_local(ckpt: str, upstream_ckpt: str | None = None, **kwargs):
    """:func:`mos_tera` from a local checkpoint in the released layout.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``mos_tera_url``) or not in the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "mos_tera_local"), "tera", upstream_ckpt=upstream_ckpt, **kwargs)


@entry(model="MOS predictor on TERA (checkpoint URL)", paper=_PAPER, input=_INPUT, stride=8000,
       layers=1, hidden_size=1, verified=_VERIFIED)
def mos_tera_url(ckpt: str, refresh: bool = False, sha256: str | None = None, upstream_ckpt: str | None = None,
                 **kwargs):
    """:func:`mos_tera` from a checkpoint URL (downloaded once into the cache).

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``mos_tera_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "mos_tera_url"), "tera", refresh, sha256, upstream_ckpt, **kwargs)


@entry(model="MOS predictor on APC", paper=_PAPER, date="2021-04", input=_INPUT, stride=8000,
       layers=1, hidden_size=1, data="VCC 2018 listening tests", ckpt=MOS_APC_URL, verified=_VERIFIED)
def mos_apc(ckpt: str = MOS_APC_URL, refresh: bool = False, upstream_ckpt: str | None = None, **kwargs):
    """Predicted MOS (1 to 5) of each wav, from s3prl's head on APC (see
    :mod:`s3prl.upstream.mos_prediction.expert`): ``out["scores"]`` ``(batch,)`` and the segment
    scores as the hidden state.

    Args:
        ckpt: the MOS checkpoint (path or URL; default: the s3prl 0.4.18 release).
        upstream_ckpt: the apc checkpoint giving the upstream's architecture and front end
            (default: ``Args.upstream_ckpt`` when it is a local file, else the ``apc`` entry's
            release, downloaded once as s3prl does).
    """
    return _load(ckpt, "apc", refresh, upstream_ckpt=upstream_ckpt, **kwargs)


@entry(model="MOS predictor on APC (local checkpoint)", paper=_PAPER, input=_INPUT, stride=8000,
       layers=1, hidden_size=1, verified=_VERIFIED)
def mos_apc_local(ckpt: str, upstream_ckpt: str | None = None, **kwargs):
    """:func:`mos_apc` from a local checkpoint in the released layout.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``mos_apc_url``) or not in the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "mos_apc_local"), "apc", upstream_ckpt=upstream_ckpt, **kwargs)


@entry(model="MOS predictor on APC (checkpoint URL)", paper=_PAPER, input=_INPUT, stride=8000,
       layers=1, hidden_size=1, verified=_VERIFIED)
def mos_apc_url(ckpt: str, refresh: bool = False, sha256: str | None = None, upstream_ckpt: str | None = None,
                **kwargs):
    """:func:`mos_apc` from a checkpoint URL (downloaded once into the cache).

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``mos_apc_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "mos_apc_url"), "apc", refresh, sha256, upstream_ckpt, **kwargs)
