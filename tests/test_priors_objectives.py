"""priors-objectives: the matrix covers every VAUB-family prior × objective, undefined pairs carry a
reason and no cell, MNIST's rows leave with its data, the heat map squares show the seeds' mean and
95% interval; the test-elbo metric is seed 002's eq. (1) per domain, "n/a" without log Q."""

from __future__ import annotations

import json
import math

import pytest
import torch

from benchmarks.contracts import Budget, Unsupported
from benchmarks.experiments import priors_objectives as po
from benchmarks.experiments.priors_objectives_report import heatmap_cells
from benchmarks.metrics.elbo import N_SAMPLES
from benchmarks.registry import EXPERIMENTS, METHODS, METRICS, TASKS
from benchmarks.stats import summarize
from saub.objective_axis import OBJECTIVES
from saub.score_matching import elbo

pytestmark = pytest.mark.usefixtures("single_thread")
EXP = EXPERIMENTS.get("priors-objectives")


def test_matrix_is_every_prior_times_every_objective_on_each_task():
    methods = po.vaub_family_methods()
    assert methods[:6] == ["vae-gaussian", "vaub", "vae-vamp", "vae-ebm", "lsgm", "saub"]
    undefined = {(t, m, o): why for t, m, o, why in EXP.undefined()}
    for task in po.SETTINGS:
        for m in methods:
            for o in OBJECTIVES:
                defined = any(r.label == po.row_label(m, o, task) for r in EXP.rows)
                assert defined != ((task, m, o) in undefined), (task, m, o)
    assert {(m, o) for t, m, o in undefined if t == po.NESTED} == {
        ("lsgm", o) for o in ("fd-elbo", "fd-m1", "fd-m2", "fd-m3", "fae")}
    assert all("same model as 'sfs'" in why for why in undefined.values())


def test_cells_per_profile_and_mnist_leaves_with_its_data(monkeypatch):
    smoke = EXP.cells("smoke")
    assert {c.task for c in smoke} == {po.NESTED} and len(smoke) == 49
    assert all(c.task_kwargs == {"n_per_domain": 20} for c in smoke)
    assert all(c.overrides["batchnorm_mean"] is False for c in smoke)
    assert {c.task for c in EXP.cells("quick")} == {po.NESTED, po.MNIST}
    monkeypatch.setattr(po, "mnist_missing", lambda: FileNotFoundError("mnist/train-images-idx3-ubyte.gz"))
    assert {c.task for c in EXP.cells("quick")} == {po.NESTED}
    assert list(EXP.absent("quick").values()) == ["mnist/train-images-idx3-ubyte.gz"]
    assert EXP.absent("smoke") == {}
    with pytest.raises(ValueError, match="valid profiles: smoke, quick, paper"):
        EXP.absent("fast")


def _record(label: str, seed: int, metrics: dict, task: str = po.NESTED) -> dict:
    return {"cell": {"label": label, "task": task, "seed_index": seed, "sweep": {}, "profile": "quick"},
            "status": "done", "seed": seed, "metrics": metrics}


def test_heatmap_squares_show_mean_and_interval_undefined_and_na():
    methods = ["vae-gaussian", "lsgm"]
    lab = po.row_label("vae-gaussian", "vaub", po.NESTED)
    values = [0.61, 0.7, 0.74]
    records = [_record(lab, s, {"test_elbo": v}) for s, v in enumerate(values)]
    records.append(_record(po.row_label("lsgm", "vaub", po.NESTED), 0, {"test_elbo": "n/a"}))
    grid, text, hatched = heatmap_cells(records, po.NESTED, "test_elbo", methods, EXP.undefined(),
                                        po.row_label)
    objectives = list(OBJECTIVES)
    s = summarize(values)
    assert grid[0, 0] == pytest.approx(sum(values) / 3)
    assert text[0, 0] == f"{s.mean:.3g}\n[{s.low:.2g}, {s.high:.2g}]"
    assert text[1, 0] == "n/a" and (1, 0) in hatched
    fae = objectives.index("fae")
    assert text[1, fae] == "undefined\n(see table)" and (1, fae) in hatched
    assert text[0, fae] == "not run" and (0, fae) not in hatched and math.isnan(grid[0, fae])


