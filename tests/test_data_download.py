"""Downloads through pooch against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import time

import pytest

from benchmarks.data import (
    DatasetChecksumError,
    DatasetDownloadError,
    DatasetMissingError,
    download_file,
    ensure_file,
)
from tests.fixtures.data.helpers import (
    TOY_BYTES,
    closed_port,
    register_toy,
    serve_directory,
    sha256,
    silent_server,
)

TIMEOUT = 5.0  # every network call in these tests is bounded


@pytest.fixture
def served(tmp_path):
    """A folder served on 127.0.0.1 holding ``good/toy.txt`` and a corrupt ``bad/toy.txt``."""
    root = tmp_path / "www"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    (root / "good" / "toy.txt").write_bytes(TOY_BYTES)
    (root / "bad" / "toy.txt").write_bytes(TOY_BYTES.replace(b"toy", b"bad", 1))
    with serve_directory(root) as base:
        yield base


def _leftovers(cache):
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*")) if cache.exists() else []


@pytest.mark.parametrize("use_md5", [False, True])
def test_download_lands_in_cache_verified(cache, served, monkeypatch, use_md5):
    register_toy(monkeypatch, urls=(served + "good/toy.txt",), use_md5=use_md5)
    path = ensure_file("toy", "toy.txt", download=True, timeout=TIMEOUT)
    assert path == cache / "toy" / "toy.txt"
    assert path.read_bytes() == TOY_BYTES
    assert _leftovers(cache) == ["toy", "toy/toy.txt"]  # no temp folder left behind


def test_downloaded_file_is_then_used_offline(cache, served, monkeypatch):
    register_toy(monkeypatch, urls=(served + "good/toy.txt",))
    ensure_file("toy", "toy.txt", download=True, timeout=TIMEOUT)
    register_toy(monkeypatch, urls=(f"http://127.0.0.1:{closed_port()}/toy.txt",))
    assert ensure_file("toy", "toy.txt", download=True, timeout=TIMEOUT).read_bytes() == TOY_BYTES


def test_corrupt_download_is_discarded(cache, served, monkeypatch):
    register_toy(monkeypatch, urls=(served + "bad/toy.txt",))
    with pytest.raises(DatasetChecksumError) as info:
        download_file("toy", "toy.txt", timeout=TIMEOUT)
    err = info.value
    assert err.expected == sha256(TOY_BYTES)
    assert err.actual == sha256(TOY_BYTES.replace(b"toy", b"bad", 1))
    msg = str(err)
    assert err.expected in msg and err.actual in msg and served + "bad/toy.txt" in msg
    assert not (cache / "toy" / "toy.txt").exists()
    assert _leftovers(cache) == ["toy"]


def test_bad_mirror_then_good_mirror(cache, served, monkeypatch):
    urls = (served + "missing/toy.txt", served + "bad/toy.txt", served + "good/toy.txt")
    register_toy(monkeypatch, urls=urls)
    assert download_file("toy", "toy.txt", timeout=TIMEOUT).read_bytes() == TOY_BYTES


def test_http_404(cache, served, monkeypatch):
    url = served + "nowhere/toy.txt"
    register_toy(monkeypatch, urls=(url,))
    with pytest.raises(DatasetDownloadError) as info:
        ensure_file("toy", "toy.txt", download=True, timeout=TIMEOUT)
    msg = str(info.value)
    assert url in msg and "HTTP 404" in msg and f"{cache / 'toy'}/" in msg
    assert _leftovers(cache) == ["toy"]


def test_server_down(cache, monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/toy.txt"
    register_toy(monkeypatch, urls=(url,))
    start = time.monotonic()
    with pytest.raises(DatasetDownloadError) as info:
        download_file("toy", "toy.txt", timeout=TIMEOUT)
    assert time.monotonic() - start < TIMEOUT
    msg = str(info.value)
    assert url in msg and "connection failed" in msg and "refused" in msg.lower()
    assert not (cache / "toy" / "toy.txt").exists()


def test_silent_server_times_out(cache, monkeypatch):
    with silent_server() as base:
        register_toy(monkeypatch, urls=(base + "toy.txt",))
        start = time.monotonic()
        with pytest.raises(DatasetDownloadError, match="timed out after 0.5 s"):
            download_file("toy", "toy.txt", timeout=0.5)
        assert time.monotonic() - start < 4


def test_file_without_url_cannot_be_downloaded(cache):
    with pytest.raises(DatasetMissingError, match="no direct download URL"):
        ensure_file("usps-h5", "usps.h5", download=True, timeout=TIMEOUT)


def test_download_replaces_a_corrupt_file_only_when_verified(cache, served, monkeypatch):
    register_toy(monkeypatch, urls=(served + "bad/toy.txt",))
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "toy.txt").write_bytes(b"old")
    with pytest.raises(DatasetChecksumError):
        download_file("toy", "toy.txt", timeout=TIMEOUT)
    assert (cache / "toy" / "toy.txt").read_bytes() == b"old"
    register_toy(monkeypatch, urls=(served + "good/toy.txt",))
    download_file("toy", "toy.txt", timeout=TIMEOUT)
    assert (cache / "toy" / "toy.txt").read_bytes() == TOY_BYTES
