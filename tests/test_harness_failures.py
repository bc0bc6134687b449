"""Failures that fail: budgets that cannot train, unwritable results, bad --jobs / --seeds, fairness
metrics on mismatched inputs, run-away losses, and report pages that never overwrite the committed
ones unasked (issue 19's list)."""

from __future__ import annotations

import os

import pytest
import torch

from benchmarks.cli import main
from benchmarks.config import ConfigError
from benchmarks.contracts import Budget, Split
from benchmarks.experiment import check_curves
from benchmarks.metrics.fairness import demographic_parity_gap, equal_opportunity_gap, fairness_scores
from benchmarks.sampling import balanced_batches
from saub.training import MAX_LOSS, DivergenceError, check_loss
from tests.harness_toys import harness_isolation  # noqa: F401

GRID = "toy-harness-grid"


@pytest.mark.parametrize("kwargs, field", [
    ({"steps": 0}, "steps"), ({"steps": -5}, "steps"), ({"steps": 10, "batch_size": 0}, "batch_size"),
    ({"steps": 2.5}, "steps"), ({"steps": 3, "eval_every": -1}, "eval_every"),
])
def test_a_budget_that_cannot_train_is_refused_where_it_is_declared(kwargs, field):
    with pytest.raises(ConfigError, match=f"Budget.{field} must be"):
        Budget(**kwargs)


def test_a_batch_too_small_for_its_domains_is_an_error_not_silently_enlarged():
    split = Split(torch.zeros(10, 2), torch.tensor([0] * 5 + [1] * 5))
    with pytest.raises(ValueError, match="batch_size 3 is too small for 2 domains"):
        next(balanced_batches(split, 3, torch.Generator().manual_seed(0)))
    assert len(next(balanced_batches(split, 4, torch.Generator().manual_seed(0)))) == 4


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_results_folder_is_found_before_any_cell_trains(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["run", GRID, "--profile", "smoke", "--results", str(locked / "r"), "--quiet"]) == 2
    finally:
        locked.chmod(0o700)
    assert "is not writable" in capsys.readouterr().err


def test_a_results_path_that_is_a_file_is_refused_before_any_cell_trains(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", GRID, "--profile", "smoke", "--results", str(blocker / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "results folder" in err and "is not writable" in err


@pytest.mark.parametrize("argv, needle", [
    (["--jobs", "-1"], "--jobs must be a positive number of workers, got -1"),
    (["--jobs", "0"], "--jobs must be a positive number of workers, got 0"),
    (["--seeds", "5-2"], "--seeds range '5-2' is empty"),
])
def test_bad_jobs_and_seeds_fail_up_front(argv, needle, tmp_path, capsys):
    results = tmp_path / "r"
    assert main(["run", GRID, "--profile", "smoke", "--results", str(results), "--quiet", *argv]) == 2
    assert needle in capsys.readouterr().err
    assert not results.exists()


def test_fairness_metrics_name_mismatched_lengths():
    with pytest.raises(ValueError, match="one entry per row.*y_pred: 3, s: 2"):
        demographic_parity_gap(torch.tensor([1, 0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="y: 2"):
        equal_opportunity_gap(torch.tensor([1, 0, 1]), torch.tensor([1, 0]), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="one entry per row"):
        fairness_scores(torch.tensor([1, 0]), torch.tensor([1, 0, 1]), torch.tensor([0, 1, 1]))


def test_a_finite_run_away_loss_is_divergence():
    check_loss("loss", 1e9, 3)
    with pytest.raises(DivergenceError, match=r"ran away: \|1e\+19\| > 1e\+10 at step 7"):
        check_loss("reconstruction", 1e19, 7)
    with pytest.raises(DivergenceError, match="is inf at step 0"):
        check_loss("loss", float("inf"), 0)
    # every method: the harness reads its declared loss curves after fit (NaN marks a skipped stage)
    check_curves({"a": [1.0, float("nan"), 2.0], "lr": [1e12]}, {"a": 1.0})
    with pytest.raises(DivergenceError, match="training curve 'a' ran away.*at step 2"):
        check_curves({"a": [1.0, 10.0, 5 * MAX_LOSS]}, {"a": 1.0})
    with pytest.raises(DivergenceError, match="training curve 'b'"):
        check_curves({"b": [1.0, -1e20]}, {})


def test_report_from_another_results_folder_does_not_overwrite_the_committed_page(tmp_path, capsys):
    results = tmp_path / "r"
    main(["run", GRID, "--profile", "smoke", "--results", str(results), "--quiet", "--seeds", "0"])
    capsys.readouterr()
    code = main(["report", "toy-harness-vaub", "--profile", "smoke", "--results", str(results)])
    out = capsys.readouterr().out
    assert code == 0 and "no records" in out  # nothing to write for another experiment
    from types import SimpleNamespace

    from benchmarks import cli

    assert cli.report_dir(SimpleNamespace(out=None, results=str(results))) == results / "reports"
    default = str(cli.default_results_dir())
    assert cli.report_dir(SimpleNamespace(out=None, results=default)) == cli.REPORTS_DIR
    assert cli.report_dir(SimpleNamespace(out=str(tmp_path / "o"), results=str(results))) == tmp_path / "o"
