"""UCI Adult for fair representation learning (§5.2, Fig. 4, App. H.1): task ``adult``.

Preprocessing of Zhao et al. 2020 (CFair), as their and FCRL's public loaders apply it (FCRL's
``src/common/data/adult.py`` takes it from Moyer et al.'s ``inv-rep``). Every choice is written
into ``TaskData.protocol`` and so into every record:

* **Split.** The standard one: train = ``adult.data``, test = ``adult.test`` (its first line is a
  comment; its labels end with ``.``).
* **Missing values.** Rows with ``?`` in any column are dropped: 32,561 -> 30,162 train rows,
  16,281 -> 15,060 test rows.
* **Target** y = 1 iff income is ``>50K`` (``>50K.`` in the test file).
* **Protected attribute** s = sex (0 = Female, 1 = Male, FCRL's coding) is the *domain* ``d``:
  fairness is distribution matching across the sensitive groups. By default s is *not* a column
  of x (as in FCRL and CVIB's loaders; ``include_sex=True`` adds its one-hot pair).
* **Categorical** columns (workclass, education, marital-status, occupation, relationship, race,
  native-country) are one-hot coded with the categories of the train+test *union*, as the public
  loaders do (``get_dummies`` on the concatenation): train and test get the same columns, and a
  category seen only in the test file (none, after dropping missing rows) still gets one.
  Column order: continuous columns first, then each categorical column's sorted categories.
* **Continuous** columns (age, fnlwgt, education-num, capital-gain, capital-loss, hours-per-week)
  are standardised with the *training* rows' mean and population std. (The public loaders
  divide every column by its union maximum instead; CFair's text says "standardised"; the suite
  follows the text and REPRODUCTION.md.)
* **Subsampling** (smoke/quick profiles): ``n_train`` / ``n_test`` rows drawn without replacement
  with a seed derived from the task seed and the split name, file order kept; statistics and
  categories are always computed on the full files, so a subsample sees the same features.
* **Labels during training** (``source_labels_visible``): ``train.y`` holds every training
  row's income label. The harness passes it only to methods that declare
  ``needs_source_labels`` (FCRL, CVIB, LAFTR-DP, the unconstrained MLP use y in training, as in
  their papers); the VAUB family trains label-free. ``test.y`` is for metrics only.
  ``labels_in_training=False`` hides ``train.y`` from every method (the thesis' protocol, seed
  003 §4.5: "the target label is not available during training phase"); metrics still read it to
  fit their downstream classifiers.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from benchmarks.contracts import Split, TaskData
from benchmarks.registry import register_task
from benchmarks.sampling import subsample
from saub.seeding import derive_seed

COLUMNS = ("age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
           "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
           "income")
CONTINUOUS = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
CATEGORICAL = ("workclass", "education", "marital-status", "occupation", "relationship", "race",
               "native-country")
SEX_CODES = {"Female": 0, "Male": 1}
POSITIVE = ">50K"
FULL_SIZES = {"train": 30162, "test": 15060}
RAW_SIZES = {"train": 32561, "test": 16281}


def read_adult_rows(path: str | Path) -> list[list[str]]:
    """Rows of an Adult file as lists of 15 stripped strings; comment lines (``|...``) and blank
    lines are skipped. A row with another number of fields raises ``ValueError`` naming the line."""
    rows = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("|"):
                continue
            fields = [f.strip() for f in line.split(",")]
            if len(fields) != len(COLUMNS):
                raise ValueError(f"{path}:{lineno}: expected {len(COLUMNS)} fields, got {len(fields)}")
            rows.append(fields)
    return rows


def drop_missing(rows: list[list[str]]) -> list[list[str]]:
    """The rows without a ``?`` field."""
    return [r for r in rows if "?" not in r]


def income_label(value: str) -> int:
    """1 for ``>50K`` (or ``>50K.``), 0 for ``<=50K`` (or ``<=50K.``); anything else is an error."""
    v = value.rstrip(".")
    if v not in (POSITIVE, "<=50K"):
        raise ValueError(f"unknown income value {value!r}")
    return int(v == POSITIVE)


def sex_code(value: str) -> int:
    if value not in SEX_CODES:
        raise ValueError(f"unknown sex value {value!r}; expected one of {sorted(SEX_CODES)}")
    return SEX_CODES[value]


def fit_categories(*row_sets: list[list[str]], columns=CATEGORICAL) -> dict[str, list[str]]:
    """Sorted categories of each categorical column over the union of ``row_sets``."""
    idx = {c: COLUMNS.index(c) for c in columns}
    return {c: sorted({r[i] for rows in row_sets for r in rows}) for c, i in idx.items()}


def feature_names(categories: dict[str, list[str]]) -> list[str]:
    return list(CONTINUOUS) + [f"{c}={v}" for c, vals in categories.items() for v in vals]


def encode_rows(rows: list[list[str]], categories: dict[str, list[str]], mean: np.ndarray,
                std: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x float32 [N, F], s int64 [N], y int64 [N])``: standardised continuous columns, then the
    one-hot blocks of ``categories`` (a value outside them raises ``ValueError``)."""
    cont = np.array([[float(r[COLUMNS.index(c)]) for c in CONTINUOUS] for r in rows], dtype=np.float64)
    blocks = [(cont - mean) / std]
    for col, vals in categories.items():
        pos = {v: k for k, v in enumerate(vals)}
        i = COLUMNS.index(col)
        hot = np.zeros((len(rows), len(vals)))
        for n, r in enumerate(rows):
            if r[i] not in pos:
                raise ValueError(f"{col}: category {r[i]!r} was not seen when fitting the categories")
            hot[n, pos[r[i]]] = 1.0
        blocks.append(hot)
    x = np.concatenate(blocks, axis=1).astype(np.float32)
    s = np.array([sex_code(r[COLUMNS.index("sex")]) for r in rows], dtype=np.int64)
    y = np.array([income_label(r[-1]) for r in rows], dtype=np.int64)
    return x, s, y


