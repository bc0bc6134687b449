"""The dataset registry: every file verifiable, hashes of the real files, cache layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.data import DATASETS, UnknownDatasetError, cache_dir, file_path, get_dataset
from benchmarks.data.checksums import file_digests
from tests.fixtures.data.helpers import real_data_dir

TORCHVISION_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "usps.bz2": "ec16c51db3855ca6c91edd34d0e9b197",
    "usps.t.bz2": "8ea070ee2aca1ac39742fdd1ef5ed118",
}


def test_expected_datasets_and_layout():
    assert set(DATASETS) == {"mnist-pickle", "mnist-idx", "usps-libsvm", "usps-h5", "adult", "german",
                             "celeba", "shapes3d"}
    assert {s.subdir for s in DATASETS.values()} == {"mnist", "usps", "adult", "german", "celeba", "shapes3d"}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_file_has_a_well_formed_hash_and_urls(name):
    for spec in DATASETS[name].files:
        if spec.sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        if spec.md5:
            assert re.fullmatch(r"[0-9a-f]{32}", spec.md5)
        assert spec.known_hash == f"{spec.algorithm}:{spec.expected}"
        assert all(u.startswith(("https://", "http://")) and u.endswith(spec.filename) for u in spec.urls)
        if not spec.urls:
            assert DATASETS[name].homepage, "a file without URL needs a homepage to download it from"


def test_torchvision_md5s_are_recorded():
    for name in ("mnist-idx", "usps-libsvm"):
        for spec in DATASETS[name].files:
            assert spec.md5 == TORCHVISION_MD5[spec.filename]
    assert get_dataset("mnist-idx").files[0].algorithm == "md5"  # no SHA-256 known for the IDX files
    assert get_dataset("usps-libsvm").file("usps.t.bz2").algorithm == "sha256"


def test_registry_hashes_match_the_real_files():
    root = real_data_dir("mnist/mnist.pkl.gz")
    checked = 0
    for spec in DATASETS.values():
        for f in spec.files:
            path = root / spec.subdir / f.filename
            if not path.is_file():
                continue
            digests = file_digests(path)
            assert digests[f.algorithm] == f.expected, f"{path}"
            if f.sha256:
                assert digests["sha256"] == f.sha256
            if f.md5:
                assert digests["md5"] == f.md5, f"{path}: MD5 differs from torchvision's"
            checked += 1
    assert checked >= 6


def test_cache_dir_default_env_and_root(monkeypatch, tmp_path):
    monkeypatch.delenv("SAUB_DATA", raising=False)
    assert cache_dir() == Path("~/.cache/saub").expanduser().absolute()
    monkeypatch.setenv("SAUB_DATA", str(tmp_path))
    assert cache_dir() == tmp_path
    assert cache_dir(tmp_path / "other") == tmp_path / "other"
    assert file_path("adult", "adult.test") == tmp_path / "adult" / "adult.test"
    labels = "t10k-labels-idx1-ubyte.gz"
    assert file_path("mnist-idx", labels) == tmp_path / "mnist" / labels


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownDatasetError, match="known datasets: adult, celeba, german"):
        get_dataset("mnist")
    with pytest.raises(UnknownDatasetError, match="adult.names"):
        file_path("adult", "adult.csv")
