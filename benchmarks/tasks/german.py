"""UCI Statlog German credit for fair representation learning: task ``german`` (issue 16).

The preprocessing of Song et al. 2019 ("Learning Controllable Fair Representations"), whose
protocol the thesis (seed 003, §4.5 and App. B.2.2) follows for its Table 3, as their public loader
applies it (``ermongroup/lag-fairness``, ``data/german.py`` at commit 053dd3a, read for this note).
Every choice is written into ``TaskData.protocol`` and so into every record:

* **Columns** (UCI's documentation): 20 attributes, 13 coded categories (``A11`` ...) and 7
  integers, then the label (1 good, 2 bad credit).
* **Categorical** attributes with more than two codes are one-hot coded (the codes seen in the
  file, sorted); the two with two codes (telephone, foreign worker) become one 0/1 column.
* **Numeric** attributes other than age become one 0/1 column, value > its median over the
  whole file (Song et al.'s binarisation; medians of all 1,000 rows, before the split).
* **Protected attribute** s = the *domain* ``d``: ``protected="age"`` (default, Song et al.): age >
  its median (33 years), so 0 = 33 or younger, 1 = older; ``protected="sex"``: from attribute 9
  (personal status and sex; A92 and A95 female = 0, A91, A93, A94 male = 1), and attribute 9 is
  then left out of x, since it encodes s. Age is never a column of x (with ``"age"`` it is s;
  with ``"sex"`` it is binarised like the other numeric attributes).
* **Target** y = 1 iff the label is 2 (bad credit): Song et al.'s ``label > median``.
* **Split**: a random permutation, the first 90 % (900 rows) train, the rest (100) test. Song et
  al. fix ``np.random.seed(4)``; here the permutation follows the task seed, so each seed of an
  experiment sees another split (the thesis reports 10 seeds). Their loader builds its test set
  from the *training* indices (``idx[:cf]`` twice), a bug this task does not copy: its test rows
  are the held-out 10 %.
* **Labels during training**: as for ``adult``, ``train.y`` reaches only methods that declare
  ``needs_source_labels``, and none with ``labels_in_training=False``; ``test.y`` is for metrics only.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from benchmarks.contracts import Split, TaskData
from benchmarks.registry import register_task
from benchmarks.tasks.adult import majority_accuracy, training_label_protocol
from saub.seeding import derive_seed

#: UCI's attribute names, in file order (attribute 13 is age), then the label.
COLUMNS = ("checking_status", "duration", "credit_history", "purpose", "credit_amount", "savings",
           "employment_since", "installment_rate", "personal_status_sex", "other_debtors", "residence_since",
           "property", "age", "other_installment_plans", "housing", "existing_credits", "job",
           "people_liable", "telephone", "foreign_worker", "label")
NUMERIC = ("duration", "credit_amount", "installment_rate", "residence_since", "age", "existing_credits",
           "people_liable")
#: Codes of attribute 9 (personal status and sex) that mean female (UCI's documentation).
FEMALE_CODES = ("A92", "A95")
MALE_CODES = ("A91", "A93", "A94")
PROTECTED = ("age", "sex")
N_ROWS = 1000
TRAIN_FRACTION = 0.9


def read_german_rows(path: str | Path) -> list[list[str]]:
    """Rows of ``german.data`` as lists of 21 strings; a row with another number of fields, a numeric
    field that is not an integer, or a label other than 1 / 2 raises ``ValueError`` naming the file,
    the line and what was expected."""
    rows = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != len(COLUMNS):
                raise ValueError(f"{path}:{lineno}: expected {len(COLUMNS)} space-separated fields (20 "
                                 f"attributes and the label), got {len(fields)}")
            for name in NUMERIC:
                value = fields[COLUMNS.index(name)]
                if not value.lstrip("-").isdigit():
                    raise ValueError(f"{path}:{lineno}: attribute {name!r} must be an integer, got {value!r}")
            if fields[-1] not in ("1", "2"):
                raise ValueError(f"{path}:{lineno}: the label must be 1 (good) or 2 (bad), "
                                 f"got {fields[-1]!r}")
            rows.append(fields)
    if not rows:
        raise ValueError(f"{path}: no rows; expected {N_ROWS} rows of UCI Statlog German credit")
    return rows


def check_protected(protected: str) -> None:
    if protected not in PROTECTED:
        raise ValueError(f"unknown protected attribute {protected!r}; valid: {', '.join(PROTECTED)}")


def protected_attribute(rows: list[list[str]], protected: str) -> np.ndarray:
    """s per row (module docstring): age > median, or male from attribute 9's codes."""
    check_protected(protected)
    if protected == "age":
        age = np.array([float(r[COLUMNS.index("age")]) for r in rows])
        return (age > np.median(age)).astype(np.int64)
    codes = [r[COLUMNS.index("personal_status_sex")] for r in rows]
    unknown = sorted(set(codes) - set(FEMALE_CODES) - set(MALE_CODES))
    if unknown:
        raise ValueError(f"personal_status_sex: unknown code(s) {unknown}; expected A91-A95")
    return np.array([int(c in MALE_CODES) for c in codes], dtype=np.int64)


