"""DCI scores (Eastwood & Williams 2018) as GWAE's Table 1 uses them (seed 001, App. C.3.1, eq. 58).

Random-forest regressors (10 trees, depth by cross-validation) predict each of the V factors
y_j from the L latent variables z; their impurity-based feature importances form the importance
matrix R ``[L, V]`` (R_ij: importance of z_i for y_j). Then, with entropies in the log base
named (so that each score lies in [0, 1]):

* disentanglement of z_i: D_i = 1 - H_V(P_i.), P_ij = R_ij / Σ_k R_ik; overall
  D = Σ_i ρ_i D_i with ρ_i = Σ_j R_ij / Σ_kj R_kj (:func:`disentanglement`);
* completeness of y_j: C_j = 1 - H_L(P̃_.j), P̃_ij = R_ij / Σ_k R_kj; overall C = (1/V) Σ_j C_j,
  the plain average the seed states (:func:`completeness`);
* informativeness, normalised as Zaidi et al. (2021) do (seed eq. 58): I = 1 - 6 × MSE, the mean
  over factors of the forests' squared error on held-out rows (:func:`informativeness`). For
  factors in [0, 1], 1/6 is the MSE of a guess drawn uniformly from [0, 1] independently of
  y ~ U[0, 1] (E(y - ŷ)² = 2 Var = 2/12), so I = 0 at that chance level and 1 for exact
  predictions (predicting the constant 1/2 gives I = 1/2).

The seed's own numbers for the D and C equations are lost in its text (they precede eq. 58); the
definitions above are Eastwood & Williams' with the seed's unweighted mean for C.

Protocol (the paper gives only "10 trees, depth by cross-validation"; the rest follows the GWAE
authors' toolkit, vaetc ``dci_score``): the encoded test images are split at random into a fit part
(2/3) and a held-out part (1/3); one depth from :data:`DEPTHS` for all factors, the one with the
lowest 5-fold cross-validated MSE on the fit part averaged over factors; per factor a forest of
that depth is refit on the whole fit part (its importances give R[:, j]) and scored on the
held-out part. Where the toolkit differs from the paper, **ours is the paper**: I is not clipped
at 0 (the toolkit takes max(0, 1 - 6 MSE) per factor). A latent or factor with zero total
importance scores 0 (no importance is no evidence of singleness; it carries weight ρ_i = 0 in D).
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import KFold, cross_val_score

from benchmarks.contracts import TaskData
from benchmarks.registry import register_metric

N_TREES = 10
#: Candidate tree depths (the authors' toolkit's grid).
DEPTHS = (2, 4, 8, 12)
CV_FOLDS = 5
HELD_OUT_SHARE = 1 / 3
#: The MSE of a uniform random guess on [0, 1] is 1/6: seed 001, eq. 58.
CHANCE_MSE = 1 / 6


def one_minus_entropy(weights: np.ndarray, axis: int) -> np.ndarray:
    """1 - H_K(P) of each distribution P ∝ ``weights`` along ``axis``, K its length, entropy in log
    base K (Eastwood & Williams 2018); a zero total gives 0."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum(axis=axis, keepdims=True)
    p = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    entropy = -xlogy(p, p).sum(axis=axis) / np.log(weights.shape[axis])
    return np.where(np.squeeze(total, axis) > 0, 1.0 - entropy, 0.0)


