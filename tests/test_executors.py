"""Same seed, same records, whichever executor ran them; seeds derive from names."""

from __future__ import annotations

import dataclasses

import pytest

import tests.toy_experiment  # noqa: F401  (registers the toy experiments)
from benchmarks.executors import run_cells
from benchmarks.experiment import Row
from benchmarks.registry import EXPERIMENTS
from benchmarks.runner import sweep_state


def _records(results):
    exp = EXPERIMENTS.get("toy-saub")
    return {r["cell_id"]: {k: r[k] for k in ("metrics", "curves", "config", "seed", "status")}
            for r in sweep_state(exp, "smoke", results).records}


@pytest.fixture(scope="module")
def serial_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    run_cells(EXPERIMENTS.get("toy-saub").cells("smoke"), out, executor="serial", progress=False)
    return _records(out)


def test_serial_records_are_complete(serial_records):
    assert len(serial_records) == 4
    assert all(r["status"] == "done" for r in serial_records.values())


def test_processes_equal_serial(serial_records, tmp_path):
    run_cells(EXPERIMENTS.get("toy-saub").cells("smoke"), tmp_path, executor="processes", jobs=2,
              progress=False)
    assert _records(tmp_path) == serial_records


@pytest.mark.slow
def test_ray_equals_serial(serial_records, tmp_path):
    pytest.importorskip("ray")
    run_cells(EXPERIMENTS.get("toy-saub").cells("smoke"), tmp_path, executor="ray", jobs=2, progress=False)
    assert _records(tmp_path) == serial_records


def test_growing_the_grid_never_moves_other_seeds(monkeypatch):
    exp = EXPERIMENTS.get("toy-grid")
    before = {c.cell_id: (c.model_seed, c.data_seed) for c in exp.cells("smoke")}
    prof = exp.profiles["smoke"]
    grown = dataclasses.replace(prof, seeds=3, sweep={"task.n_per_domain": (6, 8, 10)})
    monkeypatch.setattr(exp, "profiles", {"smoke": grown})
    monkeypatch.setattr(exp, "rows", [Row("new", "toy")] + exp.rows)
    after = {c.cell_id: (c.model_seed, c.data_seed) for c in exp.cells("smoke")}
    assert len(after) > len(before)
    assert all(after[k] == v for k, v in before.items())


def test_data_seed_is_shared_across_rows_and_model_seeds_differ():
    cells = EXPERIMENTS.get("toy-grid").cells("smoke")
    same = [c for c in cells if c.seed_index == 0 and c.sweep == {"task.n_per_domain": 6}]
    assert len({c.data_seed for c in same}) == 1
    assert len({c.model_seed for c in same}) == len(same)