def test_test_elbo_is_eq1_per_domain_and_na_without_a_log_density():
    task = TASKS.get("nested-d")(seed=0, n_per_domain=10, n_test_per_domain=6)
    entry = METHODS.get("vaub")
    method = entry.build(entry.resolve({"batchnorm_mean": False, "obs_std": 0.5}), task)
    method.fit(task.train, Budget(steps=2, batch_size=16), 0)
    out = METRICS.get("test-elbo")(method, task, 3)
    torch.manual_seed(3)
    x, d = task.test.x, task.test.d
    expected = []
    with torch.no_grad():
        for dom in (0, 1):
            expected.append(elbo(x[d == dom], lambda xs, dom=dom: method.model.encode_domain(xs, dom),
                                 lambda zs, dom=dom: method.model.decode_domain(zs, dom), 2 * math.log(0.5),
                                 N_SAMPLES, kl="mc", log_prior=method.prior.log_prob))
    assert out["test_elbo"] == pytest.approx(float(torch.cat(expected).mean()), rel=1e-6)
    score = METHODS.get("saub")
    with pytest.raises(Unsupported, match="no log-density"):
        METRICS.get("test-elbo")(score.build(score.resolve({}), task), task, 0)


def test_svc_auroc_is_na_on_a_task_with_more_than_two_classes():
    task = TASKS.get("nested-d")(seed=0, n_per_domain=10)
    ten = type(task)(**{**task.__dict__, "n_classes": 10})
    with pytest.raises(Unsupported, match="binary labels"):
        METRICS.get("svc-auroc")(None, ten, 0)


def test_run_task_filter_keeps_one_task_and_refuses_an_absent_one():
    from benchmarks.cli import only_tasks
    from benchmarks.config import ConfigError

    quick = EXP.cells("quick")
    nested = only_tasks(quick, [po.NESTED])
    assert nested == [c for c in quick if c.task == po.NESTED] and len(nested) == 147
    assert only_tasks(quick, None) == quick
    with pytest.raises(ConfigError, match="this grid's tasks: nested-d, rotated-mnist"):
        only_tasks(quick, ["mnist-usps"])


def test_search_tunes_each_nested_pair_and_mnist_gaussian_pair_alike_and_the_grid_takes_the_choice(
        tmp_path, monkeypatch):
    """Every nested-D pair and every MNIST pair of the Gaussian prior is searched alike (same trial count,
    the base profile's task and size for the row, its budget); β and the likelihood's std stay fixed
    (seed 002's objectives assume the β = 1 model); the other MNIST rows are not searched, and MNIST's
    trials leave with its data; a written selection reaches the base grid's cells, the other rows keep
    theirs."""
    from benchmarks import search as sr

    search = EXPERIMENTS.get("priors-objectives-search")
    nested = [r.label for r in EXP.rows if r.task == po.NESTED]
    mnist = [r.label for r in EXP.rows if r.task == po.MNIST and r.method == "vae-gaussian"]
    assert len(mnist) == 9 and po.MNIST_SEARCHED_PRIORS == ("vae-gaussian",)
    assert sorted({c.label for c in search.cells("quick")}) == sorted(nested + mnist)
    assert sorted({c.label for c in search.cells("smoke")}) == sorted(nested)
    for profile, labels in (("smoke", nested), ("quick", nested + mnist)):
        cells = search.cells(profile)
        assert len(cells) == len(labels) * EXP.search.trials[profile]
        base = {c.label: c for c in EXP.cells(profile)}
        for c in cells:
            assert (c.task_kwargs, c.budget) == (base[c.label].task_kwargs, base[c.label].budget)
            if c.sweep[sr.TRIAL] > 0:
                assert (c.overrides["beta"], c.overrides["obs_std"]) == (1.0, 0.1)
    assert {c.task_kwargs["n_per_domain"] for c in search.cells("quick") if c.task == po.MNIST} == {1000}
    monkeypatch.setattr(po, "mnist_missing", lambda: FileNotFoundError("mnist/train-images-idx3-ubyte.gz"))
    assert sorted({c.label for c in search.cells("quick")}) == sorted(nested)
    monkeypatch.undo()
    rows = {r.label: r for r in EXP.rows}
    assert set(sr.row_space(EXP, rows["vae-gaussian+kl-m2@nested-d"])) == {"lr", "lambda_gw"}
    assert set(sr.row_space(EXP, rows["saub+fae@nested-d"])) == {"lr", "lambda_gw", "prior_lr", "prior_steps"}

    chosen = {"lr": 2e-4, "lambda_gw": 5.0}
    path = tmp_path / "selected" / "priors-objectives_smoke.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"experiment": EXP.name, "profile": "smoke", "rule": EXP.search.rule,
                                "selected": [{"label": "vaub+kl-m1@nested-d", "sweep": {}, "trial": 3,
                                              "overrides": chosen, "note": None}]}))
    with sr.results_dir_for_selections(tmp_path):
        cells = {c.label: c for c in EXP.cells("smoke")}
        assert "Configurations: selected by `priors-objectives-search`" in sr.selection_note(EXP, "smoke")
    assert {k: cells["vaub+kl-m1@nested-d"].overrides[k] for k in chosen} == chosen
    assert cells["vaub+kl-m2@nested-d"].overrides["lambda_gw"] == 1.0