def _check_importance(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or min(r.shape) < 2:
        raise ValueError(f"the importance matrix must be [L, V] with L, V >= 2, got {list(r.shape)}")
    if (r < 0).any():
        raise ValueError("importances must be >= 0")
    return r


def disentanglement(r: np.ndarray) -> tuple[float, np.ndarray]:
    """``(D, [D_i])``: D_i = 1 - H_V(P_i.), P_ij = R_ij / Σ_k R_ik, and D = Σ_i ρ_i D_i with
    ρ_i = Σ_j R_ij / Σ R (Eastwood & Williams 2018; seed 001, App. C.3.1). ``r`` is ``[L, V]``."""
    r = _check_importance(r)
    per_latent = one_minus_entropy(r, axis=1)
    total = r.sum()
    rho = r.sum(axis=1) / total if total > 0 else np.zeros(len(r))
    return float(rho @ per_latent), per_latent


def completeness(r: np.ndarray) -> tuple[float, np.ndarray]:
    """``(C, [C_j])``: C_j = 1 - H_L(P̃_.j), P̃_ij = R_ij / Σ_k R_kj, and C = (1/V) Σ_j C_j
    (Eastwood & Williams 2018; the seed's unweighted mean, App. C.3.1). ``r`` is ``[L, V]``."""
    per_factor = one_minus_entropy(_check_importance(r), axis=0)
    return float(per_factor.mean()), per_factor


def informativeness(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, np.ndarray]:
    """``(I, [I_j])``: I_j = 1 - 6 MSE_j, the squared error of factor j averaged over rows, and
    I = the mean of I_j = 1 - 6 × (mean MSE) (seed 001, eq. 58; Zaidi et al. 2021)."""
    mse = ((np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)) ** 2).mean(axis=0)
    per_factor = 1.0 - mse / CHANCE_MSE
    return float(per_factor.mean()), per_factor


def _forest(depth: int, seed: int) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=N_TREES, max_depth=depth, random_state=seed)


def select_depth(z: np.ndarray, y: np.ndarray, seed: int) -> int:
    """The depth of :data:`DEPTHS` with the lowest 5-fold CV MSE, averaged over the factors."""
    folds = KFold(CV_FOLDS, shuffle=True, random_state=seed)
    cv_mse = [np.mean([-cross_val_score(_forest(depth, seed), z, y[:, j], cv=folds,
                                        scoring="neg_mean_squared_error").mean() for j in range(y.shape[1])])
              for depth in DEPTHS]
    return DEPTHS[int(np.argmin(cv_mse))]


def dci_scores(z: np.ndarray, y: np.ndarray, seed: int) -> dict[str, float]:
    """DCI of representations ``z`` ``[N, L]`` for factors ``y`` ``[N, V]`` in [0, 1] (module docstring):
    ``{"dci_d", "dci_c", "dci_i", "dci_depth"}``."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if z.ndim != 2 or y.ndim != 2 or len(z) != len(y):
        raise ValueError(f"z [N, L] and y [N, V] must share N, got {list(z.shape)} and {list(y.shape)}")
    if y.min() < 0 or y.max() > 1:
        raise ValueError(f"factors must lie in [0, 1] (eq. 58 normalises by 1/6), got [{y.min()}, {y.max()}]")
    perm = np.random.default_rng(seed).permutation(len(z))
    n_held = round(HELD_OUT_SHARE * len(z))
    held, fit = perm[:n_held], perm[n_held:]
    if len(fit) < CV_FOLDS or not len(held):
        raise ValueError(f"DCI needs at least {CV_FOLDS} fit rows and one held-out row, got {len(z)} rows")
    depth = select_depth(z[fit], y[fit], seed)
    importance = np.empty((z.shape[1], y.shape[1]))
    pred = np.empty((len(held), y.shape[1]))
    for j in range(y.shape[1]):
        forest = _forest(depth, seed).fit(z[fit], y[fit, j])
        importance[:, j] = forest.feature_importances_
        pred[:, j] = forest.predict(z[held])
    return {"dci_d": disentanglement(importance)[0], "dci_c": completeness(importance)[0],
            "dci_i": informativeness(y[held], pred)[0], "dci_depth": depth}


@register_metric("dci")
def dci_metric(method, task: TaskData, seed: int) -> dict:
    """DCI of the encoded test images (posterior means) against ``task.test.y``, the factors."""
    z = method.encode(task.test.x, task.test.d).cpu().numpy()
    return dci_scores(z, task.test.y.cpu().numpy(), seed)
