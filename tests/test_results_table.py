"""The tidy results table (benchmarks.results_table): one row per cell x scalar metric, failures kept,
queries by row and sweep value (scalar metrics and any other field), and a CSV export that reads back
equal."""

import math

import pandas as pd
import pytest

from benchmarks.results_table import (
    ONLY_SWEEP,
    export,
    field_values,
    fields_by,
    first_by,
    present_labels,
    protocol_value,
    results_frame,
    values_by,
)


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


def _field_record(label, seed, n, curves=None, artifacts=None, protocol=None, config=None):
    return {"cell": {"label": label, "seed_index": seed, "sweep": {"task.n_per_domain": n}},
            "metrics": {"n_labels": {"0.1%": 5}} if seed == 0 else {}, "curves": curves or {},
            "artifacts": artifacts or {}, "protocol": protocol or {}, "config": config or {}}


FIELD_RECORDS = [
    _field_record("SFS", 0, 20, curves={"gw": [3.0, 1.0]}, artifacts={"latents": [[0.1, 0.2]]},
                  protocol={"majority": 0.75, "rates": {"a": 0.1}}, config={"why": ""}),
    _field_record("SFS", 1, 20, curves={"gw": [2.5, 0.5]}, protocol={"majority": 0.75}),
    _field_record("SFS", 0, 100, curves={"gw": []}, protocol={"majority": 0.75}),
    _field_record("MoG", 2, 20, curves={"gw": [4.0]}, artifacts={"latents": [[1.0]]},
                  config={"why": "weights absent"}),
    _field_record("MoG", 1, 20, curves={"C": [0.9]}, artifacts={"latents": [[2.0]]}),
]


def test_fields_by_keys_any_field_by_row_sweep_value_and_seed():
    gw = fields_by(FIELD_RECORDS, ("curves", "gw"))
    assert dict(gw) == {"SFS": {0: [3.0, 1.0], 1: [2.5, 0.5]}, "MoG": {2: [4.0]}}  # empty curve left out
    assert gw["VAE"] == {}  # a defaultdict: an absent row reads as no seeds
    by_n = fields_by(FIELD_RECORDS, ("curves", "gw"), "task.n_per_domain")
    assert dict(by_n) == {("SFS", 20): {0: [3.0, 1.0], 1: [2.5, 0.5]}, ("MoG", 20): {2: [4.0]}}
    assert dict(fields_by(FIELD_RECORDS, ("metrics", "n_labels"), ONLY_SWEEP)) == {
        ("SFS", 20): {0: {"0.1%": 5}}, ("SFS", 100): {0: {"0.1%": 5}}}
    assert dict(fields_by(FIELD_RECORDS, "artifacts")) == {  # a str is one top-level key
        "SFS": {0: {"latents": [[0.1, 0.2]]}}, "MoG": {2: {"latents": [[1.0]]}, 1: {"latents": [[2.0]]}}}
    assert dict(fields_by(FIELD_RECORDS, ("config", "why"))) == {"MoG": {2: "weights absent"}}
    # missing at any step of the path, or through a non-dict value: left out, not an error
    assert dict(fields_by(FIELD_RECORDS, ("curves", "gw", "first"))) == {}
    assert dict(fields_by(FIELD_RECORDS, ("diagnostics", "final"))) == {}
    with pytest.raises(KeyError):
        fields_by(FIELD_RECORDS, ("curves", "gw"), "method.beta")


def test_first_by_takes_the_lowest_seed_that_has_the_field():
    assert first_by(FIELD_RECORDS, ("artifacts", "latents")) == {"SFS": [[0.1, 0.2]], "MoG": [[2.0]]}
    assert first_by(FIELD_RECORDS, ("curves", "gw"), "task.n_per_domain") == {
        ("SFS", 20): [3.0, 1.0], ("MoG", 20): [4.0]}


def test_field_values_in_record_order_and_present_labels_in_the_given_order():
    assert field_values(FIELD_RECORDS, ("curves", "gw")) == [[3.0, 1.0], [2.5, 0.5], [4.0]]
    assert field_values(FIELD_RECORDS, ("curves", "C")) == [[0.9]]
    assert present_labels(FIELD_RECORDS, ["VAE", "MoG", "SFS"]) == ["MoG", "SFS"]


def test_protocol_value_is_the_one_value_records_agree_on():
    assert protocol_value(FIELD_RECORDS, "majority") == 0.75  # records without it are left out
    assert protocol_value(FIELD_RECORDS, "rates") == {"a": 0.1}  # unhashable values compare by equality
    assert protocol_value(FIELD_RECORDS, "n_test", None) is None
    with pytest.raises(ValueError, match=r"no record states protocol\['n_test'\]"):
        protocol_value(FIELD_RECORDS, "n_test")
    disagreeing = [*FIELD_RECORDS, _field_record("MoG", 0, 20, protocol={"majority": 0.6})]
    with pytest.raises(ValueError, match=r"records disagree on protocol\['majority'\]: \[0.75, 0.6\]"):
        protocol_value(disagreeing, "majority")
