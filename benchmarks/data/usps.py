"""USPS digits from the HDF5 file or LIBSVM's bzip2 files.

``load_usps(split)`` returns ``x`` float32 ``[N, 16, 16]`` in [0, 1] and ``y`` int64 in 0..9;
``train`` has 7,291 digits, ``test`` 2,007.

Formats (preference order ``("h5", "libsvm")``; override with ``formats=`` or
``$SAUB_USPS_FORMATS="libsvm,h5"``):

* ``h5``: ``usps.h5`` (``usps-h5``): ``<split>/data`` float32 [N, 256] in [0, 1], row-major
  16x16, and ``<split>/target`` with labels 0..9. Used as is.
* ``libsvm``: ``usps.bz2`` / ``usps.t.bz2`` (``usps-libsvm``): labels 1..10 -> 0..9, values
  ``v`` in [-1, 1] -> ``(v + 1) / 2``; an absent sparse entry means ``v = 0`` (LIBSVM's rule),
  i.e. 0.5, though the published files list all 256 features on every row.

The two formats are NOT the same pixels. Compared on the test split (both files present in the
shared data folder): the same 2,007 digits in the same order with identical labels, but
different gray-level renderings: the HDF5 file (the ESL "zip code" data) is saturated at 0 and 1
(58% of its pixels are exactly 0, 11% exactly 1, in steps of 0.0005) while the LIBSVM file is a
smoother rendering (12% exactly 0). Max abs pixel difference 0.5639, mean 0.087, per-image
correlation 0.86 to 0.98 (median 0.96). So results depend on the format: a run records which one
it read (:func:`usps_source`), and the format chooser never mixes formats across splits while a
complete one is present.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from benchmarks.data.errors import DataFormatError
from benchmarks.data.formats import read_libsvm
from benchmarks.data.sources import Choice, Source, choose_source, format_order

FORMATS = ("h5", "libsvm")
FORMATS_ENV = "SAUB_USPS_FORMATS"
SOURCES = {
    "h5": Source("h5", "usps-h5", {"train": ("usps.h5",), "test": ("usps.h5",)}),
    "libsvm": Source("libsvm", "usps-libsvm", {"train": ("usps.bz2",), "test": ("usps.t.bz2",)}),
}


def _check(x: np.ndarray, y: np.ndarray, origin: str):
    if x.shape[1:] != (256,) or len(x) != len(y) or y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise DataFormatError(f"unexpected USPS arrays from {origin}: x {x.shape}, labels "
                              f"{y.min(initial=0)}..{y.max(initial=0)}")
    return x.reshape(-1, 16, 16).astype(np.float32), y.astype(np.int64)


def usps_from_h5(path: str | os.PathLike, split: str):
    """``(x, y)`` of ``split`` from ``usps.h5``."""
    import h5py

    with h5py.File(path, "r") as fh:
        x, y = fh[f"{split}/data"][:], fh[f"{split}/target"][:]
    return _check(x, y, path)


def usps_from_libsvm(path: str | os.PathLike):
    """``(x, y)`` from a LIBSVM USPS file: ``(v + 1) / 2`` and labels minus one."""
    v, labels = read_libsvm(path, n_features=256)
    return _check((v + 1.0) / 2.0, labels - 1, path)


def usps_source(split: str, formats: str | Sequence[str] | None = None, root=None,
                download: bool = False) -> Choice:
    """Which format ``load_usps`` reads for ``split`` and its verified paths (for provenance)."""
    order = format_order(formats, FORMATS_ENV, FORMATS, FORMATS)
    return choose_source(SOURCES, split, order, "USPS", root, download)


def load_usps(split: str, formats: str | Sequence[str] | None = None, root=None,
              download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """USPS ``split`` (``"train"`` 7,291 or ``"test"`` 2,007): x float32 [N,16,16] in [0,1], y int64."""
    choice = usps_source(split, formats, root, download)
    if choice.format == "h5":
        return usps_from_h5(choice.paths[0], split)
    return usps_from_libsvm(choice.paths[0])
