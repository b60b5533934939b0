"""A small local HTTP file server for tests (127.0.0.1 only, any free port).

Usage::

    from test.http_server import serve_directory

    with serve_directory(tmp_path) as server:          # serves the files under tmp_path
        url = server.url + "model/ckpt.pt"             # server.url = "http://127.0.0.1:PORT/"
        ...
        assert server.requests["/model/ckpt.pt"] == 1  # GET/HEAD requests per path
        assert server.bytes_sent["/model/ckpt.pt"] == size  # body bytes sent per path

Built on the standard library (:mod:`http.server`), it runs in a daemon thread
and answers ``GET`` and ``HEAD`` with ``Content-Length``, ``Accept-Ranges:
bytes`` and single-range ``Range: bytes=a-b`` requests (``206 Partial
Content`` + ``Content-Range``; ``416`` for an unsatisfiable range).

Fault injection (keyword arguments of :func:`serve_directory`; they are also
attributes of the yielded server and may be changed while it runs):

* ``fail_first=N``: answer ``fail_status`` (default 500) to the first ``N``
  requests of each path.
* ``drop_after=K``: send only ``K`` body bytes of a response, then close the
  connection (the client sees a short read); applied to the first
  ``drop_times`` (default 1) responses of each path.
* ``range_support=False``: ignore ``Range`` headers (always ``200`` + the
  whole file, no ``Accept-Ranges``), like a server without resume support.
* ``chunk_delay=S``: sleep ``S`` seconds between 64 KiB chunks (slow server,
  to make concurrent clients overlap).
* ``validators=True`` (default): send a strong ``ETag`` (a hash of the current
  bytes, so it changes when the file does) and ``Last-Modified`` (the file's
  mtime); ``validators="last-modified"``: ``Last-Modified`` only; ``False``: none.
* ``if_range=True`` (default): honour ``If-Range`` (a stale validator turns a
  range request into ``200`` + the whole current file); ``False``: ignore it
  and serve the range of whatever the file is now (a server that ignores
  ``If-Range``).
* ``content_length=False``: no ``Content-Length`` on ``200``/``206`` bodies;
  the body ends when the server closes the connection (HTTP/1.1 close-delimited),
  so a ``drop_after`` cut looks like a normal end to the client.
* ``gzip=True``: send every body gzip-compressed with ``Content-Encoding: gzip``
  whatever ``Accept-Encoding`` says (a misconfigured server); ``Content-Length``
  and ranges count compressed bytes.
* ``on_request``: a callable ``(path, n)`` run at the start of the ``n``-th
  request of ``path`` (e.g. to change the file between two requests).

Counters (``collections.Counter`` keyed by the URL path, e.g. ``"/a/b.pt"``):
``requests`` (every request, faulty ones included), ``bytes_sent`` (body bytes
actually written), ``status`` (``(path, code)`` pairs), ``ranges`` (list of
``(path, Range header or None)`` in arrival order) and ``if_range_headers`` (the
same for ``If-Range``; requests answered by ``fail_first`` are not in it). :meth:`LocalServer.stop`
stops the server early (to check that a cached file needs no network).
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import gzip as gzip_module
import hashlib
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Optional

__all__ = ["LocalServer", "serve_directory"]

_CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class LocalServer:
    """State of a running :func:`serve_directory` server (see the module doc)."""

    def __init__(
        self,
        root: Path,
        fail_first: int = 0,
        fail_status: int = 500,
        drop_after: Optional[int] = None,
        drop_times: int = 1,
        range_support: bool = True,
        chunk_delay: float = 0.0,
        validators=True,
        if_range: bool = True,
        content_length: bool = True,
        gzip: bool = False,
        on_request=None,
    ) -> None:
        self.root = Path(root).resolve()
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.drop_after = drop_after
        self.drop_times = drop_times
        self.range_support = range_support
        self.chunk_delay = chunk_delay
        self.validators = validators
        self.if_range = if_range
        self.content_length = content_length
        self.gzip = gzip
        self.on_request = on_request
        self.if_range_headers: list = []
        self.requests: collections.Counter = collections.Counter()
        self.bytes_sent: collections.Counter = collections.Counter()
        self.status: collections.Counter = collections.Counter()
        self.ranges: list = []
        self.url = ""
        self._drops: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def reset_counters(self) -> None:
        """Zero every counter (fault counts included)."""
        with self._lock:
            self.requests.clear()
            self.bytes_sent.clear()
            self.status.clear()
            self.ranges.clear()
            self.if_range_headers.clear()
            self._drops.clear()

    def start(self) -> "LocalServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - silence stderr logging
                pass

            def do_HEAD(self):
                self._serve(head=True)

            def do_GET(self):
                self._serve(head=False)

            def _reply(self, code: int, path: str, headers: dict) -> None:
                with server._lock:
                    server.status[(path, code)] += 1
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.end_headers()

            def _serve(self, head: bool) -> None:
                path = urllib.parse.urlparse(self.path).path
                rng = self.headers.get("Range")
                with server._lock:
                    server.requests[path] += 1
                    n = server.requests[path]
                    server.ranges.append((path, rng))
                if n <= server.fail_first:
                    self._reply(server.fail_status, path, {"Content-Length": 0})
                    return
                if server.on_request is not None:
                    server.on_request(path, n)
                file = (server.root / urllib.parse.unquote(path).lstrip("/")).resolve()
                if server.root not in file.parents or not file.is_file():
                    self._reply(404, path, {"Content-Length": 0})
                    return
                data = file.read_bytes()
                if server.gzip:
                    data = gzip_module.compress(data, mtime=0)
                size = len(data)
                start, end, code = 0, size - 1, 200
                headers = {"Content-Type": "application/octet-stream"}
                if server.gzip:
                    headers["Content-Encoding"] = "gzip"
                etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
                modified = email.utils.formatdate(file.stat().st_mtime, usegmt=True)
                if server.validators is True:
                    headers["ETag"] = etag
                if server.validators in (True, "last-modified"):
                    headers["Last-Modified"] = modified
                if_range = self.headers.get("If-Range")
                with server._lock:
                    server.if_range_headers.append((path, if_range))
                if if_range is not None and server.if_range and if_range not in (
                    headers.get("ETag"), headers.get("Last-Modified")
                ):
                    rng = None  # the representation changed: the whole new file (RFC 9110 13.1.5)
                if server.range_support:
                    headers["Accept-Ranges"] = "bytes"
                    m = _RANGE.match(rng.strip()) if rng else None
                    if m and (m.group(1) or m.group(2)):
                        if m.group(1):
                            start = int(m.group(1))
                            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                        else:  # suffix range "bytes=-N"
                            start = max(0, size - int(m.group(2)))
                        if start >= size or start > end:
                            headers["Content-Range"] = f"bytes */{size}"
                            headers["Content-Length"] = 0
                            self._reply(416, path, headers)
                            return
                        code = 206
                        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                body = data[start : end + 1]
                if server.content_length:
                    headers["Content-Length"] = len(body)
                else:
                    headers["Connection"] = "close"
                    self.close_connection = True
                self._reply(code, path, headers)
                if head:
                    return
                limit = len(body)
                drop = False
                with server._lock:
                    if server.drop_after is not None and server._drops[path] < server.drop_times:
                        server._drops[path] += 1
                        limit = min(limit, server.drop_after)
                        drop = True
                sent = 0
                try:
                    while sent < limit:
                        chunk = body[sent : min(sent + _CHUNK, limit)]
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        with server._lock:
                            server.bytes_sent[path] += len(chunk)
                        if server.chunk_delay:
                            time.sleep(server.chunk_delay)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    return
                if drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.02,), name="test-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


@contextlib.contextmanager
def serve_directory(root, **faults) -> Iterator[LocalServer]:
    """Serve the files under ``root`` on ``http://127.0.0.1:<free port>/``.

    Args:
        root: folder whose files are served (``server.url + "sub/file.pt"``).
        **faults: ``fail_first``, ``fail_status``, ``drop_after``, ``drop_times``,
            ``range_support``, ``chunk_delay``, ``validators``, ``if_range``,
            ``content_length``, ``gzip``, ``on_request`` (see the module docstring).

    Yields:
        :class:`LocalServer` with ``.url`` (ends with ``/``) and the counters.
    """
    server = LocalServer(Path(root), **faults).start()
    try:
        yield server
    finally:
        server.stop()
