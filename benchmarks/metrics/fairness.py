"""Fairness metrics (§5.2, Fig. 4, App. H.1; thesis ch. 4.5 for DEO) and the parity–accuracy area.

Group s is the task's domain index ``d`` (Adult: 0 = Female, 1 = Male); ŷ, y ∈ {0, 1}.

* Demographic parity gap  Δ_DP = |P(ŷ=1 | s=0) − P(ŷ=1 | s=1)|                        (Fig. 4)
* Equal opportunity gap   DEO  = |P(ŷ=1 | y=1, s=0) − P(ŷ=1 | y=1, s=1)|  (Hardt et al. 2016)

Registered metrics (``fn(method, task, seed) -> dict``):

* ``fair-classification``: App. H.1's protocol. The method's representation is frozen
  (``method.encode``); a 3-layer MLP (hidden 64, ReLU) is trained on the *training* rows'
  representations and labels, then scored on the test split: ``accuracy``, ``delta_dp``, ``deo``.
  Classifier settings (the paper gives only the architecture): representations standardised with
  the training rows' mean/std (as FCRL's evaluation does), Adam lr 1e-3, batch 256,
  :data:`POSTHOC_EPOCHS` epochs, last iterate (no test label is used for any choice).
* ``own-fair-classification``: the same scores for the method's own classifier
  (``method.predict``); methods without one give "n/a".
* ``linear-fair-classification``: the thesis' protocol (seed 003, §4.5: "a linear classifier using
  learned representation is trained to predict the held-out label"): the same scores, prefixed
  ``linear_``, of a logistic regression (scikit-learn, L2, C = 1, lbfgs; the thesis names no
  classifier type or regularisation) on the standardised frozen training representations.

The parity–accuracy area (:func:`area_over_curve`) and Pareto front (:func:`pareto_front`) act on a
method's sweep of points and are computed by the fig4 report, not per cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from benchmarks.contracts import TaskData
from benchmarks.metrics.domain_adaptation import train_classifier
from benchmarks.registry import register_metric

POSTHOC_EPOCHS = 10
POSTHOC_HIDDEN = 64
POSTHOC_LAYERS = 3


def _binary(name: str, t: Tensor) -> Tensor:
    t = torch.as_tensor(t).reshape(-1)
    if t.numel() and not bool(((t == 0) | (t == 1)).all()):
        raise ValueError(f"{name} must hold 0/1 values")
    return t.double()


def _group_rate(values: Tensor, mask: Tensor, what: str) -> float:
    if not bool(mask.any()):
        raise ValueError(f"no rows with {what}: the gap is undefined")
    return float(values[mask].mean())


def _same_rows(**named: Tensor) -> None:
    sizes = {name: torch.as_tensor(t).reshape(-1).shape[0] for name, t in named.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError("fairness metrics need one entry per row in every input, got "
                         + ", ".join(f"{name}: {n}" for name, n in sizes.items()))


def demographic_parity_gap(y_pred: Tensor, s: Tensor) -> float:
    """Δ_DP = |P(ŷ=1|s=0) − P(ŷ=1|s=1)| over the rows given (s ∈ {0, 1})."""
    _same_rows(y_pred=y_pred, s=s)
    y_pred, s = _binary("y_pred", y_pred), _binary("s", s)
    return abs(_group_rate(y_pred, s == 0, "s=0") - _group_rate(y_pred, s == 1, "s=1"))


def equal_opportunity_gap(y_pred: Tensor, y: Tensor, s: Tensor) -> float:
    """DEO = |P(ŷ=1|y=1,s=0) − P(ŷ=1|y=1,s=1)| (the true-positive-rate gap)."""
    _same_rows(y_pred=y_pred, y=y, s=s)
    y_pred, y, s = _binary("y_pred", y_pred), _binary("y", y), _binary("s", s)
    pos = y == 1
    tpr0 = _group_rate(y_pred, pos & (s == 0), "y=1, s=0")
    return abs(tpr0 - _group_rate(y_pred, pos & (s == 1), "y=1, s=1"))


def fairness_scores(y_pred: Tensor, y: Tensor, s: Tensor) -> dict[str, float]:
    """``{"accuracy", "delta_dp", "deo", "positive_rate"}`` of binary predictions."""
    _same_rows(y_pred=y_pred, y=y, s=s)
    y_pred = torch.as_tensor(y_pred).reshape(-1)
    return {"accuracy": float((y_pred == torch.as_tensor(y).reshape(-1)).double().mean()),
            "delta_dp": demographic_parity_gap(y_pred, s), "deo": equal_opportunity_gap(y_pred, y, s),
            "positive_rate": float(y_pred.double().mean())}


def standardise(z_train: Tensor, z_test: Tensor) -> tuple[Tensor, Tensor]:
    """Both representations scaled by the training rows' mean and population std (floored at 1e-6),
    as every downstream classifier here sees them."""
    mean, std = z_train.mean(0), z_train.std(0, unbiased=False).clamp_min(1e-6)
    return (z_train - mean) / std, (z_test - mean) / std


def posthoc_predictions(z_train: Tensor, y_train: Tensor, z_test: Tensor, seed: int,
                        epochs: int = POSTHOC_EPOCHS) -> Tensor:
    """App. H.1's downstream classifier (3-layer MLP, hidden 64) trained on standardised frozen
    training representations; returns its class predictions on ``z_test``."""
    z_train, z_test = standardise(z_train.detach().float(), z_test.detach().float())
    n_classes = max(2, int(y_train.max()) + 1)
    clf = train_classifier(z_train, y_train.long(), n_classes, seed, n_layers=POSTHOC_LAYERS,
                           hidden=POSTHOC_HIDDEN, epochs=epochs, min_steps=0)
    with torch.no_grad():
        return clf(z_test).argmax(1)


def linear_predictions(z_train: Tensor, y_train: Tensor, z_test: Tensor, seed: int) -> Tensor:
    """The thesis' linear probe: logistic regression on standardised frozen training representations;
    returns its class predictions on ``z_test``."""
    from sklearn.linear_model import LogisticRegression

    z_train, z_test = standardise(z_train.detach().double(), z_test.detach().double())
    clf = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    clf.fit(z_train.cpu().numpy(), y_train.long().cpu().numpy())
    return torch.from_numpy(clf.predict(z_test.cpu().numpy())).to(z_test.device)


def _labelled(split, task: TaskData, which: str):
    if split.y is None:
        raise ValueError(f"task {task.name!r} has no {which} labels")
    return split.x, split.d, split.y


@register_metric("fair-classification")
def fair_classification(method, task: TaskData, seed: int) -> dict:
    """App. H.1: downstream MLP on the frozen representation; test accuracy, Δ_DP and DEO."""
    xtr, dtr, ytr = _labelled(task.train, task, "training")
    xte, dte, yte = _labelled(task.test, task, "test")
    pred = posthoc_predictions(method.encode(xtr, dtr), ytr, method.encode(xte, dte), seed)
    return fairness_scores(pred, yte, dte)


@register_metric("linear-fair-classification")
def linear_fair_classification(method, task: TaskData, seed: int) -> dict:
    """Thesis §4.5: a linear classifier on the frozen representation; test accuracy, Δ_DP and DEO."""
    xtr, dtr, ytr = _labelled(task.train, task, "training")
    xte, dte, yte = _labelled(task.test, task, "test")
    pred = linear_predictions(method.encode(xtr, dtr), ytr, method.encode(xte, dte), seed)
    return {f"linear_{k}": v for k, v in fairness_scores(pred, yte, dte).items()}


@register_metric("own-fair-classification")
def own_fair_classification(method, task: TaskData, seed: int) -> dict:
    """Test accuracy, Δ_DP and DEO of the method's own classifier (``predict``); else n/a."""
    xte, dte, yte = _labelled(task.test, task, "test")
    logits = method.predict(xte, dte)
    return {f"own_{k}": v for k, v in fairness_scores(logits.argmax(1), yte, dte).items()}