def _probed(label: str, seed: int, elbo_value: float, probe: float, task: str) -> dict:
    record = _record(label, seed, {"test_elbo": elbo_value}, task)
    record["diagnostics"] = {"final": {"alignment": {"balanced_accuracy": probe}}}
    return record


def _selection(tmp_path, labels: list[str]) -> None:
    """A committed quick selection under ``tmp_path`` naming ``labels`` (each at its own settings)."""
    path = tmp_path / "selected" / "priors-objectives_quick.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"experiment": EXP.name, "profile": "quick", "rule": EXP.search.rule,
                                "selected": [{"label": label, "sweep": {}, "trial": 0, "overrides": {},
                                              "note": None} for label in labels]}))


def test_claims_judge_the_pairs_with_a_search_selection_and_the_page_says_what_the_others_show(tmp_path):
    """C3 on the nested D's (vaub above fae by 1 nat in every seed) is supported. MNIST records that say
    the opposite change no verdict while MNIST's Gaussian pairs have no search selection (the evidence
    says so), and contradict it once they have one; the note counts the unsearched pairs that ran and
    those aligned."""
    from benchmarks import search as sr

    vaub, fae = (po.row_label("vae-gaussian", o, po.NESTED) for o in ("vaub", "fae"))
    nested = [_probed(vaub, s, -1.0 - 0.1 * s, 0.6, po.NESTED) for s in range(3)]
    nested += [_probed(fae, s, -2.0 - 0.12 * s, 0.6, po.NESTED) for s in range(3)]
    mvaub, mfae = (po.row_label("vae-gaussian", o, po.MNIST) for o in ("vaub", "fae"))
    mnist = [_probed(mvaub, s, -500.0, 0.9, po.MNIST) for s in range(3)]
    mnist += [_probed(mfae, s, 100.0 + s, 0.7, po.MNIST) for s in range(3)]
    claim = next(c for c in po.PriorsObjectives.claims if c.id == "C3")
    with sr.results_dir_for_selections(tmp_path):
        assert claim.check(nested)[0] == "inconclusive"  # no selection at all: nothing judged
        _selection(tmp_path, [vaub, fae])
        assert claim.check(nested)[0] == "supported"
        verdict, evidence = claim.check(nested + mnist)
        assert verdict == "supported" and "not judged (no search selection yet): MNIST 0° / 90°" in evidence
        note = po.unsearched_note(nested + mnist, po.MNIST, po.searched_labels(nested + mnist))
        assert note.startswith("MNIST 0° / 90°: 49 of its 49 pairs run at the shared settings")
        assert "2 of them have finished records (seeds [0, 1, 2]), and 1 of those are aligned" in note
        assert po.unsearched_note(nested, po.MNIST, po.searched_labels(nested)) is None
        _selection(tmp_path, [vaub, fae, mvaub, mfae])
        assert claim.check(nested + mnist)[0] == "contradicted"
        assert po.unsearched_note(nested + mnist, po.MNIST, po.searched_labels(nested + mnist)) is None


def test_matrix_table_says_which_pairs_ran_at_a_searched_selection():
    from benchmarks.experiments.priors_objectives_report import matrix_table

    searched, shared = (po.row_label(m, "kl-m1", po.MNIST) for m in ("vae-gaussian", "vaub"))
    records = [_probed(label, s, -1.0 - s, 0.9, po.MNIST) for label in (searched, shared) for s in range(2)]
    table = matrix_table(records, po.MNIST, "MNIST", ["vae-gaussian", "vaub"], po.row_label,
                         po.prior_display, {searched})
    assert table.headers[:3] == ["prior", "objective", "settings"]
    assert [row[2] for row in table.rows] == ["searched", "shared"]
    assert table.rows[0][5].startswith("-1.500")  # test ELBO: mean of -1 and -2
