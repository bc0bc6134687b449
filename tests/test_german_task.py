"""The ``german`` task: Song et al. 2019's preprocessing on a generated fixture (by hand), its errors,
and the real file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.registry import TASKS
from benchmarks.tasks import german
from tests.fixtures.data.helpers import patch_file, real_data_dir, sha256

# Four rows in UCI's coding; attribute 13 (age) 22 / 35 / 50 / 30 (median 32.5), labels 1 2 1 2.
LINES = [
    "A11 6 A34 A43 1169 A65 A75 4 A93 A101 4 A121 22 A143 A152 2 A173 1 A192 A201 1",
    "A12 48 A32 A43 5951 A61 A73 2 A92 A101 2 A121 35 A143 A152 1 A173 1 A191 A201 2",
    "A14 12 A34 A46 2096 A61 A74 2 A93 A101 3 A122 50 A143 A152 1 A172 2 A191 A201 1",
    "A11 42 A32 A42 7882 A61 A74 2 A95 A103 4 A122 30 A143 A153 1 A173 2 A191 A202 2",
]


def test_encoding_by_hand():
    rows = [line.split() for line in LINES]
    out = german.encode(rows, protected="age")
    names = out["features"]
    assert out["s"].tolist() == [0, 1, 1, 0]  # age > 32.5
    assert out["y"].tolist() == [0, 1, 0, 1]  # label 2 = bad credit
    assert not any(n.startswith("age") for n in names)
    x = dict(zip(names, out["x"].T))
    assert x["checking_status=A11"].tolist() == [1, 0, 0, 1]
    assert x["checking_status=A14"].tolist() == [0, 0, 1, 0]
    assert x["duration>median"].tolist() == [0, 1, 0, 1]  # durations 6 48 12 42, median 27
    assert x["telephone=A192"].tolist() == [1, 0, 0, 0]  # two codes: one 0/1 column
    assert x["foreign_worker=A202"].tolist() == [0, 0, 0, 1]
    # codes seen in these rows: 3 checking + 1 duration + 1 history (2 codes) + 3 purpose + 1 amount
    # + 1 savings (2) + 3 employment + 1 rate + 3 status + 1 debtors (2) + 1 residence + 1 property (2)
    # + 1 plans (1 code) + 1 housing (2) + 1 credits + 1 job (2) + 1 liable + 1 telephone + 1 foreign
    assert len(names) == out["x"].shape[1] == 27


def test_sex_from_personal_status_and_left_out_of_x():
    rows = [line.split() for line in LINES]
    out = german.encode(rows, protected="sex")
    assert out["s"].tolist() == [1, 0, 1, 0]  # A93 male, A92 female, A93 male, A95 female
    assert not any(n.startswith("personal_status_sex") for n in out["features"])
    assert "age>median" in out["features"]


def test_unknown_protected_attribute_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown protected attribute 'race'; valid: age, sex"):
        german.protected_attribute([LINES[0].split()], "race")


@pytest.mark.parametrize("line, message", [
    (LINES[0].rsplit(" ", 2)[0] + " 1", "expected 21 space-separated"),
    (LINES[0][:-1] + "3", "the label must be 1 \\(good\\) or 2 \\(bad\\), got '3'"),
    (LINES[0].replace(" 22 ", " x22 "), "attribute 'age' must be an integer"),
])
def test_malformed_file_names_the_file_the_line_and_what_was_expected(tmp_path, line, message):
    path = tmp_path / "german.data"
    path.write_text(LINES[0] + "\n" + line + "\n")
    with pytest.raises(ValueError, match=f"german.data:2: .*{message}"):
        german.read_german_rows(path)


def test_registered_task_on_a_fixture_splits_90_10_by_seed(tmp_path, monkeypatch):
    folder = tmp_path / "german"
    folder.mkdir()
    text = "\n".join(LINES * 5) + "\n"  # 20 rows
    (folder / "german.data").write_text(text)
    patch_file(monkeypatch, "german", "german.data", sha256=sha256(text.encode()))
    german._load_cached.cache_clear()
    try:
        a, b, c = (TASKS.get("german")(seed=s, root=tmp_path) for s in (0, 0, 1))
    finally:
        german._load_cached.cache_clear()
    assert (len(a.train), len(a.test)) == (18, 2)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.d, b.test.d)
    assert a.protocol["protected"] == "age"
    assert a.checksums == {"german/german.data": f"sha256:{sha256(text.encode())}"}
    assert not torch.equal(german.split_rows(20, 0)[0], german.split_rows(20, 1)[0])


def test_real_file():
    root = real_data_dir("german/german.data")
    german._load_cached.cache_clear()
    t = TASKS.get("german")(seed=0, root=root)
    assert t.input_shape == (58,)  # Song et al.'s d = np.zeros([n, 58])
    assert (len(t.train), len(t.test)) == (900, 100)
    everything = torch.cat([t.train.y, t.test.y])
    assert float(everything.double().mean()) == pytest.approx(0.3)  # 300 bad credits of 1,000
    rows = german.read_german_rows(root / "german" / "german.data")
    assert np.median([float(r[12]) for r in rows]) == 33.0
    assert int(torch.cat([t.train.d, t.test.d]).sum()) == sum(float(r[12]) > 33 for r in rows)
    # train and test are disjoint: no row index twice (the public loader's bug is not copied)
    train_idx, test_idx = german.split_rows(1000, 7)
    assert set(train_idx.tolist()).isdisjoint(test_idx.tolist()) and len(train_idx) + len(test_idx) == 1000


def test_missing_file_names_it_its_checksum_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SAUB_DATA", raising=False)
    with pytest.raises(Exception) as err:
        TASKS.get("german")(seed=0, root=tmp_path)
    text = str(err.value)
    assert "german.data" in text
    assert "sha256:b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871" in text
    assert str(tmp_path / "german") in text
