"""Declarative experiments: grid, profiles, the paper's numbers and its claims.

An :class:`Experiment` names a task, rows of methods (``label`` -> registered method plus
overrides), metrics, and per-profile sizes (:class:`Profile`). Its grid expands to
:class:`Cell` s; every cell's seeds derive from names (experiment, row label, task, seed
index, sweep values), so growing the grid never moves another cell's seed. Sweep keys are
prefixed by what they set: ``task.n_per_domain`` or ``method.sigma_min``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import itertools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.checkpoints import CellCheckpoint, CheckpointPolicy, code_digest
from benchmarks.config import ConfigError, config_to_dict
from benchmarks.contracts import Budget, TaskData, Unsupported
from benchmarks.devices import current_device
from benchmarks.diagnostics import checkpoint_steps, loss_shares, representation_diagnostics
from benchmarks.records import config_hash
from benchmarks.registry import EXPERIMENTS, METHODS, METRICS, TASKS
from benchmarks.search import make_search_experiment, selected_overrides
from saub.seeding import derive_seed, seed_everything
from saub.training import check_loss

PROFILES = ("smoke", "quick", "paper")
#: Characters kept out of record file names (path separators and what Windows forbids).
UNSAFE_IN_FILENAME = re.compile(r'[/\\:*?"<>|]')


@dataclass(frozen=True)
class Row:
    """One method row of an experiment: a label, a registered method, its overrides; optionally its
    own task and task arguments (over the experiment's task and the profile's arguments), for an
    experiment whose rows span several tasks."""

    label: str
    method: str
    overrides: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    task_kwargs: dict[str, Any] = field(default_factory=dict)

    def task_and_arguments(self, task: str, profile_arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The task this row's cells run (its own, else the experiment's ``task``) and their arguments
        (the profile's, then the row's own)."""
        return self.task or task, {**profile_arguments, **self.task_kwargs}

    def resolved_overrides(self, profile_overrides: dict[str, Any]) -> dict[str, Any]:
        """The profile's method overrides that this row's method takes (a field of its config, so a
        family's options, e.g. the VAUB family's ``prior_steps``, reach only that family), then this
        row's own."""
        taken = config_fields(self.method)
        return {**{k: v for k, v in profile_overrides.items() if k in taken}, **self.overrides}


def config_fields(method: str) -> frozenset[str]:
    """The option names of a registered method's config (none for a row whose experiment runs
    something other than a registered method)."""
    if method not in METHODS:
        return frozenset()
    return frozenset(f.name for f in dataclasses.fields(METHODS.get(method).cls.config_class))


@dataclass(frozen=True)
class Profile:
    """Sizes of one profile: training budget, seed count, sweep values, per-profile overrides."""

    budget: Budget
    seeds: int
    sweep: dict[str, tuple] = field(default_factory=dict)
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    method_overrides: dict[str, Any] = field(default_factory=dict)
    threads: int = 1


@dataclass(frozen=True)
class Cell:
    """One unit of work: (row × task × seed × sweep value × profile) -> one record."""

    experiment: str
    profile: str
    label: str
    method: str
    overrides: dict[str, Any]
    task: str
    task_kwargs: dict[str, Any]
    seed_index: int
    sweep: dict[str, Any]
    budget: Budget
    threads: int = 1

    def key(self) -> dict[str, Any]:
        return {**asdict(self), "budget": asdict(self.budget) | {"progress": False}}

    @property
    def sweep_tag(self) -> str:
        return json.dumps(self.sweep, sort_keys=True)

    @property
    def model_seed(self) -> int:
        return derive_seed(self.experiment, self.label, self.task, self.seed_index, self.sweep_tag)

    @property
    def data_seed(self) -> int:
        """Shared by every row, so all methods see the same data for a seed and sweep value."""
        task_sweep = {k: v for k, v in self.sweep.items() if k.startswith("task.")}
        return derive_seed(self.task, self.seed_index, json.dumps(task_sweep, sort_keys=True))

    @property
    def cell_id(self) -> str:
        """File-name-safe id: ``label__sweep__s<seed>__<digest of the cell key>``. Characters a
        path cannot hold (``/`` as in "SAUB w/o GW") become ``-``; the digest keeps ids unique."""
        label = UNSAFE_IN_FILENAME.sub("-", self.label)
        tag = "_".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(self.sweep.items()))
        key = json.dumps(self.key(), sort_keys=True, default=str)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        return f"{label}__{tag + '__' if tag else ''}s{self.seed_index}__{digest}"

    def split_sweep(self) -> tuple[dict[str, Any], dict[str, Any]]:
        task = {k[5:]: v for k, v in self.sweep.items() if k.startswith("task.")}
        method = {k[7:]: v for k, v in self.sweep.items() if k.startswith("method.")}
        return task, method


