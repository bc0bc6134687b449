"""``saub-bench``: list, run, status and report experiments; manage datasets.

Examples::

    saub-bench list
    saub-bench run fig3 --profile smoke
    saub-bench run fig3 --profile quick --executor processes --jobs 2
    saub-bench status fig3 --profile quick
    saub-bench train saub nested-d --set method.beta=0.5 --set budget.steps=500 --metric svc-auroc
    saub-bench report fig3 --profile quick      # or: saub-bench report --all
    saub-bench embed mnist --split train --model clip --out mnist_train_clip.npy
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from benchmarks.adhoc import TRAIN_BUDGET
from benchmarks.checkpoints import CheckpointPolicy
from benchmarks.config import ConfigError
from benchmarks.devices import DEVICE_CHOICES, DEVICE_SPEC, profile_device, resolve_device, use_device
from benchmarks.executors import EXECUTORS, run_cells
from benchmarks.experiment import PROFILES
from benchmarks.registry import EXPERIMENTS, METHODS, METRICS, TASKS
from benchmarks.report import REPORTS_DIR, write_report
from benchmarks.runner import (
    DEFAULT_CHECKPOINTS,
    cells_state,
    default_results_dir,
    plan,
    plan_cells,
    sweep_state,
)
from saub.objective_axis import OBJECTIVES


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0-4"`` -> [0..4]; ``"0,2,5"`` -> [0, 2, 5]; ``None`` -> the profile's seeds."""
    if text is None:
        return None
    seeds: list[int] = []
    for part in text.split(","):
        try:
            bounds = [int(v) for v in part.split("-")] if "-" in part else [int(part)] * 2
        except ValueError:
            raise ConfigError(f"--seeds must look like '0-4' or '0,1,2', got {text!r}") from None
        if len(bounds) != 2:
            raise ConfigError(f"--seeds must look like '0-4' or '0,1,2', got {text!r}")
        lo, hi = bounds
        if hi < lo:
            raise ConfigError(f"--seeds range {part!r} is empty (write it low-high, e.g. 2-5)")
        seeds.extend(range(lo, hi + 1))
    if any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds must be non-negative, got {text!r}")
    return sorted(set(seeds))


def cmd_list(args) -> int:
    sections = [("experiments", EXPERIMENTS), ("methods", METHODS), ("tasks", TASKS), ("metrics", METRICS)]
    for title, reg in sections:
        print(f"{title}:")
        for name in reg.names():
            entry = reg.get(name)
            desc = getattr(entry, "title", None) or getattr(entry, "description", None) \
                or (entry.__doc__ or "").strip().split("\n")[0]
            print(f"  {name:<16} {desc}")
    print("objectives:")  # the VAUB family's option ``objective`` (--set method.objective=NAME)
    for name, objective in OBJECTIVES.items():
        print(f"  {name:<16} {objective.text}")
    print(f"profiles: {', '.join(PROFILES)}; executors: {', '.join(EXECUTORS)}")
    return 0


def _experiment(name: str):
    exp = EXPERIMENTS.get(name)
    exp.validate()
    return exp


def device_option(p) -> None:
    p.add_argument("--device", default=None, help=f"{DEVICE_CHOICES} (default: the profile's; the paper "
                   "profile takes a GPU when one is present, the others the CPU)")


def cell_device(spec: str | None, profile: str | None, executor: str) -> str:
    """The device cells run on, checked before anything runs (a missing GPU is an error here, not in
    a worker). A Ray cluster's workers resolve ``auto`` themselves (their machines may have GPUs)."""
    spec = spec or profile_device(profile)
    if executor == "ray":
        if not DEVICE_SPEC.match(spec.strip().lower()):
            resolve_device(spec)  # the error naming the valid devices
        return spec.strip().lower()
    return str(resolve_device(spec))


