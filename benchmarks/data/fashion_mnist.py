"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): Zalando's 28 x 28 article images, 10 classes.

``load_fashion_mnist(split)`` returns what :func:`~benchmarks.data.mnist.load_mnist` returns:
``x`` float32 ``[N, 28, 28]`` in [0, 1] (gray level ``k`` mapped to ``float32(k) / 255``, the
same :func:`~benchmarks.data.mnist.gray_to_unit`) and ``y`` int64 ``[N]`` in 0..9; ``train`` has
60,000 images, ``test`` 10,000.

The files are the four IDX files of the official release (registry dataset
``fashion-mnist-idx``), named like MNIST's and kept apart from them in ``<cache>/fashion-mnist/``:
``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz``. They are read by MNIST's IDX reader and verified by the MD5s that
torchvision publishes: a missing file raises :class:`DatasetMissingError` (file, expected MD5,
URLs, folder), a corrupt one :class:`DatasetChecksumError` (both hashes).

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
8 Bag, 9 Ankle boot (:data:`CLASSES`).
"""

from __future__ import annotations

import numpy as np

from benchmarks.data.errors import DatasetMissingError
from benchmarks.data.fetch import missing_file
from benchmarks.data.mnist import SOURCES as MNIST_SOURCES
from benchmarks.data.mnist import mnist_from_idx
from benchmarks.data.registry import cache_note, file_path, get_dataset
from benchmarks.data.sources import Choice, Source, choose_source

DATASET = "fashion-mnist-idx"
WHAT = "Fashion-MNIST"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")
#: One format, the IDX files; the same file names per split as MNIST's IDX source.
SOURCES = {"idx": Source("idx", DATASET, MNIST_SOURCES["idx"].split_files)}


def fashion_mnist_missing(root=None) -> DatasetMissingError | None:
    """The error naming every absent file (its expected MD5, URLs and the folder to put it in),
    or ``None`` when all four are present: a cheap probe (four ``stat`` calls, no hashing) for
    experiments that skip Fashion-MNIST cells when the data is not here. A corrupt file is
    caught when :func:`load_fashion_mnist` verifies it."""
    absent = [f for f in get_dataset(DATASET).filenames if not file_path(DATASET, f, root).is_file()]
    if not absent:
        return None
    return DatasetMissingError([missing_file(DATASET, f, root) for f in absent],
                               what=f"{WHAT} ({', '.join(absent)})", cache_note=cache_note(root))


def fashion_mnist_source(split: str, root=None, download: bool = False) -> Choice:
    """The verified paths ``load_fashion_mnist`` reads for ``split`` (for provenance)."""
    return choose_source(SOURCES, split, tuple(SOURCES), WHAT, root, download)


def load_fashion_mnist(split: str, root=None, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``split`` (``"train"`` 60,000 or ``"test"`` 10,000): x float32 [N,28,28] in
    [0,1], y int64 in 0..9; the arrays :func:`~benchmarks.data.mnist.load_mnist` gives for MNIST."""
    return mnist_from_idx(*fashion_mnist_source(split, root, download).paths, what=WHAT)
