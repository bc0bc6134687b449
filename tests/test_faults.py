"""Bad input and faults: unknown names, bad overrides, failed cells, corrupt records, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tests.toy_experiment  # noqa: F401  (registers the toy experiments)
from benchmarks.cli import main
from benchmarks.config import ConfigError, resolve_config
from benchmarks.executors import run_cells
from benchmarks.methods.vaub_family import VAUBConfig
from benchmarks.records import CorruptRecordError, read_record
from benchmarks.registry import EXPERIMENTS, METHODS, METRICS, TASKS
from benchmarks.runner import REPO_ROOT, plan, record_path, sweep_state


def _comparable(rec: dict) -> dict:
    return {k: rec.get(k) for k in ("cell", "status", "error", "metrics", "curves", "config", "seed")}


@pytest.mark.parametrize("registry,name,valid", [
    (EXPERIMENTS, "fig99", "fig3"), (METHODS, "sauce", "saub"), (METRICS, "acc", "svc-auroc"),
    (TASKS, "mnist-x", "nested-d"),
])
def test_unknown_names_list_the_valid_ones(registry, name, valid):
    with pytest.raises(ConfigError, match=f"unknown .*'{name}'.*{valid}"):
        registry.get(name)


@pytest.mark.parametrize("argv,needle", [
    (["run", "fig99"], "valid experiments: "),
    (["run", "fig3", "--seeds", "a-b"], "--seeds"),
    (["status", "nope"], "valid experiments"),
])
def test_cli_errors_exit_2_and_write_nothing(argv, needle, tmp_path, capsys):
    assert main(argv + ["--results", str(tmp_path)]) == 2
    assert needle in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_rejects_unknown_executor_and_profile(tmp_path):
    for argv in (["run", "fig3", "--executor", "slurm"], ["run", "fig3", "--profile", "huge"]):
        with pytest.raises(SystemExit) as exc:
            main(argv + ["--results", str(tmp_path)])
        assert exc.value.code == 2
    assert not any(tmp_path.iterdir())


def test_bad_override_values():
    with pytest.raises(ConfigError, match="beta: expected float"):
        resolve_config(VAUBConfig, {"beta": "abc"})
    with pytest.raises(ConfigError, match="choose one of gaussian, mog, vamp, score"):
        resolve_config(VAUBConfig, {"prior": "cauchy"})
    with pytest.raises(ConfigError, match="valid options: .*lambda_gw"):
        resolve_config(VAUBConfig, {"lambda": 1.0})
    with pytest.raises(ConfigError, match="expected int"):
        resolve_config(VAUBConfig, {"latent_dim": 2.5})
    with pytest.raises(ValueError, match="beta must lie"):
        resolve_config(VAUBConfig, {"beta": "2"})
    cfg = resolve_config(VAUBConfig, {"sfs_perturb": "false", "n_levels": "none", "latent_dim": "4"})
    assert cfg.sfs_perturb is False and cfg.n_levels is None and cfg.latent_dim == 4


def test_validate_catches_bad_row_before_running(tmp_path, monkeypatch):
    exp = EXPERIMENTS.get("toy-grid")
    monkeypatch.setattr(exp, "rows", exp.rows + [type(exp.rows[0])("bad", "saub", {"gw": "xp"})])
    with pytest.raises(ConfigError, match="choose one of none, ep, sp"):
        exp.validate()


def test_failed_cells_are_recorded_and_the_sweep_goes_on(tmp_path):
    exp = EXPERIMENTS.get("toy-grid")
    run_cells(exp.cells("smoke"), tmp_path, progress=False)
    state = sweep_state(exp, "smoke", tmp_path)
    assert len(state.done) == 4 and len(state.failed) == 12 and not state.missing
    reasons = {c.label: state.errors[c.cell_id] for c in state.failed}
    assert reasons["boom"] == "RuntimeError: toy failure"
    assert reasons["nan"].startswith("DivergenceError: total loss is nan")
    assert reasons["badmetric"] == "FloatingPointError: non-finite metrics: mean_latent"
    assert plan(exp, "smoke", tmp_path) == []
    assert len(plan(exp, "smoke", tmp_path, retry_failed=True)) == 12
    assert len(plan(exp, "smoke", tmp_path, force=True)) == 16


def test_truncated_or_edited_record_is_detected_and_rerun(tmp_path):
    exp = EXPERIMENTS.get("toy-grid")
    cells = [c for c in exp.cells("smoke") if c.label == "a"]
    run_cells(cells, tmp_path, progress=False)
    first = record_path(tmp_path, cells[0])
    original = read_record(first)
    text = first.read_text()
    first.write_text(text[: len(text) // 2])
    with pytest.raises(CorruptRecordError, match="not valid JSON"):
        read_record(first)
    second = record_path(tmp_path, cells[1])
    body = json.loads(second.read_text())
    body["metrics"]["mean_latent"] += 1.0
    second.write_text(json.dumps(body))
    with pytest.raises(CorruptRecordError, match="digest mismatch"):
        read_record(second)
    state = sweep_state(exp, "smoke", tmp_path)
    assert {c.cell_id for c in state.corrupt} == {cells[0].cell_id, cells[1].cell_id}
    todo = [c for c in plan(exp, "smoke", tmp_path) if c.label == "a"]  # other rows never ran
    assert {c.cell_id for c in todo} == {cells[0].cell_id, cells[1].cell_id}
    run_cells(todo, tmp_path, progress=False)
    assert _comparable(read_record(first)) == _comparable(original)
    assert not list(tmp_path.rglob(".tmp-*"))


def test_records_carry_provenance(tmp_path):
    exp = EXPERIMENTS.get("toy-grid")
    cell = exp.cells("smoke")[0]
    run_cells([cell], tmp_path, progress=False)
    prov = read_record(record_path(tmp_path, cell))["provenance"]
    for key in ("git_commit", "git_dirty", "python", "torch", "numpy", "pot", "scikit_learn", "platform",
                "threads", "device"):
        assert key in prov


def _driver(results: Path) -> list[str]:
    argv = ["run", "toy-slow", "--profile", "smoke", "--quiet", "--results", str(results)]
    code = f"import sys, tests.toy_experiment; from benchmarks.cli import main; sys.exit(main({argv!r}))"
    return [sys.executable, "-c", code]


def test_sigkill_mid_sweep_then_resume_equals_uninterrupted(tmp_path):
    exp = EXPERIMENTS.get("toy-slow")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(_driver(killed), cwd=REPO_ROOT, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(killed.rglob("*.json"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list(killed.rglob("*.json")))
    assert 1 <= n_before < 8, "the kill should land mid-sweep"
    assert main(["run", "toy-slow", "--profile", "smoke", "--quiet", "--results", str(killed)]) == 0
    assert main(["run", "toy-slow", "--profile", "smoke", "--quiet", "--results", str(clean)]) == 0
    a = {r["cell_id"]: _comparable(r) for r in sweep_state(exp, "smoke", killed).records}
    b = {r["cell_id"]: _comparable(r) for r in sweep_state(exp, "smoke", clean).records}
    assert len(a) == 8 and a == b
