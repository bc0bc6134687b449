"""Resolving files in the cache offline: present, missing, corrupt, and the hash cache."""

from __future__ import annotations

import os
import shutil

import pytest

from benchmarks.data import (
    DatasetChecksumError,
    DatasetMissingError,
    adult_files,
    checksums,
    ensure_dataset,
    ensure_file,
    file_status,
    german_files,
    load_mnist,
    load_usps,
)
from benchmarks.data.checksums import SIDECAR, file_digest
from tests.fixtures.data.helpers import TOY_BYTES, flip_byte, real_data_dir, register_toy, sha256


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAUB_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def toy(cache, monkeypatch):
    register_toy(monkeypatch, urls=("https://example.invalid/toy.txt", "https://mirror.invalid/toy.txt"))
    (cache / "toy").mkdir(parents=True)
    path = cache / "toy" / "toy.txt"
    path.write_bytes(TOY_BYTES)
    return path


@pytest.fixture
def hash_calls(monkeypatch):
    """Count real hashing passes."""
    calls = []
    real = checksums.hash_file

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(checksums, "hash_file", counting)
    return calls


def test_cached_file_is_used_offline(toy):
    assert ensure_file("toy", "toy.txt") == toy
    assert file_status("toy", "toy.txt").state == "present"


def test_missing_file_error_names_file_urls_folder_and_command(cache, monkeypatch):
    register_toy(monkeypatch, urls=("https://example.invalid/toy.txt", "https://mirror.invalid/toy.txt"))
    with pytest.raises(DatasetMissingError) as info:
        ensure_file("toy", "toy.txt")
    msg = str(info.value)
    assert "toy.txt" in msg
    assert "https://example.invalid/toy.txt" in msg and "https://mirror.invalid/toy.txt" in msg
    assert f"put this file in the folder {cache / 'toy'}/" in msg
    assert "saub-bench data fetch toy" in msg
    assert "$SAUB_DATA" in msg
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.missing[0].path == cache / "toy" / "toy.txt"


def test_missing_manual_download_file_points_to_homepage(cache):
    with pytest.raises(DatasetMissingError) as info:
        ensure_file("usps-h5", "usps.h5")
    msg = str(info.value)
    assert "no direct download URL" in msg and "kaggle.com" in msg
    assert f"{cache / 'usps'}/" in msg and "data fetch" not in msg


def test_missing_dataset_lists_every_missing_file_once(cache):
    with pytest.raises(DatasetMissingError) as info:
        ensure_dataset("adult")
    msg = str(info.value)
    for name in ("adult.data", "adult.test", "adult.names"):
        assert f"{name}  download from https://archive.ics.uci.edu/" in msg
    assert msg.count("saub-bench data fetch adult") == 1


def test_loader_in_empty_cache_lists_each_format(cache):
    with pytest.raises(DatasetMissingError) as info:
        load_mnist("test")
    msg = str(info.value)
    assert msg.startswith("MNIST (test split) not found in the data cache; "
                          "any one of these datasets is enough")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "mnist.pkl.gz",
                 "data fetch mnist-idx", "data fetch mnist-pickle", f"{cache / 'mnist'}/"):
        assert name in msg
    assert "train-images" not in msg
    with pytest.raises(DatasetMissingError, match="usps.h5") as info:
        load_usps("train")
    assert "usps.bz2" in str(info.value) and "usps.t.bz2" not in str(info.value)


def test_corrupt_file_raises_with_path_and_both_hashes(toy):
    flip_byte(toy)
    with pytest.raises(DatasetChecksumError) as info:
        ensure_file("toy", "toy.txt")
    err = info.value
    assert err.expected == sha256(TOY_BYTES) and err.actual == sha256(toy.read_bytes())
    msg = str(err)
    assert str(toy) in msg and err.expected in msg and err.actual in msg
    assert "expected sha256" in msg and "actual   sha256" in msg
    assert file_status("toy", "toy.txt").state == "corrupt"


