"""Label separation in a latent space: the RBF-SVC AUROC of App. H.2 (Fig. 3).

The paper: "The classifier is trained by a support vector where hyperparameters are chosen from
the list 'C': [0.1, 1, 10, 100], 'gamma': [1, 0.1, 0.01, 0.001] with 5-fold cross validation.
Error plot is generated from 5 runs." It does not say what the score of a run is; we take the
cross-validated AUROC of the selected hyper-parameters (``GridSearchCV.best_score_``: the mean
over the folds of the test-fold AUROC, for the grid point with the highest such mean). The 5
runs differ only in the shuffling of the stratified folds (seed ``derive_seed(seed,
"svc_auroc", r)``); the data are the same, so the error bars measure the fold-assignment
variability, not sampling variability of the latents.

Inputs are standardised by a ``StandardScaler`` inside a ``Pipeline``, so each fold is scaled
with the mean and std of its own training part only (the gamma grid assumes unit-scale
features; latents of different priors have very different scales).

Small classes: when the minority class has fewer than ``n_folds`` members, the number of folds
is reduced to the minority count (stratified k-fold needs at least one member of each class
per test fold); the folds used are returned as ``n_folds``. Fewer than 2 members in a class
raises ``ValueError``.
"""

from __future__ import annotations

import itertools

import numpy as np
import sklearn
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from saub.seeding import derive_seed

__all__ = ["PAPER_GRID", "svc_pipeline", "run_splitter", "grid_search_auroc", "svc_auroc"]

PAPER_GRID: dict[str, list[float]] = {"C": [0.1, 1, 10, 100], "gamma": [1, 0.1, 0.01, 0.001]}


def svc_pipeline() -> Pipeline:
    """StandardScaler followed by an RBF SVC (default SVC settings otherwise)."""
    return Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf"))])


def run_splitter(seed: int, run: int, n_folds: int) -> StratifiedKFold:
    """The shuffled stratified folds of run ``run``."""
    return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=derive_seed(seed, "svc_auroc", run))


def svc_auroc(
    z: np.ndarray,
    y: np.ndarray,
    seed: int,
    n_runs: int = 5,
    grid: dict | None = None,
    n_folds: int = 5,
) -> dict:
    """Cross-validated AUROC of a grid-searched RBF SVC predicting binary ``y`` from ``z``.

    Args:
        z: features, [N, k] (any array-like convertible to float64).
        y: labels, [N], exactly two distinct values (the larger one is the positive class).
        seed: base seed; run r uses folds seeded by ``derive_seed(seed, "svc_auroc", r)``.
        n_runs: number of runs (different fold shuffles).
        grid: SVC hyper-parameter grid, ``{name: values}``; ``None`` is the App. H.2 grid.
        n_folds: requested folds (reduced to the minority-class count if that is smaller).

    Returns:
        ``{"auroc_mean", "auroc_std" (ddof=1 over runs; 0.0 when n_runs == 1), "runs": [float],
        "best_params": [{name: value}], "n_folds": folds used, "n_folds_requested"}``.
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y).ravel()
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.shape[0] != y.shape[0]:
        raise ValueError(f"z must be [N, k] with N = len(y); got z {z.shape}, y {y.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("z contains non-finite values")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) != 2:
        raise ValueError(f"y must be binary; got {len(classes)} classes {classes.tolist()}")
    if n_runs < 1:
        raise ValueError(f"n_runs must be >= 1, got {n_runs}")
    folds = min(int(n_folds), int(counts.min()))
    if folds < 2:
        raise ValueError(
            f"need at least 2 members per class for 2-fold CV; class counts {counts.tolist()}, "
            f"n_folds={n_folds}"
        )
    grid = PAPER_GRID if grid is None else grid

    runs: list[float] = []
    best_params: list[dict] = []
    for r in range(n_runs):
        score, params = grid_search_auroc(z, y, run_splitter(seed, r, folds), grid)
        runs.append(score)
        best_params.append(params)

    scores = np.asarray(runs)
    return {
        "auroc_mean": float(scores.mean()),
        "auroc_std": float(scores.std(ddof=1)) if n_runs > 1 else 0.0,
        "runs": runs,
        "best_params": best_params,
        "n_folds": folds,
        "n_folds_requested": int(n_folds),
    }


def grid_search_auroc(z: np.ndarray, y: np.ndarray, splitter, grid: dict) -> tuple[float, dict]:
    """The score and parameters ``GridSearchCV(svc_pipeline(), grid, cv=splitter,
    scoring="roc_auc").best_score_ / best_params_`` would give, computed by an explicit loop.

    Per fold the scaler is fitted once on the training part and every grid point's SVC is fitted
    on the scaled rows; a grid point's score is the unweighted mean of its test-fold AUROCs, and
    the first best point in grid order wins ties (GridSearchCV's rule). This skips the
    estimator cloning and input validation that made each fit cost ~10-25 ms; the AUROC is the
    Mann-Whitney statistic (:func:`binary_auroc`); ``tests/test_separation.py``
    checks equality with GridSearchCV.
    """
    names = list(grid)
    points = list(itertools.product(*(grid[n] for n in names)))
    fold_scores = np.zeros((len(points), splitter.get_n_splits()))
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for f, (train, test) in enumerate(splitter.split(z, y)):
            _score_fold(z, y, train, test, names, points, fold_scores[:, f])
    means = fold_scores.mean(axis=1)
    best = int(np.argmax(means))
    return float(means[best]), {n: _plain(v) for n, v in zip(names, points[best])}


def _score_fold(z, y, train, test, names, points, out: np.ndarray) -> None:
    """Test-fold AUROC of every grid point, the scaler fitted on the fold's training rows."""
    scaler = StandardScaler().fit(z[train])
    z_train, z_test = scaler.transform(z[train]), scaler.transform(z[test])
    positive = y[test] == y.max()
    for p, values in enumerate(points):
        svc = SVC(kernel="rbf", **dict(zip(names, values))).fit(z_train, y[train])
        out[p] = binary_auroc(positive, svc.decision_function(z_test))


def binary_auroc(positive: np.ndarray, score: np.ndarray) -> float:
    """AUROC by the Mann-Whitney statistic with average ranks for ties (= roc_auc_score)."""
    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _plain(v):
    """NumPy scalars to Python scalars (for JSON run records)."""
    return v.item() if isinstance(v, np.generic) else v