def encode(rows: list[list[str]], protected: str = "age") -> dict:
    """``x`` float32 [N, F], ``s``, ``y`` int64 [N] and the feature names, for every row of the file."""
    left_out = {"label", "age" if protected == "age" else "personal_status_sex"}
    blocks, names = [], []
    for j, name in enumerate(COLUMNS):
        if name in left_out:
            continue
        values = [r[j] for r in rows]
        if name in NUMERIC:
            numbers = np.array([float(v) for v in values])
            blocks.append((numbers > np.median(numbers))[:, None])
            names.append(f"{name}>median")
            continue
        codes = sorted(set(values))
        if len(codes) == 2:
            blocks.append(np.array([v == codes[1] for v in values])[:, None])
            names.append(f"{name}={codes[1]}")
        else:
            blocks.append(np.array([[v == c for c in codes] for v in values]))
            names += [f"{name}={c}" for c in codes]
    x = np.concatenate(blocks, axis=1).astype(np.float32)
    y = np.array([int(r[-1] == "2") for r in rows], dtype=np.int64)
    return {"x": x, "s": protected_attribute(rows, protected), "y": y, "features": names}


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, protected: str) -> dict:
    return encode(read_german_rows(path), protected)


def split_rows(n: int, seed: int, fraction: float = TRAIN_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded permutation of ``range(n)``: its first ``round(fraction·n)`` rows train, the rest test."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int(n * fraction)
    return order[:cut], order[cut:]


def group_rates(split: Split) -> dict[str, float | int]:
    y, s = split.y.double(), split.d
    out: dict[str, float | int] = {"n": len(split), "P(y=1)": round(float(y.mean()), 4)}
    for g in (0, 1):
        out[f"n(s={g})"] = int((s == g).sum())
        out[f"P(y=1|s={g})"] = round(float(y[s == g].mean()), 4) if bool((s == g).any()) else None
    return out


@register_task("german")
def german_task(seed: int, protected: str = "age", labels_in_training: bool = True, root=None) -> TaskData:
    """UCI German credit, y = bad credit, domains = the protected attribute; see the module docstring."""
    from benchmarks.data import dataset_checksums
    from benchmarks.data.tabular import german_files

    check_protected(protected)  # before any file is read
    path = german_files(root=root)["data"]
    data = _load_cached(str(path), protected)
    train_idx, test_idx = split_rows(len(data["y"]), derive_seed(seed, "german", "split"))
    x, s, y = (torch.from_numpy(data[k]) for k in ("x", "s", "y"))
    train = Split(x[train_idx].contiguous(), s[train_idx].contiguous(), y[train_idx].contiguous())
    test = Split(x[test_idx].contiguous(), s[test_idx].contiguous(), y[test_idx].contiguous())
    protocol = {
        "preprocessing": "Song et al. 2019 (ermongroup/lag-fairness data/german.py): categorical one-hot "
                         "(two codes: one 0/1 column), numeric binarised at the whole file's median",
        "protected": protected,
        "domains": ("d = age > median (33): 0 = 33 or younger, 1 = older" if protected == "age"
                    else "d = sex from attribute 9: 0 = female (A92, A95), 1 = male (A91, A93, A94)"),
        "target": "y = 1 iff bad credit (label 2)",
        "n_train": len(train), "n_test": len(test), "n_features": x.shape[1],
        "split": f"seeded permutation, first {TRAIN_FRACTION:.0%} train, the rest test (Song et al.: "
                 "seed 4, and a test set drawn from the training indices, not copied)",
        "train_rates": group_rates(train), "test_rates": group_rates(test),
        "majority_test_accuracy": round(majority_accuracy(test.y), 4),
        **training_label_protocol(labels_in_training),
        "model_selection": "last iterate; no test labels used for any choice",
    }
    checksums = {f"german/{k}": v for k, v in dataset_checksums("german", root).items()}
    return TaskData(name="german", train=train, test=test, input_shape=(x.shape[1],), n_domains=2,
                    n_classes=2, protocol=protocol, checksums=checksums)