def checkpoint_options(p) -> None:
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="save a resumable cell's training state every STEPS steps")
    p.add_argument("--checkpoint-minutes", type=float, default=None, metavar="M",
                   help="... and every M minutes of training (default 10 without --checkpoint-every)")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep checkpoints after the records are written")


def checkpoint_policy(args) -> CheckpointPolicy:
    """The run's :class:`~benchmarks.checkpoints.CheckpointPolicy` (checked before anything runs)."""
    minutes = args.checkpoint_minutes if args.checkpoint_minutes is not None else (
        None if args.checkpoint_every is not None else DEFAULT_CHECKPOINTS.every_seconds / 60)
    seconds = None if minutes is None else 60 * minutes
    return CheckpointPolicy(args.checkpoint_every, seconds, args.keep_checkpoints)


def check_jobs(jobs: int | None) -> None:
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be a positive number of workers, got {jobs}")


def check_writable(results: Path) -> None:
    """Create ``results`` and prove a file can be written there, before the first cell trains."""
    try:
        results.mkdir(parents=True, exist_ok=True)
        probe = results / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"results folder {results} is not writable ({exc.strerror or exc}); "
                          "choose another with --results or $SAUB_RESULTS") from None


def finish(state, what: str = "cells") -> int:
    """The last line of a run, and its exit status: 1 when any cell failed or has no record."""
    unfinished = len(state.failed) + len(state.missing) + len(state.corrupt)
    print(f"done {len(state.done)}, failed {len(state.failed)}, missing {len(state.missing)}, "
          f"corrupt {len(state.corrupt)}" + (f": {unfinished} {what} did not finish" if unfinished else ""))
    return 1 if unfinished else 0


def cmd_run(args) -> int:
    exp = _experiment(args.experiment)
    exp.profile(args.profile)
    check_jobs(args.jobs)
    seeds = parse_seeds(args.seeds)
    results = Path(args.results)
    check_writable(results)
    device = cell_device(args.device, args.profile, args.executor)
    checkpoints = checkpoint_policy(args)
    if args.rows or args.set:
        return run_adhoc(exp, args, seeds, results, device, checkpoints)
    cells = only_tasks(exp.cells(args.profile, seeds), args.task)
    todo = plan_cells(cells, results, args.force, args.retry_failed)
    print(f"{exp.name} [{args.profile}]: {len(todo)} of {len(cells)} cells to run on {device} -> {results}")
    for part, why in exp.absent(args.profile).items():
        print(f"left out, data absent: {part}\n{why}", file=sys.stderr)
    if todo:
        run_cells(todo, results, executor=args.executor, jobs=args.jobs, address=args.address,
                  progress=not args.quiet, keep_models=args.keep_models, device=device,
                  checkpoints=checkpoints)
    return finish(cells_state(cells, results))


def only_tasks(cells: list, tasks: list[str] | None) -> list:
    """The cells whose task is one of ``tasks`` (all without); a task no cell has is refused, naming
    the grid's tasks (an experiment whose rows span tasks, e.g. priors-objectives)."""
    if not tasks:
        return cells
    present = sorted({c.task for c in cells})
    unknown = sorted(set(tasks) - set(present))
    if unknown:
        raise ConfigError(f"no cells of task(s) {', '.join(unknown)}; this grid's tasks: "
                          f"{', '.join(present)}")
    return [c for c in cells if c.task in tasks]


def cmd_evaluate(args) -> int:
    """``evaluate EXPERIMENT --metrics ...``: new metrics from the saved models of finished cells
    (:mod:`benchmarks.saved_models`), written into their records; nothing is retrained."""
    from benchmarks.runner import record_path
    from benchmarks.saved_models import evaluate_saved

    exp = _experiment(args.experiment)
    exp.profile(args.profile)
    results = Path(args.results)
    metrics = [m for part in args.metrics for m in part.split(",") if m]
    state = sweep_state(exp, args.profile, results, parse_seeds(args.seeds))
    if not state.done:
        raise ConfigError(f"{exp.name}: no finished cells for profile {args.profile} in {results}")
    with use_device(cell_device(args.device, args.profile, "serial")):
        out = evaluate_saved(exp, [(c, record_path(results, c)) for c in state.done], metrics)
    for line in out["failed"]:
        print(f"FAILED {line}", file=sys.stderr)
    print(f"{exp.name} [{args.profile}]: {', '.join(metrics)} from saved models: evaluated "
          f"{len(out['evaluated'])} of {len(state.done)} finished cells, failed {len(out['failed'])}, "
          f"without a saved model {len(out['no_model'])}"
          + (" (run them with --keep-models)" if out["no_model"] else ""))
    return 1 if out["failed"] or not out["evaluated"] else 0


