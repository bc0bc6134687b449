"""Running cells: one record per cell, resume, failures recorded, status of a sweep."""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.checkpoints import CheckpointPolicy, checkpoint_path
from benchmarks.devices import use_device
from benchmarks.experiment import Cell, Experiment
from benchmarks.records import CorruptRecordError, peak_memory_mb, provenance, read_record, write_record
from benchmarks.registry import EXPERIMENTS
from benchmarks.saved_models import model_path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Checkpoints of a run that names none: every 10 minutes of a resumable method's training.
DEFAULT_CHECKPOINTS = CheckpointPolicy()


def default_results_dir() -> Path:
    """``$SAUB_RESULTS`` or the repository's ``results/``."""
    return Path(os.environ.get("SAUB_RESULTS", REPO_ROOT / "results"))


def record_path(results_dir: Path, cell: Cell) -> Path:
    return Path(results_dir) / cell.experiment / cell.profile / f"{cell.cell_id}.json"


def _non_finite_metrics(metrics: dict[str, Any]) -> list[str]:
    return [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]


def execute_cell(cell: Cell, results_dir: str | Path, experiment: Experiment | None = None,
                 keep_models: bool = False, device: str = "cpu",
                 checkpoints: CheckpointPolicy | None = DEFAULT_CHECKPOINTS) -> dict[str, Any]:
    """Run ``cell`` and write its record (done or failed); returns ``{status, path, error}``.

    Runs in whichever process the executor chose; torch uses ``cell.threads`` threads so
    every executor computes the same numbers. ``experiment``: the registered one of that name by
    default (an unregistered one, e.g. ``saub-bench train``'s, runs in this process only).
    ``keep_models``: save the trained method beside the record (:mod:`benchmarks.saved_models`);
    an experiment whose cells train no registered method (its own ``run_cell``) says so instead.
    ``device``: a spec of :func:`benchmarks.devices.resolve_device`, resolved in this process (so
    ``auto`` means this worker's GPU); the record's provenance names the device the cell used (the
    CPU for an experiment whose own ``run_cell`` places nothing on a device). ``checkpoints``: when
    a resumable method saves its training state (:mod:`benchmarks.checkpoints`; None: never); a
    cell's checkpoint is removed once its record is written, unless the policy keeps it.
    """
    import torch

    torch.set_num_threads(cell.threads)
    experiment = experiment if experiment is not None else EXPERIMENTS.get(cell.experiment)
    start = time.perf_counter()
    body: dict[str, Any] = {"cell": cell.key(), "cell_id": cell.cell_id, "seed": cell.model_seed,
                            "data_seed": cell.data_seed}
    path = record_path(Path(results_dir), cell)
    try:
        with use_device(device):
            result = _run(experiment, cell, path, keep_models, checkpoints)
        bad = _non_finite_metrics(result.get("metrics", {}))
        if bad:
            raise FloatingPointError(f"non-finite metrics: {', '.join(bad)}")
        json.dumps(result, allow_nan=True)  # a value JSON cannot hold (numpy.float32, ...) fails the cell
        body.update(result)
        body["status"], body["error"] = "done", None
    except Exception as exc:  # noqa: BLE001  (any failure of a cell is recorded, the sweep goes on)
        body["status"] = "failed"
        body["error"] = f"{type(exc).__name__}: {exc}"
        body["traceback"] = traceback.format_exc(limit=8)
    body["wall_time_s"] = time.perf_counter() - start
    body["peak_memory_mb"] = peak_memory_mb()
    body["provenance"] = provenance(cell.threads, body.pop("data_checksums", None), body.pop("device", "cpu"))
    path = write_record(path, body)
    if checkpoints is not None and not checkpoints.keep:
        checkpoint_path(path, cell.cell_id).unlink(missing_ok=True)
    return {"status": body["status"], "path": str(path), "error": body["error"], "cell_id": cell.cell_id}


def _run(experiment: Experiment, cell: Cell, path: Path, keep_models: bool,
         checkpoints: CheckpointPolicy | None) -> dict[str, Any]:
    """The cell's record body, with its trained method saved beside ``path`` when asked and possible,
    resumed from and checkpointed into its checkpoint file where the method is resumable."""
    if type(experiment).run_cell is Experiment.run_cell:
        model_file = model_path(path, cell.cell_id) if keep_models else None
        checkpoint_file = checkpoint_path(path, cell.cell_id)
        return experiment.run_cell(cell, model_file=model_file, checkpoint_file=checkpoint_file,
                                   checkpoints=checkpoints)
    result = experiment.run_cell(cell)
    if keep_models:
        result["model"] = {"kept": False, "why": f"{experiment.name}'s cells train no registered "
                                                 "method (the experiment runs its own cells)"}
    return result


@dataclass
class SweepState:
    """Which cells of a sweep are done, failed, missing or corrupt on disk."""

    done: list[Cell] = field(default_factory=list)
    failed: list[Cell] = field(default_factory=list)
    missing: list[Cell] = field(default_factory=list)
    corrupt: list[Cell] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def sweep_state(experiment: Experiment, profile: str, results_dir: Path,
                seeds: list[int] | None = None) -> SweepState:
    """Classify every cell of the grid by what its record file says."""
    return cells_state(experiment.cells(profile, seeds), results_dir)


def cells_state(cells: list[Cell], results_dir: Path) -> SweepState:
    """Classify ``cells`` (a grid, or an ad-hoc list, :mod:`benchmarks.adhoc`) by their record files."""
    state = SweepState()
    for cell in cells:
        path = record_path(results_dir, cell)
        if not path.exists():
            state.missing.append(cell)
            continue
        try:
            rec = read_record(path)
        except CorruptRecordError as exc:
            state.corrupt.append(cell)
            state.errors[cell.cell_id] = str(exc)
            continue
        if rec.get("status") == "done":
            state.done.append(cell)
            state.records.append(rec)
        else:
            state.failed.append(cell)
            state.errors[cell.cell_id] = rec.get("error") or "unknown"
            state.records.append(rec)
    return state


def plan(experiment: Experiment, profile: str, results_dir: Path, seeds: list[int] | None = None,
         force: bool = False, retry_failed: bool = False) -> list[Cell]:
    """Cells to run: missing and corrupt ones (never trusting partial output), failed ones
    with ``retry_failed``, every cell with ``force``."""
    return plan_cells(experiment.cells(profile, seeds), results_dir, force, retry_failed)


def plan_cells(cells: list[Cell], results_dir: Path, force: bool = False,
               retry_failed: bool = False) -> list[Cell]:
    """:func:`plan` for a given list of cells, in their order."""
    if force:
        return list(cells)
    state = cells_state(cells, results_dir)
    todo = {c.cell_id for c in state.missing + state.corrupt + (state.failed if retry_failed else [])}
    return [c for c in cells if c.cell_id in todo]
