"""serial, processes and ray write the same records for the same sweep of a real method.

Each cell fixes its own torch thread count (``Cell.threads``) and seeds from its names, so the
numbers cannot depend on which process, or how many at once, computed them.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.executors import run_cells
from benchmarks.records import read_record
from benchmarks.registry import EXPERIMENTS
from benchmarks.runner import plan, sweep_state
from tests.harness_toys import comparable, harness_isolation  # noqa: F401

VAUB = "toy-harness-vaub"  # saub (score prior, SFS) and vaub (MoG) on nested-d, n = 20, 5 steps


def _records(results) -> dict[str, dict]:
    state = sweep_state(EXPERIMENTS.get(VAUB), "smoke", results)
    assert not state.missing and not state.corrupt and not state.failed, state.errors
    return {r["cell_id"]: r for r in state.records}


def _check_same(results, reference: dict[str, dict], outcomes: list[dict]) -> None:
    got = _records(results)
    assert set(got) == set(reference)
    for cell_id, rec in got.items():
        assert comparable(rec) == comparable(reference[cell_id]), cell_id
        assert rec["provenance"]["threads"] == 1
    assert sorted(o["cell_id"] for o in outcomes) == sorted(reference)
    assert {o["status"] for o in outcomes} == {"done"}
    assert plan(EXPERIMENTS.get(VAUB), "smoke", results) == []


@pytest.fixture(scope="module")
def serial_records(tmp_path_factory):
    results = tmp_path_factory.mktemp("serial")
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(2)  # the cell, not the caller, decides the thread count
    try:
        run_cells(EXPERIMENTS.get(VAUB).cells("smoke"), results, executor="serial", progress=False)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
    records = _records(results)
    assert len(records) == 4
    return records


def test_serial_records_are_real_results(serial_records):
    for rec in serial_records.values():
        assert rec["status"] == "done"
        assert rec["config"]["prior"] in ("score", "mog") and rec["config"]["latent_dim"] == 2
        assert all(len(v) == 5 for v in rec["curves"].values())
        assert 0 < rec["metrics"]["test_recon_mse"] < 100
    by_prior = {rec["config"]["prior"] for rec in serial_records.values()}
    assert by_prior == {"score", "mog"}
    assert "dsm" in next(r for r in serial_records.values() if r["config"]["prior"] == "score")["curves"]


def test_processes_executor_equals_serial(serial_records, tmp_path):
    outcomes: list[dict] = []
    run_cells(EXPERIMENTS.get(VAUB).cells("smoke"), tmp_path, executor="processes", jobs=2, progress=False,
              on_result=outcomes.append)
    _check_same(tmp_path, serial_records, outcomes)


@pytest.mark.slow
def test_ray_executor_equals_serial(serial_records, tmp_path):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    outcomes: list[dict] = []
    try:
        run_cells(EXPERIMENTS.get(VAUB).cells("smoke"), tmp_path, executor="ray", jobs=2, progress=False,
                  on_result=outcomes.append)
        assert ray.is_initialized()  # the executor joined the test's Ray and left it running
    finally:
        ray.shutdown()
    _check_same(tmp_path, serial_records, outcomes)
    paths = sorted(tmp_path.rglob("*.json"))
    assert len(paths) == 4 and all(read_record(p)["status"] == "done" for p in paths)