def run_adhoc(exp, args, seeds, results: Path, device: str, checkpoints: CheckpointPolicy) -> int:
    """``run --rows/--set`` (:mod:`benchmarks.adhoc`): changed cells, kept apart, their metrics printed."""
    from benchmarks.adhoc import adhoc_cells, adhoc_results_dir
    from benchmarks.results_table import results_frame

    cells, manifest = adhoc_cells(exp, args.profile, seeds, args.rows, args.set)
    folder = adhoc_results_dir(results, manifest)
    todo = plan_cells(cells, folder, force=args.force, retry_failed=args.retry_failed)
    print(f"{exp.name} [{args.profile}] ad hoc ({', '.join(args.set or []) or 'rows only'}): "
          f"{len(todo)} of {len(cells)} cells to run -> {folder}")
    if todo:
        run_cells(todo, folder, executor=args.executor, jobs=args.jobs, address=args.address,
                  progress=not args.quiet, keep_models=args.keep_models, device=device,
                  checkpoints=checkpoints)
    state = cells_state(cells, folder)
    if state.records:
        frame = results_frame(state.records)
        done = frame[frame["status"] == "done"]
        table = done.pivot_table(index=["label", *[c for c in done if c.startswith("sweep.")]],
                                 columns="metric", values="value", aggfunc="mean")
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    return finish(state)


def cmd_train(args) -> int:
    """``train METHOD TASK``: one model outside any experiment; its record path and metrics printed."""
    from benchmarks.adhoc import single_model_run
    from benchmarks.runner import execute_cell

    results = Path(args.results)
    check_writable(results)
    device = cell_device(args.device, None, "serial")
    exp, cell, folder = single_model_run(args.method, args.task, args.set, args.seed, args.metric or [],
                                         args.diagnostics, results)
    print(f"train {args.method} on {args.task} (seed {args.seed}, {cell.budget.steps} steps, batch "
          f"{cell.budget.batch_size}{', ' + ', '.join(args.set) if args.set else ''}) -> {folder}")
    outcome = execute_cell(dataclasses.replace(cell, budget=dataclasses.replace(cell.budget,
                                                                                 progress=not args.quiet)),
                           folder, experiment=exp, device=device)
    record = json.loads(Path(outcome["path"]).read_text())
    if outcome["status"] != "done":
        print(f"failed: {outcome['error']}\nrecord: {outcome['path']}")
        return 1
    for name, value in sorted(record["metrics"].items()):
        print(f"{name}: {value:.4g}" if isinstance(value, float) else f"{name}: {value}")
    print(f"record: {outcome['path']}")
    return 0


def _search_experiment(name: str):
    base = EXPERIMENTS.get(name)
    if base.search is None:
        with_search = [n for n in EXPERIMENTS.names() if EXPERIMENTS.get(n).search is not None]
        raise ConfigError(f"experiment {name!r} declares no search; experiments with one: "
                          f"{', '.join(with_search) or 'none'}")
    return _experiment(f"{name}-search")


