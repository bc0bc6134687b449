"""Regime diagnostics: is a distribution-matching run where its method can work?

Every record of an experiment with ``diagnostics = True`` carries, beside its metrics
(``record["diagnostics"]``, see :func:`representation_diagnostics` and :mod:`benchmarks.experiment`):

* **Alignment** (:func:`domain_probe`): a linear and a one-hidden-layer domain classifier on the
  standardised latents, fitted on one half of the held-out test rows and scored on the other half.
  The stronger one's accuracy is printed beside the majority rate; its *balanced* accuracy (mean
  per-domain recall) is 0.5 for indistinguishable domains whatever their sizes, 1 for separable ones. The
  proxy A-distance of Ben-David et al. (2007), d̂_A = 2 (1 − 2 ε) with ε = 1 − balanced accuracy,
  is given too. A run is flagged *not aligned* when the balanced accuracy is more than halfway from
  chance (1/k for k domains) to perfect separation: above :data:`ALIGNED_MAX_BALANCED_ACCURACY` for
  two domains.
* **Collapse** (:func:`active_units`): a latent unit is *active* when the variance over inputs of its
  posterior mean exceeds :data:`ACTIVE_SNR` times its mean posterior variance,
  Var_x(μ_u(x)) / E_x[σ_u²(x)] > 0.01. With a unit posterior variance this is Burda et al.'s (2016)
  criterion Cov_x(E_q[u]) > 0.01; dividing by the noise makes it invariant to the latent's scale (App.
  C's batch-normalised mean has unit variance whatever it encodes). Methods without a posterior
  (deterministic encoders) get the effective rank (:func:`effective_rank`, Roy & Vetterli 2007) of their
  representation's covariance instead. A run is flagged *collapsed* when fewer than
  :data:`COLLAPSE_MAX_ACTIVE_FRACTION` of its units are active (or its effective rank is below 1.5).
* **Loss terms** (:func:`loss_shares`): each term of the minimised objective over the last tenth of
  training, its weight in the objective (``Method.loss_weights``), and its share
  |w · term| / Σ |w · term| of the weighted total.
* **Learning curves** (:func:`still_improving`): the diagnostics and the experiment's checkpoint metrics
  at :data:`CHECKPOINT_FRACTIONS` of the budget; a run is flagged *still improving* when its headline
  metric gained more than :data:`IMPROVING_MIN_GAIN` between the last two checkpoints.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor

from saub.seeding import derive_seed

#: Fractions of the training budget at which a cell is evaluated (the final one is the record itself).
CHECKPOINT_FRACTIONS = (0.125, 0.25, 0.5, 1.0)
#: Above this balanced accuracy of the held-out domain probes a two-domain run is "not aligned"
#: (k domains: above 1/k + (1 − 1/k) / 2, halfway from chance to perfect separation).
ALIGNED_MAX_BALANCED_ACCURACY = 0.75
#: A unit is active when Var_x(μ_u) / E_x[σ_u²] exceeds this (Burda et al. 2016's 0.01).
ACTIVE_SNR = 0.01
#: A run is "collapsed" when fewer than this fraction of its latent units are active.
COLLAPSE_MAX_ACTIVE_FRACTION = 0.05
#: Deterministic representations: "collapsed" below this effective rank.
COLLAPSE_MIN_EFFECTIVE_RANK = 1.5
#: A headline metric (in [0, 1]) that rose by more than this between the last two checkpoints is
#: "still improving".
IMPROVING_MIN_GAIN = 0.02
#: Rows per domain the domain probe uses at most (a stratified, seeded subsample).
PROBE_MAX_PER_DOMAIN = 2000
#: Hidden ReLUs of the non-linear domain probe.
PROBE_MLP_HIDDEN = 64


def checkpoint_steps(total_steps: int, fractions: Sequence[float] = CHECKPOINT_FRACTIONS) -> list[int]:
    """Distinct step counts ``max(1, round(f * total))`` for the fractions below 1 (the last step,
    the record's own evaluation, is not a checkpoint)."""
    return sorted({max(1, round(f * total_steps)) for f in fractions if f < 1} - {total_steps}) \
        if total_steps > 1 else []


def domain_probe(z: Tensor, d: Tensor, seed: int, max_per_domain: int = PROBE_MAX_PER_DOMAIN) -> dict:
    """Held-out domain classifiers on latents ``z`` ``[N, K]`` with domains ``d`` ``[N]``.

    Rows are subsampled to at most ``max_per_domain`` per domain and split half/half per domain into a
    fitting and a scoring set (seeded). Two probes are fitted on the standardised latents of the first
    half (one mean and scale for all rows) and scored on the second:

    * ``linear``: logistic regression (scikit-learn, L2, C = 1), the classic probe;
    * ``mlp``: one hidden layer of :data:`PROBE_MLP_HIDDEN` ReLUs (scikit-learn's MLPClassifier, Adam,
      L2 1e-4). A linear probe sees only differences of the domains' means along a direction: when
      each domain is normalised by its own statistics (App. C's batch-normalised mean evaluated per
      domain) their means and variances agree by construction, and only a non-linear probe can tell
      whether the distributions do.

    Returns, per probe, ``<probe>_accuracy`` and ``<probe>_balanced_accuracy`` (mean per-domain recall:
    0.5 for indistinguishable domains whatever their sizes); ``balanced_accuracy`` and ``accuracy`` of
    the stronger probe (a difference either finds counts); ``majority`` (always answering the scoring
    set's largest domain); ``proxy_a_distance`` = 2 (1 − 2 (1 − balanced_accuracy)).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.neural_network import MLPClassifier

    z = np.asarray(z.detach().cpu().double() if isinstance(z, Tensor) else z, dtype=float)
    d = np.asarray(d.cpu() if isinstance(d, Tensor) else d).astype(int)
    if len(z) != len(d):
        raise ValueError(f"latents and domains must have the same rows, got {len(z)} and {len(d)}")
    domains = np.unique(d)
    if len(domains) < 2:
        raise ValueError("the domain probe needs rows of at least two domains")
    rng = np.random.default_rng(derive_seed(seed, "domain-probe"))
    fit_rows, score_rows = [], []
    for dom in domains:
        rows = rng.permutation(np.flatnonzero(d == dom))[:max_per_domain]
        if len(rows) < 2:
            raise ValueError(f"the domain probe needs at least 2 rows of domain {dom}")
        half = len(rows) // 2
        fit_rows.append(rows[:half])
        score_rows.append(rows[half:])
    fit, score = np.concatenate(fit_rows), np.concatenate(score_rows)
    mean, std = z[fit].mean(0), z[fit].std(0)
    std[std < 1e-12] = 1.0
    z_fit, z_score = (z[fit] - mean) / std, (z[score] - mean) / std
    probes = {
        "linear": LogisticRegression(C=1.0, max_iter=2000),
        "mlp": MLPClassifier(hidden_layer_sizes=(PROBE_MLP_HIDDEN,), alpha=1e-4, max_iter=500,
                             random_state=derive_seed(seed, "domain-probe-mlp") % 2**31),
    }
    out: dict = {}
    for name, probe in probes.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            probe.fit(z_fit, d[fit])
        pred = probe.predict(z_score)
        out[f"{name}_accuracy"] = float((pred == d[score]).mean())
        out[f"{name}_balanced_accuracy"] = float(balanced_accuracy_score(d[score], pred))
    strongest = max(probes, key=lambda name: out[f"{name}_balanced_accuracy"])
    balanced = out[f"{strongest}_balanced_accuracy"]
    counts = np.bincount(d[score] - d.min())
    out.update({
        "accuracy": out[f"{strongest}_accuracy"],
        "balanced_accuracy": balanced,
        "strongest_probe": strongest,
        "majority": float(counts.max() / counts.sum()),
        "proxy_a_distance": 2.0 * (1.0 - 2.0 * (1.0 - balanced)),
        "n_scored": int(len(score)),
        "n_domains": int(len(domains)),
    })
    return out


def active_units(mean: Tensor, logvar: Tensor, threshold: float = ACTIVE_SNR) -> dict:
    """Units u with Var_x(μ_u) / E_x[σ_u²] > ``threshold`` (module docstring) from posterior moments
    ``mean``, ``logvar`` ``[N, K]``; also the mean posterior standard deviation and the mean entropy
    per dimension ½ (1 + ln 2π + E_x log σ_u²) in nats, and ``information_bound_nats``, an upper
    bound on I(x; z) for a factorised Gaussian posterior: I(x; z) ≤ Σ_u I(x; z_u) (as h(z) ≤ Σ_u h(z_u)
    and the z_u are independent given x), and h(z_u) ≤ ½ ln 2πe Var(z_u) with Var(z_u) = Var_x(μ_u) +
    E_x σ_u², so I(x; z_u) ≤ ½ [ln(Var_x μ_u + E_x σ_u²) − E_x ln σ_u²]. Burda's criterion counts a
    unit with SNR 0.02 as active although it carries ≈ 0.01 nats; this says how much the units hold."""
    mean, logvar = mean.detach().double(), logvar.detach().double()
    signal = mean.var(0, unbiased=False)
    noise = logvar.exp().mean(0)
    snr = signal / noise.clamp_min(1e-300)
    active = int((snr > threshold).sum())
    k = mean.shape[1]
    return {
        "active_units": active,
        "latent_dim": k,
        "active_fraction": active / k,
        "median_snr": float(snr.median()),
        "posterior_std_mean": float((0.5 * logvar).exp().mean()),
        "entropy_per_dim": float(0.5 * (1.0 + math.log(2 * math.pi) + logvar.mean())),
        "information_bound_nats": float(0.5 * (torch.log(signal + noise) - logvar.mean(0)).sum()),
    }


def effective_rank(z: Tensor) -> float:
    """exp(H(p)) with p the normalised eigenvalues of the covariance of ``z`` ``[N, K]`` (Roy &
    Vetterli 2007): K for an isotropic K-dimensional cloud, 1 for a line."""
    z = z.detach().double()
    eig = torch.linalg.eigvalsh(torch.cov(z.T).reshape(z.shape[1], z.shape[1])).clamp_min(0)
    if float(eig.sum()) <= 0:
        return 0.0
    p = eig / eig.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def loss_shares(curves: Mapping[str, Sequence[float]], weights: Mapping[str, float],
                window: float = 0.1) -> dict[str, dict[str, float]]:
    """For each term of ``weights`` present in ``curves``: its mean over the last ``window`` of the
    steps (non-finite entries skipped, e.g. a stage that logs NaN), its ``weight``, the weighted value
    and its ``share`` = |w · term| / Σ_terms |w · term|."""
    out: dict[str, dict[str, float]] = {}
    for name, weight in weights.items():
        values = [v for v in curves.get(name, []) if v is not None]
        if not values:
            continue
        tail = values[-max(1, math.ceil(window * len(values))):]
        finite = [float(v) for v in tail if math.isfinite(float(v))]
        if not finite:
            continue
        value = sum(finite) / len(finite)
        out[name] = {"value": value, "weight": float(weight), "weighted": weight * value}
    total = sum(abs(t["weighted"]) for t in out.values())
    for t in out.values():
        t["share"] = abs(t["weighted"]) / total if total > 0 else float("nan")
    return out


def representation_diagnostics(method, task, seed: int) -> dict:
    """Alignment and collapse of ``method``'s representation of the task's test split (see the module
    docstring); keys ``alignment`` and ``collapse``."""
    from benchmarks.contracts import Unsupported, batched

    test = task.test
    z = method.encode(test.x, test.d)
    out: dict = {"alignment": domain_probe(z, test.d, seed) if task.n_domains > 1 else None}
    try:
        moments = batched(lambda xb, db: torch.cat(method.posterior_moments(xb, db), 1), test.x, test.d)
    except Unsupported:
        out["collapse"] = {"effective_rank": effective_rank(z), "latent_dim": int(z.shape[1])}
    else:
        k = moments.shape[1] // 2
        out["collapse"] = {**active_units(moments[:, :k], moments[:, k:]),
                           "effective_rank": effective_rank(z)}
    return out


def aligned_threshold(n_domains: int) -> float:
    """Balanced accuracy halfway between chance (1/k) and perfect separation; 0.75 for k = 2."""
    chance = 1.0 / n_domains
    return chance + (1.0 - chance) * (ALIGNED_MAX_BALANCED_ACCURACY - 0.5) / 0.5


def is_aligned(diag: Mapping) -> bool | None:
    a = diag.get("alignment")
    return None if not a else a["balanced_accuracy"] <= aligned_threshold(a.get("n_domains", 2))


def is_collapsed(diag: Mapping) -> bool:
    c = diag.get("collapse") or {}
    if "active_fraction" in c:
        return c["active_fraction"] < COLLAPSE_MAX_ACTIVE_FRACTION
    return c.get("effective_rank", math.inf) < COLLAPSE_MIN_EFFECTIVE_RANK


def still_improving(points: Sequence[tuple[int, float]], min_gain: float = IMPROVING_MIN_GAIN) -> bool:
    """``points`` = (step, headline metric, higher is better) in step order: True when the metric rose by
    more than ``min_gain`` between the last two checkpoints."""
    pts = [(s, v) for s, v in points if v is not None and math.isfinite(v)]
    return len(pts) >= 2 and pts[-1][1] - pts[-2][1] > min_gain


def regime_flags(record: Mapping, headline: str | None = None) -> list[str]:
    """The words a page prints next to a number: "not aligned", "collapsed", "still improving"
    (``headline`` names the learning-curve metric judged), from a record's ``diagnostics``."""
    diag = record.get("diagnostics") or {}
    final = diag.get("final") or {}
    flags = []
    if is_aligned(final) is False:
        flags.append("not aligned")
    if final and is_collapsed(final):
        flags.append("collapsed")
    if headline:
        curve = [(int(s), p.get(headline)) for s, p in sorted((diag.get("learning_curve") or {}).items(),
                                                               key=lambda kv: int(kv[0]))]
        if still_improving(curve):
            flags.append("still improving")
    return flags
