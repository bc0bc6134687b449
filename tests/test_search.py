"""Hyper-parameter search (benchmarks.search): seeded draws, validation before anything runs, the
label-free selection rule, resume, and the base grid taking the selection."""

from __future__ import annotations

import contextlib
import json

import pytest

from benchmarks import search as sr
from benchmarks.cli import main
from benchmarks.config import ConfigError
from benchmarks.contracts import Budget
from benchmarks.experiment import Profile
from benchmarks.registry import EXPERIMENTS
from benchmarks.runner import default_results_dir
from tests.harness_toys import ToyVAUB, temporary_experiment

SPACE = {"lr": sr.LogUniform(1e-4, 1e-2), "beta": sr.Uniform(0.1, 0.9), "prior_steps": sr.Choice(1, 2, 5)}


def test_draws_are_seeded_by_names_and_within_range():
    a = sr.draw(SPACE, "exp", "search", "row", 3)
    assert a == sr.draw(SPACE, "exp", "search", "row", 3)
    assert a != sr.draw(SPACE, "exp", "search", "row", 4)
    assert 1e-4 <= a["lr"] <= 1e-2 and 0.1 <= a["beta"] <= 0.9 and a["prior_steps"] in (1, 2, 5)
    # adding a knob never moves the other knobs' draws
    grown = sr.draw({**SPACE, "obs_std": sr.LogUniform(0.5, 2.0)}, "exp", "search", "row", 3)
    assert {k: grown[k] for k in a} == a
    # a log-uniform draw is uniform in log space: its median over many draws is the geometric mean
    draws = sorted(sr.draw({"lr": sr.LogUniform(1e-4, 1e-2)}, "exp", t)["lr"] for t in range(2001))
    assert draws[1000] == pytest.approx(1e-3, rel=0.15)


def test_distribution_edges():
    assert sr.LogUniform(1e-3, 1.0).sample(0.0) == pytest.approx(1e-3)
    assert sr.LogUniform(1e-3, 1.0).sample(0.5) == pytest.approx(math_sqrt(1e-3))
    assert sr.Uniform(2.0, 4.0).sample(0.25) == 2.5
    assert [sr.Choice("a", "b").sample(u) for u in (0.0, 0.49, 0.5, 0.999)] == ["a", "a", "b", "b"]


def math_sqrt(x: float) -> float:
    return x**0.5


@pytest.mark.parametrize("space, message", [
    ({"learning_rate": sr.LogUniform(1e-4, 1e-2)}, "unknown knob.*learning_rate.*valid knobs:.*lr"),
    ({"lr": sr.LogUniform(1e-2, 1e-2)}, "LogUniform needs 0 < low < high"),
    ({"lr": sr.LogUniform(0.0, 1e-2)}, "LogUniform needs 0 < low < high"),
    ({"beta": sr.Uniform(0.5, 0.1)}, "Uniform needs low < high"),
    ({"prior_steps": sr.Choice()}, "Choice needs at least one value"),
    ({"lr": (1e-4, 1e-2)}, "expected LogUniform, Uniform or Choice"),
])
def test_bad_search_spaces_are_rejected_naming_the_valid_knobs(space, message):
    with pytest.raises(ConfigError, match=message):
        sr.validate_space("saub", space)


def _record(label, trial, source_val, target, balanced, active=1.0, status="done", sweep="a"):
    return {"status": status, "cell": {"label": label, "sweep": {"task.x": sweep, sr.TRIAL: trial},
                                       "overrides": {"lr": trial}},
            "metrics": {"source_val_accuracy": source_val, "target_accuracy": target},
            "diagnostics": {"final": {"alignment": {"balanced_accuracy": balanced},
                                      "collapse": {"active_fraction": active}}}}


def test_selection_prefers_aligned_trials_and_never_reads_target_labels():
    records = [
        _record("m", 0, 0.95, 0.40, 0.99),               # best source val, not aligned
        _record("m", 1, 0.80, 0.60, 0.70),               # aligned
        _record("m", 2, 0.85, 0.50, 0.60),               # aligned, better source val: the rule's choice
        _record("m", 3, 0.99, 0.90, 0.50, active=0.0),   # collapsed: never chosen by the rule
        _record("m", 4, 0.99, 0.99, 0.50, status="failed"),
    ]
    sel = sr.select(records)[("m", json.dumps({"task.x": "a"}))]
    assert sel["trial"] == 2 and sel["aligned"] and sel["note"] is None
    assert sel["source_only_trial"] == 3 and sel["oracle_trial"] == 3
    assert sel["least_separable_trial"] == 2  # lowest probe accuracy among the non-collapsed
    assert sel["n_done"] == 4 and sel["n_trials"] == 5
    # the target accuracies do not enter the rule: permuting them leaves the choice alone
    for r, t in zip(records, (0.1, 0.2, 0.3, 0.4, 0.5)):
        r["metrics"]["target_accuracy"] = t
    assert sr.select(records)[("m", json.dumps({"task.x": "a"}))]["trial"] == 2


