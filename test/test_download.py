"""Checkpoint download/cache (s3prl.util.download) against a real HTTP server on 127.0.0.1.

Every test serves seeded random files (1-3 MB) with :func:`test.http_server.serve_directory`
and checks the bytes, the cache layout and what the server saw (requests, body bytes sent,
Range headers). Back-off delays are made tiny through ``S3PRL_DOWNLOAD_BACKOFF``.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import os
import random
import socket
import time
from pathlib import Path

import pytest

from s3prl.util import download
from s3prl.util.download import (
    DownloadError,
    cache_path_for_url,
    download_url_to_file,
    get_dir,
    load_state_dict_from_url,
    resolve_checkpoint,
    set_dir,
)
from test.http_server import serve_directory

MB = 1 << 20


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setenv("S3PRL_DOWNLOAD_BACKOFF", "0.01")
    monkeypatch.setenv("S3PRL_DOWNLOAD_RETRIES", "3")
    monkeypatch.setenv("S3PRL_DOWNLOAD_TIMEOUT", "10")


def _write(path: Path, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def served(tmp_path):
    """A 2 MB + 37 bytes file under ``www/models/ckpt.pt``; returns (root, data)."""
    root = tmp_path / "www"
    data = _write(root / "models" / "ckpt.pt", 2 * MB + 37, seed=1)
    return root, data


def _leftovers(dst: Path) -> list:
    return sorted(p.name for p in dst.parent.glob(dst.name + ".partial*"))


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_dir_override", None)
    monkeypatch.delenv("S3PRL_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_dir() == tmp_path / "home" / ".cache" / "s3prl"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_dir() == tmp_path / "xdg" / "s3prl"
    set_dir(tmp_path / "chosen")
    assert get_dir() == tmp_path / "chosen"
    monkeypatch.setenv("S3PRL_CACHE", str(tmp_path / "env"))
    assert get_dir() == tmp_path / "env"
    assert cache_path_for_url("http://h/x/a.pt").parent == tmp_path / "env" / "download"


def test_local_path_passthrough_and_missing(tmp_path):
    f = tmp_path / "local.pt"
    f.write_bytes(b"abc")
    assert resolve_checkpoint(f) == f
    assert resolve_checkpoint(str(f)) == f
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        resolve_checkpoint(tmp_path / "missing.pt")


def test_entry_checkpoint_require(tmp_path, monkeypatch):
    """entry_checkpoint: ``require`` picks the check (and the entry named in its error)."""
    monkeypatch.setenv("S3PRL_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "local.pt"
    f.write_bytes(b"abc")
    assert download.entry_checkpoint(f, "fam", "path") == f
    assert download.entry_checkpoint(str(f), "fam") == f
    with pytest.raises(ValueError, match="fam_local takes a local file path.*use fam_url"):
        download.entry_checkpoint("http://127.0.0.1:9/x.pt", "fam", "path")
    with pytest.raises(ValueError, match="fam_url takes an http.s. URL.*use fam_local"):
        download.entry_checkpoint(f, "fam", "url")
    with pytest.raises(FileNotFoundError, match="fam_local: checkpoint file not found"):
        download.entry_checkpoint(tmp_path / "missing.pt", "fam", "path")
    with pytest.raises(ValueError, match="require must be"):
        download.entry_checkpoint(f, "fam", "file")


def test_download_then_cache_hit_with_server_stopped(served):
    root, data = served
    with serve_directory(root) as server:
        url = server.url + "models/ckpt.pt"
        path = resolve_checkpoint(url, sha256=_sha(data))
        assert path == cache_path_for_url(url)
        assert path.read_bytes() == data
        assert server.requests["/models/ckpt.pt"] == 1
        assert server.bytes_sent["/models/ckpt.pt"] == len(data)
        server.stop()
        # the server is gone: a cache hit must not touch the network
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])), timeout=1)
        again = resolve_checkpoint(url, sha256=_sha(data))
    assert again == path and again.read_bytes() == data
    assert _leftovers(path) == []


def test_refresh_downloads_again_and_replaces(served):
    root, data = served
    with serve_directory(root) as server:
        url = server.url + "models/ckpt.pt"
        path = resolve_checkpoint(url)
        new = _write(root / "models" / "ckpt.pt", 3 * MB, seed=2)
        assert resolve_checkpoint(url).read_bytes() == data  # cached, not re-fetched
        assert server.requests["/models/ckpt.pt"] == 1
        assert resolve_checkpoint(url, refresh=True).read_bytes() == new
        assert server.requests["/models/ckpt.pt"] == 2
        # a failed refresh leaves the cached copy untouched
        server.fail_first = 100
        with pytest.raises(DownloadError):
            resolve_checkpoint(url, refresh=True)
    assert path.read_bytes() == new
    assert _leftovers(path) == []


def test_bad_sha256_caches_nothing(served):
    root, data = served
    wrong = _sha(b"something else")
    with serve_directory(root) as server:
        url = server.url + "models/ckpt.pt"
        with pytest.raises(DownloadError) as info:
            resolve_checkpoint(url, sha256=wrong)
        dst = cache_path_for_url(url)
        assert not dst.exists()
        assert _leftovers(dst) == []
        msg = str(info.value)
        assert "sha256 mismatch" in msg and wrong in msg and _sha(data) in msg
        assert url in msg and str(dst) in msg
        # the right (prefix of the) hash then works
        assert resolve_checkpoint(url, sha256=_sha(data)[:12].upper()).read_bytes() == data
    with pytest.raises(ValueError, match="hexadecimal"):
        resolve_checkpoint(url, sha256="not-a-hash")


def test_dropped_connection_is_resumed_with_range(served):
    root, data = served
    half = len(data) // 2
    with serve_directory(root, drop_after=half) as server:
        url = server.url + "models/ckpt.pt"
        path = resolve_checkpoint(url, sha256=_sha(data))
        assert path.read_bytes() == data
        assert server.requests["/models/ckpt.pt"] == 2
        (_, first), (_, second) = server.ranges
        assert first is None and second.startswith("bytes=") and second.endswith("-")
        # resumed from what had reached the file (the client may lose its last unfinished chunk)
        resume_at = int(second[len("bytes=") : -1])
        assert half - 256 * 1024 <= resume_at <= half
        assert server.status[("/models/ckpt.pt", 206)] == 1
        assert server.bytes_sent["/models/ckpt.pt"] == half + len(data) - resume_at
    assert _leftovers(path) == []


def test_dropped_connection_without_range_support_restarts_cleanly(served):
    root, data = served
    half = len(data) // 2
    with serve_directory(root, drop_after=half, range_support=False) as server:
        url = server.url + "models/ckpt.pt"
        path = resolve_checkpoint(url, sha256=_sha(data))
        assert path.read_bytes() == data
        assert server.requests["/models/ckpt.pt"] == 2
        assert server.status[("/models/ckpt.pt", 200)] == 2  # Range ignored: full body again
        assert server.bytes_sent["/models/ckpt.pt"] == half + len(data)


def test_failed_download_keeps_only_the_partial_and_the_next_call_resumes(served, monkeypatch):
    root, data = served
    monkeypatch.setenv("S3PRL_DOWNLOAD_RETRIES", "0")
    half = len(data) // 2
    with serve_directory(root, drop_after=half) as server:
        url = server.url + "models/ckpt.pt"
        dst = cache_path_for_url(url)
        with pytest.raises(DownloadError, match="connection"):
            resolve_checkpoint(url, sha256=_sha(data))
        assert not dst.exists()  # never a partial file at the final path
        partial = Path(str(dst) + ".partial")
        kept = partial.stat().st_size
        assert 0 < kept <= half and partial.read_bytes() == data[:kept]
        assert resolve_checkpoint(url, sha256=_sha(data)).read_bytes() == data
        assert server.ranges[-1] == ("/models/ckpt.pt", f"bytes={kept}-")
    assert _leftovers(dst) == []


def _download_forever(url: str) -> None:
    from s3prl.util.download import resolve_checkpoint as resolve

    resolve(url, progress=False)


def test_killed_download_leaves_no_file_and_no_stale_lock(served):
    root, data = served
    with serve_directory(root, chunk_delay=0.05) as server:  # about 1.7 s per transfer
        url = server.url + "models/ckpt.pt"
        proc = mp.get_context("spawn").Process(target=_download_forever, args=(url,))
        proc.start()
        deadline = time.monotonic() + 60
        while server.bytes_sent["/models/ckpt.pt"] < 256 * 1024 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.kill()  # SIGKILL mid-transfer: no clean-up code runs
        proc.join(timeout=30)
        assert server.bytes_sent["/models/ckpt.pt"] < len(data)
        dst = cache_path_for_url(url)
        assert not dst.exists()
        server.chunk_delay = 0.0
        # the lock died with the process; the download completes (resuming what reached the disk)
        assert resolve_checkpoint(url, sha256=_sha(data)).read_bytes() == data
    assert _leftovers(dst) == []


def test_stale_partial_of_unknown_origin_is_not_stitched(served):
    """A ``.partial`` without the record of what it is a prefix of (left by an older s3prl, or
    copied in) is discarded: the download starts from byte 0, with or without a known sha256."""
    root, data = served
    with serve_directory(root) as server:
        url = server.url + "models/ckpt.pt"
        dst = cache_path_for_url(url)
        dst.parent.mkdir(parents=True)
        Path(str(dst) + ".partial").write_bytes(b"\0" * 1000)  # not a prefix of the file
        path = resolve_checkpoint(url)
        assert path.read_bytes() == data
        assert [r for p, r in server.ranges] == [None]  # no resume from byte 1000
    assert _leftovers(dst) == []


def test_server_error_then_success(served):
    root, data = served
    with serve_directory(root, fail_first=2) as server:
        url = server.url + "models/ckpt.pt"
        assert resolve_checkpoint(url).read_bytes() == data
        assert server.requests["/models/ckpt.pt"] == 3
        assert server.status[("/models/ckpt.pt", 500)] == 2
        assert server.status[("/models/ckpt.pt", 200)] == 1


def test_retries_are_bounded(served, monkeypatch):
    root, _ = served
    monkeypatch.setenv("S3PRL_DOWNLOAD_RETRIES", "2")
    with serve_directory(root, fail_first=100, fail_status=503) as server:
        url = server.url + "models/ckpt.pt"
        with pytest.raises(DownloadError, match="HTTP 503") as info:
            resolve_checkpoint(url)
        assert server.requests["/models/ckpt.pt"] == 3  # 1 + 2 retries
    assert "gave up after 3 attempts" in str(info.value)
    assert not cache_path_for_url(url).exists()


def test_failure_message_gives_url_cache_path_and_reason(served):
    root, _ = served
    with serve_directory(root) as server:
        url = server.url + "models/absent.pt"
        with pytest.raises(DownloadError) as info:
            resolve_checkpoint(url)
        assert server.requests["/models/absent.pt"] == 1  # 404 is not retried
    err = info.value
    dst = cache_path_for_url(url)
    assert err.url == url and err.path == dst
    assert url in str(err) and str(dst) in str(err) and "HTTP 404" in str(err)
    assert not dst.exists()

    # nothing listens on that port any more: connection refused, retried, then reported
    with pytest.raises(DownloadError) as info:
        resolve_checkpoint(url)
    assert url in str(info.value) and str(dst) in str(info.value)
    assert "ConnectionError" in str(info.value) and "gave up after 4 attempts" in str(info.value)


def test_same_basename_different_urls_do_not_clash(tmp_path):
    root = tmp_path / "www"
    a = _write(root / "a" / "model.pt", MB, seed=3)
    b = _write(root / "b" / "model.pt", MB + 1, seed=4)
    with serve_directory(root) as server:
        pa = resolve_checkpoint(server.url + "a/model.pt")
        pb = resolve_checkpoint(server.url + "b/model.pt")
    assert pa != pb and pa.parent == pb.parent
    assert pa.name.endswith("-model.pt") and pb.name.endswith("-model.pt")
    assert pa.read_bytes() == a and pb.read_bytes() == b


def test_download_url_to_file_verb(served, tmp_path, capsys):
    root, data = served
    with serve_directory(root) as server:
        url = server.url + "models/ckpt.pt"
        dst = tmp_path / "out" / "x.bin"
        download_url_to_file(url, dst, hash_prefix=_sha(data)[:10], progress=True)
        assert dst.read_bytes() == data
        assert "x.bin" in capsys.readouterr().err  # tqdm bar on stderr
        download_url_to_file(url, dst, progress=False)  # the verb always downloads
        assert server.requests["/models/ckpt.pt"] == 2
        assert capsys.readouterr().err == ""
        with pytest.raises(DownloadError, match="sha256 mismatch"):
            download_url_to_file(url, tmp_path / "out" / "y.bin", hash_prefix="deadbeef")
        assert not (tmp_path / "out" / "y.bin").exists()
    with pytest.raises(ValueError, match="http"):
        download_url_to_file("ftp://example.org/x", tmp_path / "z")


def test_load_state_dict_from_url_uses_safe_loader(tmp_path):
    import torch

    from s3prl.util.checkpoint import UnsafeCheckpointError

    root = tmp_path / "www"
    root.mkdir()
    gen = torch.Generator().manual_seed(0)
    state = {"w": torch.randn(64, 32, generator=gen), "b": torch.randn(32, generator=gen)}
    buf = io.BytesIO()
    torch.save(state, buf)
    (root / "sd.pt").write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    (root / f"named-{digest[:8]}.pt").write_bytes(buf.getvalue())

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"x": Evil()}, root / "evil.pt")
    with serve_directory(root) as server:
        loaded = load_state_dict_from_url(server.url + "sd.pt", progress=False, check_hash=digest)
        assert set(loaded) == {"w", "b"}
        assert torch.equal(loaded["w"], state["w"]) and torch.equal(loaded["b"], state["b"])
        named = load_state_dict_from_url(
            server.url + f"named-{digest[:8]}.pt", model_dir=tmp_path / "md", check_hash=True
        )
        assert torch.equal(named["w"], state["w"])
        assert (tmp_path / "md" / f"named-{digest[:8]}.pt").is_file()
        with pytest.raises(UnsafeCheckpointError, match="system"):
            load_state_dict_from_url(server.url + "evil.pt", progress=False)
    assert not (tmp_path / "pwned").exists()


def _worker(url: str, barrier, queue) -> None:
    """Child process: wait for all, then resolve the same URL (cache from $S3PRL_CACHE)."""
    from s3prl.util.download import resolve_checkpoint as resolve

    barrier.wait(timeout=60)
    try:
        path = resolve(url, progress=False)
        queue.put((str(path), hashlib.sha256(path.read_bytes()).hexdigest()))
    except Exception as err:  # noqa: BLE001 - reported to the parent
        queue.put(("error", repr(err)))


def test_eight_processes_download_once(served):
    root, data = served
    n = 8
    # a slow server (about 0.3 s per transfer) so that the 8 requests overlap
    with serve_directory(root, chunk_delay=0.01) as server:
        url = server.url + "models/ckpt.pt"
        ctx = mp.get_context("spawn")
        barrier, queue = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(url, barrier, queue)) for _ in range(n)]
        for p in procs:
            p.start()
        results = [queue.get(timeout=120) for _ in range(n)]
        for p in procs:
            p.join(timeout=30)
        assert [p.exitcode for p in procs] == [0] * n
        assert server.requests["/models/ckpt.pt"] == 1
        assert server.bytes_sent["/models/ckpt.pt"] == len(data)
    dst = cache_path_for_url(url)
    assert results == [(str(dst), _sha(data))] * n
    assert _leftovers(dst) == []


def _etag(data: bytes) -> str:
    """The test server's ETag of ``data`` (test/http_server.py: a hash of the bytes)."""
    return '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


