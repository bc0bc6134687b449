"""The ``adult`` task: CFair preprocessing on a tiny generated fixture (by hand) and on the real files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.registry import TASKS
from benchmarks.tasks import adult
from tests.fixtures.data.helpers import patch_file, real_data_dir, sha256

TRAIN_LINES = [
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, "
    "0, 40, United-States, <=50K",
    "50, Private, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 13, "
    "United-States, >50K",
    "38, ?, 215646, HS-grad, 9, Divorced, Handlers-cleaners, Not-in-family, White, Male, 0, 0, 40, "
    "United-States, <=50K",
    "28, Private, 338409, Bachelors, 13, Married-civ-spouse, Prof-specialty, Wife, Black, Female, 0, "
    "1902, 40, Cuba, <=50K",
    "37, Private, 284582, Masters, 14, Married-civ-spouse, Exec-managerial, Wife, White, Female, 0, 0, 40, "
    "United-States, >50K",
]
TEST_LINES = [
    "|1x3 Cross validator",
    "25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, 0, 0, 40, "
    "United-States, <=50K.",
    "44, Private, 160323, Some-college, 10, Married-civ-spouse, Machine-op-inspct, Husband, Black, Male, "
    "7688, 0, 40, ?, >50K.",
    "34, Local-gov, 198693, 10th, 6, Never-married, Other-service, Not-in-family, White, Female, 0, 0, 30, "
    "United-States, >50K.",
    "",
]


@pytest.fixture
def fixture_root(tmp_path, monkeypatch):
    """A cache folder with generated ``adult/adult.{data,test,names}`` registered under their hashes."""
    folder = tmp_path / "adult"
    folder.mkdir()
    contents = {"adult.data": "\n".join(TRAIN_LINES) + "\n", "adult.test": "\n".join(TEST_LINES),
                "adult.names": "toy column description\n"}
    for name, text in contents.items():
        (folder / name).write_text(text)
        patch_file(monkeypatch, "adult", name, sha256=sha256(text.encode()))
    adult._load_cached.cache_clear()
    yield tmp_path
    adult._load_cached.cache_clear()


def test_parsing_drops_missing_and_reads_labels(fixture_root):
    train = adult.read_adult_rows(fixture_root / "adult" / "adult.data")
    test = adult.read_adult_rows(fixture_root / "adult" / "adult.test")
    assert len(train) == 5 and len(test) == 3  # comment and blank lines skipped
    assert len(adult.drop_missing(train)) == 4 and len(adult.drop_missing(test)) == 2
    assert [adult.income_label(r[-1]) for r in test] == [0, 1, 1]
    with pytest.raises(ValueError, match="income"):
        adult.income_label(">60K")
    with pytest.raises(ValueError, match="sex"):
        adult.sex_code("F")


def test_preprocessing_by_hand(fixture_root):
    out = adult.preprocess(adult.read_adult_rows(fixture_root / "adult" / "adult.data"),
                           adult.read_adult_rows(fixture_root / "adult" / "adult.test"))
    xtr, str_, ytr = out["train"]
    xte, ste, yte = out["test"]
    # Categories: union of the kept train and test rows; sex is not a column.
    cats = out["categories"]
    assert cats["workclass"] == ["Local-gov", "Private", "State-gov"]
    assert cats["race"] == ["Black", "White"]
    assert cats["native-country"] == ["Cuba", "United-States"]
    assert "sex" not in cats and not any(f.startswith("sex=") for f in out["features"])
    n_features = 6 + sum(len(v) for v in cats.values())
    assert xtr.shape == (4, n_features) and xte.shape == (2, n_features)
    # Continuous columns standardised with the 4 training rows' mean and population std.
    ages = np.array([39, 50, 28, 37.0])
    np.testing.assert_allclose(xtr[:, 0], (ages - ages.mean()) / ages.std(), rtol=1e-6)
    np.testing.assert_allclose(xte[:, 0], (np.array([25, 34.0]) - ages.mean()) / ages.std(), rtol=1e-6)
    # One-hot blocks: each categorical column's block sums to one per row.
    start = 6
    for vals in cats.values():
        np.testing.assert_array_equal(xtr[:, start:start + len(vals)].sum(1), 1)
        start += len(vals)
    wc = out["features"].index("workclass=Local-gov")
    assert xte[1, wc] == 1 and xte[0, wc] == 0
    np.testing.assert_array_equal(str_, [1, 1, 0, 0])
    np.testing.assert_array_equal(ytr, [0, 1, 0, 1])
    np.testing.assert_array_equal(ste, [1, 0])
    np.testing.assert_array_equal(yte, [0, 1])
    files = fixture_root / "adult"
    with_sex = adult.preprocess(adult.read_adult_rows(files / "adult.data"),
                                adult.read_adult_rows(files / "adult.test"), include_sex=True)
    assert with_sex["train"][0].shape[1] == n_features + 2


def test_registered_task_on_fixture(fixture_root):
    task = TASKS.get("adult")(seed=0, root=fixture_root)
    assert task.input_shape == (task.train.x.shape[1],) and task.n_domains == 2 and task.n_classes == 2
    assert len(task.train) == 4 and len(task.test) == 2
    assert task.protocol["n_features"] == task.train.x.shape[1]
    assert task.protocol["source_labels_visible"] is True
    assert task.protocol["majority_test_accuracy"] == 0.5
    assert set(task.checksums) == {"adult/adult.data", "adult/adult.test", "adult/adult.names"}
    sub = TASKS.get("adult")(seed=0, root=fixture_root, n_train=2, n_test=1)
    assert len(sub.train) == 2 and len(sub.test) == 1
    # Subsamples are rows of the full split, statistics unchanged.
    full_rows = {tuple(r.tolist()) for r in task.train.x}
    assert all(tuple(r.tolist()) in full_rows for r in sub.train.x)
    with pytest.raises(ValueError, match="subsample"):
        TASKS.get("adult")(seed=0, root=fixture_root, n_train=0)


def test_unknown_category_is_an_error():
    rows = [TRAIN_LINES[0].split(", ")]
    cats = adult.fit_categories(rows)
    other = [TRAIN_LINES[3].split(", ")]
    with pytest.raises(ValueError, match="not seen"):
        adult.encode_rows(other, cats, np.zeros(6), np.ones(6))


@pytest.fixture(scope="module")
def real_task():
    root = real_data_dir("adult/adult.data", "adult/adult.test", "adult/adult.names")
    return TASKS.get("adult")(seed=0, root=root)


def test_real_sizes_and_statistics(real_task):
    t = real_task
    assert len(t.train) == adult.FULL_SIZES["train"] == 30162
    assert len(t.test) == adult.FULL_SIZES["test"] == 15060
    assert t.input_shape == (102,)  # 6 continuous + 96 one-hot (sex excluded)
    assert torch.isfinite(t.train.x).all() and torch.isfinite(t.test.x).all()
    cont = t.train.x[:, :6].double()
    zeros, ones = torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64)
    torch.testing.assert_close(cont.mean(0), zeros, atol=1e-5, rtol=0)
    torch.testing.assert_close(cont.std(0, unbiased=False), ones, atol=1e-5, rtol=0)
    assert set(t.train.x[:, 6:].unique().tolist()) == {0.0, 1.0}
    # Known marginals of Adult after dropping missing rows.
    assert int((t.train.d == 0).sum()) == 9782 and int(t.train.y.sum()) == 7508
    assert int((t.test.d == 0).sum()) == 4913 and int(t.test.y.sum()) == 3700
    assert t.protocol["majority_test_accuracy"] == round(1 - 3700 / 15060, 4)