# ------------------------------------------------------------------ sweeps: Pareto front and area
def pareto_front(parity: Sequence[float], accuracy: Sequence[float]) -> list[tuple[float, float]]:
    """The non-dominated points (lower Δ_DP and higher accuracy are better), by increasing Δ_DP.

    A point is kept iff no other point has Δ_DP ≤ its Δ_DP and accuracy ≥ its accuracy with one of
    the two strict; duplicates are kept once. Along the returned front both coordinates increase.
    """
    pts = sorted({(float(p), float(a)) for p, a in zip(parity, accuracy)}, key=lambda t: (t[0], -t[1]))
    front: list[tuple[float, float]] = []
    for p, a in pts:
        if not front or a > front[-1][1]:
            front.append((p, a))
    return front


def area_over_curve(parity: Sequence[float], accuracy: Sequence[float], acc_floor: float,
                    parity_max: float = 1.0) -> float:
    """Normalised area over the parity–accuracy curve of one method's sweep (higher is better).

    The suite's formula, after FCRL (Gupta et al. 2021, "area over the parity-accuracy curve",
    computed on the Pareto front of a method's runs): with the front's staircase

        A(δ) = max({acc_floor} ∪ {a_k : Δ_k ≤ δ}),

    the best accuracy reachable at parity at most δ (a constant prediction, the majority class,
    reaches ``acc_floor`` at Δ_DP = 0, so A ≥ acc_floor everywhere), the area is

        AOC = ∫_0^{parity_max} (A(δ) − acc_floor) dδ / (parity_max · (1 − acc_floor)),

    the share of the rectangle [0, parity_max] × [acc_floor, 1] dominated by the front; in [0, 1].
    With accuracy on the x-axis and Δ_DP on the y-axis this is the area *over* the curve of the
    lowest parity reached at each accuracy, FCRL's picture. Defaults: ``parity_max`` = 1 (Δ_DP's
    range); ``acc_floor`` = the test set's majority-class accuracy. Points above ``parity_max`` and
    below ``acc_floor`` add nothing. FCRL's public plotting code (``umgupta/fairness-via-contrastive-
    estimation``, ``src/scripts/plot.py``, ``area_over_curve``) computes exactly this with
    ``parity_max`` = the Δ_DP of the true test labels and ``acc_floor`` = the majority-class accuracy;
    fig4 passes those (:func:`benchmarks.experiments.fig4.label_parity`).
    """
    if not 0 <= acc_floor < 1 or parity_max <= 0:
        raise ValueError(f"need 0 <= acc_floor < 1 and parity_max > 0, got {acc_floor}, {parity_max}")
    front = [(p, a) for p, a in pareto_front(parity, accuracy) if p < parity_max and a > acc_floor]
    area = 0.0
    for k, (p, a) in enumerate(front):
        right = front[k + 1][0] if k + 1 < len(front) else parity_max
        area += (right - p) * (a - acc_floor)
    return area / (parity_max * (1.0 - acc_floor))


def front_accuracy_at(parity: Sequence[float], accuracy: Sequence[float], delta: float,
                      acc_floor: float) -> float:
    """A(δ) of :func:`area_over_curve`: the best accuracy among points with Δ_DP ≤ δ (else the floor)."""
    ok = [float(a) for p, a in zip(parity, accuracy) if float(p) <= delta]
    return float(np.max(ok + [acc_floor]))