@pytest.mark.parametrize("validators", [True, "last-modified"], ids=["etag", "last-modified"])
@pytest.mark.parametrize("if_range", [True, False], ids=["if-range", "if-range-ignored"])
def test_resume_is_validated_when_the_file_changes_between_requests(served, validators, if_range):
    """The file changes on the server between the cut first request and the resume (same size):
    the result is the new file, never old bytes + new bytes. A server that honours If-Range sends
    the new file whole; one that ignores it is caught by its new ETag / Last-Modified."""
    root, old = served
    new = random.Random(9).randbytes(len(old))
    file = root / "models" / "ckpt.pt"

    def change(path, n):
        if n == 2:
            file.write_bytes(new)
            mtime = file.stat().st_mtime + 10
            os.utime(file, (mtime, mtime))  # a new Last-Modified too

    with serve_directory(root, drop_after=len(old) // 2, validators=validators, if_range=if_range,
                         on_request=change) as server:
        url = server.url + "models/ckpt.pt"
        path = resolve_checkpoint(url)
        assert path.read_bytes() == new
        sent = [h for _, h in server.if_range_headers]
        assert sent[0] is None
        if validators is True:
            assert sent[1] == _etag(old)  # the resume named the version it continues
        else:
            assert sent[1].endswith(" GMT")  # Last-Modified date of the first version
        if if_range:
            assert server.requests["/models/ckpt.pt"] == 2  # 200 + the whole new file
            assert server.status[("/models/ckpt.pt", 200)] == 2
        else:  # 206 of the changed file refused, then one clean download
            assert server.requests["/models/ckpt.pt"] == 3
            assert server.status[("/models/ckpt.pt", 206)] == 1
            assert server.ranges[2] == ("/models/ckpt.pt", None)
    assert _leftovers(path) == []


