"""Raw files of the tabular fairness datasets (UCI Adult, UCI German credit).

Only file access lives here: parsing and preprocessing (one-hot coding, the protected attribute,
the train/test split) belong to the tasks that use them.

* Adult: ``adult.data`` (32,561 rows) and ``adult.test`` (16,281 rows; its first line is a
  comment and its labels end with ``.``), comma-and-space separated, ``?`` for missing values;
  ``adult.names`` describes the columns.
* German: ``german.data``, 1,000 space-separated rows, 20 coded attributes (``A11`` ...) and the
  label (1 good, 2 bad).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.data.fetch import ensure_dataset


def adult_files(root=None, download: bool = False) -> dict[str, Path]:
    """Verified paths ``{"data", "test", "names"}`` of UCI Adult."""
    files = ensure_dataset("adult", download=download, root=root)
    return {"data": files["adult.data"], "test": files["adult.test"], "names": files["adult.names"]}


def german_files(root=None, download: bool = False) -> dict[str, Path]:
    """Verified path ``{"data"}`` of UCI Statlog German credit."""
    return {"data": ensure_dataset("german", download=download, root=root)["german.data"]}
