"""USPS loaders: HDF5 and LIBSVM on the real files, LIBSVM fixtures, and the format choice."""

from __future__ import annotations

import bz2

import numpy as np
import pytest

from benchmarks.data import DatasetMissingError, load_usps, usps_source
from tests.fixtures.data.helpers import md5, patch_file, real_data_dir

# Measured on the real test split (2,007 digits): the two formats are different renderings.
MAX_ABS_DIFF = 0.563899


@pytest.fixture(scope="module")
def real_root():
    return real_data_dir("usps/usps.h5", "usps/usps.t.bz2")


@pytest.fixture(scope="module")
def h5(real_root):
    return {split: load_usps(split, formats="h5", root=real_root) for split in ("train", "test")}


@pytest.fixture(scope="module")
def libsvm_test(real_root):
    return load_usps("test", formats="libsvm", root=real_root)


def test_h5_splits(h5):
    for split, n in (("train", 7291), ("test", 2007)):
        x, y = h5[split]
        assert x.shape == (n, 16, 16) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
        assert set(y.tolist()) == set(range(10))


def test_libsvm_test_split(libsvm_test, real_root):
    x, y = libsvm_test
    assert x.shape == (2007, 16, 16) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(y.tolist()) == set(range(10))
    with bz2.open(real_root / "usps" / "usps.t.bz2", "rt") as fh:
        first = fh.readline().split()
    assert y[0] == int(first[0]) - 1
    values = np.array([float(t.split(":")[1]) for t in first[1:]])
    np.testing.assert_allclose(x[0].ravel(), (values + 1) / 2, rtol=0, atol=1e-7)


def test_libsvm_and_h5_hold_the_same_digits_rendered_differently(h5, libsvm_test):
    """Same 2,007 digits, same order, same labels; the pixel values are NOT the same."""
    (xh, yh), (xl, yl) = h5["test"], libsvm_test
    np.testing.assert_array_equal(yl, yh)
    diff = np.abs(xl - xh)
    assert diff.max() == pytest.approx(MAX_ABS_DIFF, abs=1e-5)
    assert diff.mean() == pytest.approx(0.0873, abs=1e-3)
    a, b = xl.reshape(len(xl), -1), xh.reshape(len(xh), -1)
    a = (a - a.mean(1, keepdims=True)) / a.std(1, keepdims=True)
    b = (b - b.mean(1, keepdims=True)) / b.std(1, keepdims=True)
    corr = (a * b).mean(1)
    assert corr.min() > 0.85 and np.median(corr) > 0.95  # row i of one is row i of the other
    assert (xh == 0).mean() > 0.5 and (xl == 0).mean() < 0.2  # HDF5 saturates, LIBSVM is smooth


def _usps_cache(tmp_path, monkeypatch, text: str, name: str = "usps.bz2"):
    (tmp_path / "usps").mkdir(exist_ok=True)
    path = tmp_path / "usps" / name
    path.write_bytes(bz2.compress(text.encode("ascii")))
    assert path.stat().st_size < 50_000
    patch_file(monkeypatch, "usps-libsvm", name, md5=md5(path.read_bytes()), sha256=None)
    return path


def test_libsvm_train_fixture_from_real_rows(tmp_path, monkeypatch, real_root, libsvm_test):
    with bz2.open(real_root / "usps" / "usps.t.bz2", "rt") as fh:
        lines = [fh.readline() for _ in range(12)]
    _usps_cache(tmp_path, monkeypatch, "".join(lines))
    x, y = load_usps("train", formats="libsvm", root=tmp_path)
    np.testing.assert_array_equal(x, libsvm_test[0][:12])
    np.testing.assert_array_equal(y, libsvm_test[1][:12])


def test_libsvm_sparse_rows_and_label_mapping(tmp_path, monkeypatch):
    full = " ".join(f"{j}:1" for j in range(1, 257))
    _usps_cache(tmp_path, monkeypatch, f"10 1:-1 256:0.5\n1 {full}\n")
    x, y = load_usps("train", formats="libsvm", root=tmp_path)
    assert y.tolist() == [9, 0]
    flat = x.reshape(2, -1)
    assert flat[0, 0] == 0.0 and flat[0, 255] == 0.75
    assert np.all(flat[0, 1:255] == 0.5)  # absent entries are LIBSVM zeros, i.e. 0.5 after (v+1)/2
    assert np.all(flat[1] == 1.0)


def test_formats_are_never_mixed_across_splits(tmp_path, real_root):
    (tmp_path / "usps").mkdir()
    (tmp_path / "usps" / "usps.t.bz2").symlink_to(real_root / "usps" / "usps.t.bz2")
    assert usps_source("test", root=tmp_path).format == "libsvm"  # the only one present
    with pytest.raises(DatasetMissingError) as info:
        load_usps("train", root=tmp_path)
    msg = str(info.value)
    assert "usps.h5" in msg and "usps.bz2" in msg and "any one of these" in msg
    (tmp_path / "usps" / "usps.h5").symlink_to(real_root / "usps" / "usps.h5")
    for split in ("train", "test"):  # libsvm preferred but incomplete: both splits from HDF5
        assert usps_source(split, formats="libsvm,h5", root=tmp_path).format == "h5"
    assert usps_source("test", formats="libsvm", root=tmp_path).format == "libsvm"  # explicit


def test_default_choice_on_the_shared_folder(real_root, monkeypatch):
    monkeypatch.setenv("SAUB_DATA", str(real_root))
    choice = usps_source("test")
    assert choice.format == "h5" and choice.paths == (real_root / "usps" / "usps.h5",)
