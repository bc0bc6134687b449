"""MNIST from either of its two common files, as identical arrays.

``load_mnist(split)`` returns ``x`` float32 ``[N, 28, 28]`` in [0, 1] and ``y`` int64 ``[N]``;
``train`` has 60,000 digits, ``test`` 10,000.

Formats (preference order ``("idx", "pickle")``; override with ``formats=`` or
``$SAUB_MNIST_FORMATS="pickle,idx"``):

* ``idx``: LeCun's four IDX files (``mnist-idx``); pixels are uint8 gray levels ``k``.
* ``pickle``: the classic ``mnist.pkl.gz`` (``mnist-pickle``): ``(train, valid, test)`` with
  50,000 / 10,000 / 10,000 rows; our ``train`` is its train followed by its valid part (the 60,000
  IDX training digits in their IDX order), ``test`` is its test part.

Scaling. The pickle stores ``k / 256`` (float32, max 255/256 = 0.99609375), not ``k / 255``.
Every value was checked to be an exact multiple of 1/256, so ``k = x * 256`` recovers the uint8
gray level without rounding error (multiplying by a power of two is exact in float32). Both
formats are then mapped the same way, ``x = float32(k) / float32(255)``: pixels span [0, 1]
(the usual ``ToTensor`` convention) and the two formats give bit-identical arrays.
"""

from __future__ import annotations

import gzip
import os
import pickle
from collections.abc import Sequence

import numpy as np

from benchmarks.data.errors import DataFormatError
from benchmarks.data.formats import read_idx
from benchmarks.data.sources import Choice, Source, choose_source, format_order

FORMATS = ("idx", "pickle")
FORMATS_ENV = "SAUB_MNIST_FORMATS"
SOURCES = {
    "idx": Source("idx", "mnist-idx", {
        "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }),
    "pickle": Source("pickle", "mnist-pickle", {"train": ("mnist.pkl.gz",), "test": ("mnist.pkl.gz",)}),
}


def gray_to_unit(k: np.ndarray) -> np.ndarray:
    """uint8 gray levels ``k`` -> float32 ``k / 255`` in [0, 1], the one scaling both formats use."""
    return k.astype(np.float32) / np.float32(255)


def pickle_to_gray(x: np.ndarray) -> np.ndarray:
    """The pickle's ``k / 256`` floats -> uint8 ``k``; raises if a value is not an exact multiple."""
    k = np.asarray(x, dtype=np.float32) * np.float32(256)
    with np.errstate(invalid="ignore"):
        gray = k.astype(np.uint8)  # wraps or truncates anything that is not an integer in 0..255
    if not np.array_equal(gray, k):
        raise DataFormatError("MNIST pickle pixels are not exact multiples of 1/256 in [0, 255/256]")
    return gray


def mnist_from_idx(images_path: str | os.PathLike, labels_path: str | os.PathLike, what: str = "MNIST"):
    """``(x, y)`` from an IDX image file ``[N, 28, 28]`` uint8 and an IDX label file ``[N]``
    (also Fashion-MNIST's; ``what`` names the dataset in the error message)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFormatError(f"unexpected {what} IDX arrays: images {images.dtype}{images.shape}, "
                              f"labels {labels.dtype}{labels.shape}")
    return gray_to_unit(images), labels.astype(np.int64)


def mnist_from_pickle(path: str | os.PathLike, split: str):
    """``(x, y)`` of ``split`` from ``mnist.pkl.gz``: train = its train + valid, test = its test."""
    with gzip.open(path, "rb") as fh:
        train, valid, test = pickle.load(fh, encoding="latin1")
    parts = [train, valid] if split == "train" else [test]
    x = np.concatenate([np.asarray(p[0]) for p in parts])
    y = np.concatenate([np.asarray(p[1]) for p in parts])
    return gray_to_unit(pickle_to_gray(x)).reshape(-1, 28, 28), y.astype(np.int64)


def mnist_source(split: str, formats: str | Sequence[str] | None = None, root=None,
                 download: bool = False) -> Choice:
    """Which format ``load_mnist`` reads for ``split`` and its verified paths (for provenance)."""
    order = format_order(formats, FORMATS_ENV, FORMATS, FORMATS)
    return choose_source(SOURCES, split, order, "MNIST", root, download)


def load_mnist(split: str, formats: str | Sequence[str] | None = None, root=None,
               download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``split`` (``"train"`` 60,000 or ``"test"`` 10,000): x float32 [N,28,28] in [0,1], y int64."""
    choice = mnist_source(split, formats, root, download)
    if choice.format == "idx":
        return mnist_from_idx(*choice.paths)
    return mnist_from_pickle(choice.paths[0], split)