def test_stale_partial_of_older_content_is_not_stitched(served, monkeypatch):
    """A failed download leaves a ``.partial`` of version 1; the server then holds version 2 (same
    size): the next call downloads version 2 whole instead of resuming onto version-1 bytes."""
    root, old = served
    monkeypatch.setenv("S3PRL_DOWNLOAD_RETRIES", "0")
    with serve_directory(root, drop_after=len(old) // 2) as server:
        url = server.url + "models/ckpt.pt"
        with pytest.raises(DownloadError, match="connection"):
            resolve_checkpoint(url)
        dst = cache_path_for_url(url)
        assert 0 < Path(str(dst) + ".partial").stat().st_size <= len(old) // 2
        new = _write(root / "models" / "ckpt.pt", len(old), seed=11)
        assert resolve_checkpoint(url).read_bytes() == new
        assert server.if_range_headers[-1] == ("/models/ckpt.pt", _etag(old))
        assert server.status[("/models/ckpt.pt", 200)] == 2
    assert _leftovers(dst) == []


def test_body_without_content_length_cut_early_is_not_cached(served):
    """No Content-Length (the body ends when the connection closes): a cut transfer looks complete.
    The client asks for the bytes after its end: 206 means cut (resumed), 416 means complete."""
    root, data = served
    half = len(data) // 2
    with serve_directory(root, content_length=False, drop_after=half) as server:
        url = server.url + "models/ckpt.pt"
        path = resolve_checkpoint(url)
        assert path.read_bytes() == data
        # the cut body, the question "anything after byte `half`?" (206: yes), the resume
        assert [r for _, r in server.ranges] == [None, f"bytes={half}-", f"bytes={half}-"]
        # a complete body without Content-Length: confirmed by a 416 at its end
        resolve_checkpoint(url, refresh=True)
        assert server.ranges[-2:] == [("/models/ckpt.pt", None),
                                      ("/models/ckpt.pt", f"bytes={len(data)}-")]
        assert server.status[("/models/ckpt.pt", 416)] == 1
        assert path.read_bytes() == data
    assert _leftovers(path) == []


def test_body_without_content_length_and_no_range_support(served):
    """Without Content-Length and without Range support completeness cannot be checked: refused
    (nothing cached) unless the sha256 is known, which then decides."""
    root, data = served
    with serve_directory(root, content_length=False, range_support=False,
                         drop_after=len(data) // 2, drop_times=100) as server:
        url = server.url + "models/ckpt.pt"
        with pytest.raises(DownloadError, match="without Content-Length") as info:
            resolve_checkpoint(url)
        assert "sha256" in str(info.value)
        dst = cache_path_for_url(url)
        assert not dst.exists() and _leftovers(dst) == []
        with pytest.raises(DownloadError, match="sha256 mismatch"):
            resolve_checkpoint(url, sha256=_sha(data))  # cut every time: the hash catches it
        server.drop_after = None
        assert resolve_checkpoint(url, sha256=_sha(data)).read_bytes() == data
    assert _leftovers(dst) == []


def test_gzip_encoded_response_is_decoded(served):
    """A server that gzips the body although identity was asked for: the file is the decoded
    bytes; completeness is checked on the encoded length; a cut is retried from byte 0."""
    root, data = served
    with serve_directory(root, gzip=True, drop_after=100_000) as server:
        url = server.url + "models/ckpt.pt"
        path = resolve_checkpoint(url, sha256=_sha(data))
        assert path.read_bytes() == data
        assert [r for _, r in server.ranges] == [None, None]  # encoded bodies are not resumed
    assert _leftovers(path) == []
    with serve_directory(root, gzip=True) as server:
        out = Path(str(path) + ".copy")
        download_url_to_file(server.url + "models/ckpt.pt", out, progress=False)
        assert out.read_bytes() == data


def test_gzip_encoded_response_without_length_needs_sha256(served):
    """A gzip body without ``Content-Length``: its completeness cannot be checked, so the
    download needs the sha256 (nothing cached without it)."""
    root, data = served
    with serve_directory(root, gzip=True, content_length=False) as server:
        url = server.url + "models/ckpt.pt"
        with pytest.raises(DownloadError, match="gzip-encoded without Content-Length"):
            resolve_checkpoint(url)
        dst = cache_path_for_url(url)
        assert not dst.exists() and _leftovers(dst) == []
        assert resolve_checkpoint(url, sha256=_sha(data)).read_bytes() == data
    assert _leftovers(dst) == []


def test_load_state_dict_from_url_model_dir_downloads_once(tmp_path):
    """8 concurrent callers with ``model_dir``: one download; the others wait on the lock and then
    find the file (threads of one process: each takes its own ``filelock`` lock on the file,
    exactly as separate processes do)."""
    import threading

    import torch

    root = tmp_path / "www"
    root.mkdir()
    buf = io.BytesIO()
    torch.save({"w": torch.arange(400_000, dtype=torch.float32)}, buf)  # 1.6 MB
    (root / "sd.pt").write_bytes(buf.getvalue())
    n, results = 8, []
    with serve_directory(root, chunk_delay=0.01) as server:
        barrier = threading.Barrier(n)

        def call():
            barrier.wait(timeout=60)
            state = load_state_dict_from_url(server.url + "sd.pt", model_dir=tmp_path / "md",
                                             progress=False)
            results.append(torch.equal(state["w"], torch.arange(400_000, dtype=torch.float32)))

        threads = [threading.Thread(target=call) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert results == [True] * n
        assert server.requests["/sd.pt"] == 1
    assert sorted(p.name for p in (tmp_path / "md").iterdir()) == ["sd.pt", "sd.pt.lock"]