@dataclass
class Claim:
    """A claim of the paper and how to decide it from records.

    ``check(records) -> (verdict, evidence)`` with verdict one of :data:`VERDICTS`.
    """

    id: str
    text: str
    check: Callable[[list[dict]], tuple[str, str]]


VERDICTS = ("supported", "contradicted", "inconclusive")


class Experiment:
    """Base experiment: the default cell trains a method and evaluates metrics on its task."""

    name: str = ""
    title: str = ""
    description: str = ""
    task: str = ""
    rows: list[Row] = []
    metrics: list[str] = []
    profiles: dict[str, Profile] = {}
    #: The paper's numbers, as the report prints them beside ours.
    paper: dict[str, Any] = {}
    claims: list[Claim] = []
    #: Per claim id, one sentence on what the suite knows about why a claim is not supported
    #: (budget, substitute, configuration, or "none found: the result stands"), with its evidence;
    #: printed under the claims table next to every contradicted or inconclusive verdict.
    claim_context: dict[str, str] = {}
    #: Seed indices whose records keep bulky artifacts (latents, translations) for figures.
    artifact_seeds: tuple[int, ...] = (0,)
    #: Record regime diagnostics (:mod:`benchmarks.diagnostics`: alignment, collapse, loss shares,
    #: learning curves at :data:`~benchmarks.diagnostics.CHECKPOINT_FRACTIONS` of the budget).
    diagnostics: bool = False
    #: The experiment's hyper-parameter search (:class:`benchmarks.search.Search`), or None; registering
    #: the experiment also registers ``<name>-search``.
    search: Any = None
    #: Metrics also evaluated at the learning-curve checkpoints (cheap ones; their scalar outputs).
    checkpoint_metrics: list[str] = []
    #: The record key of the headline metric (higher is better) whose learning curve decides
    #: "still improving"; None: judged on no metric.
    headline: str | None = None

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(self.profiles)}")
        return self.profiles[name]

    def cells(self, profile: str, seeds: list[int] | None = None) -> list[Cell]:
        """The grid; with a committed search selection (:mod:`benchmarks.search`) each row takes the
        configuration selected for it at that sweep value."""
        prof = self.profile(profile)
        seeds = list(range(prof.seeds)) if seeds is None else seeds
        sweep_keys = sorted(prof.sweep)
        grid: list[dict[str, Any]] = [{}]
        for key in sweep_keys:
            grid = [{**g, key: v} for g in grid for v in prof.sweep[key]]
        selected = selected_overrides(self.name, profile) if self.search is not None else {}
        tasks = [(row, self.row_task(row, profile, prof.task_kwargs)) for row in self.rows]
        return [
            Cell(self.name, profile, row.label, row.method,
                 {**row.resolved_overrides(prof.method_overrides),
                  **selected.get((row.label, json.dumps(sweep, sort_keys=True)), {})},
                 *task, s, sweep, prof.budget, prof.threads)
            for row, task in tasks if task is not None for sweep in grid for s in seeds
        ]

    def row_task(self, row: Row, profile: str, profile_arguments: dict[str, Any]
                 ) -> tuple[str, dict[str, Any]] | None:
        """The task ``row``'s cells run under ``profile`` and its arguments, or None where the row has no
        cells there (an experiment whose tasks vary by profile or by the data present says so here; its
        search trials follow it). Default: :meth:`Row.task_and_arguments` with the profile's arguments."""
        return row.task_and_arguments(self.task, profile_arguments)

    def row_search_space(self, row: Row) -> dict[str, Any]:
        """The search space of ``row`` when :attr:`search` gives it none in ``spaces``: its method's
        declaration for the row's resolved configuration (an experiment whose rows are generated
        narrows it here)."""
        entry = METHODS.get(row.method)
        return dict(entry.cls.search_space(entry.resolve(row.overrides)))

    def search_rows(self) -> list[Row]:
        """The rows :attr:`search` tunes (each searched on its own; default: every row not in
        ``search.fixed``). An experiment that builds its cells otherwise names them here, with their
        tasks."""
        return [row for row in self.rows if row.label not in self.search.fixed]

    def absent(self, profile: str) -> dict[str, str]:
        """Parts of the grid left out on this machine because their data (or weights) are not here:
        ``{part: why}``. An experiment that declares such parts drops their cells from :meth:`cells`
        (so they are neither run nor counted missing), and the report lists them under "Not run".
        The default: nothing absent."""
        return {}

    def validate(self) -> None:
        """Check, before anything runs: every row's method and its config under every profile
        and every value of the ``method.*`` sweeps, every metric, the task and the names of its
        arguments (``task_kwargs`` and ``task.*`` sweeps), and the sweep keys' prefixes."""
        for row in self.rows:
            METHODS.get(row.method)
        for m in self.metrics:
            METRICS.get(m)
        make_task = TASKS.get(self.task) if self.task else None
        if type(self).make_task is not Experiment.make_task:  # the experiment passes task arguments itself
            make_task = None
        for pname, prof in self.profiles.items():
            bad = [k for k in prof.sweep if not k.startswith(("task.", "method."))]
            if bad:
                raise ConfigError(f"profile {pname!r}: sweep keys must start with 'task.' or 'method.', "
                                  f"got {', '.join(bad)}")
            taken = frozenset().union(*(config_fields(row.method) for row in self.rows))
            stray = sorted(set(prof.method_overrides) - taken)
            if stray:
                raise ConfigError(f"profile {pname!r}: method override(s) {', '.join(stray)} reach no row; "
                                  f"the rows' methods take: {', '.join(sorted(taken))}")
            method_keys = sorted(k for k in prof.sweep if k.startswith("method."))
            for values in itertools.product(*(prof.sweep[k] for k in method_keys)):
                swept = {k[7:]: v for k, v in zip(method_keys, values)}
                for row in self.rows:
                    overrides = row.resolved_overrides(prof.method_overrides)
                    METHODS.get(row.method).resolve({**overrides, **swept})
            if make_task is not None:
                task_swept = {k[5:]: None for k in prof.sweep if k.startswith("task.")}
                both = sorted(set(task_swept) & set(prof.task_kwargs))
                if both:
                    raise ConfigError(f"profile {pname!r}: task argument(s) {', '.join(both)} both swept "
                                      "and fixed in task_kwargs")
                check_task_arguments(make_task, {**prof.task_kwargs, **task_swept},
                                     f"profile {pname!r}: task {self.task!r}")

    def make_task(self, cell: Cell) -> TaskData:
        task_sweep, _ = cell.split_sweep()
        return TASKS.get(cell.task)(seed=cell.data_seed, **cell.task_kwargs, **task_sweep)

    def run_cell(self, cell: Cell, model_file: Path | None = None, checkpoint_file: Path | None = None,
                 checkpoints: CheckpointPolicy | None = None) -> dict[str, Any]:
        """Train the row's method on the task and evaluate the metrics; returns the record body.
        Task and method live on :func:`benchmarks.devices.current_device` (the body's ``device``).
        With ``model_file`` the trained method is saved there (:mod:`benchmarks.saved_models`) and
        the body's ``model`` entry names it. With ``checkpoint_file`` and ``checkpoints`` a resumable
        method saves its training state there as it trains and resumes from it
        (:mod:`benchmarks.checkpoints`; the body's ``resumed_from_step`` says from where)."""
        seed_everything(cell.model_seed)
        device = current_device()
        task = self.make_task(cell).to(device)
        entry = METHODS.get(cell.method)
        _, method_sweep = cell.split_sweep()
        config = entry.resolve({**cell.overrides, **method_sweep})
        method = entry.build(config, task).to(device)
        start = time.perf_counter()
        # Source labels reach only methods that need them, and only where the task allows it
        # (domain adaptation: y = -1 on target rows); every other method trains label-free.
        pass_labels = task.protocol.get("source_labels_visible") and getattr(entry.cls, "needs_source_labels",
                                                                             False)
        train = task.train if pass_labels else task.train.without_labels()
        learning_curve: dict[str, dict[str, float]] = {}
        checkpoint = None
        if checkpoint_file is not None and checkpoints is not None and entry.cls.resumable:
            fingerprint = {"configuration": config_hash(cell.method, config_to_dict(config)),
                           "code version": code_digest()}
            checkpoint = CellCheckpoint(checkpoint_file, fingerprint, checkpoints)
            method.resume_with(checkpoint, checkpoint.load())
            learning_curve = checkpoint.harness.setdefault("learning_curve", {})
        checkpoint_time = [0.0]
        if self.diagnostics:
            def at_checkpoint(m, step: int) -> None:
                tic = time.perf_counter()
                learning_curve[str(step)] = self.checkpoint_point(snapshot_for_evaluation(m, train), task,
                                                                  cell.model_seed)
                checkpoint_time[0] += time.perf_counter() - tic

            method.watch(checkpoint_steps(cell.budget.steps), at_checkpoint)
        curves = method.fit(train, cell.budget, cell.model_seed)
        method.watch((), None)
        method.resume_with(None)
        check_curves(curves, method.loss_weights())
        fitted = time.perf_counter()
        metrics: dict[str, Any] = {}
        for name in self.metrics:
            try:
                metrics.update(METRICS.get(name)(method, task, cell.model_seed))
            except Unsupported:
                metrics[name] = "n/a"
        timing = {"fit_s": fitted - start - checkpoint_time[0], "metrics_s": time.perf_counter() - fitted}
        keep = cell.seed_index in self.artifact_seeds
        out = {
            "timing": timing,
            "config": config_to_dict(config),
            "metrics": metrics,
            "curves": thin_curves(curves),
            "artifacts": self.artifacts(method, task) if keep else {},
            "protocol": task.protocol,
            "data_checksums": task.checksums,
            "device": str(device),
        }
        if checkpoint is not None and checkpoint.resumed_from is not None:
            out["resumed_from_step"] = checkpoint.resumed_from
        if self.diagnostics:
            tic = time.perf_counter()
            final = representation_diagnostics(method, task, cell.model_seed)
            learning_curve[str(cell.budget.steps)] = {**diagnostic_scalars(final), **scalar_metrics(metrics)}
            out["diagnostics"] = {
                "final": final,
                "loss_terms": loss_shares(curves, method.loss_weights()),
                "learning_curve": learning_curve,
                "headline": self.headline,
            }
            timing["checkpoints_s"] = checkpoint_time[0]
            timing["diagnostics_s"] = time.perf_counter() - tic
        if model_file is not None:
            from benchmarks.saved_models import save_model

            out["model"] = save_model(method, model_file, cell, out["config"])
        return out

    def checkpoint_point(self, method, task: TaskData, seed: int) -> dict[str, float]:
        """One learning-curve point: the diagnostics' scalars and :attr:`checkpoint_metrics`' outputs,
        computed under a forked RNG (the training run it interrupts draws the same numbers)."""
        with torch.random.fork_rng(devices=[]):
            point = diagnostic_scalars(representation_diagnostics(method, task, seed))
            for name in self.checkpoint_metrics:
                try:
                    point.update(scalar_metrics(METRICS.get(name)(method, task, seed)))
                except Unsupported:
                    pass
        return point

    def artifacts(self, method, task: TaskData) -> dict[str, Any]:
        """Bulky outputs for figures (kept for ``artifact_seeds`` only)."""
        return {}

    def report(self, records: list[dict], out_dir, profile: str):
        """Experiment-specific tables and figures; see :mod:`benchmarks.report`."""
        raise NotImplementedError