def test_corrupt_copy_of_a_real_file(cache):
    real = real_data_dir("german/german.data")
    (cache / "german").mkdir(parents=True)
    copy = cache / "german" / "german.data"
    shutil.copyfile(real / "german" / "german.data", copy)
    assert german_files()["data"] == copy
    flip_byte(copy, offset=1234)
    expected = "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871"
    with pytest.raises(DatasetChecksumError, match=expected):
        german_files()


def test_md5_verified_file(cache, monkeypatch):
    register_toy(monkeypatch, use_md5=True)
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "toy.txt").write_bytes(TOY_BYTES + b"x")
    with pytest.raises(DatasetChecksumError, match="expected md5"):
        ensure_file("toy", "toy.txt")
    (cache / "toy" / "toy.txt").write_bytes(TOY_BYTES)
    assert ensure_file("toy", "toy.txt").is_file()


def test_hashes_are_cached_and_a_changed_file_is_rechecked(toy, hash_calls):
    ensure_file("toy", "toy.txt")
    ensure_file("toy", "toy.txt")
    assert len(hash_calls) == 1
    assert (toy.parent / SIDECAR).is_file()
    checksums.clear_cache()  # a new process: the sidecar answers
    ensure_file("toy", "toy.txt")
    assert len(hash_calls) == 1
    st = toy.stat()
    flip_byte(toy)  # same size; bump mtime in case the clock is coarse
    os.utime(toy, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(DatasetChecksumError):
        ensure_file("toy", "toy.txt")
    assert len(hash_calls) == 2
    file_digest(toy, use_cache=False)
    assert len(hash_calls) == 3


def test_replaced_file_is_rechecked(toy, hash_calls):
    ensure_file("toy", "toy.txt")
    st = toy.stat()
    other = toy.with_name("other")
    other.write_bytes(TOY_BYTES[:-1] + b"?")
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime, new inode
    os.replace(other, toy)
    with pytest.raises(DatasetChecksumError):
        ensure_file("toy", "toy.txt")
    assert len(hash_calls) == 2


def test_read_only_folder_gets_no_sidecar(toy, hash_calls):
    folder = toy.parent
    folder.chmod(0o555)
    try:
        ensure_file("toy", "toy.txt")
        ensure_file("toy", "toy.txt")
        assert not any(p.name.startswith(SIDECAR) for p in folder.iterdir())
        assert len(hash_calls) == 1  # the in-memory cache still works
    finally:
        folder.chmod(0o755)


def test_real_tabular_files_resolve(monkeypatch):
    root = real_data_dir("adult/adult.data", "adult/adult.test", "adult/adult.names", "german/german.data")
    monkeypatch.setenv("SAUB_DATA", str(root))
    files = adult_files()
    assert set(files) == {"data", "test", "names"}
    data_rows = [r for r in files["data"].read_text().splitlines() if r.strip()]
    test_rows = [r for r in files["test"].read_text().splitlines() if r.strip()]
    assert len(data_rows) == 32561 and len(test_rows) == 16281 + 1  # adult.test starts with a comment
    assert test_rows[0].startswith("|") and test_rows[1].endswith(".")
    german = german_files()["data"].read_text().split("\n")
    rows = [r.split() for r in german if r.strip()]
    assert len(rows) == 1000 and {len(r) for r in rows} == {21} and {r[-1] for r in rows} == {"1", "2"}


def test_errors_survive_pickling(cache, toy):
    """Worker processes send failures to the sweep driver; the message must arrive intact."""
    import pickle

    from benchmarks.data import DatasetDownloadError

    errors = [DatasetDownloadError("toy.txt", [("http://127.0.0.1:1/x", "HTTP 404 Not Found")], toy)]
    for call in (lambda: ensure_file("usps-h5", "usps.h5"), lambda: load_mnist("test")):
        with pytest.raises(DatasetMissingError) as info:
            call()
        errors.append(info.value)
    flip_byte(toy)
    with pytest.raises(DatasetChecksumError) as info:
        ensure_file("toy", "toy.txt")
    errors.append(info.value)
    for err in errors:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
