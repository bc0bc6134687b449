"""MNIST loaders: the real pickle, and IDX files generated from its rows give identical arrays."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from benchmarks.data import DataFormatError, DatasetMissingError, load_mnist, mnist_source
from benchmarks.data.formats import write_idx
from benchmarks.data.mnist import SOURCES, pickle_to_gray
from tests.fixtures.data.helpers import md5, patch_file, real_data_dir

# Facts of the official IDX files (LeCun's page, torchvision): label counts and first labels.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_FIRST = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
TEST_FIRST = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
# Rows of the 60,000 training digits used for the IDX fixture: the start, both sides of the
# pickle's train/valid boundary (50,000) and the end.
TRAIN_ROWS = np.r_[0:6, 49997:50003, 59996:60000]
TEST_ROWS = np.r_[0:5, 9997:10000]


@pytest.fixture(scope="module")
def real_root():
    return real_data_dir("mnist/mnist.pkl.gz")


@pytest.fixture(scope="module")
def raw_pickle(real_root):
    with gzip.open(real_root / "mnist" / "mnist.pkl.gz", "rb") as fh:
        return pickle.load(fh, encoding="latin1")


@pytest.fixture(scope="module")
def pickled(real_root):
    return {split: load_mnist(split, formats="pickle", root=real_root) for split in ("train", "test")}


def test_pickle_split_shapes_ranges_and_known_facts(pickled):
    for split, n, counts, first in (("train", 60000, TRAIN_COUNTS, TRAIN_FIRST),
                                    ("test", 10000, TEST_COUNTS, TEST_FIRST)):
        x, y = pickled[split]
        assert x.shape == (n, 28, 28) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
        assert np.bincount(y).tolist() == counts
        assert y[:10].tolist() == first


def test_pickle_pixels_are_exact_multiples_of_1_over_256(raw_pickle):
    for x, _ in raw_pickle:
        k = x * np.float32(256)
        assert np.array_equal(k, np.rint(k)) and k.min() == 0 and k.max() == 255
    for bad in ([0.5, 1 / 255], [-1 / 256], [1.0]):
        with pytest.raises(DataFormatError):
            pickle_to_gray(np.array(bad, dtype=np.float32))
    assert pickle_to_gray(np.array([0, 1 / 256, 255 / 256], dtype=np.float32)).tolist() == [0, 1, 255]


def test_scaling_is_gray_over_255(raw_pickle, pickled):
    x_test = raw_pickle[2][0][:50]
    expected = np.rint(x_test * 256).astype(np.float32).reshape(-1, 28, 28) / np.float32(255)
    np.testing.assert_array_equal(pickled["test"][0][:50], expected)


def _write_idx_fixture(cache, raw_pickle, monkeypatch):
    """IDX files holding selected rows of the real pickle; the registry MD5s patched to match."""
    train_x = np.concatenate([raw_pickle[0][0], raw_pickle[1][0]])[TRAIN_ROWS]
    train_y = np.concatenate([raw_pickle[0][1], raw_pickle[1][1]])[TRAIN_ROWS]
    test_x, test_y = raw_pickle[2][0][TEST_ROWS], raw_pickle[2][1][TEST_ROWS]
    (cache / "mnist").mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": pickle_to_gray(train_x).reshape(-1, 28, 28),
        "train-labels-idx1-ubyte.gz": train_y.astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": pickle_to_gray(test_x).reshape(-1, 28, 28),
        "t10k-labels-idx1-ubyte.gz": test_y.astype(np.uint8),
    }
    for name, array in arrays.items():
        path = cache / "mnist" / name
        write_idx(path, array)
        assert path.stat().st_size < 50_000
        patch_file(monkeypatch, "mnist-idx", name, md5=md5(path.read_bytes()))


def test_idx_files_made_from_pickle_rows_read_back_identically(tmp_path, monkeypatch, raw_pickle, pickled):
    _write_idx_fixture(tmp_path, raw_pickle, monkeypatch)
    for split, rows in (("train", TRAIN_ROWS), ("test", TEST_ROWS)):
        choice = mnist_source(split, formats="idx", root=tmp_path)
        assert choice.format == "idx" and choice.dataset == "mnist-idx"
        x, y = load_mnist(split, formats="idx", root=tmp_path)
        assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (len(rows), 28, 28)
        np.testing.assert_array_equal(x, pickled[split][0][rows])  # bit-identical
        np.testing.assert_array_equal(y, pickled[split][1][rows])


def test_format_choice_follows_the_preference(tmp_path, monkeypatch, raw_pickle, real_root):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "mnist.pkl.gz").symlink_to(real_root / "mnist" / "mnist.pkl.gz")
    assert mnist_source("test", root=tmp_path).format == "pickle"  # only the pickle is there
    _write_idx_fixture(tmp_path, raw_pickle, monkeypatch)
    assert mnist_source("test", root=tmp_path).format == "idx"  # default order: idx first
    assert mnist_source("test", formats=("pickle", "idx"), root=tmp_path).format == "pickle"
    monkeypatch.setenv("SAUB_MNIST_FORMATS", "pickle,idx")
    assert mnist_source("test", root=tmp_path).format == "pickle"
    with pytest.raises(ValueError, match="known formats: idx, pickle"):
        mnist_source("test", formats="png", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        mnist_source("valid", root=tmp_path)


def test_incomplete_idx_falls_back_to_a_complete_format(tmp_path, monkeypatch, raw_pickle, real_root):
    _write_idx_fixture(tmp_path, raw_pickle, monkeypatch)
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    assert mnist_source("test", root=tmp_path).format == "idx"  # no complete format: use what's there
    with pytest.raises(DatasetMissingError, match="train-labels-idx1-ubyte.gz"):
        load_mnist("train", root=tmp_path)
    (tmp_path / "mnist" / "mnist.pkl.gz").symlink_to(real_root / "mnist" / "mnist.pkl.gz")
    assert mnist_source("test", root=tmp_path).format == "pickle"  # complete beats preferred-but-partial


def test_sources_cover_the_registry():
    from benchmarks.data import get_dataset

    for source in SOURCES.values():
        files = {f for names in source.split_files.values() for f in names}
        assert files == set(get_dataset(source.dataset).filenames)