def check_task_arguments(make_task, arguments: dict[str, Any], where: str) -> None:
    """Refuse ``arguments`` that ``make_task(seed=..., **arguments)`` would not accept, naming the
    valid ones; a task whose signature cannot be read is checked when it is built."""
    try:
        signature = inspect.signature(make_task)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(seed=0, **arguments)
    except TypeError as exc:
        valid = ", ".join(p for p in signature.parameters if p != "seed")
        raise ConfigError(f"{where}: {exc}; valid arguments: {valid}") from None


def check_curves(curves: dict[str, list[float]], loss_terms: dict[str, float]) -> None:
    """Refuse to score a run whose loss terms (the method's :meth:`Method.loss_weights` curves, or every
    curve when it declares none) ran away: NaN, infinite, or past :data:`saub.training.MAX_LOSS`,
    which a method's own loop may not check (:class:`saub.training.DivergenceError` names the step)."""
    names = list(loss_terms) or list(curves)
    for name in names:
        for step, value in enumerate(curves.get(name, [])):
            if isinstance(value, (int, float)) and not math.isnan(value):  # NaN: a stage that skips a term
                check_loss(f"training curve {name!r}", float(value), step)


def snapshot_for_evaluation(method, train):
    """A deep copy of ``method`` mid-training, finished for evaluation (:meth:`Method.finish_fit`), so
    that evaluating a checkpoint leaves the training run untouched (modes, statistics, RNG)."""
    watched = getattr(method, "_watched", None)
    method._watched = None
    try:
        snapshot = copy.deepcopy(method)
    finally:
        method._watched = watched
    with torch.random.fork_rng(devices=[]):
        snapshot.finish_fit(train)
    return snapshot


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a metrics dict (what a learning-curve point keeps)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def diagnostic_scalars(diag: dict[str, Any]) -> dict[str, float]:
    """The learning-curve scalars of :func:`benchmarks.diagnostics.representation_diagnostics`."""
    out = {}
    if diag.get("alignment"):
        out["domain_probe_balanced_accuracy"] = diag["alignment"]["balanced_accuracy"]
    collapse = diag.get("collapse") or {}
    for key in ("active_fraction", "effective_rank"):
        if key in collapse:
            out[key] = float(collapse[key])
    return out


