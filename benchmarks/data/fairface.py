"""FairFace (Kärkkäinen & Joo 2021) in its standard layout: App. K's male <-> female domains.

Layout of a FairFace folder (default ``<cache>/fairface``), as the official release unpacks
(``fairface-img-margin025-trainval.zip`` plus the two label files)::

    train/1.jpg ...                      224 x 224 faces (margin 0.25 or 1.25 release)
    val/1.jpg ...
    fairface_label_train.csv             header "file,age,gender,race,service_test";
    fairface_label_val.csv               "file" is the image path relative to the folder

``gender`` is ``Male`` or ``Female``; the loader keeps every other column as text. No
checksums are published for the release; the SHA-256 of the label file read goes into the
task's provenance (``checksums``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.data.checksums import file_digests
from benchmarks.data.errors import DataFormatError, DatasetMissingError, MissingFile
from benchmarks.data.images import load_rgb
from benchmarks.data.registry import cache_dir, cache_note

HOMEPAGE = "https://github.com/joojs/fairface"
LABELS = {"train": "fairface_label_train.csv", "val": "fairface_label_val.csv"}
COLUMNS = ("file", "age", "gender", "race")
GENDERS = ("Male", "Female")


@dataclass
class FairFaceIndex:
    """One split's label table (rows in file order)."""

    folder: Path
    split: str
    files: list[str]
    columns: dict[str, list[str]]
    checksums: dict[str, str] = field(default_factory=dict)

    def gender_domains(self) -> dict[str, np.ndarray]:
        """Rows of App. K's domains: ``{"male": ..., "female": ...}``."""
        gender = np.array(self.columns["gender"])
        return {g.lower(): np.flatnonzero(gender == g) for g in GENDERS}


def fairface_folder(root=None) -> Path:
    """``<cache>/fairface``."""
    return cache_dir(root) / "fairface"


def fairface_missing(
    split: str = "train", folder: str | Path | None = None, root=None
) -> DatasetMissingError | None:
    """The error :func:`load_fairface_index` would raise for absent files of ``split``, or ``None``
    (a cheap probe: two ``exists`` calls)."""
    if split not in LABELS:
        raise ValueError(f"FairFace split must be one of {', '.join(LABELS)}; got {split!r}")
    folder = Path(folder) if folder is not None else fairface_folder(root)
    absent = [name for name in (LABELS[split], f"{split}/") if not (folder / name).exists()]
    if not absent:
        return None
    return DatasetMissingError(
        [MissingFile("fairface", name, folder / name.rstrip("/"), (), HOMEPAGE) for name in absent],
        what=f"FairFace ({', '.join(absent)})",
        cache_note=cache_note(root),
    )


def load_fairface_index(split: str = "train", folder: str | Path | None = None, root=None) -> FairFaceIndex:
    """Read and check one split (``train`` or ``val``) of a FairFace folder."""
    folder = Path(folder) if folder is not None else fairface_folder(root)
    missing = fairface_missing(split, folder, root)
    if missing is not None:
        raise missing
    path = folder / LABELS[split]
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or any(c not in rows[0] for c in COLUMNS):
        raise DataFormatError(f"{path}: expected the columns {', '.join(COLUMNS)}")
    bad = sorted({r["gender"] for r in rows} - set(GENDERS))
    if bad:
        raise DataFormatError(f"{path}: unknown gender values {bad}")
    files = [r["file"] for r in rows]
    gone = [f for f in files if not (folder / f).is_file()]
    if gone:
        raise DataFormatError(
            f"{folder} lacks {len(gone)} of the {len(files)} images listed in {path.name} (first: {gone[0]})"
        )
    columns = {c: [r[c] for r in rows] for c in rows[0]}
    return FairFaceIndex(
        folder, split, files, columns, {LABELS[split]: "sha256:" + file_digests(path)["sha256"]}
    )


def load_fairface_images(index: FairFaceIndex, rows, size: int = 64):
    """``[len(rows), 3, size, size]`` float32 in [0, 1] (bicubic resize of the whole face crop)."""
    return load_rgb([index.folder / index.files[r] for r in rows], size)
