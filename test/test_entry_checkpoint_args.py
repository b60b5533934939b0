"""The ``ckpt`` argument checks shared by every ``<family>_local`` / ``<family>_url`` entry.

* :func:`s3prl.util.download.local_checkpoint` / :func:`~s3prl.util.download.url_checkpoint`
  on their own (messages, error types);
* every hub entry named ``*_local`` / ``*_url`` (except ``baseline_local``, which takes a
  feature config, not a checkpoint): a URL given to ``_local``, a path given to ``_url`` and a
  missing file are refused before any model code runs, naming the entry to use instead;
* every family with one of ``_local`` / ``_url`` has both, and every entry that can download
  (``_url``, ``<family>_custom`` next to a ``_url``, and those with an official checkpoint
  URL) accepts ``refresh=False``;
* the ``_url`` entries that take ``sha256`` (all but the wav2vec 2.0 family's) check it:
  a wrong one is a ``DownloadError`` and nothing is cached.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import s3prl.hub as hub
from s3prl.util.download import is_url, local_checkpoint, url_checkpoint

NOT_CHECKPOINT_ENTRIES = {"baseline_local"}  # takes a feature yaml, has no _url sibling
LOCAL = [n for n in hub.options("*_local") if n not in NOT_CHECKPOINT_ENTRIES]
URL = hub.options("*_url")


def test_is_url():
    assert is_url("http://127.0.0.1:8000/a.pt")
    assert is_url("https://example.org/a.pt")
    assert not is_url("/tmp/a.pt")
    assert not is_url(Path("http_dir/a.pt"))
    assert not is_url("ftp://example.org/a.pt")
    assert not is_url("file:///tmp/a.pt")


def test_local_checkpoint(tmp_path):
    path = tmp_path / "m.pt"
    path.write_bytes(b"x")
    assert local_checkpoint(str(path), "apc_local") == path
    assert local_checkpoint(path, "apc_local") == path
    with pytest.raises(ValueError, match=r"^apc_local takes a local file path, got the URL 'https://x/m.pt': use apc_url$"):
        local_checkpoint("https://x/m.pt", "apc_local")
    with pytest.raises(FileNotFoundError, match=r"^apc_local: checkpoint file not found: .*missing\.pt$"):
        local_checkpoint(tmp_path / "missing.pt", "apc_local")
    with pytest.raises(FileNotFoundError, match="apc_local: is a folder, not a checkpoint file"):
        local_checkpoint(tmp_path, "apc_local")
    with pytest.raises(TypeError, match="apc_local: ckpt must be a file path or an http.s. URL string, got NoneType"):
        local_checkpoint(None, "apc_local")
    with pytest.raises(ValueError, match="custom_loader takes a local file path.*use the _url entry"):
        local_checkpoint("http://x/m.pt", "custom_loader")


def test_local_checkpoint_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "m.pt").write_bytes(b"x")
    assert local_checkpoint("~/m.pt", "apc_local") == tmp_path / "m.pt"


def test_url_checkpoint(tmp_path):
    assert url_checkpoint("http://127.0.0.1:1/m.pt", "apc_url") == "http://127.0.0.1:1/m.pt"
    with pytest.raises(ValueError, match=r"^apc_url takes an http\(s\) URL, got '.*m\.pt': use apc_local$"):
        url_checkpoint(tmp_path / "m.pt", "apc_url")
    with pytest.raises(TypeError, match="apc_url: ckpt must be"):
        url_checkpoint(3, "apc_url")


def _family(name: str) -> str:
    return name.rsplit("_", 1)[0]


def test_local_and_url_entries_come_in_pairs():
    assert len(LOCAL) >= 15  # the discovery works (apc ... wavlm)
    locals_ = {_family(n) for n in LOCAL}
    urls = {_family(n) for n in URL}
    assert locals_ == urls, f"_local without _url: {sorted(locals_ - urls)}; _url without _local: {sorted(urls - locals_)}"


@pytest.mark.parametrize("name", LOCAL)
def test_local_entry_refuses_a_url(name):
    with pytest.raises(ValueError, match=rf"{name}.*http://127\.0\.0\.1:9/m\.pt.*{_family(name)}_url"):
        getattr(hub, name)("http://127.0.0.1:9/m.pt")


@pytest.mark.parametrize("name", LOCAL)
def test_local_entry_names_the_missing_file(name, tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError, match=rf"checkpoint file not found: {missing}"):
        getattr(hub, name)(str(missing))


@pytest.mark.parametrize("name", URL)
def test_url_entry_refuses_a_path(name, tmp_path):
    path = tmp_path / "m.pt"
    path.write_bytes(b"not a checkpoint")  # an existing file is still not a URL
    with pytest.raises(ValueError, match=rf"{name} takes an http\(s\) URL.*{_family(name)}_local"):
        getattr(hub, name)(str(path))


def test_baseline_local_refuses_a_url(tmp_path):
    with pytest.raises(ValueError, match=r"baseline_local takes a local yaml path, got the URL 'http://127\.0\.0\.1:9/f\.yaml'"):
        hub.baseline_local("http://127.0.0.1:9/f.yaml")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        hub.baseline_local(str(tmp_path / "missing.yaml"))


def _downloads(name: str) -> bool:
    """``_url`` entries, entries with an official checkpoint URL, and the ``_custom``
    (path or URL) entries of families that have a ``_url`` entry (``hf_*_custom`` read
    the local Hugging Face cache only and never download)."""
    if name.endswith("_custom"):
        return f"{name[: -len('_custom')]}_url" in URL
    return name.endswith("_url") or bool(getattr(hub, name).info.ckpt)


@pytest.mark.parametrize("name", [n for n in hub.options() if _downloads(n)])
def test_downloading_entries_accept_refresh(name):
    params = inspect.signature(getattr(hub, name)).parameters
    assert "refresh" in params, f"{name} downloads a checkpoint but takes no refresh argument"
    assert params["refresh"].default is False


SHA256_URL = [n for n in URL if "sha256" in inspect.signature(getattr(hub, n)).parameters]


def test_every_url_entry_takes_sha256():
    assert URL and set(URL) == set(SHA256_URL)


@pytest.mark.parametrize("name", SHA256_URL)
def test_url_entry_checks_the_given_sha256(name, tmp_path, monkeypatch):
    """A wrong sha256 fails the download (before any model code) and leaves no cached file."""
    from s3prl.util.download import DownloadError, cache_path_for_url
    from test.http_server import serve_directory

    monkeypatch.setenv("S3PRL_DOWNLOAD_RETRIES", "0")
    monkeypatch.setenv("S3PRL_PROGRESS", "0")
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "m.pt").write_bytes(b"not the expected bytes")
    with serve_directory(tmp_path / "srv") as server:
        url = server.url + "m.pt"
        with pytest.raises(DownloadError, match="sha256 mismatch: expected 0123abcd"):
            getattr(hub, name)(url, sha256="0123abcd" * 8)
    assert not cache_path_for_url(url).exists()


@pytest.mark.parametrize("name", [n for n in hub.options() if getattr(hub, n).info.ckpt])
def test_named_entry_defaults_to_its_registered_checkpoint(name):
    """The checkpoint URL on the docs page (``@entry(ckpt=...)``) is the one the entry loads."""
    params = inspect.signature(getattr(hub, name)).parameters
    assert params["ckpt"].default == getattr(hub, name).info.ckpt
