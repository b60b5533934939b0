"""Checkpoint download and cache.

Public API (stable; other modules rely on it):

* :func:`get_dir` / :func:`set_dir`: the cache root.
* :func:`cache_path_for_url`: where a URL is cached.
* :func:`resolve_checkpoint`: local path or URL -> local file path.
* :func:`is_url`, :func:`local_checkpoint`, :func:`url_checkpoint`: the
  argument checks of the ``<family>_local`` / ``<family>_url`` entries.
* :func:`download_url_to_file`, :func:`load_state_dict_from_url`: the verbs
  users know from ``torch.hub``.
* :class:`DownloadError`.

How a URL becomes a cached file (:func:`resolve_checkpoint`):

1. The cache file is ``<get_dir()>/download/<sha256(url)[:16]>-<basename>``,
   so two URLs never share a file even when their basenames are equal.
2. If that file exists (and ``refresh`` is false) it is returned at once:
   no network access at all, so cached checkpoints work offline.
3. Otherwise a ``filelock`` lock (``<file>.lock``) is taken and the file is
   checked again, so that many processes asking for the same URL download it
   once; the others wait and then find the file in the cache. The same holds
   for :func:`load_state_dict_from_url` with ``model_dir``.
4. The body is streamed (``requests``) into ``<file>.partial`` in the same
   folder, with a ``tqdm`` progress bar on stderr; ``<file>.partial.json``
   records what it is a prefix of (URL, ``ETag``, ``Last-Modified``, size). A
   broken transfer is resumed with an HTTP ``Range`` request validated by
   ``If-Range`` when the server allows it (``206 Partial Content``), else
   restarted from byte 0; a partial file of other or unknown content is never
   stitched (details: :func:`_one_attempt`). A body without
   ``Content-Length`` is checked for completeness, and a ``gzip``/``deflate``
   body sent despite ``Accept-Encoding: identity`` is decoded. Connection errors,
   time-outs and 5xx/429 answers are retried a bounded number of times with
   exponential back-off; other 4xx answers fail at once.
5. The sha256 is verified when known, then the file is renamed onto the final
   path with :func:`os.replace` (atomic): a crash or a bad hash never leaves a
   file at the final path.
6. When the download fails, :class:`DownloadError` gives the URL, the exact
   path where a hand-downloaded copy can be placed, and the underlying reason.

Settings (environment variables read at call time, or keyword arguments of
:func:`download_url_to_file`): ``S3PRL_DOWNLOAD_RETRIES`` (attempts after the
first, default 5), ``S3PRL_DOWNLOAD_BACKOFF`` (first back-off delay in seconds,
doubled after each failed attempt, capped at 60 s; default 1.0),
``S3PRL_DOWNLOAD_TIMEOUT`` (connect/read time-out in seconds, default 60),
``S3PRL_PROGRESS=0`` (no progress bar).

``requests``, ``filelock`` and ``tqdm`` are imported inside the functions that
use them, so ``import s3prl.hub`` stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Optional, Union
from urllib.parse import urlparse

__all__ = [
    "get_dir",
    "set_dir",
    "cache_path_for_url",
    "resolve_checkpoint",
    "is_url",
    "local_checkpoint",
    "url_checkpoint",
    "entry_checkpoint",
    "download_url_to_file",
    "load_state_dict_from_url",
    "DownloadError",
]

PathLike = Union[str, "os.PathLike[str]"]

_dir_override: Optional[Path] = None

# HTTP answers worth retrying (server-side / transient); other 4xx fail at once.
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_CHUNK = 1 << 18  # 256 KiB (what a broken read may lose before the resume)
_MAX_BACKOFF = 60.0


class DownloadError(RuntimeError):
    """A checkpoint could not be downloaded (and is not in the cache).

    Attributes:
        url: the URL asked for.
        path: where the file would have been written (place a copy there by hand
            to use it offline).
        reason: the underlying cause, in words.
    """

    def __init__(self, url: str, path: PathLike, reason: str) -> None:
        self.url = url
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"could not download {url}\n"
            f"  reason: {reason}\n"
            f"  to use this file without downloading, fetch it by other means and place it at:\n"
            f"    {self.path}"
        )


def get_dir() -> Path:
    """The cache root.

    In order: ``$S3PRL_CACHE``, else the path given to :func:`set_dir`, else
    ``$XDG_CACHE_HOME/s3prl``, else ``~/.cache/s3prl``. The folder may not
    exist yet.
    """
    env = os.environ.get("S3PRL_CACHE")
    if env:
        return Path(env).expanduser()
    if _dir_override is not None:
        return _dir_override
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "s3prl"
    return Path.home() / ".cache" / "s3prl"


def set_dir(path: PathLike) -> None:
    """Set the cache root for this process (``$S3PRL_CACHE`` still wins)."""
    global _dir_override
    _dir_override = Path(path).expanduser()


def cache_path_for_url(url: str) -> Path:
    """Cache file of ``url``: ``<get_dir()>/download/<sha256(url)[:16]>-<basename>``.

    The prefix is the hash of the whole URL, so two URLs with the same
    basename never clash; the basename keeps the file recognisable.
    """
    name = os.path.basename(urlparse(url).path) or "download"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return get_dir() / "download" / f"{digest}-{name}"


def is_url(ckpt) -> bool:
    """True when ``ckpt`` (a str or path-like) is an ``http://`` or ``https://`` URL.

    The one URL test of s3prl: :func:`resolve_checkpoint` downloads exactly
    what this accepts and treats everything else as a local path.
    """
    return urlparse(str(ckpt)).scheme in ("http", "https")


def _sibling_entry(entry_name: str, own: str, other: str) -> str:
    """``"apc_local"`` -> ``"apc_url"`` (and back); a generic hint otherwise."""
    if entry_name.endswith(own):
        return entry_name[: -len(own)] + other
    return f"the {other} entry"


def _check_ckpt_type(ckpt, entry_name: str) -> None:
    if not isinstance(ckpt, (str, os.PathLike)):
        raise TypeError(f"{entry_name}: ckpt must be a file path or an http(s) URL string, got {type(ckpt).__name__}")


def local_checkpoint(ckpt: PathLike, entry_name: str) -> Path:
    """Check the ``ckpt`` argument of a ``<family>_local`` entry.

    Args:
        ckpt: path of a local checkpoint file (``~`` is expanded).
        entry_name: the calling entry (e.g. ``"apc_local"``), named in errors;
            for a name ending in ``_local`` the error also names the matching
            ``_url`` entry.

    Returns:
        The file's path (existing, a regular file).

    Raises:
        TypeError: ``ckpt`` is not a str or path-like.
        ValueError: ``ckpt`` is an http(s) URL: ``"<entry_name> takes a local
            file path, got the URL ...: use <family>_url"``.
        FileNotFoundError: no file at ``ckpt`` (or it is a folder); the message
            names the entry and the path.
    """
    _check_ckpt_type(ckpt, entry_name)
    if is_url(ckpt):
        sibling = _sibling_entry(entry_name, "_local", "_url")
        raise ValueError(f"{entry_name} takes a local file path, got the URL {str(ckpt)!r}: use {sibling}")
    path = Path(ckpt).expanduser()
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "checkpoint file not found"
        raise FileNotFoundError(f"{entry_name}: {what}: {path}")
    return path


def url_checkpoint(ckpt: str, entry_name: str) -> str:
    """Check the ``ckpt`` argument of a ``<family>_url`` entry.

    Args:
        ckpt: an ``http(s)://`` URL (downloaded later by :func:`resolve_checkpoint`).
        entry_name: the calling entry (e.g. ``"apc_url"``), named in errors;
            for a name ending in ``_url`` the error also names the matching
            ``_local`` entry.

    Returns:
        ``ckpt`` as a str.

    Raises:
        TypeError: ``ckpt`` is not a str or path-like.
        ValueError: ``ckpt`` is not an http(s) URL: ``"<entry_name> takes an
            http(s) URL, got ...: use <family>_local"``.
    """
    _check_ckpt_type(ckpt, entry_name)
    if not is_url(ckpt):
        sibling = _sibling_entry(entry_name, "_url", "_local")
        raise ValueError(f"{entry_name} takes an http(s) URL, got {str(ckpt)!r}: use {sibling}")
    return str(ckpt)


def entry_checkpoint(ckpt: PathLike, family: str, require: Optional[str] = None,
                     sha256: Optional[str] = None, refresh: bool = False) -> Path:
    """The local checkpoint file behind the ``ckpt`` argument of a ``<family>_*`` entry.

    Args:
        ckpt: local path or http(s) URL.
        family: the entry prefix (``"hubert"`` for ``hubert_local`` / ``hubert_url``).
        require: ``"path"``: only a local file (checked by :func:`local_checkpoint` as
            ``<family>_local``); ``"url"``: only a URL (:func:`url_checkpoint`, ``<family>_url``);
            ``None``: either (the ``_custom`` entries).
        sha256, refresh: passed to :func:`resolve_checkpoint` (URLs only).

    Returns:
        The local file (a URL is downloaded once into the cache).

    Raises:
        ValueError: ``require`` is not ``"path"``, ``"url"`` or ``None``; and see
            :func:`local_checkpoint`, :func:`url_checkpoint`, :func:`resolve_checkpoint`.
    """
    if require == "path":
        ckpt = local_checkpoint(ckpt, f"{family}_local")
    elif require == "url":
        ckpt = url_checkpoint(ckpt, f"{family}_url")
    elif require is not None:
        raise ValueError(f"require must be 'path', 'url' or None, got {require!r}")
    return resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)


def _setting(value, env: str, default, cast):
    if value is not None:
        return cast(value)
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ValueError(f"environment variable {env}={raw!r} is not a valid {cast.__name__}") from None


def _settings(progress, retries, backoff, timeout) -> dict:
    """Keyword arguments of :func:`_download`: explicit values, else the environment."""
    return {
        "progress": bool(progress)
        and os.environ.get("S3PRL_PROGRESS", "1").lower() not in ("0", "false", "no"),
        "retries": max(0, _setting(retries, "S3PRL_DOWNLOAD_RETRIES", 5, int)),
        "backoff": max(0.0, _setting(backoff, "S3PRL_DOWNLOAD_BACKOFF", 1.0, float)),
        "timeout": _setting(timeout, "S3PRL_DOWNLOAD_TIMEOUT", 60.0, float),
    }


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check_hash_format(hash_prefix: Optional[str]) -> Optional[str]:
    if hash_prefix is None or hash_prefix == "":
        return None
    hp = str(hash_prefix).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,64}", hp):
        raise ValueError(f"sha256 / hash_prefix must be hexadecimal (at most 64 digits), got {hash_prefix!r}")
    return hp


class _Retry(Exception):
    """Internal: this attempt failed for a transient reason."""


def _content_range(value: Optional[str]) -> Optional[tuple]:
    """``"bytes 10-19/100"`` -> ``(10, 19, 100)`` (total ``None`` for ``*``); the ``416``
    form ``"bytes */100"`` -> ``(None, None, 100)``; else ``None``."""
    m = re.match(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", value or "")
    if m is None or (m.group(1) is None and m.group(3) == "*"):
        return None
    first, last, total = (None if g in (None, "*") else int(g) for g in m.groups())
    return first, last, total


def _meta_path(tmp: Path) -> Path:
    """``<dst>.partial.json``: what the ``.partial`` file is a prefix of (see :func:`_one_attempt`)."""
    return tmp.with_name(tmp.name + ".json")


def _read_meta(tmp: Path) -> Optional[dict]:
    try:
        meta = json.loads(_meta_path(tmp).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _discard_partial(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
    _meta_path(tmp).unlink(missing_ok=True)


def _validators(resp) -> dict:
    """The response's ``ETag`` (strong ones only: a weak ``W/`` tag may not be used in
    ``If-Range``, RFC 9110 section 13.1.5) and ``Last-Modified``."""
    etag = resp.headers.get("ETag")
    if etag is not None and etag.startswith("W/"):
        etag = None
    return {"etag": etag, "last_modified": resp.headers.get("Last-Modified")}


def _changed(meta: dict, resp, total: Optional[int]) -> Optional[str]:
    """Why a ``206`` answer is not the rest of the file the partial holds (``None``: it is)."""
    new = _validators(resp)
    for key, name in (("etag", "ETag"), ("last_modified", "Last-Modified")):
        if meta.get(key) and new[key] and meta[key] != new[key]:
            return f"{name} {meta[key]} -> {new[key]}"
    if meta.get("total") is not None and total is not None and meta["total"] != total:
        return f"size {meta['total']} -> {total} bytes"
    return None


def _check_encoding(encoding: str) -> bool:
    """Whether ``Content-Encoding`` is a compression (``False`` for identity).

    The body is decoded by urllib3 (``decode_content=True``); only gzip and deflate are
    accepted, since other codings need optional packages (brotli, zstandard).

    Raises:
        RuntimeError: an encoding other than identity, gzip, x-gzip or deflate.
    """
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return False
    if enc in ("gzip", "x-gzip", "deflate"):
        return True
    raise RuntimeError(
        f"the server sent Content-Encoding {encoding!r} although identity was asked for; only "
        "gzip and deflate can be decoded"
    )


def _one_attempt(
    url: str, tmp: Path, timeout: float, progress: bool, desc: str, hash_known: bool = False
) -> None:
    """Fetch the rest of ``url`` into ``tmp`` (resuming from its current size when valid).

    Resume rules (so that a ``.partial`` is never stitched onto other content):

    * ``<tmp>.json`` records, when a transfer starts, the URL, the response's strong
      ``ETag`` / ``Last-Modified``, the size and whether the body is resumable. A partial
      file without it (or for another URL, or of a content-encoded body) is discarded and
      the download restarts from byte 0.
    * A resume sends ``Range: bytes=<size>-`` with ``If-Range: <ETag or Last-Modified>``:
      a server that sees a changed file answers ``200`` + the whole new file (written from
      byte 0). A ``206`` whose ``ETag`` / ``Last-Modified`` / total size differs from the
      record (a server that ignores ``If-Range``) is refused: partial discarded, restart.
    * ``Accept-Encoding: identity`` is asked for; a server that still sends ``gzip`` /
      ``deflate`` is decoded on the fly by urllib3, its completeness checked on the
      encoded bytes (``Content-Length``, counted by ``resp.raw.tell()``). Such a body
      without ``Content-Length`` cannot be checked (urllib3 does not report the end of the
      compressed stream): it needs the sha256, as below.
    * A body without ``Content-Length`` (ended by closing the connection) is checked with a
      range request at its end: ``416`` confirms the size, ``206`` means the transfer was
      cut (kept for a resume). A server that ignores ``Range`` cannot confirm it: then the
      sha256 must be known, else the download fails (nothing cached).

    Raises :class:`_Retry` for transient failures (a valid partial file is kept for a
    resume), ``RuntimeError`` for permanent ones (404, invalid URL, unverifiable length).
    """
    import requests
    import urllib3
    from tqdm import tqdm

    for _ in range(2):  # a second pass only after discarding a partial of other content
        offset = tmp.stat().st_size if tmp.is_file() else 0
        meta = _read_meta(tmp) if offset else None
        if offset and (meta is None or meta.get("url") != url or not meta.get("resumable")):
            _discard_partial(tmp)  # unknown origin: never stitched
            offset, meta = 0, None
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = meta.get("etag") or meta.get("last_modified")
            if validator:
                headers["If-Range"] = validator
        try:
            resp = requests.get(url, stream=True, timeout=timeout, headers=headers, allow_redirects=True)
        except (requests.ConnectionError, requests.Timeout) as err:
            raise _Retry(f"{type(err).__name__}: {err}") from err
        except requests.RequestException as err:  # invalid URL, too many redirects, ...
            raise RuntimeError(f"{type(err).__name__}: {err}") from err
        with resp:
            status = resp.status_code
            if status == 416 and offset:
                # The partial file is no prefix of the current file: start again.
                _discard_partial(tmp)
                raise _Retry(f"HTTP 416 for resume at byte {offset}; restarting from 0")
            if status in _RETRY_STATUS or status >= 500:
                raise _Retry(f"HTTP {status} {resp.reason}")
            if status >= 400:
                raise RuntimeError(f"HTTP {status} {resp.reason}")
            encoding = resp.headers.get("Content-Encoding", "identity")
            encoded = _check_encoding(encoding)
            crange = _content_range(resp.headers.get("Content-Range"))
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if status == 206 and offset and crange is not None and crange[0] == offset:
                why = "content-encoded range" if encoded else _changed(meta, resp, crange[2])
                if why is not None:
                    _discard_partial(tmp)
                    print(f"s3prl: {url} changed on the server since the partial download "
                          f"({why}): restarting from byte 0", file=sys.stderr)
                    continue
                mode, total = "ab", crange[2]
                expected = length if length is not None else crange[1] - crange[0] + 1
            elif status == 200:
                mode, offset = "wb", 0  # server ignored Range / file changed: start clean
                total = None if encoded else length
                expected = length
                record = {"url": url, **_validators(resp), "total": total,
                          "resumable": not encoded}
                # empty the old partial before recording the new content: a kill between the
                # two steps must not pair old bytes with the new record
                tmp.write_bytes(b"")
                _meta_path(tmp).write_text(json.dumps(record), encoding="utf-8")
            else:
                _discard_partial(tmp)
                raise _Retry(f"unexpected HTTP {status} (Content-Range {resp.headers.get('Content-Range')!r})")
            written = offset
            bar = tqdm(total=expected if encoded else total, initial=offset, unit="B",
                       unit_scale=True, unit_divisor=1024, desc=desc, file=sys.stderr,
                       disable=not progress, leave=False)
            try:
                with open(tmp, mode) as f:
                    # urllib3 decodes gzip/deflate; resp.raw.tell() counts the bytes received
                    stream = resp.raw.stream(_CHUNK, decode_content=encoded)
                    while True:
                        try:
                            chunk = next(stream)
                        except StopIteration:
                            break
                        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
                            # broken/short transfer, time-out
                            raise _Retry(f"connection broken after {written} bytes: {err}") from err
                        if not chunk:
                            continue
                        f.write(chunk)
                        written += len(chunk)
                        # an encoded body is never resumed (offset 0): the bar counts wire bytes
                        bar.update(resp.raw.tell() - bar.n if encoded else len(chunk))
                    f.flush()
                    os.fsync(f.fileno())
            finally:
                bar.close()
            received = resp.raw.tell() if encoded else written - offset
            if expected is not None and received != expected:
                what = f"{encoding}-encoded " if encoded else ""
                raise _Retry(f"connection closed after {received} of {expected} {what}bytes")
            if encoded and expected is None and not hash_known:
                _discard_partial(tmp)
                raise RuntimeError(
                    f"the server sent the file {encoding}-encoded without Content-Length, so a "
                    "transfer cut short cannot be told from a complete one; pass the expected "
                    "sha256 to verify it, or fetch the file by other means"
                )
            if expected is None and not encoded:
                _confirm_length(url, tmp, written, timeout, hash_known, _read_meta(tmp) or {})
            return
    raise _Retry("the file kept changing on the server during the download")  # pragma: no cover


def _confirm_length(url: str, tmp: Path, size: int, timeout: float, hash_known: bool, meta: dict) -> None:
    """A body came without ``Content-Length``: ask the server whether ``size`` is all of it."""
    import requests

    headers = {"Accept-Encoding": "identity", "Range": f"bytes={size}-"}
    validator = meta.get("etag") or meta.get("last_modified")
    if validator:
        headers["If-Range"] = validator
    try:
        resp = requests.get(url, stream=True, timeout=timeout, headers=headers, allow_redirects=True)
    except requests.RequestException as err:
        raise _Retry(f"cannot confirm the size of a body sent without Content-Length: {err}") from err
    with resp:  # the body is not read
        crange = _content_range(resp.headers.get("Content-Range"))
        if resp.status_code == 416:
            total = crange[2] if crange is not None else None
            if total is None or total == size:
                return  # nothing after byte `size`: complete
            _discard_partial(tmp)
            raise _Retry(f"the server reports {total} bytes after a transfer of {size}: restarting")
        if resp.status_code == 206 and crange is not None and crange[0] == size:
            raise _Retry(
                f"connection closed after {size} bytes of a body sent without Content-Length, "
                f"but the server holds {crange[2] if crange[2] is not None else 'more'} bytes: "
                "resuming"
            )
        if resp.status_code in _RETRY_STATUS or resp.status_code >= 500:
            raise _Retry(f"HTTP {resp.status_code} while confirming the size")
    if hash_known:
        return  # the sha256 check decides
    _discard_partial(tmp)
    raise RuntimeError(
        f"the server sent the file ({size} bytes) without Content-Length and does not answer "
        "range requests, so a transfer cut short cannot be told from a complete one; pass the "
        "expected sha256 to verify it, or fetch the file by other means"
    )


def _download(
    url: str,
    dst: Path,
    hash_prefix: Optional[str],
    progress: bool,
    retries: int,
    backoff: float,
    timeout: float,
) -> None:
    """Download ``url`` onto ``dst`` atomically (caller holds the lock)."""
    tmp = dst.with_name(dst.name + ".partial")
    reason = "no attempt made"
    attempts = 0
    clean_retry_for_hash = True
    while True:
        resumed = tmp.is_file() and tmp.stat().st_size > 0
        try:
            _one_attempt(url, tmp, timeout, progress, desc=dst.name, hash_known=hash_prefix is not None)
        except _Retry as err:
            reason = str(err)
            if attempts >= retries:
                raise DownloadError(url, dst, f"{reason} (gave up after {attempts + 1} attempts)") from None
            time.sleep(min(_MAX_BACKOFF, backoff * (2**attempts)))
            attempts += 1
            continue
        except RuntimeError as err:
            _discard_partial(tmp)
            raise DownloadError(url, dst, str(err)) from None
        except OSError as err:
            raise DownloadError(url, dst, f"cannot write {tmp}: {err}") from None
        if hash_prefix is not None:
            digest = _sha256_of(tmp)
            if not digest.startswith(hash_prefix):
                _discard_partial(tmp)
                if resumed and clean_retry_for_hash:
                    # A resumed file may mix two versions: one clean download.
                    clean_retry_for_hash = False
                    continue
                raise DownloadError(
                    url,
                    dst,
                    f"sha256 mismatch: expected {hash_prefix}..., got {digest}; the file was "
                    "discarded (nothing cached)",
                )
        os.replace(tmp, dst)
        _meta_path(tmp).unlink(missing_ok=True)
        return


def download_url_to_file(
    url: str,
    dst: PathLike,
    hash_prefix: Optional[str] = None,
    progress: bool = True,
    *,
    retries: Optional[int] = None,
    backoff: Optional[float] = None,
    timeout: Optional[float] = None,
) -> None:
    """Download ``url`` to the local file ``dst`` (always downloads; see
    :func:`resolve_checkpoint` for the cached variant).

    Same call as ``torch.hub.download_url_to_file``. The transfer goes to
    ``<dst>.partial`` under the lock ``<dst>.lock``, is resumed with HTTP
    ``Range`` after a broken connection when the server allows it, and is
    renamed onto ``dst`` only when complete and, if ``hash_prefix`` is given,
    when its sha256 starts with it.

    Args:
        url: ``http://`` or ``https://`` URL.
        dst: destination file; its folder is created.
        hash_prefix: expected sha256 (hex, full or a prefix), or ``None``.
        progress: show a ``tqdm`` progress bar on stderr (also off with
            ``S3PRL_PROGRESS=0``).
        retries: attempts after the first (default ``$S3PRL_DOWNLOAD_RETRIES`` or 5).
        backoff: first back-off delay in seconds, doubled each time
            (default ``$S3PRL_DOWNLOAD_BACKOFF`` or 1.0).
        timeout: connect/read time-out in seconds (default ``$S3PRL_DOWNLOAD_TIMEOUT`` or 60).

    Raises:
        ValueError: ``url`` is not http(s), or ``hash_prefix`` is not hexadecimal.
        DownloadError: the download failed or the sha256 did not match; the
            message gives the URL, ``dst`` and the reason. ``dst`` is untouched
            (after transient failures ``<dst>.partial`` is kept so that the
            next call resumes it; after a bad sha256 it is deleted).
    """
    from filelock import FileLock

    url = str(url)
    if not is_url(url):
        raise ValueError(f"not an http(s) URL: {url!r}")
    hash_prefix = _check_hash_format(hash_prefix)
    settings = _settings(progress, retries, backoff, timeout)
    dst = Path(dst).expanduser()
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(url, dst, f"cannot create folder {dst.parent}: {err}") from None
    with FileLock(str(dst) + ".lock"):
        _download(url, dst, hash_prefix, **settings)


def resolve_checkpoint(
    ckpt: PathLike,
    sha256: Optional[str] = None,
    refresh: bool = False,
    *,
    progress: bool = True,
) -> Path:
    """Turn a local path or an http(s) URL into a local file path.

    A URL is downloaded once into the cache (:func:`cache_path_for_url`); later
    calls return the cached file without any network access.

    Args:
        ckpt: local file path, or ``http(s)://`` URL.
        sha256: expected sha256 of the file (hex, full or prefix) when known;
            checked after each download (a cached file is trusted).
        refresh: download again even if cached (the cached copy is replaced
            atomically, only once the new download is complete and verified).
        progress: progress bar on stderr while downloading.

    Returns:
        Path of an existing local file.

    Raises:
        FileNotFoundError: ``ckpt`` is a local path that does not exist.
        ValueError: ``sha256`` is not hexadecimal.
        DownloadError: the download failed (or the sha256 did not match) and
            nothing is cached; the message gives the URL, the cache path to
            place the file at by hand, and the reason.
    """
    if not is_url(ckpt):
        path = Path(ckpt).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        return path
    url = str(ckpt)
    hash_prefix = _check_hash_format(sha256)
    dst = cache_path_for_url(url)
    return _download_once(url, dst, hash_prefix, refresh, progress)


def _download_once(url: str, dst: Path, hash_prefix: Optional[str], refresh: bool, progress: bool) -> Path:
    """``dst`` if it exists (and not ``refresh``), else download it under ``<dst>.lock``.

    The file is checked again after the lock is taken, so that of many processes asking
    for the same file at once one downloads and the others find it done.
    """
    if dst.is_file() and not refresh:
        return dst  # cache hit: no network, no lock
    from filelock import FileLock, Timeout

    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(url, dst, f"cannot create folder {dst.parent}: {err}") from None
    lock = FileLock(str(dst) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:  # another process is downloading it: wait for it
        print(f"s3prl: waiting for another process downloading {url}", file=sys.stderr)
        lock.acquire()
    try:
        if dst.is_file() and not refresh:
            return dst  # another process finished it while we waited
        if refresh:
            _discard_partial(dst.with_name(dst.name + ".partial"))
        _download(url, dst, hash_prefix, **_settings(progress, None, None, None))
    finally:
        lock.release()
    return dst


_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")


def load_state_dict_from_url(
    url: str,
    model_dir: Optional[PathLike] = None,
    map_location=None,
    progress: bool = True,
    check_hash: Union[bool, str, None] = False,
    file_name: Optional[str] = None,
    refresh: bool = False,
    sha256: Optional[str] = None,
):
    """Download (once) and load a checkpoint with the safe loader.

    Like ``torch.hub.load_state_dict_from_url``, but the file is always read
    with :func:`s3prl.util.checkpoint.load_checkpoint` (``torch.load(...,
    weights_only=True)`` plus s3prl's allowlist); never ``weights_only=False``.

    Args:
        url: checkpoint URL.
        model_dir: folder to cache into instead of the s3prl cache.
        map_location: passed to ``torch.load`` (default ``"cpu"``).
        progress: progress bar on stderr.
        check_hash: ``True``: the file name's ``-<hex>.`` part (torch.hub's
            convention) is the expected sha256 prefix; a hex string: the
            expected sha256 (prefix).
        file_name: name of the file inside ``model_dir`` (needs ``model_dir``
            or defaults to the URL's basename there).
        refresh: download again even if cached.
        sha256: expected sha256 (same as a string ``check_hash``).

    Returns:
        The loaded checkpoint (usually a dict of tensors).

    Raises:
        DownloadError, UnsafeCheckpointError, RuntimeError: see
        :func:`resolve_checkpoint` and :func:`~s3prl.util.checkpoint.load_checkpoint`.
    """
    from .checkpoint import load_checkpoint

    expected = sha256
    if isinstance(check_hash, str) and check_hash:
        expected = check_hash
    elif check_hash is True:
        name = file_name or os.path.basename(urlparse(url).path)
        m = _HASH_IN_NAME.search(name)
        if m is None:
            raise ValueError(f"check_hash=True but the file name {name!r} holds no '-<sha256 prefix>.' part")
        expected = m.group(1)
    if model_dir is None and file_name is None:
        path = resolve_checkpoint(url, sha256=expected, refresh=refresh, progress=progress)
    else:
        folder = Path(model_dir).expanduser() if model_dir is not None else get_dir() / "download"
        path = folder / (file_name or os.path.basename(urlparse(url).path) or "download")
        if not is_url(url):
            raise ValueError(f"not an http(s) URL: {url!r}")
        _download_once(url, path, _check_hash_format(expected), refresh, progress)
    return load_checkpoint(path, map_location=map_location or "cpu")
