"""Readers (and small writers, for fixtures) of the raw file formats: IDX and LIBSVM.

Both accept plain, gzip or bzip2 files; compression is recognised by the file's magic bytes, not
its name. The writers compress by suffix (``.gz``, ``.bz2``).

IDX (LeCun's MNIST format): two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, each dimension as a big-endian
uint32, then the data big-endian in C order.

LIBSVM: one row per line, ``<label> <index>:<value> <index>:<value> ...`` with 1-based increasing
indices. It is a *sparse* format: an absent index means the value 0 (LIBSVM's own convention,
also scikit-learn's ``load_svmlight_file``). ``#`` starts a comment.
"""

from __future__ import annotations

import bz2
import gzip
import math
import os
import struct

import numpy as np

from benchmarks.data.errors import DataFormatError

IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: "i2", 0x0C: "i4", 0x0D: "f4", 0x0E: "f8"}
_IDX_CODES = {np.dtype(v).str[1:]: k for k, v in IDX_TYPES.items()}


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's content, decompressed if it starts with the gzip or bzip2 magic bytes."""
    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic[:2] == b"\x1f\x8b":
        opener = gzip.open
    elif magic == b"BZh":
        opener = bz2.open
    else:
        opener = open
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: cannot decompress ({exc})") from exc


def _write_bytes(path: str | os.PathLike, data: bytes) -> None:
    name = os.fspath(path)
    if name.endswith(".gz"):
        with gzip.open(name, "wb") as fh:
            fh.write(data)
    elif name.endswith(".bz2"):
        with bz2.open(name, "wb") as fh:
            fh.write(data)
    else:
        with open(name, "wb") as fh:
            fh.write(data)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file as a native-endian array of its declared type and shape."""
    data = read_bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_TYPES:
        raise DataFormatError(f"{path}: not an IDX file (header {data[:4]!r})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataFormatError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    dtype = np.dtype(">" + IDX_TYPES[data[2]])
    count = math.prod(shape)
    if len(data) - offset != count * dtype.itemsize:
        raise DataFormatError(f"{path}: IDX header says shape {shape} ({count * dtype.itemsize} bytes) "
                              f"but the file holds {len(data) - offset} data bytes")
    return np.frombuffer(data, dtype, count, offset).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64) as an IDX file."""
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype.str[1:])
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    _write_bytes(path, header + array.astype(array.dtype.newbyteorder(">")).tobytes())


def read_libsvm(path: str | os.PathLike, n_features: int | None = None,
                zero_based: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A LIBSVM file as dense ``(x float64 [N, n_features], y)``; absent entries are 0.

    ``y`` is int64 when every label is an integer, else float64. ``n_features`` defaults to the
    largest index seen.
    """
    labels, bodies = [], []
    for lineno, raw in enumerate(read_bytes(path).decode("ascii").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head, *rest = line.split(None, 1)
        body = rest[0] if rest else ""
        try:
            labels.append(float(head))
        except ValueError:
            raise DataFormatError(f"{path}:{lineno}: bad label {head!r}") from None
        bodies.append(body)
    counts = np.array([b.count(":") for b in bodies], dtype=np.int64)
    tokens = " ".join(bodies).replace(":", " ").split()
    if len(tokens) != 2 * counts.sum():
        raise DataFormatError(f"{path}: malformed index:value pairs")
    try:
        pairs = np.array(tokens, dtype=np.float64).reshape(-1, 2)
    except ValueError as exc:
        raise DataFormatError(f"{path}: {exc}") from None
    index = pairs[:, 0].astype(np.int64) - (0 if zero_based else 1)
    if np.any(index != pairs[:, 0] - (0 if zero_based else 1)) or np.any(index < 0):
        raise DataFormatError(f"{path}: feature indices must be {'0' if zero_based else '1'}-based integers")
    width = int(index.max()) + 1 if index.size else 0
    if n_features is None:
        n_features = width
    elif width > n_features:
        raise DataFormatError(f"{path}: feature index {width} exceeds n_features={n_features}")
    x = np.zeros((len(labels), n_features))
    x[np.repeat(np.arange(len(labels)), counts), index] = pairs[:, 1]
    y = np.array(labels)
    if np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return x, y


def write_libsvm(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, fmt: str = "%.6f",
                 skip_zeros: bool = False) -> None:
    """Write rows as LIBSVM text (1-based indices); ``skip_zeros`` leaves zero entries out."""
    lines = []
    for row, label in zip(np.asarray(x), np.asarray(y)):
        items = [f"{j + 1}:{fmt % v}" for j, v in enumerate(row) if not (skip_zeros and v == 0)]
        lines.append(" ".join([f"{label:g}", *items]))
    _write_bytes(path, ("\n".join(lines) + "\n").encode("ascii"))
