"""Fairness metrics: Δ_DP and DEO against fairlearn and by hand; Pareto front and the parity–accuracy
area against closed forms and a brute-force integral; the post-hoc classifier protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference, equal_opportunity_difference

from benchmarks.contracts import Split, TaskData
from benchmarks.metrics import fairness as fm
from benchmarks.registry import METRICS

pytestmark = pytest.mark.usefixtures("single_thread")


def _random_predictions(seed: int, n: int = 500):
    gen = torch.Generator().manual_seed(seed)
    s = torch.randint(0, 2, (n,), generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen)
    y_pred = (torch.rand(n, generator=gen) < 0.3 + 0.3 * s).long()
    return y_pred, y, s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaps_match_fairlearn(seed):
    y_pred, y, s = _random_predictions(seed)
    dp = demographic_parity_difference(y.numpy(), y_pred.numpy(), sensitive_features=s.numpy())
    eo = equal_opportunity_difference(y.numpy(), y_pred.numpy(), sensitive_features=s.numpy())
    assert fm.demographic_parity_gap(y_pred, s) == pytest.approx(dp, abs=1e-12)
    assert fm.equal_opportunity_gap(y_pred, y, s) == pytest.approx(eo, abs=1e-12)


def test_gaps_by_hand():
    s = torch.tensor([0, 0, 0, 0, 1, 1])
    y_pred = torch.tensor([1, 0, 0, 0, 1, 1])
    y = torch.tensor([1, 1, 0, 0, 1, 0])
    assert fm.demographic_parity_gap(y_pred, s) == pytest.approx(abs(1 / 4 - 1))
    assert fm.equal_opportunity_gap(y_pred, y, s) == pytest.approx(abs(1 / 2 - 1))
    scores = fm.fairness_scores(y_pred, y, s)
    assert scores["accuracy"] == pytest.approx(4 / 6) and scores["positive_rate"] == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="s=1"):
        fm.demographic_parity_gap(y_pred, torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="0/1"):
        fm.demographic_parity_gap(torch.tensor([0, 2]), torch.tensor([0, 1]))


def test_pareto_front():
    parity = [0.30, 0.05, 0.10, 0.10, 0.20, 0.01, 0.05]
    acc = [0.85, 0.80, 0.82, 0.79, 0.81, 0.76, 0.80]
    # (0.10, 0.79) is dominated by (0.10, 0.82); (0.20, 0.81) by (0.10, 0.82); (0.05, 0.80) appears twice.
    assert fm.pareto_front(parity, acc) == [(0.01, 0.76), (0.05, 0.80), (0.10, 0.82), (0.30, 0.85)]
    assert fm.pareto_front([0.1], [0.9]) == [(0.1, 0.9)]
    assert fm.pareto_front([], []) == []


def test_area_closed_forms():
    floor = 0.75
    # One point: the rectangle [0.1, 1] x [0.75, 0.85], normalised by 1 x 0.25.
    assert fm.area_over_curve([0.1], [0.85], floor) == pytest.approx(0.9 * 0.10 / 0.25)
    # A perfect representation (accuracy 1 at zero parity) fills the whole rectangle.
    assert fm.area_over_curve([0.0], [1.0], floor) == pytest.approx(1.0)
    # Nothing above the floor, or only beyond parity_max: zero.
    assert fm.area_over_curve([0.0, 0.2], [0.70, 0.75], floor) == 0.0
    assert fm.area_over_curve([0.5], [0.9], floor, parity_max=0.4) == 0.0
    # Staircase of two front points plus a dominated one.
    area = (0.2 - 0.0) * (0.80 - floor) + (1.0 - 0.2) * (0.85 - floor)
    assert fm.area_over_curve([0.0, 0.2, 0.3], [0.80, 0.85, 0.84], floor) == pytest.approx(area / 0.25)
    # parity_max changes the normalisation and the last step's width.
    area = (0.2 - 0.0) * 0.05 + (0.5 - 0.2) * 0.10
    out = fm.area_over_curve([0.0, 0.2], [0.80, 0.85], floor, parity_max=0.5)
    assert out == pytest.approx(area / (0.5 * 0.25))
    with pytest.raises(ValueError):
        fm.area_over_curve([0.1], [0.8], acc_floor=1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_area_matches_brute_force_integral(seed):
    rng = np.random.default_rng(seed)
    parity, acc = rng.uniform(0, 0.6, 12), rng.uniform(0.7, 0.9, 12)
    floor, grid = 0.76, np.linspace(0, 1, 200001)[:-1] + 0.5 / 200000
    staircase = [fm.front_accuracy_at(parity, acc, g, floor) for g in grid[::50]]
    brute = float(np.mean(np.asarray(staircase) - floor)) / (1 - floor)
    assert fm.area_over_curve(parity, acc, floor) == pytest.approx(brute, abs=2e-4)


def test_front_accuracy_at():
    assert fm.front_accuracy_at([0.05, 0.2], [0.8, 0.85], 0.1, 0.75) == 0.8
    assert fm.front_accuracy_at([0.05, 0.2], [0.8, 0.85], 0.01, 0.75) == 0.75
    assert fm.front_accuracy_at([0.05, 0.2], [0.8, 0.85], 0.2, 0.75) == 0.85


def _toy_task(n: int = 400, seed: int = 0) -> TaskData:
    """y = 1 iff x_0 > 0; s = 1 iff x_1 > 0 (independent of y)."""
    gen = torch.Generator().manual_seed(seed)

    def split(m):
        x = torch.randn(m, 3, generator=gen)
        return Split(x, (x[:, 1] > 0).long(), (x[:, 0] > 0).long())

    return TaskData("toy-fair", split(n), split(n), (3,), 2, 2)


class IdentityMethod:
    """Representation = inputs; own classifier = the true rule on x_0."""

    def encode(self, x, d):
        return x

    def predict(self, x, d):
        return torch.stack([-x[:, 0], x[:, 0]], 1)


def test_posthoc_classifier_learns_and_is_seeded():
    task = _toy_task()
    pred = fm.posthoc_predictions(task.train.x, task.train.y, task.test.x, seed=3, epochs=30)
    assert float((pred == task.test.y).double().mean()) > 0.95
    again = fm.posthoc_predictions(task.train.x, task.train.y, task.test.x, seed=3, epochs=30)
    assert torch.equal(pred, again)


def test_registered_metrics_are_consistent():
    task = _toy_task()
    out = METRICS.get("fair-classification")(IdentityMethod(), task, 0)
    pred = fm.posthoc_predictions(task.train.x, task.train.y, task.test.x, seed=0)
    assert out == fm.fairness_scores(pred, task.test.y, task.test.d)
    own = METRICS.get("own-fair-classification")(IdentityMethod(), task, 0)
    truth = (task.test.x[:, 0] > 0).long()
    assert own["own_accuracy"] == 1.0
    assert own["own_delta_dp"] == pytest.approx(fm.demographic_parity_gap(truth, task.test.d))
    assert own["own_deo"] == 0.0  # perfect predictions: TPR 1 in both groups


def test_linear_probe_is_sklearns_logistic_regression_on_standardised_representations():
    """The thesis' linear protocol: a linearly separable toy is learned (L2-regularised, so nearly, not
    exactly); the scores equal a
    logistic regression fitted here by hand on the standardised features, and one feature that a
    linear model cannot use (|x0|, XOR-like) leaves it near chance."""
    from sklearn.linear_model import LogisticRegression

    task = _toy_task()
    out = METRICS.get("linear-fair-classification")(IdentityMethod(), task, 0)
    assert out["linear_accuracy"] > 0.97 and out["linear_deo"] < 0.05
    ztr, zte = task.train.x.double(), task.test.x.double()
    mean, std = ztr.mean(0), ztr.std(0, unbiased=False)
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(((ztr - mean) / std).numpy(), task.train.y.numpy())
    by_hand = torch.from_numpy(clf.predict(((zte - mean) / std).numpy()))
    assert out == {f"linear_{k}": v for k, v in fm.fairness_scores(by_hand, task.test.y, task.test.d).items()}
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 1, generator=gen)
    y = (x[:, 0].abs() > 0.67).long()  # about half positive, symmetric in x: no linear rule beats chance
    pred = fm.linear_predictions(x[:300], y[:300], x[300:], seed=0)
    assert float((pred == y[300:]).double().mean()) < 0.65
