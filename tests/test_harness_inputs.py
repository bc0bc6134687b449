"""Bad input fails early, names what is valid, and writes nothing.

Unknown experiments, methods, metrics, tasks, executors and profiles; malformed overrides
(``resolve_config``); and experiments whose rows, sweeps or task arguments are wrong, which
:meth:`Experiment.validate` must reject before a single cell runs.
"""

from __future__ import annotations

import re

import pytest

from benchmarks.cli import main
from benchmarks.config import ConfigError, parse_assignments, resolve_config
from benchmarks.contracts import Budget
from benchmarks.executors import get_executor, run_cells
from benchmarks.experiment import Profile, Row
from benchmarks.methods.vaub_family import VAUBConfig
from benchmarks.registry import EXPERIMENTS, METHODS, METRICS, TASKS
from tests.harness_toys import ToyConfig, ToyExperiment, harness_isolation, temporary_experiment  # noqa: F401

SMOKE = {"smoke": Profile(Budget(steps=2, batch_size=8), seeds=1, task_kwargs={"n_per_domain": 6})}


def _listed(message: str, names) -> None:
    """Every valid name appears in the error message."""
    for name in names:
        assert name in message, f"{name!r} missing from: {message}"


def _bad_experiment(**attrs) -> ToyExperiment:
    exp = ToyExperiment()
    exp.name = "toy-harness-bad"
    exp.rows = [Row("ok", "toy-harness")]
    exp.profiles = SMOKE
    for key, value in attrs.items():
        setattr(exp, key, value)
    return exp


def _nothing_written(results) -> None:
    assert not results.exists() or not any(results.rglob("*")), sorted(results.rglob("*"))


# ----------------------------------------------------------------------------- registries
@pytest.mark.parametrize("registry,kind", [(EXPERIMENTS, "experiment"), (METHODS, "method"),
                                           (METRICS, "metric"), (TASKS, "task")])
def test_unknown_registry_name_lists_every_valid_name(registry, kind):
    with pytest.raises(ConfigError) as exc:
        registry.get("no-such-thing")
    message = str(exc.value)
    assert f"unknown {kind} 'no-such-thing'" in message
    assert f"valid {kind}s: " in message
    _listed(message, registry.names())


def test_unknown_executor_lists_the_executors(tmp_path):
    with pytest.raises(ConfigError, match="valid executors: processes, ray, serial"):
        get_executor("slurm")
    cells = EXPERIMENTS.get("toy-harness-grid").cells("smoke")[:1]
    with pytest.raises(ConfigError, match="unknown executor 'slurm'"):
        run_cells(cells, tmp_path / "results", executor="slurm")
    _nothing_written(tmp_path / "results")


def test_unknown_profile_lists_the_profiles():
    with pytest.raises(ValueError, match="unknown profile 'paper'; valid profiles: smoke"):
        EXPERIMENTS.get("toy-harness-grid").cells("paper")


# ----------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("argv,needles", [
    (["run", "fig99"], ["unknown experiment 'fig99'", "valid experiments: ", "fig3", "toy-harness-grid"]),
    (["status", "fig99"], ["unknown experiment 'fig99'", "fig3"]),
    (["report", "fig99"], ["unknown experiment 'fig99'", "fig3"]),
    (["report"], ["name an experiment or pass --all"]),
    (["run", "toy-harness-grid", "--profile", "quick"], ["unknown profile 'quick'; valid profiles: smoke"]),
    (["status", "toy-harness-grid", "--profile", "paper"], ["valid profiles: smoke"]),
    (["run", "toy-harness-grid", "--profile", "smoke", "--seeds", "a-b"], ["--seeds must look like"]),
    (["run", "toy-harness-grid", "--profile", "smoke", "--seeds", "0,-1"], ["--seeds"]),
])
def test_cli_bad_names_exit_2_and_write_nothing(argv, needles, tmp_path, capsys):
    results, out = tmp_path / "results", tmp_path / "reports"
    extra = ["--results", str(results)] + (["--out", str(out)] if argv[0] == "report" else [])
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("saub-bench: error: ")
    for needle in needles:
        assert needle in err
    _nothing_written(results)
    _nothing_written(out)


