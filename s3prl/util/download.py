"""Checkpoint download and cache (first version: to be hardened).

Public API (stable; other modules rely on it):

* :func:`get_dir` / :func:`set_dir`: the cache root.
* :func:`cache_path_for_url`: where a URL is cached.
* :func:`resolve_checkpoint`: local path or URL -> local file path.
* :func:`download_url_to_file`, :func:`load_state_dict_from_url`: torch.hub-like verbs.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlparse

__all__ = [
    "get_dir",
    "set_dir",
    "cache_path_for_url",
    "resolve_checkpoint",
    "download_url_to_file",
    "load_state_dict_from_url",
    "DownloadError",
]

_dir_override: Path | None = None


class DownloadError(RuntimeError):
    """A checkpoint could not be downloaded and is not in the cache."""


def get_dir() -> Path:
    """The cache root: ``$S3PRL_CACHE``, else :func:`set_dir`'s path, else
    ``$XDG_CACHE_HOME/s3prl``, else ``~/.cache/s3prl``."""
    env = os.environ.get("S3PRL_CACHE")
    if env:
        return Path(env).expanduser()
    if _dir_override is not None:
        return _dir_override
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "s3prl"
    return Path.home() / ".cache" / "s3prl"


def set_dir(path: str | os.PathLike) -> None:
    """Set the cache root (overridden by ``$S3PRL_CACHE``)."""
    global _dir_override
    _dir_override = Path(path).expanduser()


def cache_path_for_url(url: str) -> Path:
    """Cache file for ``url``: ``<get_dir()>/download/<sha256(url)[:16]>-<basename>``."""
    name = os.path.basename(urlparse(url).path) or "download"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return get_dir() / "download" / f"{digest}-{name}"


def _is_url(s: str) -> bool:
    return urlparse(str(s)).scheme in ("http", "https")


def download_url_to_file(
    url: str, dst: str | os.PathLike, hash_prefix: str | None = None, progress: bool = True
) -> None:
    """Download ``url`` to ``dst`` (through a temporary file, renamed at the end)."""
    import requests

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    sha = hashlib.sha256()
    with requests.get(url, stream=True, timeout=30) as r:
        r.raise_for_status()
        with open(tmp, "wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
                sha.update(chunk)
    if hash_prefix and not sha.hexdigest().startswith(hash_prefix.lower()):
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"sha256 mismatch for {url}")
    os.replace(tmp, dst)


def resolve_checkpoint(ckpt: str | os.PathLike, sha256: str | None = None, refresh: bool = False) -> Path:
    """Turn a local path or an http(s) URL into a local file path.

    Args:
        ckpt: local file path, or URL to download (once) into the cache.
        sha256: expected sha256 (hex, full or prefix) of the file, when known.
        refresh: download again even if cached.

    Raises:
        FileNotFoundError: ``ckpt`` is a local path that does not exist.
        DownloadError: the download failed and nothing is cached.
    """
    if not _is_url(str(ckpt)):
        path = Path(ckpt).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        return path
    url = str(ckpt)
    dst = cache_path_for_url(url)
    if dst.is_file() and not refresh:
        return dst
    download_url_to_file(url, dst, hash_prefix=sha256)
    return dst


def load_state_dict_from_url(url: str, map_location=None, progress: bool = True, check_hash=None, refresh=False):
    """Download (once) and load a checkpoint with the safe loader."""
    from .checkpoint import load_checkpoint

    path = resolve_checkpoint(url, sha256=check_hash, refresh=refresh)
    return load_checkpoint(path, map_location=map_location or "cpu")
