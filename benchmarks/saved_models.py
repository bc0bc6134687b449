"""Saved models: a finished cell's trained method kept beside its record, and metrics computed
from it later without retraining (``saub-bench run --keep-models``, ``saub-bench evaluate``).

The file ``<results>/<experiment>/<profile>/models/<cell id>.pt`` holds the trained method's
state: the ``state_dict`` of every network it holds (its networks, priors, critics; modules under
a parametrisation such as spectral norm are only saved this way) and every other attribute that
pickles (fitted linear models, projections, buffers), with what rebuilds it (the registered
method class, its configuration, the task's shapes), the cell it came from, the hash of its method
name and resolved configuration, and the code commit that trained it. Optimisers and random
generators are not kept: a saved model is for evaluation, not for resuming training. It is
written atomically (temp file, rename) before the record, so a record that names a model always
has it. :func:`evaluate_saved` loads a model only when its configuration
hash equals the record's, computes the requested metrics on the cell's task, and writes them into
the record with an ``evaluations`` entry saying that they came from the saved model (which file,
which code commit trained it and which evaluated it).

The file is a pickle (``torch.save``): load only models this suite wrote.
"""

from __future__ import annotations

import importlib
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.config import ConfigError
from benchmarks.contracts import Unsupported
from benchmarks.devices import current_device
from benchmarks.experiment import Cell, Experiment
from benchmarks.records import config_hash, provenance, read_record, write_record
from benchmarks.registry import METRICS

MODELS_DIR = "models"


def model_path(record_file: Path, cell_id: str) -> Path:
    """Where the model of the record at ``record_file`` lives."""
    return Path(record_file).parent / MODELS_DIR / f"{cell_id}.pt"


def method_state(method: Any) -> dict[str, Any]:
    """The state of a trained method: its modules' state dicts and its other picklable attributes
    (optimisers, random generators and whatever does not pickle are left out, by name)."""
    modules, attributes, left_out = {}, {}, []
    for name, value in vars(method).items():
        if isinstance(value, torch.nn.Module):
            modules[name] = value.state_dict()
        elif isinstance(value, (torch.optim.Optimizer, torch.Generator)) or callable(value):
            left_out.append(name)
        else:
            try:
                pickle.dumps(value)
            except Exception:  # noqa: BLE001  (whatever cannot be pickled is not part of a saved model)
                left_out.append(name)
            else:
                attributes[name] = value
    return {"modules": modules, "attributes": attributes, "left_out": sorted(left_out)}


def restore_method(cls: type, state: dict[str, Any]) -> Any:
    """A method of class ``cls`` rebuilt from its configuration and shapes, then given ``state``."""
    a = state["attributes"]
    method = cls(a["config"], a["input_shape"], a["n_domains"], a["n_classes"])
    for name, value in a.items():
        setattr(method, name, value)
    for name, module_state in state["modules"].items():
        if not isinstance(getattr(method, name, None), torch.nn.Module):
            raise ConfigError(f"cannot restore {cls.__name__}.{name}: the rebuilt method has no such network "
                              "(saved by another code version?)")
        getattr(method, name).load_state_dict(module_state)
    return method


def save_model(method: Any, path: Path, cell: Cell, config: dict[str, Any]) -> dict[str, Any]:
    """Write ``method``'s state to ``path`` atomically; returns the record's ``model`` entry."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"file": f"{MODELS_DIR}/{path.name}", "config_hash": config_hash(cell.method, config),
             "git_commit": provenance(cell.threads)["git_commit"]}
    state = method_state(method)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    os.close(fd)
    try:
        torch.save({"class": (type(method).__module__, type(method).__qualname__), "state": state,
                    "cell": cell.key(), **entry}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {**entry, "bytes": path.stat().st_size, "not_saved": state["left_out"]}


def load_model(path: Path, expected_hash: str) -> tuple[Any, dict[str, Any]]:
    """``(method, saved entry)`` from ``path``; refuses a model whose configuration hash is not
    ``expected_hash`` (the record's), naming both."""
    if not Path(path).exists():
        raise FileNotFoundError(f"saved model {path} is missing")
    saved = torch.load(path, weights_only=False, map_location="cpu")  # a GPU's model loads anywhere
    if saved.get("config_hash") != expected_hash:
        raise ConfigError(f"saved model {path} has configuration hash {saved.get('config_hash')!r}, its "
                          f"record {expected_hash!r}: it belongs to another configuration, not evaluated")
    module, qualname = saved.pop("class")
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return restore_method(cls, saved.pop("state")), saved


def evaluate_saved(experiment: Experiment, cells_and_files: list[tuple[Cell, Path]],
                   metrics: list[str]) -> dict[str, list[str]]:
    """Compute ``metrics`` from the saved model of each (cell, record file) and write them into the
    record; returns ``{"evaluated": [...], "no_model": [...], "failed": ["cell id: why", ...]}``.
    Models and tasks go to :func:`benchmarks.devices.current_device`."""
    for name in metrics:
        METRICS.get(name)  # an unknown name lists the valid ones, before any model is loaded
    out: dict[str, list[str]] = {"evaluated": [], "no_model": [], "failed": []}
    for cell, record_file in cells_and_files:
        record = read_record(record_file)
        kept = record.get("model") or {}
        if "file" not in kept:
            out["no_model"].append(cell.cell_id)
            continue
        try:
            method, saved = load_model(Path(record_file).parent / kept["file"], kept["config_hash"])
            method, task = method.to(current_device()), experiment.make_task(cell).to(current_device())
            values: dict[str, Any] = {}
            for name in metrics:
                try:
                    values.update(METRICS.get(name)(method, task, cell.model_seed))
                except Unsupported:
                    values[name] = "n/a"
        except Exception as exc:  # noqa: BLE001  (one model failing leaves the others evaluated)
            out["failed"].append(f"{cell.cell_id}: {type(exc).__name__}: {exc}")
            continue
        record["metrics"] = {**record["metrics"], **values}
        record.setdefault("evaluations", []).append({
            "metrics": list(metrics), "keys": sorted(values), "from_saved_model": kept["file"],
            "trained_by_commit": saved["git_commit"],
            "evaluated_by_commit": provenance(cell.threads)["git_commit"],
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        write_record(record_file, record)  # schema and digest are set anew
        out["evaluated"].append(cell.cell_id)
    return out
