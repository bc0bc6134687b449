"""A sweep killed with SIGKILL mid-run resumes to exactly the records of an uninterrupted run."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.records import read_record
from benchmarks.registry import EXPERIMENTS
from benchmarks.runner import sweep_state
from tests.harness_toys import REPO_ROOT, comparable, harness_isolation, plugin_env  # noqa: F401

SLOW = "toy-harness-slow"  # 10 cells of 0.3 s each


def _start_sweep(results, *options: str):
    """``saub-bench run`` in a fresh process (a driver that first imports the toy registrations), in a
    session of its own (its process group id is its pid)."""
    argv = ["run", SLOW, "--profile", "smoke", "--quiet", "--results", str(results), *options]
    driver = ("import sys\nimport tests.harness_toys\nfrom benchmarks.cli import main\n"
              f"sys.exit(main({json.dumps(argv)}))\n")
    return subprocess.Popen([sys.executable, "-c", driver], cwd=REPO_ROOT, env=plugin_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _living_members(group: int) -> list[int]:
    """Pids of the not-yet-exited processes of a process group (Linux /proc; zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _wait_for_first_record(proc, results) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not list(results.rglob("*.json")):
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]


def _records(results) -> dict[str, dict]:
    return {r["cell_id"]: comparable(r) for r in sweep_state(EXPERIMENTS.get(SLOW), "smoke", results).records}


def test_sigkill_mid_sweep_then_resume_equals_uninterrupted(tmp_path, capsys):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    total = len(EXPERIMENTS.get(SLOW).cells("smoke"))
    proc = _start_sweep(killed)
    try:
        _wait_for_first_record(proc, killed)
        time.sleep(0.35)  # about one more cell, so the kill lands inside a later one
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    written = list(killed.rglob("*.json"))
    assert 1 <= len(written) < total, "the kill should land mid-sweep"
    for path in written:
        read_record(path)  # whatever is on disk is a complete, verified record
    state = sweep_state(EXPERIMENTS.get(SLOW), "smoke", killed)
    assert len(state.done) == len(written) and not state.corrupt and not state.failed

    assert main(["run", SLOW, "--profile", "smoke", "--quiet", "--results", str(killed)]) == 0
    assert f"{total - len(written)} of {total} cells to run" in capsys.readouterr().out
    assert main(["run", SLOW, "--profile", "smoke", "--quiet", "--results", str(clean)]) == 0
    resumed, uninterrupted = _records(killed), _records(clean)
    assert len(uninterrupted) == total
    assert set(resumed) == set(uninterrupted)
    for cell_id, rec in uninterrupted.items():
        assert resumed[cell_id] == rec, cell_id
        assert rec["status"] == "done" and math.isfinite(rec["metrics"]["toy_score"])
    # leftovers of an interrupted write (if the kill hit one) are never records
    assert all(p.name.startswith(".tmp-") for p in killed.rglob("*") if p.is_file() and p.stem not in resumed)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_killing_a_processes_sweep_stops_its_workers(tmp_path):
    """SIGKILL to ``run --executor processes`` alone (not its process group): its workers exit within
    a second or so and write no further record (they used to run the remaining cells to the end)."""
    results = tmp_path / "results"
    proc = _start_sweep(results, "--executor", "processes", "--jobs", "2")
    try:
        _wait_for_first_record(proc, results)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        deadline = time.monotonic() + 20
        while _living_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _living_members(proc.pid) == []
        written = sorted(p.name for p in results.rglob("*.json"))
        time.sleep(1.5)  # five cells' time: a surviving worker would have written more
        assert sorted(p.name for p in results.rglob("*.json")) == written
        assert len(written) < len(EXPERIMENTS.get(SLOW).cells("smoke"))
    finally:
        for pid in _living_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.stderr.close()
