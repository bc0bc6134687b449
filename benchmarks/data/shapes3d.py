"""3D Shapes (Burgess & Kim 2018) in its standard layout: the protocol of GWAE's Table 1 (seed 001).

Layout: the single file DeepMind publishes, ``<cache>/shapes3d/3dshapes.h5`` (registry dataset
``shapes3d``; ``saub-bench data fetch shapes3d`` downloads it from
https://storage.googleapis.com/3d-shapes/3dshapes.h5), an HDF5 file with two datasets::

    images   uint8   [480000, 64, 64, 3]   RGB renderings
    labels   float64 [480000, 6]           floor_hue, wall_hue, object_hue, scale, shape, orientation

Every combination of the six factors appears once: hues 10 values in [0, 0.9], scale 8 values in
[0.75, 1.25], shape 4 values {0, 1, 2, 3}, orientation 15 values in [-30, 30] (degrees).

Checksum. The file is verified by the SHA-256 that TensorFlow Datasets lists for this URL
(``shapes3d/checksums.tsv``, 267,573,662 bytes: the download is gzip-compressed HDF5, 5.9 GB once
the images are decompressed); the registry also records the MD5 that the GWAE authors' toolkit
(vaetc) and disent check. No copy of the file was at hand to confirm either. The SHA-256 of the
file read goes into the task's provenance.

Reading. Only ``labels`` (23 MB) is read whole; images are read lazily, for the requested rows
only, in blocks of consecutive rows (:func:`read_rows`), so that each compressed HDF5 chunk is
decompressed about once whatever the file's chunk layout.

Protocol (seed 001, App. C.1):

* a random split of all images into 384,000 / 48,000 / 48,000 train / validation / test
  (:func:`split_rows`: 80 / 10 / 10 % of the rows, one fixed permutation whose seed derives from
  the dataset's name, so the split is the same for every task seed and every run);
* images as ``[N, 3, 64, 64]`` float32 in [0, 1] (``k / 255``);
* the factors of variation as 9-dimensional vectors: the categorical ``shape`` becomes four
  dummy variables (:func:`factor_matrix`). The paper does not state how the other factors are
  scaled; its DCI-I (App. C.3.1, eq. 58) presumes factors in [0, 1]. **Ours: the authors'
  toolkit's** (vaetc ``Shapes3D``): hues as stored (already in [0, 0.9]), scale mapped to [0, 1]
  by ``(s - 0.75) / 0.5``, orientation by ``o / 60 + 1/2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.data.errors import DataFormatError, DatasetMissingError
from benchmarks.data.fetch import dataset_checksums, ensure_file, missing_file
from benchmarks.data.registry import cache_note, file_path
from saub.seeding import derive_seed

DATASET = "shapes3d"
FILENAME = "3dshapes.h5"
FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
#: The values each factor takes (Burgess & Kim 2018), in the order of ``labels``' columns.
FACTOR_VALUES = {
    "floor_hue": np.linspace(0.0, 0.9, 10),
    "wall_hue": np.linspace(0.0, 0.9, 10),
    "object_hue": np.linspace(0.0, 0.9, 10),
    "scale": np.linspace(0.75, 1.25, 8),
    "shape": np.arange(4.0),
    "orientation": np.linspace(-30.0, 30.0, 15),
}
N_SHAPES = 4
#: The 9 columns of :func:`factor_matrix`.
FACTOR_COLUMNS = (*FACTORS[:4], *(f"shape={k}" for k in range(N_SHAPES)), "orientation")
SPLIT_SHARES = {"train": 0.8, "valid": 0.1, "test": 0.1}
SPLIT_SEED = derive_seed(DATASET, "train-valid-test split")
IMAGE_SHAPE = (64, 64, 3)
#: Rows per read of :func:`read_rows` (50 MB of uint8 images), rounded up to whole HDF5 chunks.
BLOCK_ROWS = 4096
_TOLERANCE = 1e-6


def shapes3d_missing(root=None) -> DatasetMissingError | None:
    """The error :func:`load_shapes3d` raises when the file is absent, or ``None`` (one ``stat``)."""
    if file_path(DATASET, FILENAME, root).is_file():
        return None
    return DatasetMissingError([missing_file(DATASET, FILENAME, root)], what=f"3D Shapes ({FILENAME})",
                               cache_note=cache_note(root))


def split_rows(n_rows: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """App. C.1's random split: ``{"train", "valid", "test"}`` -> sorted row indices, 80 / 10 / 10 %
    of ``n_rows`` (384,000 / 48,000 / 48,000 of the full file), disjoint and covering every row."""
    perm = np.random.default_rng(seed).permutation(n_rows)
    n_train, n_valid = round(SPLIT_SHARES["train"] * n_rows), round(SPLIT_SHARES["valid"] * n_rows)
    ends = {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, n_rows)}
    return {name: np.sort(perm[a:b]) for name, (a, b) in ends.items()}


def factor_matrix(labels: np.ndarray) -> np.ndarray:
    """``[N, 9]`` float32 factors of variation from ``labels`` ``[N, 6]`` (seed 001, App. C.1):
    floor, wall and object hue as stored, ``(scale - 0.75) / 0.5``, four dummies of ``shape``
    (column ``4 + shape`` is 1), ``orientation / 60 + 1/2``; every column in [0, 1]."""
    labels = np.asarray(labels, dtype=np.float64)
    shape = np.rint(labels[:, 4]).astype(np.int64)
    dummies = np.eye(N_SHAPES)[shape]
    scale = (labels[:, 3:4] - 0.75) / 0.5
    orientation = labels[:, 5:6] / 60.0 + 0.5
    return np.concatenate([labels[:, :3], scale, dummies, orientation], axis=1).astype(np.float32)


def check_labels(labels: np.ndarray, path: Path) -> None:
    """Raise :class:`DataFormatError` unless every factor takes only its documented values."""
    if labels.ndim != 2 or labels.shape[1] != len(FACTORS):
        raise DataFormatError(f"{path}: labels must be [N, {len(FACTORS)}], got {list(labels.shape)}")
    for j, name in enumerate(FACTORS):
        grid = FACTOR_VALUES[name]
        nearest = grid[np.abs(labels[:, j, None] - grid).argmin(axis=1)]
        bad = np.flatnonzero(np.abs(labels[:, j] - nearest) > _TOLERANCE)
        if len(bad):
            example = f"e.g. {float(labels[bad[0], j])} in row {bad[0]}"
            raise DataFormatError(f"{path}: factor {name} (labels column {j}) has {len(bad)} values off its "
                                  f"grid {np.round(grid, 4).tolist()}, {example}")


def read_rows(dataset, rows: np.ndarray) -> np.ndarray:
    """``dataset[rows]`` (an h5py dataset, rows in any order) read in blocks of consecutive rows.

    Each block spans from the first to the last requested row inside one window of
    :data:`BLOCK_ROWS` rows (a whole number of HDF5 chunks): the reads are sequential slices and each
    compressed chunk is decompressed once, whatever the file's chunk layout and however the rows
    are spread.
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    if len(rows) and (ordered[0] < 0 or ordered[-1] >= dataset.shape[0]):
        raise IndexError(f"rows must lie in [0, {dataset.shape[0]}), got {ordered[0]}..{ordered[-1]}")
    chunk = dataset.chunks[0] if dataset.chunks else 1
    block = -(-BLOCK_ROWS // chunk) * chunk
    out = np.empty((len(rows), *dataset.shape[1:]), dtype=dataset.dtype)
    windows = ordered // block
    edges = np.flatnonzero(np.diff(windows)) + 1
    for part in np.split(np.arange(len(rows)), edges):
        if not len(part):
            continue
        lo, hi = ordered[part[0]], ordered[part[-1]] + 1
        out[order[part]] = dataset[lo:hi][ordered[part] - lo]
    return out


@dataclass
class Shapes3D:
    """An opened 3D Shapes file: its labels in memory, its images read on demand."""

    path: Path
    labels: np.ndarray  # float64 [N, 6]
    checksums: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, split: str) -> np.ndarray:
        """Sorted rows of ``split`` (``train``, ``valid`` or ``test``) under :func:`split_rows`."""
        splits = split_rows(len(self))
        if split not in splits:
            raise ValueError(f"split must be one of {', '.join(splits)}; got {split!r}")
        return splits[split]

    def images(self, rows) -> np.ndarray:
        """``[len(rows), 3, 64, 64]`` float32 in [0, 1] (``k / 255``) of the given rows."""
        import h5py

        with h5py.File(self.path, "r") as fh:
            raw = read_rows(fh["images"], np.asarray(rows))
        x = np.ascontiguousarray(raw.transpose(0, 3, 1, 2), dtype=np.float32)
        x /= 255.0
        return x

    def factors(self, rows) -> np.ndarray:
        """``[len(rows), 9]`` factors of :func:`factor_matrix`."""
        return factor_matrix(self.labels[np.asarray(rows)])


def load_shapes3d(root=None, download: bool = False) -> Shapes3D:
    """Open the verified ``3dshapes.h5`` of the cache (see the module docstring).

    A missing file raises :class:`DatasetMissingError` naming the file, its URL and the folder to
    put it in (or downloads it with ``download=True``); a corrupt one raises the checksum error.
    """
    import h5py

    if not download and (missing := shapes3d_missing(root)) is not None:
        raise missing
    path = ensure_file(DATASET, FILENAME, download=download, root=root)
    with h5py.File(path, "r") as fh:
        absent = [name for name in ("images", "labels") if name not in fh]
        if absent:
            raise DataFormatError(f"{path}: no dataset {', '.join(absent)} (expected images and labels)")
        images, labels = fh["images"], fh["labels"][()]
        if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE or images.shape[0] != len(labels):
            raise DataFormatError(f"{path}: images must be uint8 [N, 64, 64, 3] with N = {len(labels)} "
                                  f"label rows, got {images.dtype} {list(images.shape)}")
    check_labels(labels, path)
    return Shapes3D(path, labels, {f"{DATASET}/{k}": v for k, v in dataset_checksums(DATASET, root).items()})
