"""Ad-hoc runs (benchmarks.adhoc, `saub-bench run --rows/--set`): typed and validated overrides,
records kept apart from the experiment's own and labelled."""

import json

import pytest

from benchmarks.adhoc import adhoc_cells
from benchmarks.cli import main
from benchmarks.config import ConfigError
from benchmarks.registry import EXPERIMENTS
from tests.harness_toys import ToyExperiment  # noqa: F401  (registers the toys)

GRID = "toy-harness-grid"


def test_overrides_are_typed_and_reach_only_the_named_rows():
    exp = EXPERIMENTS.get(GRID)
    cells, manifest = adhoc_cells(exp, "smoke", [0], ["ok"], ["method.scale=2.5", "method.flag=true",
                                                              "task.n_per_domain=8", "budget.steps=4"])
    assert {c.label for c in cells} == {"ok"}
    assert len(cells) == 1  # the two sweep values both became 8: one cell
    (cell,) = cells
    assert cell.overrides == {"scale": 2.5, "flag": True} and cell.sweep == {"task.n_per_domain": 8}
    assert cell.budget.steps == 4 and manifest["rows"] == ["ok"] and manifest["set"]["method.scale"] == "2.5"
    own = {c.cell_id for c in exp.cells("smoke", [0])}
    assert cell.cell_id not in own


@pytest.mark.parametrize("sets, message", [
    (["method.bogus=1"], "valid options: flag, mode, scale, sleep_s"),
    (["method.mode=fast"], "choose one of ok, raise, nan-metric"),
    (["method.scale=big"], "scale: expected float"),
    (["task.colour=red"], "valid arguments:"),
    (["budget.steps=-3"], "steps"),
    (["budget.epochs=3"], "valid budget keys: steps, batch_size"),
    (["scale=2"], "keys look like method.<knob>"),
    (["method.scale"], "must look like key=value"),
])
def test_bad_overrides_are_refused_before_anything_runs(sets, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        adhoc_cells(EXPERIMENTS.get(GRID), "smoke", [0], ["ok"], sets)


def test_unknown_row_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid rows: ok, raise, diverge, nanmetric"):
        adhoc_cells(EXPERIMENTS.get(GRID), "smoke", [0], ["nope"], [])


def test_run_keeps_adhoc_records_apart_and_labelled(tmp_path, capsys):
    args = ["run", GRID, "--profile", "smoke", "--seeds", "0", "--rows", "ok", "--set", "method.scale=3",
            "--results", str(tmp_path), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ad hoc (method.scale=3): 2 of 2 cells to run" in out and "done 2, failed 0" in out
    assert not (tmp_path / GRID).exists()  # the experiment's own folder is untouched
    (folder,) = (tmp_path / "adhoc").iterdir()
    manifest = json.loads((folder / "adhoc.json").read_text())
    assert manifest["experiment"] == GRID and manifest["set"] == {"method.scale": "3"}
    records = [json.loads(p.read_text()) for p in (folder / GRID / "smoke").glob("*.json")]
    assert len(records) == 2 and all(r["config"]["scale"] == 3.0 for r in records)
    assert main(args) == 0 and "0 of 2 cells to run" in capsys.readouterr().out  # resumes, nothing redone


def test_train_runs_one_model_outside_any_experiment(tmp_path, capsys):
    argv = ["train", "vaub", "nested-d", "--set", "budget.steps=5", "--set", "method.beta=0.5",
            "--metric", "svc-auroc", "--results", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    (path,) = (tmp_path / "train").rglob("vaub__s0__*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "done" and record["config"]["beta"] == 0.5
    assert record["cell"]["budget"]["steps"] == 5
    assert f"auroc: {record['metrics']['auroc']:.4g}" in out and str(path) in out
    manifest = json.loads(next((tmp_path / "train").rglob("adhoc.json")).read_text())
    assert manifest["set"] == {"budget.steps": "5", "method.beta": "0.5"}
    # the same command again trains the same model: same numbers, same record file
    assert main(argv) == 0
    assert json.loads(path.read_text())["metrics"] == record["metrics"]


@pytest.mark.parametrize("argv, needle", [
    (["train", "vaubb", "nested-d"], "valid"),
    (["train", "vaub", "nested-dd"], "valid"),
    (["train", "vaub", "nested-d", "--set", "method.betaa=1"], "valid options"),
    (["train", "vaub", "nested-d", "--set", "budget.steps=0"], "positive integer"),
    (["train", "vaub", "nested-d", "--metric", "no-such-metric"], "valid"),
])
def test_train_rejects_bad_input_before_training(argv, needle, tmp_path, capsys):
    assert main([*argv, "--results", str(tmp_path)]) == 2
    assert needle in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.json"))
