"""The tidy results table (benchmarks.results_table): one row per cell x scalar metric, failures kept,
queries by row and sweep value, and a CSV export that reads back equal."""

import math

import pandas as pd
import pytest

from benchmarks.results_table import ONLY_SWEEP, export, results_frame, values_by


def _record(label, seed, n, metrics, status="done", error=None):
    return {"cell": {"experiment": "toy", "profile": "quick", "label": label, "method": label.lower(),
                     "seed_index": seed, "sweep": {"task.n_per_domain": n}},
            "cell_id": f"{label}__n={n}__s{seed}", "status": status, "error": error, "metrics": metrics,
            "wall_time_s": 1.5, "provenance": {"git_commit": "abc", "torch": "2.13.0", "device": "cpu"}}


RECORDS = [
    _record("SFS", 0, 20, {"auroc": 0.8, "note": "n/a", "curve": [1, 2]}),
    _record("SFS", 1, 20, {"auroc": 0.9}),
    _record("SFS", 0, 100, {"auroc": 0.99}),
    _record("MoG", 0, 20, {"auroc": 0.7}),
    _record("MoG", 1, 20, {}, status="failed", error="diverged at step 12"),
]


def test_one_row_per_cell_and_scalar_metric_with_failures_kept():
    frame = results_frame(RECORDS)
    assert len(frame) == 6  # 2 + 1 + 1 + 1 metrics, 1 failure row; the list-valued curve is left out
    assert list(frame.columns[:6]) == ["experiment", "profile", "label", "method", "seed",
                                       "sweep.task.n_per_domain"]
    assert frame["value"].dtype == "float64" and frame["seed"].dtype == "int64"
    na = frame[frame["metric"] == "note"].iloc[0]
    assert math.isnan(na["value"]) and na["value_text"] == "n/a"
    failed = frame[frame["status"] == "failed"].iloc[0]
    assert failed["metric"] == "" and failed["value_text"] == "diverged at step 12"


def test_csv_export_reads_back_equal(tmp_path):
    frame = results_frame(RECORDS)
    path = export(frame, tmp_path / "t.csv", "csv")
    back = pd.read_csv(path, keep_default_na=False, na_values={"value": [""]})
    assert back["value"].tolist() == pytest.approx(frame["value"].tolist(), nan_ok=True)
    assert back["label"].tolist() == frame["label"].tolist()
    with pytest.raises(ValueError, match="valid formats: csv, parquet"):
        export(frame, tmp_path / "t.xlsx", "xlsx")


def test_export_command_writes_the_committed_records(tmp_path, capsys):
    from benchmarks.cli import main

    out = tmp_path / "fig7.csv"
    assert main(["export", "fig7", "--profile", "quick", "--out", str(out)]) == 0
    assert f"fig7: wrote {out}" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert set(table["experiment"]) == {"fig7"} and len(table) > 0
    assert main(["export", "fig7", "--profile", "smoke", "--results", str(tmp_path)]) == 2
    assert "no records for profile smoke" in capsys.readouterr().err


def test_values_by_the_cells_only_sweep_value_whatever_its_key():
    """fig4's rows each sweep their own knob: ONLY_SWEEP keys every row by its own knob's value."""
    def rec(label, key, knob, seed, value):
        return {"cell": {"label": label, "sweep": {key: knob} if key else {}, "seed_index": seed},
                "metrics": {"delta_dp": value}}

    records = [rec("fcrl", "method.lambda_", 0.5, 0, 0.1), rec("fcrl", "method.lambda_", 0.5, 1, 0.3),
               rec("laftr-dp", "method.gamma", 2, 0, 0.05), rec("unfair-mlp", None, None, 0, 0.2),
               rec("cvib", "method.lambda_", 1, 0, "n/a")]
    assert dict(values_by(records, "delta_dp", ONLY_SWEEP)) == {
        ("fcrl", 0.5): {0: 0.1, 1: 0.3}, ("laftr-dp", 2): {0: 0.05}, ("unfair-mlp", None): {0: 0.2}}
    with pytest.raises(KeyError):
        values_by(records, "delta_dp", "method.gamma")
