"""Saved models (issue 17, item 3): ``run --keep-models`` keeps each finished cell's trained method
beside its record; ``evaluate`` computes metrics from it without retraining and says so."""

from __future__ import annotations

import json

import torch

from benchmarks.cli import main
from benchmarks.records import read_record
from tests.harness_toys import harness_isolation  # noqa: F401

VAUB = "toy-harness-vaub"  # saub and vaub on nested-d, 5 steps, metrics reconstruction-mse + toy score


def _records(results):
    return {p.stem: read_record(p) for p in (results / VAUB / "smoke").glob("*.json")}


def test_kept_models_give_the_same_metric_without_retraining(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", VAUB, "--profile", "smoke", "--seeds", "0", "--quiet", "--keep-models",
                 "--results", str(results)]) == 0
    before = _records(results)
    assert len(before) == 2
    for rec in before.values():
        assert (results / VAUB / "smoke" / rec["model"]["file"]).exists()
    capsys.readouterr()
    assert main(["evaluate", VAUB, "--profile", "smoke", "--metrics", "reconstruction-mse",
                 "--results", str(results)]) == 0
    assert "evaluated 2 of 2 finished cells" in capsys.readouterr().out
    after = _records(results)
    for cell_id, rec in after.items():
        # the deterministic metric computed from the saved model equals the one after training
        assert rec["metrics"]["test_recon_mse"] == before[cell_id]["metrics"]["test_recon_mse"]
        (evaluation,) = rec["evaluations"]
        assert evaluation["from_saved_model"] == rec["model"]["file"]
        assert evaluation["keys"] == ["test_recon_mse"]


def test_a_model_of_another_configuration_is_refused_and_its_record_kept(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", VAUB, "--profile", "smoke", "--seeds", "0", "--quiet", "--keep-models",
                 "--results", str(results)]) == 0
    before = _records(results)
    cell_id, rec = sorted(before.items())[0]
    model = results / VAUB / "smoke" / rec["model"]["file"]
    saved = torch.load(model, weights_only=False)
    saved["config_hash"] = "0" * 16
    torch.save(saved, model)
    capsys.readouterr()
    assert main(["evaluate", VAUB, "--profile", "smoke", "--metrics", "reconstruction-mse",
                 "--results", str(results)]) == 1
    captured = capsys.readouterr()
    assert "another configuration" in captured.err and "failed 1" in captured.out
    assert _records(results)[cell_id] == before[cell_id]


def test_evaluate_without_kept_models_says_how_to_get_them(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", VAUB, "--profile", "smoke", "--seeds", "0", "--quiet",
                 "--results", str(results)]) == 0
    assert all("model" not in r for r in _records(results).values())
    capsys.readouterr()
    assert main(["evaluate", VAUB, "--profile", "smoke", "--metrics", "reconstruction-mse",
                 "--results", str(results)]) == 1
    assert "without a saved model 2 (run them with --keep-models)" in capsys.readouterr().out


def test_evaluate_rejects_an_unknown_metric_before_loading_anything(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", VAUB, "--profile", "smoke", "--seeds", "0", "--quiet", "--keep-models",
                 "--results", str(results)]) == 0
    before = json.dumps(_records(results), sort_keys=True)
    assert main(["evaluate", VAUB, "--profile", "smoke", "--metrics", "no-such-metric",
                 "--results", str(results)]) == 2
    assert "reconstruction-mse" in capsys.readouterr().err  # the valid names are listed
    assert json.dumps(_records(results), sort_keys=True) == before
