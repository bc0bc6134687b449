"""CelebA (Liu et al. 2015) in its standard layout, and Table 2's hair-colour domains (§5.4).

Layout of a CelebA folder (default ``<cache>/celeba``; any folder in this layout works, e.g. the
32-face ``celeba-mini`` of the shared data)::

    img_align_celeba/000001.jpg ...     aligned 178 x 218 faces
    list_attr_celeba.txt                line 1: row count; line 2: the 40 attribute names;
                                        then "<file> <40 values in {-1, 1}>" per image
    list_eval_partition.txt             "<file> <0 train | 1 valid | 2 test>" per image

Partition fallback. Without ``list_eval_partition.txt`` the split is derived from the file
number, which is how the official file assigns it: 000001-162770 train, 162771-182637 valid,
182638-202599 test. The index records which source was used (``partition_source``).

Checksums. In the canonical folder ``<cache>/celeba`` the two annotation files are verified
against the MD5s that torchvision publishes (registered as dataset ``celeba``); another folder
(a subset such as celeba-mini) is not the official release and is only fingerprinted: the
SHA-256 of its annotation files goes into the task's provenance. Images are not hashed one by one.

Domains of Table 2: females (``Male`` = -1) with black hair (``Black_Hair`` = 1,
``Blond_Hair`` = -1) and females with blond hair (``Blond_Hair`` = 1, ``Black_Hair`` = -1);
the rare faces marked both are left out. Images: centre crop 148 x 148, bicubic resize to
``size`` (64 by default), the usual CelebA recipe of VAE work (the paper states no resolution).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.data.checksums import file_digests
from benchmarks.data.errors import DataFormatError, DatasetMissingError, MissingFile
from benchmarks.data.fetch import verify_file
from benchmarks.data.images import load_rgb
from benchmarks.data.registry import cache_dir, cache_note, get_dataset

DATASET = "celeba"
IMAGES = "img_align_celeba"
ATTR = "list_attr_celeba.txt"
PARTITION = "list_eval_partition.txt"
SPLITS = {"train": 0, "valid": 1, "test": 2}
#: Last file number of train and valid in the official partition.
PARTITION_BOUNDS = (162770, 182637)
CROP = 148


@dataclass
class CelebAIndex:
    """The annotations of one CelebA folder (rows in file order)."""

    folder: Path
    files: list[str]
    attributes: list[str]
    attr: np.ndarray  # int8 [N, 40] in {-1, 1}
    partition: np.ndarray  # int64 [N] in {0, 1, 2}
    partition_source: str
    checksums: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        if name not in self.attributes:
            raise KeyError(f"CelebA has no attribute {name!r}; attributes: {', '.join(self.attributes)}")
        return self.attr[:, self.attributes.index(name)]

    def rows(self, split: str = "all") -> np.ndarray:
        if split == "all":
            return np.arange(len(self.files))
        if split not in SPLITS:
            raise ValueError(f"split must be one of all, {', '.join(SPLITS)}; got {split!r}")
        return np.flatnonzero(self.partition == SPLITS[split])


def celeba_folder(name: str = DATASET, root=None) -> Path:
    """``<cache>/<name>``: the canonical ``celeba`` or another folder in its layout."""
    return cache_dir(root) / name


def read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """``(files, attribute names, values int8 [N, 40])`` of a ``list_attr_celeba.txt``."""
    lines = path.read_text().splitlines()
    try:
        count, names = int(lines[0].strip()), lines[1].split()
        rows = [line.split() for line in lines[2:] if line.strip()]
        values = np.array([[int(v) for v in r[1:]] for r in rows], dtype=np.int8)
    except (IndexError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a CelebA attribute file ({exc})") from None
    if len(rows) != count or values.shape[1:] != (len(names),) or not np.isin(values, (-1, 1)).all():
        raise DataFormatError(
            f"{path}: header says {count} rows of {len(names)} attributes in {{-1, 1}}, "
            f"found {len(rows)} rows of shape {values.shape}"
        )
    return [r[0] for r in rows], names, values


def partition_from_numbers(files: list[str]) -> np.ndarray:
    """The official split of each file from its number (the fallback, see the module docstring)."""
    numbers = np.array([int(Path(f).stem) for f in files])
    return np.searchsorted(np.array(PARTITION_BOUNDS), numbers, side="left").astype(np.int64)


def _read_partition(path: Path, files: list[str]) -> np.ndarray:
    table = dict(line.split() for line in path.read_text().splitlines() if line.strip())
    missing = [f for f in files if f not in table]
    if missing:
        raise DataFormatError(f"{path} lacks {len(missing)} annotated files (first: {missing[0]})")
    return np.array([int(table[f]) for f in files], dtype=np.int64)


def celeba_missing(folder: str | Path | None = None, root=None) -> DatasetMissingError | None:
    """The error :func:`load_celeba_index` would raise for absent files, or ``None``: a cheap probe
    (two ``exists`` calls) for experiments that skip CelebA cells when the data is not here."""
    folder = Path(folder) if folder is not None else celeba_folder(root=root)
    absent = [name for name in (f"{IMAGES}/", ATTR) if not (folder / name).exists()]
    if not absent:
        return None
    spec = get_dataset(DATASET)
    return DatasetMissingError(
        [MissingFile(DATASET, name, folder / name.rstrip("/"), (), spec.homepage) for name in absent],
        what=f"CelebA ({', '.join(absent)})",
        cache_note=cache_note(root),
    )


def load_celeba_index(folder: str | Path | None = None, root=None) -> CelebAIndex:
    """Read and check a CelebA folder (default ``<cache>/celeba``); see the module docstring."""
    folder = Path(folder) if folder is not None else celeba_folder(root=root)
    official = folder.resolve() == celeba_folder(root=root).resolve()
    missing = celeba_missing(folder, root)
    if missing is not None:
        raise missing
    if official:
        verify_file(DATASET, ATTR, root)
    files, names, values = read_attributes(folder / ATTR)
    checksums = {ATTR: "sha256:" + file_digests(folder / ATTR)["sha256"]}
    if (folder / PARTITION).is_file():
        if official:
            verify_file(DATASET, PARTITION, root)
        partition, source = _read_partition(folder / PARTITION, files), PARTITION
        checksums[PARTITION] = "sha256:" + file_digests(folder / PARTITION)["sha256"]
    else:
        partition, source = partition_from_numbers(files), "file numbers (list_eval_partition.txt absent)"
    gone = [f for f in files if not (folder / IMAGES / f).is_file()]
    if gone:
        raise DataFormatError(
            f"{folder / IMAGES} lacks {len(gone)} of the {len(files)} annotated images (first: {gone[0]})"
        )
    return CelebAIndex(folder, files, names, values, partition, source, checksums)


def hair_domains(index: CelebAIndex, split: str = "all") -> dict[str, np.ndarray]:
    """Rows of Table 2's two domains: ``{"black": ..., "blond": ...}`` (females only)."""
    rows = index.rows(split)
    female = index.column("Male")[rows] == -1
    black, blond = index.column("Black_Hair")[rows] == 1, index.column("Blond_Hair")[rows] == 1
    return {"black": rows[female & black & ~blond], "blond": rows[female & blond & ~black]}


def load_celeba_images(index: CelebAIndex, rows, size: int = 64, crop: int = CROP):
    """``[len(rows), 3, size, size]`` float32 in [0, 1] of the given rows."""
    return load_rgb([index.folder / IMAGES / index.files[r] for r in rows], size, crop)
