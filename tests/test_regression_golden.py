"""The golden-file logic of the CI regression, on a toy experiment (fast; no real training)."""

from __future__ import annotations

import json

import pytest

from benchmarks import regression
from benchmarks.contracts import Budget
from benchmarks.experiment import Profile, Row
from benchmarks.stats import summarize
from tests.harness_toys import ToyExperiment, harness_isolation, temporary_experiment  # noqa: F401


def _toy(rows) -> ToyExperiment:
    exp = ToyExperiment()
    exp.name = "toy-harness-golden"
    exp.rows = rows
    exp.profiles = {"smoke": Profile(Budget(steps=2, batch_size=8), seeds=1,
                                     task_kwargs={"n_per_domain": 6, "n_test_per_domain": 4})}
    return exp


@pytest.fixture
def golden_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(regression, "GOLDEN_DIR", tmp_path / "golden")
    return tmp_path / "golden"


def test_golden_holds_seed_zero_and_twice_the_seed_spread(golden_dir, tmp_path):
    with temporary_experiment(_toy([Row("a", "toy-harness")])):
        golden = json.loads(regression.write_golden("toy-harness-golden").read_text())
        records = regression.run_smoke("toy-harness-golden", tmp_path / "runs", [0, 1, 2])
    values = {r["cell"]["seed_index"]: r["metrics"]["toy_score"] for r in records}
    entry = golden["cells"]["a|"]["toy_score"]
    assert entry["value"] == values[0]
    assert entry["seed_std"] == pytest.approx(summarize(list(values.values())).std)
    assert entry["tolerance"] == pytest.approx(2.0 * entry["seed_std"])


def test_adding_a_row_measures_only_that_row_and_keeps_the_others(golden_dir, tmp_path):
    with temporary_experiment(_toy([Row("a", "toy-harness")])):
        regression.write_golden("toy-harness-golden")
    path = regression.golden_path("toy-harness-golden")
    before = json.loads(path.read_text())
    before["cells"]["a|"]["toy_score"]["value"] = 123.0  # a kept entry must survive untouched
    path.write_text(json.dumps(before))
    with temporary_experiment(_toy([Row("a", "toy-harness"), Row("b", "toy-harness", {"scale": 2.0})])):
        after = json.loads(regression.write_golden("toy-harness-golden", rows=["b"]).read_text())
        with pytest.raises(ValueError, match=r"no row \['c'\].*'a', 'b'"):
            regression.write_golden("toy-harness-golden", rows=["c"])
        problems = regression.compare("toy-harness-golden",
                                      regression.run_smoke("toy-harness-golden", tmp_path / "r", [0]))
    assert after["cells"]["a|"]["toy_score"]["value"] == 123.0
    assert set(after["cells"]) == {"a|", "b|"}
    assert problems and all(p.startswith("a| toy_score") for p in problems)  # only the doctored entry
