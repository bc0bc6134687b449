"""Harness benchmarks (``make bench``): overhead per cell and processes-vs-serial throughput.

* overhead: wall time of a cell minus its training and metric time (``record["timing"]``), as a
  share of the cell's wall time, on fig3 smoke cells;
* throughput: the same 8 fig3 cells (smoke sizes) through ``serial`` and ``processes`` with 2
  workers; cells per minute of each, and their ratio.

Both write ``results/perf/harness.json`` beside pytest-benchmark's own JSON.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.executors import run_cells
from benchmarks.records import read_record
from benchmarks.registry import EXPERIMENTS
from benchmarks.runner import REPO_ROOT, record_path
from tests.perf.timing import machine_load

OUT = REPO_ROOT / "results" / "perf" / "harness.json"


def _cells(n: int = 8):
    cells = EXPERIMENTS.get("fig3").cells("smoke", seeds=[0, 1])
    return [replace(c, budget=replace(c.budget, steps=100)) for c in cells[:n]]


def _update_summary(key: str, value: dict) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data[key] = value
    data["cpu_count"] = os.cpu_count()
    data["date"] = time.strftime("%Y-%m-%d")
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _timed_run(cells, results: Path, executor: str, jobs: int | None) -> float:
    start = time.perf_counter()
    run_cells(cells, results, executor=executor, jobs=jobs, progress=False)
    return time.perf_counter() - start


#: processes (2 workers) over serial on an idle 2-core machine (issue 17).
GOAL_SPEEDUP = 1.8


def test_serial_vs_processes_throughput(benchmark, tmp_path):
    cells = _cells()
    timings: dict[str, float] = {}
    load_before = machine_load()

    def both():
        timings["serial"] = _timed_run(cells, tmp_path / "serial", "serial", None)
        timings["processes"] = _timed_run(cells, tmp_path / "processes", "processes", 2)

    benchmark.pedantic(both, rounds=1, iterations=1)
    load_after = machine_load()
    records = [read_record(record_path(tmp_path / "serial", c)) for c in cells]
    overhead = [r["wall_time_s"] - r["timing"]["fit_s"] - r["timing"]["metrics_s"] for r in records]
    walls = [r["wall_time_s"] for r in records]
    summary = {
        "cells": len(cells),
        "serial_s": timings["serial"],
        "processes2_s": timings["processes"],
        "speedup_processes2_vs_serial": timings["serial"] / timings["processes"],
        "overhead_per_cell_s": sum(overhead) / len(overhead),
        "overhead_share_of_cell_wall": sum(overhead) / sum(walls),
        "driver_overhead_s": timings["serial"] - sum(walls),
        "goal_speedup": GOAL_SPEEDUP,
        "experiment": "fig3 smoke, 8 cells (seeds 0 and 1), 100 steps each",
        "load_before": load_before,
        "load_after": load_after,
    }
    benchmark.extra_info.update(summary, suite="executors")
    _update_summary("throughput", summary)
    # identical records whichever executor ran them
    for c in cells:
        a = read_record(record_path(tmp_path / "serial", c))
        b = read_record(record_path(tmp_path / "processes", c))
        assert a["metrics"] == b["metrics"]


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
