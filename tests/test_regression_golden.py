"""The golden-file logic of the CI regression, on a toy experiment (fast; no real training)."""

from __future__ import annotations

import json
import os

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
        golden = json.loads(regression.write_golden("toy-harness-golden", variants={}).read_text())
        records = regression.run_smoke("toy-harness-golden", tmp_path / "runs", [0, 1, 2])
    values = {r["cell"]["seed_index"]: r["metrics"]["toy_score"] for r in records}
    entry = golden["cells"]["a|"]["toy_score"]
    assert entry["value"] == values[0]
    assert entry["seed_std"] == pytest.approx(summarize(list(values.values())).std)
    assert entry["tolerance"] == pytest.approx(2.0 * entry["seed_std"]) and entry["host_drift"] == 0.0


def test_adding_a_row_measures_only_that_row_and_keeps_the_others(golden_dir, tmp_path):
    with temporary_experiment(_toy([Row("a", "toy-harness")])):
        regression.write_golden("toy-harness-golden", variants={})
    path = regression.golden_path("toy-harness-golden")
    before = json.loads(path.read_text())
    before["cells"]["a|"]["toy_score"]["value"] = 123.0  # a kept entry must survive untouched
    path.write_text(json.dumps(before))
    with temporary_experiment(_toy([Row("a", "toy-harness"), Row("b", "toy-harness", {"scale": 2.0})])):
        after = json.loads(regression.write_golden("toy-harness-golden", rows=["b"], variants={}).read_text())
        with pytest.raises(ValueError, match=r"no row \['c'\].*'a', 'b'"):
            regression.write_golden("toy-harness-golden", rows=["c"], variants={})
        problems = regression.compare("toy-harness-golden",
                                      regression.run_smoke("toy-harness-golden", tmp_path / "r", [0]))
    assert after["cells"]["a|"]["toy_score"]["value"] == 123.0
    assert set(after["cells"]) == {"a|", "b|"}
    assert problems and all(p.startswith("a| toy_score") for p in problems)  # only the doctored entry


def test_golden_entry_takes_the_larger_of_seed_spread_and_host_drift():
    seeds = {0: 1.0, 1: 1.2, 2: 0.8}  # std 0.2
    small = regression.golden_entry(seeds, {"avx2": 1.05, "sse41": 0.97})
    assert small["value"] == 1.0 and small["seed_std"] == pytest.approx(0.2)
    assert small["host_drift"] == pytest.approx(0.05) and small["tolerance"] == pytest.approx(0.4)
    large = regression.golden_entry(seeds, {"avx2": 1.5, "sse41": 0.9})
    assert large["host_drift"] == pytest.approx(0.5) and large["tolerance"] == pytest.approx(1.0)
    assert regression.golden_entry({0: 3.0}, {})["tolerance"] == regression.ABS_FLOOR
    with pytest.raises(ValueError, match="non-finite"):
        regression.golden_entry(seeds, {"avx2": float("nan")})


def test_kernel_variants_reach_the_workers_and_set_the_host_drift(golden_dir, tmp_path):
    """A variant's cells run in fresh workers whose torch dispatches with the capped ISA (the
    record's ``cpu_capability``); its seed-0 metrics give the golden entry's host drift."""
    env = regression.KERNEL_VARIANTS["sse41"]
    before = {key: os.environ.get(key) for key in env}
    (rec,) = regression.run_smoke("toy-harness-vaub", tmp_path / "sse", [0], ["vaub"], env=env)
    assert rec["provenance"]["cpu_capability"] == "DEFAULT"
    assert {key: os.environ.get(key) for key in env} == before  # the parent's environment is restored
    (native,) = regression.run_smoke("toy-harness-vaub", tmp_path / "native", [0], ["vaub"])
    golden = json.loads(regression.write_golden("toy-harness-vaub", rows=None,
                                                variants={"sse41": env}).read_text())
    entry = golden["cells"]["vaub|"]["test_recon_mse"]
    assert entry["value"] == native["metrics"]["test_recon_mse"]
    assert entry["host_drift"] == pytest.approx(abs(rec["metrics"]["test_recon_mse"] - entry["value"]))
    assert golden["kernel_variants"] == {"sse41": env}


def test_an_experiment_that_builds_its_own_cells_is_measured_not_skipped():
    """thesis-fair has no ``rows`` (its cells span datasets and label settings): the regression
    measures its cells' labels (its first golden file came out empty before this)."""
    labels = regression.smoke_labels("thesis-fair")
    assert {"ours-tc@german", "ferm@adult+y", "fcrl@german", "fcrl@german+y"} <= set(labels)
    from benchmarks.registry import EXPERIMENTS

    assert regression.smoke_labels("table1") == [r.label for r in EXPERIMENTS.get("table1").rows]


def test_an_empty_golden_file_is_a_failure_not_a_pass(golden_dir):
    golden_dir.mkdir()
    regression.golden_path("toy-harness-golden").write_text(json.dumps({"cells": {}}))
    assert regression.compare("toy-harness-golden", []) == ["toy-harness-golden_smoke.json has no cells: "
                                                            "nothing is checked"]


def test_merging_a_host_widens_the_drift_to_its_values_and_keeps_the_golden_ones(golden_dir, tmp_path):
    """A second host whose values differ: its distance becomes host drift, so both hosts pass."""
    with temporary_experiment(_toy([Row("a", "toy-harness")])):
        regression.write_golden("toy-harness-golden", variants={})
        path = regression.golden_path("toy-harness-golden")
        other = json.loads(path.read_text())
        here, tolerance = (other["cells"]["a|"]["toy_score"][k] for k in ("value", "tolerance"))
        offset = 2 * tolerance + 1.0
        other["cells"]["a|"]["toy_score"]["value"] = here + offset  # as measured on another host
        path.write_text(json.dumps(other))
        records = regression.run_smoke("toy-harness-golden", tmp_path / "r", [0])
        assert regression.compare("toy-harness-golden", records)  # this host fails the other's golden
        merged = json.loads(regression.merge_host("toy-harness-golden").read_text())
        assert regression.compare("toy-harness-golden", records) == []
    entry = merged["cells"]["a|"]["toy_score"]
    assert entry["value"] == here + offset and entry["host_drift"] == pytest.approx(offset)
    assert entry["tolerance"] == pytest.approx(2 * offset) and merged["merged_hosts"]