def cmd_search(args) -> int:
    """Run (or resume) the search trials, then select without target labels and write the selection
    once every trial has finished (:mod:`benchmarks.search`)."""
    from benchmarks.search import select_for, write_selection

    exp = _search_experiment(args.experiment)
    exp.profile(args.profile)
    check_jobs(args.jobs)
    results = Path(args.results)
    check_writable(results)
    device = cell_device(args.device, args.profile, args.executor)
    todo = [] if args.select_only else plan(exp, args.profile, results, retry_failed=args.retry_failed)
    total = len(exp.cells(args.profile))
    print(f"{exp.name} [{args.profile}]: {len(todo)} of {total} trials to run -> {results}")
    if todo:
        run_cells(todo, results, executor=args.executor, jobs=args.jobs, address=args.address,
                  progress=not args.quiet, device=device)
    state = sweep_state(exp, args.profile, results)
    for (label, sweep), sel in select_for(exp, state.records).items():
        print(f"  {label} {sweep}: trial {sel['trial']} (validation-only {sel['source_only_trial']}, "
              f"oracle {sel['oracle_trial']}; {sel['n_done']}/{sel['n_trials']} done) {sel['note'] or ''}")
    if state.missing or state.corrupt:
        print(f"selection not written: {len(state.missing) + len(state.corrupt)} trial(s) not finished",
              file=sys.stderr)
    else:
        print(f"wrote {write_selection(exp, state.records, args.profile)}")
    return finish(state, "trials")


def cmd_status(args) -> int:
    exp = _experiment(args.experiment)
    state = sweep_state(exp, args.profile, Path(args.results), parse_seeds(args.seeds))
    print(f"{exp.name} [{args.profile}]: done {len(state.done)}, failed {len(state.failed)}, "
          f"missing {len(state.missing)}, corrupt {len(state.corrupt)}")
    for kind in ("failed", "corrupt", "missing"):
        for cell in getattr(state, kind):
            reason = state.errors.get(cell.cell_id, "")
            print(f"  {kind:<8} {cell.cell_id} {reason}")
    return 0


def only_absent(exp, profile: str) -> bool:
    """The experiment's whole grid is left out for absent data: its page (saying so) is worth writing
    without records. A partly absent grid without records is skipped like any other."""
    return bool(exp.absent(profile)) and not exp.cells(profile)


def report_dir(args) -> Path:
    """``--out``, else ``reports/`` for the repository's own results, else ``<results>/reports``: a
    page built from another folder's records never overwrites the committed one unasked."""
    if args.out:
        return Path(args.out)
    if Path(args.results).resolve() == default_results_dir().resolve():
        return REPORTS_DIR
    return Path(args.results) / "reports"


def cmd_report(args) -> int:
    if not args.all and not args.experiment:
        raise ConfigError("name an experiment or pass --all")
    names = EXPERIMENTS.names() if args.all else [args.experiment]
    for name in names:
        exp = _experiment(name)
        if args.all and args.profile not in exp.profiles:  # e.g. a plugin experiment with a smoke profile
            print(f"{name}: no profile {args.profile}; skipped")
            continue
        state = sweep_state(exp, args.profile, Path(args.results))
        if not state.records and not only_absent(exp, args.profile):
            print(f"{name}: no records for profile {args.profile}; run `saub-bench run {name} "
                  f"--profile {args.profile}` first")
            continue
        path = write_report(exp, state.records, args.profile, report_dir(args),
                            missing=len(state.missing) + len(state.corrupt))
        print(f"{name}: wrote {path}")
    return 0


