"""Ad-hoc runs: one change to an experiment's grid from the command line, without editing it.

``saub-bench run table1 --rows "SAUB GW-EP" --set method.lambda_gw=1 --set task.direction=usps-mnist``
takes the experiment's cells of the named rows and applies each assignment:

* ``method.<knob>=<value>``: the row's method config (a swept ``method.*`` key: its sweep value), typed
  and validated like every config (an unknown knob lists the valid ones);
* ``task.<arg>=<value>``: the task's argument (a swept ``task.*`` key: its sweep value), checked
  against the task's signature;
* ``budget.steps`` / ``budget.batch_size``: the training budget (validated by :class:`Budget`).

``saub-bench train METHOD TASK --set ...`` trains one model outside any experiment
(:func:`single_model_run`), with the same assignments, into ``<results>/train/<method>-<task>-<tag>/``.

Records of such runs never mix with the experiment's own: they go under
``<results>/adhoc/<experiment>-<tag>/`` (``tag`` a digest of rows and assignments) beside an
``adhoc.json`` that says what was changed, and their cells' hashes differ from the grid's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from benchmarks.config import ConfigError, config_to_dict, parse_assignments
from benchmarks.contracts import Budget
from benchmarks.experiment import Cell, Experiment, Profile, Row, check_task_arguments
from benchmarks.registry import METHODS, TASKS

#: The budget of ``saub-bench train`` unless ``--set budget.*`` says otherwise.
TRAIN_BUDGET = Budget(steps=1000, batch_size=128)

BUDGET_KEYS = ("steps", "batch_size")


def _literal(text: str) -> Any:
    """``"20"`` -> 20, ``"0.5"`` -> 0.5, ``"true"`` -> True, anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def adhoc_tag(rows: list[str], assignments: dict[str, str]) -> str:
    key = json.dumps({"rows": sorted(rows), "set": assignments}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def _check_rows(exp: Experiment, rows: list[str]) -> None:
    labels = [r.label for r in exp.rows]
    unknown = [r for r in rows if r not in labels]
    if unknown:
        raise ConfigError(f"{exp.name}: unknown row(s) {', '.join(map(repr, unknown))}; valid rows: "
                          + ", ".join(labels))


def _apply(exp: Experiment, cell: Cell, assignments: dict[str, str]) -> Cell:
    overrides, task_kwargs, sweep = dict(cell.overrides), dict(cell.task_kwargs), dict(cell.sweep)
    budget = cell.budget
    for key, raw in assignments.items():
        part, _, name = key.partition(".")
        if part not in ("method", "task", "budget") or not name:
            raise ConfigError(f"--set {key}: keys look like method.<knob>, task.<argument> or "
                              f"budget.<{'|'.join(BUDGET_KEYS)}>")
        if part == "budget":
            if name not in BUDGET_KEYS:
                raise ConfigError(f"--set {key}: valid budget keys: {', '.join(BUDGET_KEYS)}")
            value = _literal(raw)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"--set {key}: expected an integer, got {raw!r}")
            budget = dataclasses.replace(budget, **{name: value})  # Budget validates its values
        elif key in sweep:
            sweep[key] = _literal(raw) if part == "task" else raw
        elif part == "method":
            overrides[name] = raw
        else:
            task_kwargs[name] = _literal(raw)
    method_sweep = {k[7:]: v for k, v in sweep.items() if k.startswith("method.")}
    config = config_to_dict(METHODS.get(cell.method).resolve({**overrides, **method_sweep}))
    typed = {k: config[k] for k in overrides}  # the command line's strings, typed by the config
    for k in method_sweep:
        sweep[f"method.{k}"] = config[k]
    if type(exp).make_task is Experiment.make_task:  # an experiment's own make_task takes other arguments
        check_task_arguments(TASKS.get(cell.task), {**task_kwargs, **{k[5:]: v for k, v in sweep.items()
                                                                      if k.startswith("task.")}},
                             f"task {cell.task!r}")
    return dataclasses.replace(cell, overrides=typed, task_kwargs=task_kwargs, sweep=sweep, budget=budget)


def adhoc_cells(exp: Experiment, profile: str, seeds: list[int] | None, rows: list[str] | None,
                sets: list[str] | None) -> tuple[list[Cell], dict[str, Any]]:
    """The experiment's cells of ``rows`` (all rows when empty) with ``sets`` applied (module
    docstring), duplicates merged; and the manifest saying what was changed."""
    rows = list(rows or [])
    _check_rows(exp, rows)
    assignments = parse_assignments(sets)
    out: dict[str, Cell] = {}
    for cell in exp.cells(profile, seeds):
        if rows and cell.label not in rows:
            continue
        changed = _apply(exp, cell, assignments)
        out.setdefault(changed.cell_id, changed)
    manifest = {"experiment": exp.name, "profile": profile, "rows": rows or [r.label for r in exp.rows],
                "set": assignments, "tag": adhoc_tag(rows, assignments),
                "note": "ad-hoc run: not the experiment's own grid; its records never enter its pages"}
    return list(out.values()), manifest


def adhoc_results_dir(results: Path, manifest: dict[str, Any], kind: str = "adhoc") -> Path:
    """``<results>/<kind>/<experiment>-<tag>`` (``kind``: ``adhoc`` for ``run --set``, ``train`` for
    ``saub-bench train``), with its ``adhoc.json`` written."""
    folder = Path(results) / kind / f"{manifest['experiment']}-{manifest['tag']}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adhoc.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return folder


class SingleModel(Experiment):
    """One method on one task, outside any experiment (``saub-bench train``): one row, one seed; its
    metrics are the ones named on the command line; diagnostics on request."""

    def __init__(self, method: str, task: str, metrics: list[str], diagnostics: bool):
        self.name, self.task = f"{method}-{task}", task
        self.metrics, self.diagnostics = list(metrics), diagnostics
        self.title = f"saub-bench train {method} {task}"
        self.rows = [Row(method, method)]
        self.profiles = {"train": Profile(budget=TRAIN_BUDGET, seeds=1)}
        self.artifact_seeds = ()
        self.validate()  # unknown method, task or metric: an error listing the valid names


def single_model_run(method: str, task: str, sets: list[str] | None, seed: int, metrics: list[str],
                     diagnostics: bool, results: Path) -> tuple[SingleModel, Cell, Path]:
    """The experiment, its one cell (``sets`` applied as in :func:`adhoc_cells`) and the folder its
    record goes to (``<results>/train/<method>-<task>-<tag>``, beside an ``adhoc.json``)."""
    exp = SingleModel(method, task, metrics, diagnostics)
    assignments = parse_assignments(sets)
    (cell,) = exp.cells("train", [seed])
    cell = _apply(exp, cell, assignments)
    manifest = {"experiment": exp.name, "profile": "train", "rows": [method], "set": assignments,
                "tag": adhoc_tag([method, f"seed={seed}", *metrics, f"diagnostics={diagnostics}"],
                                 assignments),
                "note": "saub-bench train: one model outside any experiment"}
    return exp, cell, adhoc_results_dir(results, manifest, kind="train")
