"""Fashion-MNIST loader on generated IDX files: exact values, missing and corrupt files.

No Fashion-MNIST copy is at hand, so every test writes small gzip IDX files (a few images with
known gray levels and labels) into ``<tmp>/fashion-mnist/`` and, where a test needs them to
verify, patches the registry's MD5s to those of the generated files.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.data import (
    DataFormatError,
    DatasetChecksumError,
    DatasetMissingError,
    fashion_mnist_missing,
    fashion_mnist_source,
    get_dataset,
    load_fashion_mnist,
    load_mnist,
)
from benchmarks.data.fashion_mnist import CLASSES, DATASET, SOURCES
from benchmarks.data.formats import write_idx
from tests.fixtures.data.helpers import flip_byte, md5, patch_file

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
OFFICIAL_MD5 = {
    TRAIN_IMAGES: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    TRAIN_LABELS: "25c81989df183df01b3e8a0aad5dffbe",
    TEST_IMAGES: "bef4ecab320f06d8554ea6380940ec79",
    TEST_LABELS: "bb300cfdad3c16e7a12a480ee83cd310",
}
TRAIN_Y = [9, 0, 0, 3, 0, 2, 7]  # the first labels of the real training set, for flavour
TEST_Y = [9, 2, 1, 1, 6]


def _images(n: int, seed: int) -> np.ndarray:
    """``n`` uint8 images; image 0 holds the gray levels 0, 1, 51, 128, 254, 255 at known places."""
    k = np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    k[0, 0, :6] = [0, 1, 51, 128, 254, 255]
    return k


ARRAYS = {
    TRAIN_IMAGES: _images(len(TRAIN_Y), 1), TRAIN_LABELS: np.array(TRAIN_Y, dtype=np.uint8),
    TEST_IMAGES: _images(len(TEST_Y), 2), TEST_LABELS: np.array(TEST_Y, dtype=np.uint8),
}


def write_fixture(root, monkeypatch=None, names=tuple(ARRAYS), subdir="fashion-mnist", dataset=DATASET):
    """Write the IDX files ``names`` into ``root/subdir``; with ``monkeypatch``, make the registry's
    MD5s those of the written files (else the official MD5s stay, which the files do not match)."""
    (root / subdir).mkdir(parents=True, exist_ok=True)
    for name in names:
        path = root / subdir / name
        write_idx(path, ARRAYS[name])
        if monkeypatch is not None:
            patch_file(monkeypatch, dataset, name, md5=md5(path.read_bytes()))
    return root / subdir


def test_generated_files_load_to_exactly_their_values(tmp_path, monkeypatch):
    write_fixture(tmp_path, monkeypatch)
    for split, images, labels in (("train", TRAIN_IMAGES, TRAIN_Y), ("test", TEST_IMAGES, TEST_Y)):
        x, y = load_fashion_mnist(split, root=tmp_path)
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert y.tolist() == labels
        # gray level k -> float32(k) / 255, bit for bit, and back without rounding error
        np.testing.assert_array_equal(x, ARRAYS[images].astype(np.float32) / np.float32(255))
        np.testing.assert_array_equal(np.rint(x * 255).astype(np.uint8), ARRAYS[images])
        assert x[0, 0, :6].tolist() == np.float32([0, 1 / 255, 0.2, 128 / 255, 254 / 255, 1]).tolist()
        assert x[0, 0, 5] == 1.0 and x[0, 0, 0] == 0.0 and x[0, 0, 2] == np.float32(0.2)
    choice = fashion_mnist_source("test", root=tmp_path)
    assert choice.format == "idx" and choice.dataset == DATASET
    assert choice.paths == tuple(tmp_path / "fashion-mnist" / f for f in (TEST_IMAGES, TEST_LABELS))


def test_same_arrays_as_load_mnist_on_the_same_files(tmp_path, monkeypatch):
    write_fixture(tmp_path, monkeypatch)
    write_fixture(tmp_path, monkeypatch, subdir="mnist", dataset="mnist-idx")
    for split in ("train", "test"):
        fx, fy = load_fashion_mnist(split, root=tmp_path)
        mx, my = load_mnist(split, formats="idx", root=tmp_path)
        assert fx.dtype == mx.dtype and fy.dtype == my.dtype and fx.shape == mx.shape
        np.testing.assert_array_equal(fx, mx)
        np.testing.assert_array_equal(fy, my)


def test_missing_file_names_file_md5_urls_and_folder(tmp_path, monkeypatch):
    folder = write_fixture(tmp_path, monkeypatch, names=(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES))
    assert load_fashion_mnist("train", root=tmp_path)[1].tolist() == TRAIN_Y  # train is complete
    with pytest.raises(DatasetMissingError) as info:
        load_fashion_mnist("test", root=tmp_path)
    text = str(info.value)
    assert "Fashion-MNIST (test split) not found" in text
    assert f"put this file in the folder {folder}/" in text
    assert "saub-bench data fetch fashion-mnist-idx" in text
    assert f"{TEST_LABELS}  expected checksum md5:{OFFICIAL_MD5[TEST_LABELS]}" in text
    assert f"{TEST_LABELS}  download from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in text
    assert TEST_IMAGES not in text  # present files are not listed
    assert [m.filename for m in info.value.missing] == [TEST_LABELS]


def test_corrupt_file_is_detected_with_both_hashes(tmp_path, monkeypatch):
    folder = write_fixture(tmp_path, monkeypatch)
    flip_byte(folder / TRAIN_LABELS, offset=-3)  # inside the gzip stream's CRC/size trailer
    actual = md5((folder / TRAIN_LABELS).read_bytes())
    expected = get_dataset(DATASET).file(TRAIN_LABELS).md5
    assert actual != expected
    with pytest.raises(DatasetChecksumError) as info:
        load_fashion_mnist("train", root=tmp_path)
    err = info.value
    assert (err.path, err.algorithm) == (folder / TRAIN_LABELS, "md5")
    assert (err.expected, err.actual) == (expected, actual)
    assert str(folder / TRAIN_LABELS) in str(err) and "saub-bench data fetch fashion-mnist-idx" in str(err)
    assert load_fashion_mnist("test", root=tmp_path)[1].tolist() == TEST_Y  # the other split is intact


def test_files_that_are_not_the_official_release_fail_the_official_md5(tmp_path):
    folder = write_fixture(tmp_path)  # registry MD5s left as torchvision publishes them
    with pytest.raises(DatasetChecksumError) as info:
        load_fashion_mnist("test", root=tmp_path)
    assert info.value.path == folder / TEST_IMAGES
    assert f"expected md5: {OFFICIAL_MD5[TEST_IMAGES]}" in str(info.value)
    assert f"actual   md5: {md5((folder / TEST_IMAGES).read_bytes())}" in str(info.value)


def test_fashion_mnist_missing_probe(tmp_path):
    err = fashion_mnist_missing(root=tmp_path)
    assert isinstance(err, DatasetMissingError)
    assert [m.filename for m in err.missing] == list(OFFICIAL_MD5)
    assert [m.checksum for m in err.missing] == [f"md5:{h}" for h in OFFICIAL_MD5.values()]
    text = str(err)
    assert f"put these files in the folder {tmp_path / 'fashion-mnist'}/" in text
    assert all(f"{name}  expected checksum md5:{h}" in text for name, h in OFFICIAL_MD5.items())
    assert f"(data cache: {tmp_path})" in text
    write_fixture(tmp_path, names=(TRAIN_IMAGES, TEST_LABELS))
    err = fashion_mnist_missing(root=tmp_path)
    assert [m.filename for m in err.missing] == [TRAIN_LABELS, TEST_IMAGES]
    assert TRAIN_IMAGES not in str(err)
    write_fixture(tmp_path)
    assert fashion_mnist_missing(root=tmp_path) is None  # by name: hashes are checked on load


def test_default_root_is_saub_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SAUB_DATA", str(tmp_path))
    assert fashion_mnist_missing() is not None
    write_fixture(tmp_path, monkeypatch)
    assert fashion_mnist_missing() is None
    assert load_fashion_mnist("test")[1].tolist() == TEST_Y


def test_malformed_idx_and_bad_split(tmp_path, monkeypatch):
    folder = write_fixture(tmp_path, monkeypatch)
    write_idx(folder / TEST_LABELS, np.array(TEST_Y[:-1], dtype=np.uint8))  # one label short
    patch_file(monkeypatch, DATASET, TEST_LABELS, md5=md5((folder / TEST_LABELS).read_bytes()))
    with pytest.raises(DataFormatError, match="unexpected Fashion-MNIST IDX arrays"):
        load_fashion_mnist("test", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("valid", root=tmp_path)


def test_sources_cover_the_registry_and_the_classes():
    files = {f for names in SOURCES["idx"].split_files.values() for f in names}
    assert files == set(get_dataset(DATASET).filenames) == set(OFFICIAL_MD5)
    assert len(CLASSES) == 10 and CLASSES[0] == "T-shirt/top" and CLASSES[9] == "Ankle boot"
