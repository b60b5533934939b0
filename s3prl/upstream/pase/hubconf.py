"""Entries of PASE+ (Ravanelli et al., 2020, https://arxiv.org/abs/2001.09239)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["pase_plus", "pase_local", "pase_url"]

PASE_PLUS_URL = "https://www.dropbox.com/s/p8811o7eadv4pat/FE_e199.ckpt?dl=1"
PASE_PLUS_CONFIG_URL = "https://www.dropbox.com/s/2p3ouod1k0ekfxn/PASE%2B.cfg?dl=1"
_PAPER = "https://arxiv.org/abs/2001.09239"


def _load(ckpt, model_config=None, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import is_url, resolve_checkpoint

    from .expert import UpstreamExpert

    path = resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)
    if isinstance(model_config, str) and is_url(model_config):
        model_config = resolve_checkpoint(model_config, refresh=refresh)
    return UpstreamExpert(path, model_config=model_config, **kwargs)


@entry(
    model="PASE (checkpoint + JSON config)",
    paper=_PAPER,
    date="2020-01",
    input="wav",
    stride=160,
    verified="golden hidden states + unbatched plain-torch reference (seeded pase-layout checkpoint)",
)
def pase_local(ckpt: str, model_config: str | None = None, **kwargs):
    """PASE / PASE+ from a local encoder checkpoint and its front-end JSON config.

    Args:
        ckpt: path of the encoder checkpoint (``{'step', 'state_dict'}`` or a bare state dict).
        model_config: path of the JSON config (``PASE+.cfg``); default: ``PASE+.cfg``
            next to ``ckpt``, else the published PASE+ config.

    Raises:
        ValueError: ``ckpt`` is a URL (use ``pase_url``), or the file does not match the layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "pase_local"), model_config=model_config, **kwargs)


@entry(
    model="PASE (checkpoint + JSON config)",
    paper=_PAPER,
    date="2020-01",
    input="wav",
    stride=160,
    verified="golden hidden states (checkpoint served over local HTTP)",
)
def pase_url(
    ckpt: str, model_config: str | None = None, refresh: bool = False, sha256: str | None = None, **kwargs
):
    """PASE / PASE+ from URLs of the encoder checkpoint and (optionally) its JSON config.

    Args:
        ckpt: http(s) URL of the encoder checkpoint.
        model_config: URL or path of the JSON config; default: the published PASE+ config.
        refresh: download again even if cached.
        sha256: expected sha256 of the file (hex, full or prefix), when known.

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``pase_local``), or the file does not match the layout.
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(
        url_checkpoint(ckpt, "pase_url"), model_config=model_config, refresh=refresh, sha256=sha256, **kwargs
    )


@entry(
    model="PASE+",
    paper=_PAPER,
    date="2020-01",
    input="wav",
    stride=160,
    layers=9,
    hidden_size=256,
    data="LibriSpeech 50 h",
    ckpt=PASE_PLUS_URL,
    verified="architecture checked with a seeded checkpoint in the released layout",
)
def pase_plus(ckpt: str = PASE_PLUS_URL, model_config: str = PASE_PLUS_CONFIG_URL, refresh: bool = False, **kwargs):
    """PASE+ (Ravanelli et al., 2020): the released encoder ``FE_e199.ckpt`` with ``PASE+.cfg``.

    SincNet front end (64 band-pass filters of 251 taps), 7 strided conv
    blocks (10 ms frames, stride 160), a QRNN of 512 units, a 1x1 projection
    to 256 and dense skip connections from every block, batch-normalised output.
    9 hidden states of 256 (7 pooled skip projections, the projection, the output).
    Checkpoint and config URLs as in the original s3prl toolkit (Dropbox mirror
    of the santi-pdp/pase release).
    """
    return _load(ckpt, model_config=model_config, refresh=refresh, **kwargs)
