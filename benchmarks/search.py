"""Hyper-parameter search as a harness capability (DomainBed's protocol, Gulrajani & Lopez-Paz 2021).

Each method declares a **search space** over its own knobs (``Method.search_space(config)``: knob
-> :class:`LogUniform` | :class:`Uniform` | :class:`Choice`); an experiment may narrow it per row
(:attr:`Search.spaces`). For every row the harness draws the **same number of configurations**
(:attr:`Search.trials`): trial 0 is the row's own configuration, trial t > 0 draws each knob from
``derive_seed(experiment, "search", row label, t, knob)``, so adding a knob or a row never moves
another draw, and both directions of a task (any non-search sweep value) see the same draws.
The trials are ordinary cells of the experiment ``<name>-search`` (records, resume, executors):
one seed, the search profile's budget, the base experiment's task and data seed.

**Selection without target labels** (:func:`select`). The rule, the same for every method:

1. *admissible* trials finished, are not collapsed, and are aligned (the held-out linear domain
   probe's balanced accuracy, the stronger of the linear and the MLP probe, at most
   :func:`benchmarks.diagnostics.aligned_threshold`: 0.75 for two domains);
2. among them the best :attr:`Search.validation` (default ``source_val_accuracy``, the post-hoc
   classifier on the *source* test split: training-domain validation; a task without labels
   names another label-free key, e.g. fig3's held-out reconstruction error, lower is better);
   ties go to the lower trial;
3. when no trial is admissible, the best validation value among the non-collapsed trials, and
   the selection says "no aligned configuration".

Why: source validation alone rewards a representation that keeps its domains apart (an
autoencoder keeps every source detail); the methods under test exist to align domains, so among
the configurations that do, source validation measures how much label information survives. The
target-label **oracle** (highest target accuracy) is reported beside it as an upper bound only,
with the plain source-validation choice and the *least separable* choice (the non-collapsed trial
whose domains the probe separates least; label-free too, but added after the first search was
seen, so it is shown, never used), so a reader sees how much the rule matters.

The chosen configurations are written to ``<results>/selected/<experiment>_<profile>.json``
(:func:`write_selection`) and committed with the records; the base experiment's grid then uses them
(:func:`selected_overrides`). The results folder is ``$SAUB_RESULTS`` (default ``results/``), or the
one a command names with ``--results`` (:func:`results_dir_for_selections`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.config import ConfigError
from benchmarks.diagnostics import is_aligned, is_collapsed
from benchmarks.registry import METHODS
from benchmarks.results_table import cell_group
from saub.seeding import derive_seed

TRIAL = "search.trial"
#: The results folder whose ``selected/`` grids read (None: $SAUB_RESULTS or the repository's results/).
_RESULTS_DIR: Path | None = None


def rule_text(validation: str, oracle: str) -> str:
    """The selection rule in words, for pages and the selection file."""
    return (f"{validation} among aligned, non-collapsed trials (fallback: among non-collapsed trials, "
            f"flagged 'no aligned configuration'); oracle = {oracle}, an upper bound")


RULE = rule_text("source-validation accuracy", "target test accuracy")


# ------------------------------------------------------------------ distributions
@dataclass(frozen=True)
class LogUniform:
    """exp(U(log low, log high)), ``0 < low < high``."""

    low: float
    high: float

    def check(self, knob: str) -> None:
        if not (0 < self.low < self.high and math.isfinite(self.high)):
            raise ConfigError(f"search knob {knob!r}: LogUniform needs 0 < low < high, got "
                              f"({self.low}, {self.high})")

    def sample(self, u: float) -> float:
        return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))

    def describe(self) -> str:
        return f"log-uniform [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Uniform:
    """U(low, high), ``low < high``."""

    low: float
    high: float

    def check(self, knob: str) -> None:
        if not (self.low < self.high and math.isfinite(self.low) and math.isfinite(self.high)):
            raise ConfigError(f"search knob {knob!r}: Uniform needs low < high, got "
                              f"({self.low}, {self.high})")

    def sample(self, u: float) -> float:
        return float(self.low + u * (self.high - self.low))

    def describe(self) -> str:
        return f"uniform [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Choice:
    """One of ``values``, uniformly."""

    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", tuple(values))

    def check(self, knob: str) -> None:
        if not self.values:
            raise ConfigError(f"search knob {knob!r}: Choice needs at least one value")

    def sample(self, u: float):
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    def describe(self) -> str:
        return "one of {" + ", ".join(map(str, self.values)) + "}"


def _unit(seed: int) -> float:
    """A uniform draw in [0, 1) from a seed (numpy's PCG64; no global RNG touched)."""
    import numpy as np

    return float(np.random.default_rng(seed).random())


def draw(space: dict[str, Any], *names: object) -> dict[str, Any]:
    """One configuration: each knob from its own seed ``derive_seed(*names, knob)``."""
    return {knob: dist.sample(_unit(derive_seed(*names, knob))) for knob, dist in sorted(space.items())}


def validate_space(method: str, space: dict[str, Any], where: str = "") -> None:
    """Every knob is an option of ``method``'s config and every distribution is non-empty."""
    cls = METHODS.get(method).cls
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(space) - fields)
    if unknown:
        raise ConfigError(f"{where}search space of {method!r} names unknown knob(s) {', '.join(unknown)}; "
                          f"valid knobs: {', '.join(sorted(fields))}")
    for knob, dist in space.items():
        if not hasattr(dist, "sample"):
            raise ConfigError(f"{where}search knob {knob!r}: expected LogUniform, Uniform or Choice, "
                              f"got {dist!r}")
        dist.check(knob)