@pytest.mark.parametrize("flag,value,choices", [
    ("--executor", "slurm", ["serial", "processes", "ray"]),
    ("--profile", "huge", ["smoke", "quick", "paper"]),
])
def test_cli_unknown_executor_or_profile_choice(flag, value, choices, tmp_path, capsys):
    results = tmp_path / "results"
    with pytest.raises(SystemExit) as exc:
        main(["run", "toy-harness-grid", flag, value, "--results", str(results)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid choice: '{value}'" in err
    _listed(err, choices)
    _nothing_written(results)


@pytest.mark.parametrize("attrs,needles", [
    ({"rows": [Row("ok", "toy-harness"), Row("x", "sauce")]}, ["unknown method 'sauce'", "valid methods: ",
                                                               "saub", "vaub", "toy-harness"]),
    ({"metrics": ["toy-harness-score", "accuracy"]}, ["unknown metric 'accuracy'", "valid metrics: ",
                                                      "svc-auroc", "toy-harness-score"]),
    ({"task": "nested-e"}, ["unknown task 'nested-e'", "valid tasks: ", "nested-d"]),
    ({"rows": [Row("ok", "toy-harness"), Row("bad", "toy-harness", {"mode": "explode"})]},
     ["mode: 'explode' is not valid; choose one of ok, raise, nan-metric"]),
    ({"rows": [Row("ok", "toy-harness"), Row("bad", "toy-harness", {"sclae": 2.0})]},
     ["unknown option 'sclae'", "valid options: flag, mode, scale, sleep_s"]),
    ({"rows": [Row("ok", "saub"), Row("bad", "saub", {"beta": "abc"})]}, ["beta: expected float, got 'abc'"]),
])
def test_cli_run_rejects_bad_experiment_before_any_cell(attrs, needles, tmp_path, capsys):
    results = tmp_path / "results"
    with temporary_experiment(_bad_experiment(**attrs)):
        assert main(["run", "toy-harness-bad", "--profile", "smoke", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err
    _nothing_written(results)  # the good first row did not run either


# ----------------------------------------------------------------------------- configs
def test_bad_override_values_raise_config_error():
    with pytest.raises(ConfigError, match=r"beta: expected float, got 'abc'"):
        resolve_config(VAUBConfig, {"beta": "abc"})
    with pytest.raises(ConfigError) as exc:
        resolve_config(VAUBConfig, {"prior": "cauchy"})
    assert "prior: 'cauchy' is not valid; choose one of gaussian, mog, vamp, ebm, score" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        resolve_config(VAUBConfig, {"lambda": 1.0})
    message = str(exc.value)
    assert "unknown option 'lambda' for VAUBConfig; valid options: " in message
    import dataclasses

    _listed(message, [f.name for f in dataclasses.fields(VAUBConfig)])
    with pytest.raises(ConfigError, match="latent_dim: expected int, got 2.5"):
        resolve_config(VAUBConfig, {"latent_dim": 2.5})
    with pytest.raises(ConfigError, match="latent_dim: expected int"):
        resolve_config(VAUBConfig, {"latent_dim": True})
    with pytest.raises(ConfigError, match="latent_dim: expected int"):
        resolve_config(VAUBConfig, {"latent_dim": "two"})
    with pytest.raises(ConfigError, match="expected a string"):
        resolve_config(VAUBConfig, {"prior": 3})
    # a well-typed value the config's own validate() rejects
    with pytest.raises(ValueError, match="beta must lie in"):
        resolve_config(VAUBConfig, {"beta": "2"})


@pytest.mark.parametrize("text,expected", [("true", True), ("True", True), ("1", True), ("yes", True),
                                           ("false", False), ("FALSE", False), ("0", False), ("no", False),
                                           (True, True), (False, False)])
def test_bool_parsing(text, expected):
    assert resolve_config(ToyConfig, {"flag": text}).flag is expected


@pytest.mark.parametrize("bad", ["maybe", "", "2", 1, 0, None])
def test_bool_parsing_rejects_everything_else(bad):
    with pytest.raises(ConfigError, match="flag: expected a boolean"):
        resolve_config(ToyConfig, {"flag": bad})


def test_strings_from_the_command_line_are_coerced_by_type():
    cfg = resolve_config(VAUBConfig, parse_assignments(["latent_dim=4", "beta=0.5", "sfs_perturb=no",
                                                        "n_levels=none", "gw_block_size=null", "gw = sp"]))
    assert (cfg.latent_dim, cfg.beta, cfg.sfs_perturb, cfg.n_levels, cfg.gw_block_size, cfg.gw) == \
        (4, 0.5, False, None, None, "sp")
    assert resolve_config(VAUBConfig, {"n_levels": "7"}).n_levels == 7
    with pytest.raises(ConfigError, match="must look like key=value"):
        parse_assignments(["latent_dim"])


# ----------------------------------------------------------------------------- Experiment.validate
def test_validate_rejects_a_bad_row_override():
    exp = _bad_experiment(rows=[Row("ok", "saub"), Row("bad", "saub", {"gw": "xp"})])
    with pytest.raises(ConfigError, match="gw: 'xp' is not valid; choose one of none, ep, sp"):
        exp.validate()


def test_validate_rejects_a_bad_profile_override():
    profiles = {"smoke": SMOKE["smoke"],
                "quick": Profile(Budget(steps=2), seeds=1, method_overrides={"scale": "big"})}
    with pytest.raises(ConfigError, match="scale: expected float, got 'big'"):
        _bad_experiment(profiles=profiles).validate()


def test_a_profile_override_reaches_only_the_rows_whose_method_takes_it():
    """One family's option (the VAUB family's prior_steps) goes to that family's rows only; an option
    no row takes is refused, naming the options the rows do take."""
    rows = [Row("saub", "saub"), Row("adda", "adda")]
    quick = Profile(Budget(steps=2), seeds=1, method_overrides={"prior_steps": 3})
    exp = _bad_experiment(rows=rows, profiles={"smoke": SMOKE["smoke"], "quick": quick})
    exp.validate()
    by_label = {c.label: c.overrides for c in exp.cells("quick")}
    assert by_label["saub"] == {"prior_steps": 3} and "prior_steps" not in by_label["adda"]
    typo = Profile(Budget(steps=2), seeds=1, method_overrides={"prior_stepz": 3})
    with pytest.raises(ConfigError, match="prior_stepz reach no row; the rows' methods take: .*prior_steps"):
        _bad_experiment(rows=rows, profiles={"smoke": SMOKE["smoke"], "quick": typo}).validate()


@pytest.mark.parametrize("sweep,task_kwargs,pattern", [
    ({"method.scale": (1.0, "big")}, {}, "scale: expected float, got 'big'"),
    ({"method.sclae": (1.0,)}, {}, "unknown option 'sclae'"),
    ({"task.n_per_domian": (6,)}, {}, "n_per_domian"),
    ({}, {"n_per_domian": 6}, "n_per_domian"),
    ({"n_per_domain": (6, 8)}, {}, "sweep keys must start with 'task.' or 'method.'"),
    ({"task.n_per_domain": (6, 8)}, {"n_per_domain": 6}, "n_per_domain both swept and fixed"),
])
def test_validate_rejects_bad_sweeps_and_task_arguments(sweep, task_kwargs, pattern):
    profiles = {"smoke": Profile(Budget(steps=2), seeds=1, sweep=sweep, task_kwargs=task_kwargs)}
    with pytest.raises(ConfigError, match=pattern):
        _bad_experiment(profiles=profiles).validate()


def test_validate_leaves_task_arguments_to_an_experiment_that_builds_its_own_task():
    class OwnTask(ToyExperiment):
        def make_task(self, cell):  # pragma: no cover - never run
            raise NotImplementedError

    exp = OwnTask()
    exp.rows = [Row("ok", "toy-harness")]
    exp.profiles = {"smoke": Profile(Budget(steps=2), seeds=1, task_kwargs={"anything": 1})}
    exp.validate()
    with pytest.raises(ConfigError, match="anything"):
        _bad_experiment(profiles=exp.profiles).validate()


def test_validate_accepts_the_registered_experiments():
    for name in EXPERIMENTS.names():
        EXPERIMENTS.get(name).validate()


def test_cli_rejects_bad_sweep_value_before_any_cell(tmp_path, capsys):
    profiles = {"smoke": Profile(Budget(steps=2, batch_size=8), seeds=1, sweep={"method.scale": (1.0, "x")},
                                 task_kwargs={"n_per_domain": 6})}
    results = tmp_path / "results"
    with temporary_experiment(_bad_experiment(profiles=profiles)):
        assert main(["run", "toy-harness-bad", "--profile", "smoke", "--results", str(results)]) == 2
    assert re.search("scale: expected float, got 'x'", capsys.readouterr().err)
    _nothing_written(results)