def cmd_export(args) -> int:
    from benchmarks.results_table import export, results_frame

    exp = _experiment(args.experiment)
    state = sweep_state(exp, args.profile, Path(args.results))
    if not state.records:
        raise ConfigError(f"{exp.name}: no records for profile {args.profile} in {args.results}")
    out = Path(args.out or Path(args.results) / f"{exp.name}_{args.profile}.{args.format}")
    frame = results_frame(state.records)
    export(frame, out, args.format)
    print(f"{exp.name}: wrote {out} ({len(frame)} rows from {len(state.records)} records)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saub-bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="experiments, methods, tasks and metrics")
    p.set_defaults(func=cmd_list)

    def common(p, experiment_required=True):
        p.add_argument("experiment", nargs=None if experiment_required else "?")
        p.add_argument("--profile", default="quick", choices=PROFILES)
        p.add_argument("--results", default=str(default_results_dir()), help="records folder")

    p = sub.add_parser("run", help="run an experiment's missing cells")
    common(p)
    p.add_argument("--seeds", help="seed indices, e.g. 0-4 or 0,2 (default: the profile's)")
    p.add_argument("--executor", default="serial", choices=EXECUTORS)
    p.add_argument("--jobs", type=int, default=None, help="workers (processes/ray)")
    p.add_argument("--address", default=None, help="Ray cluster address to join")
    p.add_argument("--force", action="store_true", help="recompute finished cells")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells recorded as failed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--rows", action="append", help="ad hoc: only these rows (repeatable); records go "
                   "to <results>/adhoc/")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="ad hoc: method.<knob>=, "
                   "task.<argument>= or budget.steps|batch_size= (repeatable, validated)")
    device_option(p)
    checkpoint_options(p)
    p.add_argument("--task", action="append", help="only the cells of this task (repeatable; records and "
                   "cell ids as in the full grid, the others are left for a later run)")
    p.add_argument("--keep-models", action="store_true", help="save each finished cell's trained model "
                   "beside its record (<profile>/models/), for `evaluate`")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("evaluate", help="compute metrics from saved models (run --keep-models), no "
                       "retraining")
    common(p)
    p.add_argument("--metrics", action="append", required=True, help="registered metrics, comma-separated "
                   "or repeated")
    p.add_argument("--seeds", default=None)
    device_option(p)
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("train", help="train one method on one task outside any experiment")
    p.add_argument("method")
    p.add_argument("task")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method.<knob>=, task.<argument>= "
                   f"or budget.steps|batch_size= (repeatable, validated; default budget {TRAIN_BUDGET.steps} "
                   f"steps, batch {TRAIN_BUDGET.batch_size})")
    p.add_argument("--seed", type=int, default=0, help="seed index")
    p.add_argument("--metric", action="append", help="a registered metric to evaluate (repeatable)")
    p.add_argument("--diagnostics", action="store_true", help="record the regime diagnostics")
    p.add_argument("--results", default=str(default_results_dir()), help="records go to <results>/train/")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    device_option(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("search", help="hyper-parameter search of an experiment's rows, label-free selection")
    common(p)
    p.add_argument("--executor", default="serial", choices=EXECUTORS)
    p.add_argument("--jobs", type=int, default=None, help="workers (processes/ray)")
    p.add_argument("--address", default=None, help="Ray cluster address to join")
    p.add_argument("--retry-failed", action="store_true", help="rerun trials recorded as failed")
    p.add_argument("--select-only", action="store_true", help="run nothing; select from finished trials")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    device_option(p)
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("status", help="done / failed / missing cells of an experiment")
    common(p)
    p.add_argument("--seeds", default=None)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("report", help="write reports/<experiment>.md from records")
    common(p, experiment_required=False)
    p.add_argument("--all", action="store_true")
    p.add_argument("--out", default=None, help="pages folder (default: reports/ for the repository's "
                   "results, else <results>/reports)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("export", help="the records as one tidy table (a row per cell x metric)")
    common(p)
    p.add_argument("--format", default="csv", choices=("csv", "parquet"))
    p.add_argument("--out", default=None, help="file (default: <results>/<experiment>_<profile>.<format>)")
    p.set_defaults(func=cmd_export)
    try:
        from benchmarks.data.cli import add_data_commands
    except ImportError:
        pass
    else:
        add_data_commands(sub)
    from benchmarks.embed_cli import add_embed_command

    add_embed_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from benchmarks.search import results_dir_for_selections

    with results_dir_for_selections(getattr(args, "results", None)):
        try:
            return args.func(args)
        except (ConfigError, ValueError) as exc:
            print(f"saub-bench: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