# ------------------------------------------------------------------ the search experiment
@dataclass(frozen=True)
class Search:
    """An experiment's search: trials per row, budgets per profile, optional per-row spaces."""

    #: Configurations per row (trial 0: the row's own).
    trials: dict[str, int]
    #: Profile name -> the search profile (budget; its seeds are ignored: one seed per trial; its task
    #: arguments are added to the base profile's, for an experiment whose rows name their own task).
    profiles: dict[str, Any]
    #: Row label -> space replacing the method's declared one.
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Metrics of a search cell (cheap; must yield :attr:`validation` and the base's headline).
    metrics: tuple[str, ...] = ()
    #: Rows not searched (a configuration fixed by its definition, e.g. the authors' code).
    fixed: tuple[str, ...] = ()
    #: The label-free record key the rule ranks admissible trials by, and its direction.
    validation: str = "source_val_accuracy"
    higher_is_better: bool = True
    #: Words for pages: the validation quantity (long, short) and the oracle's (short).
    validation_text: str = "source-validation accuracy"
    validation_label: str = "source val"
    oracle_text: str = "target test accuracy"
    oracle_label: str = "target"
    #: Profile name -> sweep values searched (a subset of the base's; default: all of them). The
    #: base grid's other sweep values keep the rows' own configurations.
    sweeps: dict[str, dict[str, tuple]] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return rule_text(self.validation_text, self.oracle_text)


def row_space(experiment, row) -> dict[str, Any]:
    """The row's search space: the experiment's override in ``Search.spaces``, else
    ``experiment.row_search_space`` (by default the method's declaration for the row's configuration)."""
    search: Search = experiment.search
    if row.label in search.spaces:
        return dict(search.spaces[row.label])
    return experiment.row_search_space(row)


def make_search_experiment(base):
    """The experiment ``<base.name>-search`` whose cells are ``base``'s search trials."""
    from benchmarks.experiment import Cell, Experiment, Profile

    class SearchExperiment(Experiment):
        name = f"{base.name}-search"
        title = f"Hyper-parameter search of {base.name} (label-free selection)"
        description = (f"Trials of {base.name}'s rows drawn from their search spaces; selection rule: "
                       f"{base.search.rule}.")
        task = base.task
        rows = base.search_rows()
        metrics = list(base.search.metrics)
        diagnostics = True
        checkpoint_metrics = list(base.checkpoint_metrics)
        headline = base.headline
        profiles = {
            name: dataclasses.replace(p, seeds=1,
                                      sweep=base.search.sweeps.get(name, base.profiles[name].sweep),
                                      task_kwargs={**base.profiles[name].task_kwargs, **p.task_kwargs},
                                      method_overrides={**base.profiles[name].method_overrides,
                                                        **p.method_overrides})
            for name, p in base.search.profiles.items()
        }
        artifact_seeds = ()
        base_experiment = base

        def trial_overrides(self, row, trial: int) -> dict[str, Any]:
            if trial == 0:
                return {}
            return draw(row_space(base, row), base.name, "search", row.label, trial)

        def cells(self, profile: str, seeds=None) -> list[Cell]:
            prof: Profile = self.profile(profile)
            grid: list[dict[str, Any]] = [{}]
            for key in sorted(prof.sweep):
                grid = [{**g, key: v} for g in grid for v in prof.sweep[key]]
            out = []
            for row in self.rows:
                task = base.row_task(row, profile, prof.task_kwargs)
                if task is None:
                    continue
                for trial in range(base.search.trials[profile]):
                    overrides = {**row.resolved_overrides(prof.method_overrides),
                                 **self.trial_overrides(row, trial)}
                    for sweep in grid:
                        out.append(Cell(self.name, profile, row.label, row.method, overrides, *task, 0,
                                        {**sweep, TRIAL: trial}, prof.budget, prof.threads))
            return out

        def make_task(self, cell):
            return base.make_task(cell)

        def validate(self) -> None:
            base.validate()
            for row in self.rows:
                space = row_space(base, row)
                if not space:
                    raise ConfigError(f"{base.name} row {row.label!r}: method {row.method!r} declares no "
                                      "search space; give one in Search.spaces")
                validate_space(row.method, space, f"{base.name} row {row.label!r}: ")
            for profile in self.profiles:
                for cell in self.cells(profile):
                    METHODS.get(cell.method).resolve(cell.overrides)

        def report(self, records, out_dir, profile):
            from benchmarks.search_report import search_page

            return search_page(self, records, profile)

    return SearchExperiment()


# ------------------------------------------------------------------ selection
def trial_group(record: dict) -> tuple[str, str]:
    """(row label, the cell's sweep without the trial as sorted JSON): the trials of one selection."""
    return cell_group(record, drop=(TRIAL,))


def _value(record: dict, key: str, higher_is_better: bool = True) -> float:
    """The metric, signed so that larger is better; -inf when absent or not finite."""
    v = record.get("metrics", {}).get(key)
    if not (isinstance(v, (int, float)) and math.isfinite(v)):
        return -math.inf
    return v if higher_is_better else -v


def _trial(record: dict | None) -> int | None:
    return None if record is None else record["cell"]["sweep"][TRIAL]


def _best(records: list[dict], metric: str, higher_is_better: bool = True) -> dict | None:
    """The record with the best ``metric`` (the first of equals, i.e. the lower trial), or None."""
    return max(records, key=lambda r: _value(r, metric, higher_is_better)) if records else None


def select(records: list[dict], validation: str = "source_val_accuracy", higher_is_better: bool = True,
           oracle: str = "target_accuracy") -> dict[tuple[str, str], dict[str, Any]]:
    """(row label, base sweep) -> the selection by the rule (:func:`rule_text`: the best
    ``validation`` among aligned, non-collapsed trials), with the validation-only, least separable
    and ``oracle`` (higher is better) choices beside it (see the module docstring)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault(trial_group(r), []).append(r)
    out = {}
    for key, recs in sorted(groups.items()):
        done = sorted((r for r in recs if r.get("status") == "done"), key=lambda r: r["cell"]["sweep"][TRIAL])
        finals = {id(r): (r.get("diagnostics") or {}).get("final") or {} for r in done}
        healthy = [r for r in done if not is_collapsed(finals[id(r)])]
        aligned = [r for r in healthy if is_aligned(finals[id(r)]) is True]
        pool = aligned or healthy or done

        chosen = _best(pool, validation, higher_is_better)
        source_only = _best(done, validation, higher_is_better)
        oracle_choice = _best(done, oracle)
        separability = {id(r): (finals[id(r)].get("alignment") or {}).get("balanced_accuracy")
                        for r in healthy}
        probed = [r for r in healthy if separability[id(r)] is not None]
        least_separable = min(probed, key=lambda r: separability[id(r)], default=None)
        out[key] = {
            "trial": _trial(chosen),
            "overrides": None if chosen is None else chosen["cell"]["overrides"],
            "aligned": bool(aligned),
            "note": None if aligned else ("no aligned configuration" if healthy else "every trial collapsed"
                                          if done else "no finished trial"),
            "source_only_trial": _trial(source_only),
            "oracle_trial": _trial(oracle_choice),
            "least_separable_trial": _trial(least_separable),
            "n_trials": len(recs),
            "n_done": len(done),
        }
    return out


def select_for(search_experiment, records: list[dict]) -> dict[tuple[str, str], dict[str, Any]]:
    """:func:`select` with the base experiment's validation key, direction and headline."""
    base = search_experiment.base_experiment
    return select(records, base.search.validation, base.search.higher_is_better,
                  base.headline or "target_accuracy")


@contextmanager
def results_dir_for_selections(path: str | Path | None) -> Iterator[None]:
    """Within the block, read and write selections under ``path``/selected (a command's ``--results``);
    the previous folder is restored on exit, so one in-process command cannot change another's grids."""
    global _RESULTS_DIR
    previous, _RESULTS_DIR = _RESULTS_DIR, None if path is None else Path(path)
    try:
        yield
    finally:
        _RESULTS_DIR = previous


def selection_path(experiment: str, profile: str) -> Path:
    from benchmarks.runner import default_results_dir

    root = _RESULTS_DIR if _RESULTS_DIR is not None else default_results_dir()
    return root / "selected" / f"{experiment}_{profile}.json"


def write_selection(search_experiment, records: list[dict], profile: str) -> Path:
    """Write the chosen overrides of every (row, sweep) of the base experiment (JSON, committed)."""
    base = search_experiment.base_experiment
    chosen = select_for(search_experiment, records)
    rows = {r.label: r for r in search_experiment.rows}
    entries = []
    for (label, sweep), sel in chosen.items():
        if sel["trial"] is None:
            continue
        own = rows[label].resolved_overrides(search_experiment.profile(profile).method_overrides)
        tuned = {k: v for k, v in sel["overrides"].items() if own.get(k, object()) != v}
        entries.append({"label": label, "sweep": json.loads(sweep), "trial": sel["trial"], "overrides": tuned,
                        "note": sel["note"]})
    path = selection_path(base.name, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"experiment": base.name, "profile": profile, "rule": base.search.rule,
                                "selected": entries}, indent=1, sort_keys=True) + "\n")
    return path


def selection_note(experiment, profile: str) -> str:
    """One sentence for a page: which configurations its rows ran with."""
    path = selection_path(experiment.name, profile)
    if not path.exists():
        return (f"Configurations: each row's own (no search selection committed for profile {profile!r}; "
                f"`saub-bench search {experiment.name} --profile {profile}` makes one).")
    data = json.loads(path.read_text())
    return (f"Configurations: selected by `{experiment.name}-search` ({len(data['selected'])} row x sweep "
            f"entries in results/selected/{path.name}). Rule: {data['rule']}.")


def selected_overrides(experiment: str, profile: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(row label, sweep JSON) -> the selected overrides, from the committed selection file (empty when
    there is none: the rows keep their own configurations)."""
    path = selection_path(experiment, profile)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {(e["label"], json.dumps(e["sweep"], sort_keys=True)): e["overrides"] for e in data["selected"]}
