"""table1 and its views (fig6, fig14), the label-fraction metric, the LeNet body, the digits task."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks.experiments.fig6 import Fig6, fraction_curves
from benchmarks.experiments.fig14 import Fig14
from benchmarks.experiments.table1 import DIRECTION, Table1, accuracy_by, row_display
from benchmarks.experiments.table1_lenet import Table1LeNet
from benchmarks.metrics.domain_adaptation import (
    FRACTION_TRIALS,
    LABEL_FRACTIONS,
    fraction_key,
    posthoc_accuracy,
)
from benchmarks.registry import METRICS, TASKS
from saub.networks import LeNetBody, make_encoder
from saub.seeding import derive_seed
from tests.test_domain_adaptation import IdentityMethod, blob_task

pytestmark = pytest.mark.usefixtures("single_thread")


def test_fraction_keys_are_the_papers_percentages():
    assert [fraction_key(f) for f in LABEL_FRACTIONS] == ["0.04%", "0.1%", "0.2%", "0.5%", "1%", "5%", "10%",
                                                          "100%"]
    assert FRACTION_TRIALS == 10


def test_label_fraction_metric_counts_labels_and_matches_posthoc_trials():
    task = blob_task()  # 300 labelled source rows
    method = IdentityMethod({}, (8,), 2, 10)
    out = METRICS.get("label-fraction-accuracy")(method, task, 5)
    counts = out["label_fraction_n_labels"]
    for f in LABEL_FRACTIONS:
        assert counts[fraction_key(f)] == max(1, round(f * 300))
        assert len(out["label_fraction_accuracy"][fraction_key(f)]) == FRACTION_TRIALS
    # trial 3 of 5% is exactly the post-hoc classifier with that trial's seed
    src = (task.train.d == 0)
    tgt = task.test.d == 1
    ref = posthoc_accuracy(task.train.x[src], task.train.y[src], task.test.x[tgt], task.test.y[tgt],
                           seed=derive_seed(5, "fraction", 0.05, 3), label_fraction=0.05)
    assert out["label_fraction_accuracy"]["5%"][3] == ref["accuracy"]
    # separable blobs: all labels give a perfect classifier; one label cannot beat ~chance by much
    assert min(out["label_fraction_accuracy"]["100%"]) >= 0.99
    assert np.mean(out["label_fraction_accuracy"]["0.04%"]) <= 0.2


def test_lenet_body_has_adda_parameter_count():
    body = LeNetBody()
    n = sum(p.numel() for p in body.parameters())
    assert n == (1 * 20 * 25 + 20) + (20 * 50 * 25 + 50) + (800 * 500 + 500)
    body.eval()
    assert body(torch.zeros(3, 1, 28, 28)).shape == (3, 500)
    enc = make_encoder((1, 28, 28), 500, hidden=500, batchnorm_mean=False, arch="lenet")
    assert isinstance(enc.body, LeNetBody)
    with pytest.raises(ValueError, match="valid: cnn, lenet"):
        make_encoder((1, 28, 28), 8, arch="resnet")


def test_digits_task_names_valid_directions():
    with pytest.raises(ValueError, match="valid directions: mnist-usps, usps-mnist"):
        TASKS.get("digits")(seed=0, direction="mnist-svhn")


def _record(label, direction, seed, acc, curves=None):
    metrics = {"target_accuracy": acc}
    if curves is not None:
        metrics["label_fraction_accuracy"] = curves
    return {"cell": {"label": label, "sweep": {DIRECTION: direction}, "seed_index": seed}, "metrics": metrics,
            "status": "done"}


def test_table1_ordering_claims_pair_seeds_in_both_directions():
    recs = []
    for s in range(3):
        for direction in ("mnist-usps", "usps-mnist"):
            recs.append(_record("SAUB GW-EP", direction, s, 0.9 + 0.01 * s))
            recs.append(_record("SAUB w/o GW", direction, s, 0.8 + 0.01 * s))
    claims = {c.id: c for c in Table1.claims}
    verdict, evidence = claims["C1"].check(recs)
    assert verdict == "supported" and "M→U" in evidence and "U→M" in evidence
    assert claims["C2"].check(recs)[0] == "inconclusive"  # no VAUB rows
    one_way = [r for r in recs if r["cell"]["sweep"][DIRECTION] == "mnist-usps"]
    assert claims["C1"].check(one_way)[0] == "inconclusive"  # a direction without runs
    flipped = [_record(r["cell"]["label"], r["cell"]["sweep"][DIRECTION], r["cell"]["seed_index"],
                       1.7 - r["metrics"]["target_accuracy"]) for r in recs]
    assert claims["C1"].check(flipped)[0] == "contradicted"
    by = accuracy_by(recs)
    assert by[("SAUB GW-EP", "usps-mnist")] == {0: 0.9, 1: 0.91, 2: 0.92}


def test_fig6_curves_average_trials_and_decide_thresholds():
    recs = []
    for s in range(3):
        for direction in ("mnist-usps", "usps-mnist"):
            curves = {fraction_key(f): [0.3 + 0.01 * s, 0.34 + 0.01 * s] for f in LABEL_FRACTIONS}
            curves["0.1%"] = [0.8, 0.82]
            recs.append(_record("SAUB w/o GW", direction, s, 0.9, curves))
    got = fraction_curves(recs)
    assert math.isclose(got[("SAUB w/o GW", "mnist-usps", "0.04%")][1], 0.33)
    claims = {c.id: c for c in Fig6.claims}
    assert claims["C1"].check(recs)[0] == "supported"  # ≈ 0.32-0.34 ≤ 0.45
    assert claims["C2"].check(recs)[0] == "supported"  # 0.81 > 0.73
    assert claims["C3"].check(recs)[0] == "inconclusive"  # no GW-SP rows


def test_views_share_table1_cells():
    t1 = Table1()
    for view in (Fig6(), Fig14()):
        for profile in ("smoke", "quick", "paper"):
            assert [c.cell_id for c in view.cells(profile)] == [c.cell_id for c in t1.cells(profile)]
            assert {c.experiment for c in view.cells(profile)} == {"table1"}
    for exp in (t1, Fig6(), Fig14(), Table1LeNet()):
        exp.validate()
    # every row shares the encoder (the authors'-code row keeps their latent size 100);
    # DANN/ADDA do not take the VAUB-only profile option
    quick = {c.label: c.overrides for c in t1.cells("quick")}
    assert {o["latent_dim"] for label, o in quick.items() if label != "SAUB (authors' code)"} == {64}
    assert quick["SAUB (authors' code)"]["latent_dim"] == 100
    # the rows' own configurations (a committed search selection may replace them in the grid)
    own = {r.label: r.resolved_overrides(t1.profile("quick").method_overrides) for r in t1.rows}
    assert "prior_steps" not in own["DANN"] and own["SAUB GW-EP"]["prior_steps"] == 5
    assert "prior_steps" not in quick["DANN"] and "prior_steps" in quick["SAUB GW-EP"]


def test_gw_sp_row_is_the_gw_ep_row_in_the_substitute_space():
    rows = {row.label: row for row in Table1.rows}
    ep, sp = rows["SAUB GW-EP"].overrides, rows["SAUB GW-SP"].overrides
    assert sp["gw"] == "sp" and sp["semantic"] == "contrastive-digits-v1" and sp["gw_metric"] == "cosine"
    assert {k: v for k, v in sp.items() if k not in ("semantic", "gw_metric")} == {**ep, "gw": "sp"}
    assert rows["SAUB GW-SP"].method == rows["SAUB GW-EP"].method == "saub"
    assert row_display("SAUB GW-SP") == "SAUB GW-SP (contrastive-digits-v1 substitute, not CLIP)"
    assert row_display("SAUB GW-EP") == "SAUB GW-EP"


def test_table1_and_fig6_reports_show_the_gw_sp_row_with_its_space(tmp_path):
    recs = []
    for s in range(3):
        for direction in ("mnist-usps", "usps-mnist"):
            curves = {fraction_key(f): [0.5 + 0.1 * s] * 2 for f in LABEL_FRACTIONS}
            recs.append(_record("SAUB GW-SP", direction, s, 0.9 + 0.02 * s, curves))
            recs.append(_record("SAUB GW-EP", direction, s, 0.8, curves))
    page = Table1().report(recs, tmp_path, "quick")
    rows = {r[0]: r for r in page.tables[0].rows}
    sp = rows["SAUB GW-SP (contrastive-digits-v1 substitute, not CLIP)"]
    assert sp[1:3] == ["96.1", "92.0 ± 2.0"] and sp[6:8] == ["97.4", "92.0 ± 2.0"]
    assert sp[5] == sp[10] == "not recorded"  # regime columns: these records carry no diagnostics
    assert rows["ADDA"][2] == "not run" and "CLIP ViT-L/14's" in page.tables[0].note
    verdicts = {v[0]: v for v in page.verdicts}
    assert verdicts["C3"][2] == "supported" and "not CLIP" in verdicts["C3"][1]
    (tmp_path / "figures").mkdir()
    fig6 = Fig6().report(recs, tmp_path, "quick")
    sp6 = next(r for r in fig6.tables[0].rows if r[0].startswith("SAUB GW-SP"))
    assert sp6[0].endswith("(contrastive-digits-v1 substitute, not CLIP)") and sp6[1:3] == ["60.0 ± 10.0"] * 2
    assert any("contrastive-digits-v1 substitute" in n for n in fig6.notes)