def test_selection_falls_back_to_source_validation_and_says_so():
    records = [_record("m", 0, 0.7, 0.4, 0.95), _record("m", 1, 0.9, 0.3, 0.99),
               _record("m", 2, 0.99, 0.3, 0.5, active=0.0)]
    sel = sr.select(records)[("m", json.dumps({"task.x": "a"}))]
    assert sel["trial"] == 1 and not sel["aligned"] and sel["note"] == "no aligned configuration"
    assert sel["least_separable_trial"] == 0


# ------------------------------------------------------------------ end to end on the toy VAUB rows
class SearchedToy(ToyVAUB):
    name = "toy-harness-searched"
    search = sr.Search(trials={"smoke": 3},
                       profiles={"smoke": Profile(Budget(steps=3, batch_size=16), seeds=1)},
                       spaces={"vaub": {"lr": sr.LogUniform(1e-4, 1e-2)}},
                       metrics=("toy-harness-score",))


@contextlib.contextmanager
def searched(cls=SearchedToy):
    base = cls()
    with temporary_experiment(base), temporary_experiment(sr.make_search_experiment(base)) as search:
        yield base, search


def test_search_runs_resumes_and_the_grid_takes_the_selection(tmp_path, capsys, single_thread,
                                                              restore_determinism):
    results = tmp_path / "results"
    with searched() as (base, search):
        cells = search.cells("smoke")
        assert len(cells) == 2 * 3  # two rows x three trials, one seed each
        own = [c for c in cells if c.sweep[sr.TRIAL] == 0]
        assert all(c.overrides == r.resolved_overrides({}) for c, r in zip(own, base.rows))
        space = sr.row_space(base, base.rows[0])  # "saub" row: the method's declared space
        assert {"beta", "lr", "obs_std", "prior_lr", "prior_steps"} <= set(space)
        assert main(["search", base.name, "--profile", "smoke", "--results", str(results), "--quiet"]) == 0
        out = capsys.readouterr().out
        assert "6 of 6 trials to run" in out
        selection = json.loads((results / "selected" / f"{base.name}_smoke.json").read_text())
        assert {e["label"] for e in selection["selected"]} == {"saub", "vaub"}
        # resume: nothing left; after losing one record, only that trial runs again
        assert main(["search", base.name, "--profile", "smoke", "--results", str(results), "--quiet"]) == 0
        assert "0 of 6 trials to run" in capsys.readouterr().out
        next((results / search.name / "smoke").glob("vaub__*trial=2*.json")).unlink()
        assert main(["search", base.name, "--profile", "smoke", "--results", str(results), "--quiet"]) == 0
        assert "1 of 6 trials to run" in capsys.readouterr().out
        # the base grid now runs every row in its selected configuration
        with sr.results_dir_for_selections(results):
            chosen = {e["label"]: e["overrides"] for e in selection["selected"]}
            for cell in base.cells("smoke"):
                assert {k: cell.overrides[k] for k in chosen[cell.label]} == chosen[cell.label]
        # the command restored the selection folder it found: the committed grids are back
        committed = default_results_dir() / "selected" / "table1_quick.json"
        assert sr.selection_path("table1", "quick") == committed


def test_a_search_naming_an_unknown_knob_fails_before_anything_runs(tmp_path, capsys):
    class Bad(SearchedToy):
        name = "toy-harness-searched-bad"
        search = sr.Search(trials={"smoke": 2}, profiles=SearchedToy.search.profiles,
                           spaces={"vaub": {"learning_rate": sr.LogUniform(1e-4, 1e-2)}})

    with searched(Bad):
        code = main(["search", Bad.name, "--profile", "smoke", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown knob(s) learning_rate" in err and "valid knobs:" in err
    assert not any(tmp_path.iterdir())


def test_search_of_an_experiment_without_one_lists_those_with_one(capsys):
    assert main(["search", "fig4"]) == 2
    err = capsys.readouterr().err
    assert "declares no search; experiments with one: fig3, priors-objectives, table1" in err
    assert "table1-search" in EXPERIMENTS


def test_selection_by_a_lower_is_better_validation_key():
    """fig3's rule: lowest held-out reconstruction error among aligned trials; the oracle is the
    experiment's headline (label AUROC), read only for the oracle column."""
    records = [_record("m", t, 0.0, 0.0, bal) for t, bal in enumerate((0.6, 0.6, 0.9))]
    for r, mse, auroc in zip(records, (0.30, 0.10, 0.01), (0.7, 0.8, 0.99)):
        r["metrics"] = {"test_recon_mse": mse, "auroc": auroc}
    sel = sr.select(records, "test_recon_mse", higher_is_better=False, oracle="auroc")[
        ("m", json.dumps({"task.x": "a"}))]
    assert sel["trial"] == 1 and sel["aligned"]          # trial 2 reconstructs best but is not aligned
    assert sel["source_only_trial"] == 2 and sel["oracle_trial"] == 2


def test_a_search_may_cover_a_subset_of_the_sweep():
    from benchmarks.registry import EXPERIMENTS

    search = EXPERIMENTS.get("fig3-search")
    n_values = {c.sweep["task.n_per_domain"] for c in search.cells("quick")}
    assert n_values == {20, 100}
    assert len(search.cells("quick")) == 7 * 8 * 2  # seven priors (EBM included), 8 trials, two n
    assert "lowest held-out reconstruction MSE" in EXPERIMENTS.get("fig3").search.rule
