"""Executors: the same cells, the same records, on one core, all cores, or a Ray cluster.

Every executor calls :func:`benchmarks.runner.execute_cell`, which writes the record from the
process that ran the cell (so a sweep killed mid-run keeps every finished cell) and fixes the
torch thread count per cell (so results do not depend on the executor).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from benchmarks.checkpoints import CheckpointPolicy
from benchmarks.config import _choice_error
from benchmarks.experiment import Cell
from benchmarks.runner import DEFAULT_CHECKPOINTS, execute_cell

EXECUTORS = ("serial", "processes", "ray")
Callback = Callable[[dict[str, Any]], None]


def _bar(total: int, desc: str, progress: bool):
    return tqdm(total=total, desc=desc, unit="cell", disable=not progress)


def _report(bar, outcome: dict[str, Any], on_result: Callback | None) -> None:
    bar.update(1)
    if outcome["status"] != "done":
        bar.write(f"FAILED {outcome['cell_id']}: {outcome['error']}")
    if on_result:
        on_result(outcome)


def run_serial(cells: list[Cell], results_dir: Path, progress: bool = True,
               on_result: Callback | None = None, keep_models: bool = False, device: str = "cpu",
               checkpoints: CheckpointPolicy | None = DEFAULT_CHECKPOINTS, **_) -> None:
    with _bar(len(cells), "sweep (serial)", progress) as bar:
        for cell in cells:
            _report(bar, execute_cell(cell, results_dir, None, keep_models, device, checkpoints), on_result)


#: How often a worker checks that the sweep that started it is still alive (seconds).
PARENT_CHECK_S = 0.5


def _exit_with_parent(parent: int) -> None:
    """Leave as soon as ``parent`` is gone (killed, even by SIGKILL): a worker whose sweep has died
    must not go on writing records into its results folder. Records are written atomically, so the
    cell it was running leaves nothing behind and is run again on resume."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _init_worker(parent: int) -> None:
    # One BLAS/OpenMP thread per worker unless the cell asks otherwise (execute_cell sets torch's).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="exit-with-sweep").start()


def run_processes(cells: list[Cell], results_dir: Path, jobs: int | None = None, progress: bool = True,
                  on_result: Callback | None = None, keep_models: bool = False, device: str = "cpu",
                  checkpoints: CheckpointPolicy | None = DEFAULT_CHECKPOINTS, **_) -> None:
    """``jobs`` worker processes on this machine; with a CUDA ``device`` they share that GPU."""
    jobs = jobs or os.cpu_count() or 1
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                               initargs=(os.getpid(),))
    try:
        with _bar(len(cells), f"sweep ({jobs} processes)", progress) as bar:
            arguments = (str(results_dir), None, keep_models, device, checkpoints)
            futures = {pool.submit(execute_cell, cell, *arguments): cell for cell in cells}
            for fut in as_completed(futures):
                try:
                    outcome = fut.result()
                except Exception as exc:  # noqa: BLE001  (a worker died: report, keep going)
                    cell = futures[fut]
                    outcome = {"status": "crashed", "cell_id": cell.cell_id, "error": repr(exc), "path": None}
                _report(bar, outcome, on_result)
    except BaseException:
        # Interrupted (Ctrl-C, an error in a callback): start no further cell; the running ones end
        # with this process (their workers exit with it, see _exit_with_parent).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def run_ray(cells: list[Cell], results_dir: Path, jobs: int | None = None, address: str | None = None,
            progress: bool = True, on_result: Callback | None = None, keep_models: bool = False,
            device: str = "cpu", checkpoints: CheckpointPolicy | None = DEFAULT_CHECKPOINTS, **_) -> None:
    """Each cell a Ray task of one CPU, and of one GPU when the device is CUDA (``auto``: when the
    cluster has GPUs), so a cluster schedules one cell per GPU; Ray then shows each task only its
    own GPU, which the task sees as ``cuda:0``."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray executor needs Ray: pip install 'saub-bench[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            os.environ.setdefault("OMP_NUM_THREADS", "1")  # local workers inherit the environment
            ray.init(num_cpus=jobs or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    gpus = ray_gpus_per_cell(device, ray.cluster_resources())
    remote = ray.remote(num_cpus=1, num_gpus=gpus)(execute_cell)
    task_device = "cuda:0" if gpus else "cpu"
    try:
        pending = {remote.remote(cell, str(results_dir), None, keep_models, task_device, checkpoints): cell
                   for cell in cells}
        with _bar(len(cells), "sweep (ray)", progress) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    cell = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001
                        outcome = {"status": "crashed", "cell_id": cell.cell_id, "error": repr(exc)}
                    _report(bar, outcome, on_result)
    finally:
        if started:
            ray.shutdown()


def ray_gpus_per_cell(device: str, cluster_resources: dict[str, float]) -> int:
    """GPUs a Ray task requests for ``device``: 1 for CUDA, 1 for ``auto`` on a cluster with GPUs."""
    if device.startswith("cuda"):
        if not cluster_resources.get("GPU"):
            raise RuntimeError(f"--device {device}: the Ray cluster has no GPU (its resources: "
                               f"{', '.join(sorted(cluster_resources)) or 'none'})")
        return 1
    return 1 if device == "auto" and cluster_resources.get("GPU") else 0


_RUNNERS = {"serial": run_serial, "processes": run_processes, "ray": run_ray}


def get_executor(name: str):
    if name not in _RUNNERS:
        raise _choice_error("executor", name, EXECUTORS)
    return _RUNNERS[name]


def run_cells(cells: Iterable[Cell], results_dir: Path, executor: str = "serial", **kwargs) -> None:
    get_executor(executor)(list(cells), Path(results_dir), **kwargs)
