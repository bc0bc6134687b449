"""The dataset registry: every file verifiable, hashes of the real files, cache layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.data import DATASETS, UnknownDatasetError, cache_dir, file_path, get_dataset
from benchmarks.data.checksums import file_digests
from tests.fixtures.data.helpers import real_data_dir

TORCHVISION_MD5 = {
    "mnist-idx": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist-idx": {  # torchvision.datasets.FashionMNIST.resources
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "usps-libsvm": {
        "usps.bz2": "ec16c51db3855ca6c91edd34d0e9b197",
        "usps.t.bz2": "8ea070ee2aca1ac39742fdd1ef5ed118",
    },
}


def test_expected_datasets_and_layout():
    assert set(DATASETS) == {"mnist-pickle", "mnist-idx", "fashion-mnist-idx", "usps-libsvm", "usps-h5",
                             "adult", "german", "celeba", "shapes3d"}
    assert {s.subdir for s in DATASETS.values()} == {"mnist", "fashion-mnist", "usps", "adult", "german",
                                                     "celeba", "shapes3d"}


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
    for name, md5s in TORCHVISION_MD5.items():
        assert {spec.filename: spec.md5 for spec in DATASETS[name].files} == md5s
    for name in ("mnist-idx", "fashion-mnist-idx"):  # no SHA-256 known for the IDX files
        assert {spec.algorithm for spec in DATASETS[name].files} == {"md5"}
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
    assert file_path("fashion-mnist-idx", labels) == tmp_path / "fashion-mnist" / labels


def test_fashion_mnist_urls_start_with_torchvisions_mirror():
    for spec in get_dataset("fashion-mnist-idx").files:
        assert spec.urls[0] == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" + spec.filename


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownDatasetError, match="known datasets: adult, celeba, fashion-mnist-idx, german"):
        get_dataset("mnist")
    with pytest.raises(UnknownDatasetError, match="adult.names"):
        file_path("adult", "adult.csv")