def preprocess(train_rows: list[list[str]], test_rows: list[list[str]], include_sex: bool = False) -> dict:
    """The full preprocessing of the module docstring on parsed rows (missing rows dropped here)."""
    train_rows, test_rows = drop_missing(train_rows), drop_missing(test_rows)
    columns = CATEGORICAL + (("sex",) if include_sex else ())
    categories = fit_categories(train_rows, test_rows, columns=columns)
    cont = np.array([[float(r[COLUMNS.index(c)]) for c in CONTINUOUS] for r in train_rows])
    mean, std = cont.mean(0), cont.std(0)
    if np.any(std == 0):
        raise ValueError("a continuous column is constant on the training rows; cannot standardise")
    train = encode_rows(train_rows, categories, mean, std)
    test = encode_rows(test_rows, categories, mean, std)
    return {"train": train, "test": test, "features": feature_names(categories),
            "categories": categories, "mean": mean.tolist(), "std": std.tolist()}


@functools.lru_cache(maxsize=2)
def _load_cached(data_path: str, test_path: str, include_sex: bool) -> dict:
    return preprocess(read_adult_rows(data_path), read_adult_rows(test_path), include_sex)


def _split(arrays: tuple[np.ndarray, np.ndarray, np.ndarray], rows: torch.Tensor) -> Split:
    x, s, y = (torch.from_numpy(a)[rows] for a in arrays)
    return Split(x.contiguous(), s.contiguous(), y.contiguous())


def majority_accuracy(y: torch.Tensor) -> float:
    """Accuracy of predicting the majority class of binary labels ``y``: max(P(y=1), P(y=0))."""
    p = float(y.double().mean())
    return max(p, 1.0 - p)


def training_label_protocol(labels_in_training: bool) -> dict:
    """The protocol entries saying whether methods see ``train.y`` (adult and german)."""
    if labels_in_training:
        return {"source_labels_visible": True,
                "labels": "train.y passed only to methods with needs_source_labels (fcrl, cvib, laftr-dp, "
                          "unfair-mlp, linear-svm, ferm); test.y for metrics only"}
    return {"source_labels_visible": False,
            "labels": "train.y hidden from every method (labels_in_training=False, the thesis' protocol); "
                      "metrics use train.y for their downstream classifiers and test.y for scores"}


def _rates(split: Split) -> dict[str, float]:
    y, s = split.y.double(), split.d
    return {"n": len(split), "female": int((s == 0).sum()), "male": int((s == 1).sum()),
            "P(y=1)": round(float(y.mean()), 4),
            "P(y=1|female)": round(float(y[s == 0].mean()), 4) if bool((s == 0).any()) else None,
            "P(y=1|male)": round(float(y[s == 1].mean()), 4) if bool((s == 1).any()) else None}


@register_task("adult")
def adult_task(seed: int, n_train: int | None = None, n_test: int | None = None, include_sex: bool = False,
               labels_in_training: bool = True, root=None) -> TaskData:
    """UCI Adult, income > 50K, sensitive groups (domains) = sex; see the module docstring."""
    from benchmarks.data import dataset_checksums
    from benchmarks.data.tabular import adult_files

    files = adult_files(root=root)
    data = _load_cached(str(files["data"]), str(files["test"]), include_sex)
    full = {k: len(data[k][0]) for k in ("train", "test")}
    train = _split(data["train"], subsample(full["train"], n_train, derive_seed(seed, "adult", "train")))
    test = _split(data["test"], subsample(full["test"], n_test, derive_seed(seed, "adult", "test")))
    n_features = len(data["features"])
    protocol = {
        "preprocessing": "Zhao et al. 2020 (CFair): standard adult.data/adult.test split, rows with '?' "
                         "dropped, categorical one-hot (categories of the train+test union), continuous "
                         "standardised with training mean/std",
        "full_sizes": full,
        "raw_sizes": RAW_SIZES,
        "n_train": len(train), "n_test": len(test),
        "n_features": n_features,
        "continuous": list(CONTINUOUS),
        "categorical": list(CATEGORICAL) + (["sex"] if include_sex else []),
        "sex_in_x": include_sex,
        "domains": "d = sex: 0 = Female, 1 = Male (the protected attribute)",
        "target": "y = 1 iff income > 50K",
        "train_rates": _rates(train), "test_rates": _rates(test),
        "majority_test_accuracy": round(majority_accuracy(test.y), 4),
        "subsample": {"n_train": n_train, "n_test": n_test,
                      "rule": "seeded choice without replacement per split, file order kept; statistics "
                              "and categories from the full files"},
        "standardisation": {"mean": [round(v, 4) for v in data["mean"]],
                            "std": [round(v, 4) for v in data["std"]]},
        **training_label_protocol(labels_in_training),
        "model_selection": "last iterate; no test labels used for any choice",
    }
    checksums = {f"adult/{k}": v for k, v in dataset_checksums("adult", root).items()}
    return TaskData(name="adult", train=train, test=test, input_shape=(n_features,), n_domains=2, n_classes=2,
                    protocol=protocol, checksums=checksums)
