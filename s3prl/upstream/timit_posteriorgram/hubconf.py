"""Entries of the TIMIT phone posteriorgram model s3prl 0.4.18 hosts (ConvBank head)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["timit_posteriorgram", "timit_posteriorgram_local", "timit_posteriorgram_url"]

TIMIT_POSTERIORGRAM_URL = "https://www.dropbox.com/s/fb2hkvetp26wges/convbank.ckpt?dl=1"
_VERIFIED = "seeded checkpoint in the released layout vs an nn.Linear / nn.Conv1d re-statement"


def _load(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(str(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)), **kwargs)


@entry(model="TIMIT phone posteriorgram (ConvBank)", date="2021-05", input="wav (through its upstream)",
       layers=1, hidden_size=39, data="TIMIT", ckpt=TIMIT_POSTERIORGRAM_URL, verified=_VERIFIED)
def timit_posteriorgram(ckpt: str = TIMIT_POSTERIORGRAM_URL, refresh: bool = False, **kwargs):
    """39 TIMIT phone posteriors per frame of the upstream named in the checkpoint (s3prl's
    ConvBank head; see :mod:`s3prl.upstream.timit_posteriorgram.expert`). Other options go to the
    upstream's entry."""
    return _load(ckpt, refresh, **kwargs)


@entry(model="TIMIT phone posteriorgram (local checkpoint)", input="wav (through its upstream)",
       layers=1, hidden_size=39, verified=_VERIFIED)
def timit_posteriorgram_local(ckpt: str, **kwargs):
    """Phone posteriorgram from a local ``convbank.ckpt``-layout checkpoint.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``timit_posteriorgram_url``) or not in the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "timit_posteriorgram_local"), **kwargs)


@entry(model="TIMIT phone posteriorgram (checkpoint URL)", input="wav (through its upstream)",
       layers=1, hidden_size=39, verified=_VERIFIED)
def timit_posteriorgram_url(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """Phone posteriorgram from a checkpoint URL (downloaded once into the cache).

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``timit_posteriorgram_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "timit_posteriorgram_url"), refresh, sha256, **kwargs)
