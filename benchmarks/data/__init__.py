"""Datasets: a registry of files with URLs and checksums, a verified cache, format readers, loaders.

The cache folder is ``$SAUB_DATA`` (default ``~/.cache/saub``); files live at
``<cache>/<subdir>/<filename>`` (``mnist/``, ``fashion-mnist/``, ``usps/``, ``adult/``,
``german/``, ...). Offline, files already in the cache are used; a missing one raises
:class:`DatasetMissingError` naming the file, its URL(s) and the folder to put it in; a corrupt
one raises :class:`DatasetChecksumError` with both hashes. ``saub-bench data list|fetch|verify``
(see :mod:`benchmarks.data.cli`) manages it.

Loaders return numpy arrays ``(x, y)``; each reads whichever of its formats is in the cache::

    from benchmarks.data import load_mnist, load_usps
    x, y = load_mnist("train")   # float32 [60000, 28, 28] in [0, 1], int64
    x, y = load_usps("test")     # float32 [2007, 16, 16] in [0, 1], int64 0..9
    x, y = load_fashion_mnist("test")  # float32 [10000, 28, 28] in [0, 1], int64 0..9
"""

from benchmarks.data.errors import (
    DataError,
    DataFormatError,
    DatasetChecksumError,
    DatasetDownloadError,
    DatasetMissingError,
    UnknownDatasetError,
)
from benchmarks.data.fashion_mnist import fashion_mnist_missing, fashion_mnist_source, load_fashion_mnist
from benchmarks.data.fetch import (
    dataset_checksums,
    download_file,
    ensure_dataset,
    ensure_file,
    file_status,
    verify_file,
)
from benchmarks.data.mnist import load_mnist, mnist_source
from benchmarks.data.registry import DATASETS, DatasetSpec, FileSpec, cache_dir, file_path, get_dataset
from benchmarks.data.tabular import adult_files, german_files
from benchmarks.data.usps import load_usps, usps_source

__all__ = [
    "DATASETS", "DataError", "DataFormatError", "DatasetChecksumError", "DatasetDownloadError",
    "DatasetMissingError", "DatasetSpec", "FileSpec", "UnknownDatasetError", "adult_files", "cache_dir",
    "dataset_checksums", "download_file", "ensure_dataset", "ensure_file", "fashion_mnist_missing",
    "fashion_mnist_source", "file_path", "file_status", "german_files", "get_dataset", "load_fashion_mnist",
    "load_mnist", "load_usps", "mnist_source", "usps_source", "verify_file",
]