def thin_curves(curves: dict[str, list[float]], steps: list[int] | None = None,
                max_points: int = 200) -> dict[str, list[float]]:
    """Keep at most ``max_points`` evenly spaced points of each training curve.

    ``out["step"]`` is the training step of each kept point: ``steps[i]`` for the kept indices i
    when the curves were evaluated at ``steps`` (one per point), else the point's index, so a
    plot pairs every value with its own step whether or not the curve was thinned.
    """
    out: dict[str, list[float]] = {}
    for name, values in curves.items():
        n = len(values)
        if steps is not None and len(steps) != n:
            raise ValueError(f"curve {name!r} has {n} points but {len(steps)} steps")
        idx = sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)}) if n > max_points \
            else list(range(n))
        out[name] = [_finite_or_none(values[i]) for i in idx]
        out.setdefault("step", idx if steps is None else [steps[i] for i in idx])
    return out


def _finite_or_none(v: float):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def register_experiment(cls: type[Experiment]) -> type[Experiment]:
    """Class decorator registering an experiment instance under ``cls.name`` (and its search
    experiment ``<name>-search`` when it declares a :attr:`Experiment.search`)."""
    instance = EXPERIMENTS.add(cls.name, cls())
    if instance.search is not None:
        search = make_search_experiment(instance)
        EXPERIMENTS.add(search.name, search)
    return cls


def rounded(t: torch.Tensor | Any, digits: int = 4) -> Any:
    """A tensor/array as nested lists rounded to ``digits`` (compact JSON artifacts)."""
    import numpy as np

    return np.round(np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t, dtype=float),
                    digits).tolist()


class DataBoundExperiment(Experiment):
    """An experiment whose every cell needs one dataset that may not be on this machine (FairFace,
    CelebA, 3D Shapes): when :meth:`missing_data` names what is missing, the grid has no cells
    and the page lists ``"<data> (all cells)"`` under "Not run: data absent"."""

    #: The dataset's name as the page shows it.
    data: str = ""

    def missing_data(self) -> Exception | str | None:
        """What is missing and where it belongs (the loader's missing-data error, or its text), or
        ``None`` when the data is here."""
        raise NotImplementedError

    def absent(self, profile: str) -> dict[str, str]:
        why = self.missing_data()
        return {f"{self.data} (all cells)": str(why)} if why is not None else {}

    def cells(self, profile: str, seeds: list[int] | None = None) -> list[Cell]:
        """The whole grid, or none while the data is absent."""
        return [] if self.absent(profile) else super().cells(profile, seeds)
