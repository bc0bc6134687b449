"""Records are atomic and self-checking; resume trusts only complete, verified records.

Covers: atomic writes (no temp files, a failed write leaves the old record), truncated and
edited records (detected, counted as corrupt, re-planned, never read as results), provenance,
resume / ``--force`` / ``--retry-failed``, and failed cells (exception, NaN loss raising
:class:`saub.training.DivergenceError`, NaN metric) recorded with their reason while the sweep
goes on.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys

import numpy as np
import pytest
import torch

from benchmarks.cli import main
from benchmarks.executors import run_cells
from benchmarks.records import SCHEMA, CorruptRecordError, digest, read_record, write_record
from benchmarks.registry import EXPERIMENTS, METRICS
from benchmarks.runner import REPO_ROOT, execute_cell, plan, record_path, sweep_state
from tests.harness_toys import comparable, harness_isolation  # noqa: F401

GRID = "toy-harness-grid"


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """The toy grid run once (4 ok cells, 12 failing ones), with every outcome reported."""
    results = tmp_path_factory.mktemp("grid")
    exp = EXPERIMENTS.get(GRID)
    outcomes: list[dict] = []
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    run_cells(exp.cells("smoke"), results, progress=False, on_result=outcomes.append)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(det)
    return results, outcomes


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- atomic writes
def test_write_record_is_atomic_and_verifiable(tmp_path):
    path = tmp_path / "a" / "b" / "cell.json"
    body = {"status": "done", "metrics": {"x": 0.5, "y": [1, 2]}, "nan": float("nan")}
    assert write_record(path, body) == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["cell.json"]  # no temp file left
    on_disk = json.loads(path.read_text())
    assert on_disk["schema"] == SCHEMA and on_disk["digest"] == digest(on_disk)
    rec = read_record(path)
    assert rec["metrics"] == body["metrics"] and np.isnan(rec["nan"])


def test_a_failed_write_leaves_the_previous_record_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "cell.json"
    write_record(path, {"status": "done", "metrics": {"x": 1.0}})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_record(path, {"status": "done", "metrics": {"x": object()}})  # not serialisable
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cell.json"]

    def crash(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        write_record(path, {"status": "done", "metrics": {"x": 2.0}})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cell.json"]


def test_sweep_writes_only_final_record_files(grid_run):
    results, outcomes = grid_run
    files = sorted(p for p in results.rglob("*") if p.is_file())
    assert len(files) == 16 and all(re.fullmatch(r"[\w=.-]+__s\d__[0-9a-f]{10}\.json", p.name) for p in files)
    assert {p.parent for p in files} == {results / GRID / "smoke"}
    for p in files:
        read_record(p)  # every file parses and verifies
    assert sorted(o["path"] for o in outcomes) == sorted(map(str, files))


# ----------------------------------------------------------------------------- corruption
@pytest.mark.parametrize("damage", ["truncate", "empty", "edit-metric", "edit-status", "drop-digest",
                                    "not-a-dict"])
def test_damaged_record_is_detected_counted_and_rerun(damage, grid_run, tmp_path, capsys):
    results = _copy(grid_run[0], tmp_path / "results")
    exp = EXPERIMENTS.get(GRID)
    cell = next(c for c in exp.cells("smoke") if c.label == ("raise" if damage == "edit-status" else "ok"))
    path = record_path(results, cell)
    original = read_record(path)
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "empty":
        path.write_text("")
    else:
        body = json.loads(text)
        if damage == "edit-metric":
            body["metrics"]["toy_score"] += 1e-9
        elif damage == "edit-status":  # a failed cell passed off as done
            body["status"] = "done"
        elif damage == "drop-digest":
            del body["digest"]
        else:
            body = [body]
        path.write_text(json.dumps(body))
    with pytest.raises(CorruptRecordError, match=re.escape(str(path))):
        read_record(path)
    state = sweep_state(exp, "smoke", results)
    assert [c.cell_id for c in state.corrupt] == [cell.cell_id]
    assert cell.cell_id in state.errors
    assert len(state.done) + len(state.failed) == 15
    assert all(r["cell_id"] != cell.cell_id for r in state.records)  # never read as a result
    assert [c.cell_id for c in plan(exp, "smoke", results)] == [cell.cell_id]
    assert main(["status", GRID, "--profile", "smoke", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "corrupt 1" in out and f"corrupt  {cell.cell_id}" in out
    # resume rewrites it; a rerun of a deterministic cell gives the original numbers back
    assert main(["run", GRID, "--profile", "smoke", "--quiet", "--results", str(results)]) == 1  # failed rows
    assert "1 of 16 cells to run" in capsys.readouterr().out
    assert comparable(read_record(path)) == comparable(original)
    assert plan(exp, "smoke", results) == []


# ----------------------------------------------------------------------------- provenance
def test_records_carry_provenance_config_and_timing(grid_run):
    results, _ = grid_run
    exp = EXPERIMENTS.get(GRID)
    for cell in exp.cells("smoke"):
        rec = read_record(record_path(results, cell))
        prov = rec["provenance"]
        for key in ("git_commit", "git_dirty", "python", "torch", "numpy", "pot", "scikit_learn", "platform",
                    "threads", "device", "data_checksums", "cpu", "cpu_capability"):
            assert key in prov, key
        assert prov["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and prov["cpu"]
        assert prov["python"] == sys.version.split()[0] and prov["torch"] == torch.__version__
        assert prov["numpy"] == np.__version__ and prov["platform"] == platform.platform()
        assert prov["threads"] == cell.threads == 1
        assert prov["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])
        assert prov["git_dirty"] in (None, True, False)
        assert rec["cell_id"] == cell.cell_id and rec["seed"] == cell.model_seed
        assert rec["data_seed"] == cell.data_seed and rec["cell"]["label"] == cell.label
        assert rec["wall_time_s"] > 0 and rec["peak_memory_mb"] > 0
        if rec["status"] == "done":
            assert rec["config"]["scale"] == 1.0 and rec["protocol"]["n_test_per_domain"] == 4
            assert rec["timing"]["fit_s"] >= 0 and len(rec["curves"]["loss"]) == 3
    if (REPO_ROOT / ".git").exists() and shutil.which("git"):  # a checkout: the commit is known
        assert re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"]) and isinstance(prov["git_dirty"], bool)


# ----------------------------------------------------------------------------- failures and resume
def test_failed_cells_are_recorded_with_their_reason_and_the_sweep_goes_on(grid_run):
    results, outcomes = grid_run
    exp = EXPERIMENTS.get(GRID)
    assert len(outcomes) == 16  # every cell ran although 12 of them failed
    state = sweep_state(exp, "smoke", results)
    assert {c.label for c in state.done} == {"ok"} and len(state.done) == 4
    assert len(state.failed) == 12 and not state.missing and not state.corrupt
    for cell in state.failed:
        rec = read_record(record_path(results, cell))
        assert rec["status"] == "failed" and rec["error"] == state.errors[cell.cell_id]
        assert "Traceback" in rec["traceback"] and "metrics" not in rec
        if cell.label == "raise":
            assert rec["error"] == "RuntimeError: toy-harness method failed on purpose"
        elif cell.label == "diverge":  # raised by saub.training.AlternatingTrainer on the NaN loss
            assert re.fullmatch(r"DivergenceError: (total|DSM) loss is nan at step \d+", rec["error"])
            assert "saub/training.py" in rec["traceback"]
        else:
            assert rec["error"] == "FloatingPointError: non-finite metrics: toy_score"
    for o in outcomes:
        assert o["status"] == ("done" if o["cell_id"].startswith("ok__") else "failed")


def test_resume_plans_nothing_force_everything_retry_the_failed(grid_run):
    results, _ = grid_run
    exp = EXPERIMENTS.get(GRID)
    cells = exp.cells("smoke")
    assert plan(exp, "smoke", results) == []
    assert plan(exp, "smoke", results, force=True) == cells
    retry = plan(exp, "smoke", results, retry_failed=True)
    assert [c.cell_id for c in retry] == [c.cell_id for c in cells if c.label != "ok"]
    seed_1 = plan(exp, "smoke", results, seeds=[1], retry_failed=True)
    assert seed_1 == [c for c in retry if c.seed_index == 1]
    missing = plan(exp, "smoke", results, seeds=[0, 2])
    assert missing and {c.seed_index for c in missing} == {2}


def test_cli_resume_skips_done_cells_and_retries_failed_ones(grid_run, tmp_path, capsys):
    results = _copy(grid_run[0], tmp_path / "results")
    exp = EXPERIMENTS.get(GRID)
    ok = [c for c in exp.cells("smoke") if c.label == "ok"]
    before = {c.cell_id: record_path(results, c).read_bytes() for c in ok}
    args = ["--profile", "smoke", "--quiet", "--results", str(results)]
    assert main(["run", GRID, *args]) == 1  # the grid's failing rows keep their failed records
    assert "0 of 16 cells to run" in capsys.readouterr().out
    assert main(["run", GRID, "--retry-failed", *args]) == 1
    out = capsys.readouterr().out
    assert "12 of 16 cells to run" in out and "done 4, failed 12, missing 0, corrupt 0" in out
    assert {c.cell_id: record_path(results, c).read_bytes() for c in ok} == before  # untouched
    assert main(["run", GRID, "--force", "--seeds", "0", *args]) == 1
    assert "8 of 8 cells to run" in capsys.readouterr().out
    for c in ok:
        assert comparable(read_record(record_path(results, c))) == comparable(json.loads(before[c.cell_id]))


def test_a_metric_the_method_cannot_compute_is_na_not_a_failure(tmp_path):
    exp = EXPERIMENTS.get(GRID)
    cell = next(c for c in exp.cells("smoke") if c.label == "ok")
    exp_metrics = exp.metrics
    try:
        exp.metrics = exp_metrics + ["reconstruction-mse"]  # the toy method cannot reconstruct
        outcome = execute_cell(cell, tmp_path)
    finally:
        exp.metrics = exp_metrics
    rec = read_record(outcome["path"])
    assert rec["status"] == "done" and rec["metrics"]["reconstruction-mse"] == "n/a"



def test_a_metric_value_json_cannot_hold_fails_the_cell_not_the_sweep(tmp_path):
    exp = EXPERIMENTS.get(GRID)
    cells = [c for c in exp.cells("smoke") if c.label == "ok"][:2]
    METRICS.names()  # load the registrations before adding a temporary entry
    METRICS._entries["toy-harness-np32"] = lambda method, task, seed: {"np32": np.float32(0.5)}
    metrics = exp.metrics
    outcomes: list[dict] = []
    try:
        exp.metrics = ["toy-harness-np32"]
        run_cells(cells, tmp_path, progress=False, on_result=outcomes.append)
    finally:
        exp.metrics = metrics
        METRICS._entries.pop("toy-harness-np32")
    assert [o["status"] for o in outcomes] == ["failed", "failed"]
    for cell in cells:
        rec = read_record(record_path(tmp_path, cell))
        assert rec["error"] == "TypeError: Object of type float32 is not JSON serializable"
