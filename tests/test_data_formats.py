"""IDX and LIBSVM readers and writers on small generated files."""

from __future__ import annotations

import bz2
import gzip

import numpy as np
import pytest

from benchmarks.data import DataFormatError
from benchmarks.data.formats import read_bytes, read_idx, read_libsvm, write_idx, write_libsvm


@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_idx_header_layout_matches_lecun(tmp_path):
    path = tmp_path / "labels.idx"
    write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])  # magic 2049, count 3


def test_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\0\0\0\x03abc")
    with pytest.raises(DataFormatError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(DataFormatError, match=r"shape \(5,\)"):
        read_idx(tmp_path / "short")
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3, 4, 5]))[:-6])
    with pytest.raises(DataFormatError):
        read_idx(tmp_path / "trunc.gz")


def test_compression_detected_by_content_not_name(tmp_path):
    (tmp_path / "x.txt").write_bytes(bz2.compress(b"hello"))
    (tmp_path / "y.bz2").write_bytes(gzip.compress(b"world"))
    assert read_bytes(tmp_path / "x.txt") == b"hello"
    assert read_bytes(tmp_path / "y.bz2") == b"world"


def test_libsvm_absent_entries_are_zero(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("# a comment line\n3 1:0.5 4:-1\n1 2:0.25  # trailing comment\n\n2\n")
    x, y = read_libsvm(path)
    np.testing.assert_array_equal(x, [[0.5, 0, 0, -1], [0, 0.25, 0, 0], [0, 0, 0, 0]])
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 2]
    x, _ = read_libsvm(path, n_features=6)
    assert x.shape == (3, 6)


def test_libsvm_float_labels_zero_based_and_errors(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("0.5\t0:1 2:2\n-1.5 1:3\n")
    x, y = read_libsvm(path, zero_based=True)
    assert y.dtype == np.float64 and y.tolist() == [0.5, -1.5]
    np.testing.assert_array_equal(x, [[1, 0, 2], [0, 3, 0]])
    with pytest.raises(DataFormatError, match="1-based"):
        read_libsvm(path)  # index 0 is invalid 1-based
    with pytest.raises(DataFormatError, match="exceeds"):
        read_libsvm(path, n_features=2, zero_based=True)
    (tmp_path / "g.txt").write_text("1 1:abc\n")
    with pytest.raises(DataFormatError):
        read_libsvm(tmp_path / "g.txt")
    (tmp_path / "h.txt").write_text("one 1:2\n")
    with pytest.raises(DataFormatError, match="bad label"):
        read_libsvm(tmp_path / "h.txt")


@pytest.mark.parametrize("skip_zeros", [False, True])
def test_libsvm_round_trip_bz2(tmp_path, skip_zeros):
    x = np.array([[0.0, -1.0, 0.123456], [1.0, 0.0, -0.5]])
    y = np.array([10, 1])
    path = tmp_path / "r.bz2"
    write_libsvm(path, x, y, skip_zeros=skip_zeros)
    assert path.read_bytes()[:3] == b"BZh"
    x2, y2 = read_libsvm(path, n_features=3)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
