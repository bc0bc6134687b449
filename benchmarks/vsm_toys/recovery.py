"""§3.1 of seed 002 (Fig. 1): recovering θ* by minimising the joint FD or the joint KL.

The model (§3.1; the paper prints the likelihood as N(θ x, γ), a typo for N(θ z, γ), which is what
its v* and every derivation use)::

    p(z) = N(0, 1),   p_θ(x|z) = N(θ z, γ),   q_φ(z|x) = N(φ x, α v*(θ)),   v*(θ) = (1 + θ²/γ)⁻¹,

with γ = 0.5 fixed and α < 1 imposing posterior mismatch (α = 1: q can be exact). The data are
π = p_θ* (x ~ N(0, θ*² + γ)). Both q(z|x)π(x) and p_θ(z, x) are zero-mean Gaussians over (z, x),
so both joint divergences have closed forms (:func:`joint_divergences`); :func:`population_optimum`
minimises them exactly. :func:`fit_recovery` is the experiment's stochastic run: (φ, θ) trained
by Adam on fresh minibatches of π with the library's objectives (:func:`saub.score_matching.fae_objective`,
the FAE loss = JFD − E_π C_π, A.1; −:func:`saub.score_matching.elbo` = JKL − E_π log π, eq. 2), with
reparameterised samples. The marginal depends on θ², so |θ| is what can be recovered.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from benchmarks.vsm_toys import tail_average
from saub.score_matching import elbo, fae_objective

ALPHA = 0.6
GAMMA = 0.5
OBJECTIVES = ("jkl", "jfd")
DT = torch.float64


def joint_covariances(phi: float, theta: float, theta_star: float, alpha: float = ALPHA,
                      gamma: float = GAMMA) -> tuple[np.ndarray, np.ndarray]:
    """Covariances over (z, x) of q_φ(z|x)π(x) and of p_θ(z, x) (both have mean 0)."""
    s2 = theta_star**2 + gamma
    v = alpha / (1 + theta**2 / gamma)
    cov_q = np.array([[v + phi**2 * s2, phi * s2], [phi * s2, s2]])
    cov_p = np.array([[1.0, theta], [theta, theta**2 + gamma]])
    return cov_q, cov_p


def joint_divergences(phi: float, theta: float, theta_star: float, alpha: float = ALPHA,
                      gamma: float = GAMMA) -> dict[str, float]:
    """Closed forms between zero-mean Gaussians N(0, Σ_q) and N(0, Σ_p) over (z, x):

    * ``jfd`` (eq. 6, with the ½ of eq. 5): ½ tr((Λ_p − Λ_q) Σ_q (Λ_p − Λ_q)), Λ = Σ⁻¹;
    * ``jkl``: ½ (tr(Λ_p Σ_q) − 2 + log det Σ_p − log det Σ_q).
    """
    cov_q, cov_p = joint_covariances(phi, theta, theta_star, alpha, gamma)
    lq, lp = np.linalg.inv(cov_q), np.linalg.inv(cov_p)
    diff = lp - lq
    jfd = 0.5 * np.trace(diff @ cov_q @ diff)
    jkl = 0.5 * (np.trace(lp @ cov_q) - 2 + np.log(np.linalg.det(cov_p) / np.linalg.det(cov_q)))
    return {"jfd": float(jfd), "jkl": float(jkl)}


def population_optimum(objective: str, theta_star: float, alpha: float = ALPHA, gamma: float = GAMMA,
                       start: tuple[float, float] = (0.5, 1.0)) -> tuple[float, float]:
    """(φ̂, |θ̂|) minimising the closed-form ``objective`` (Nelder-Mead from ``start``)."""
    check_objective(objective)
    res = minimize(lambda p: joint_divergences(p[0], p[1], theta_star, alpha, gamma)[objective], start,
                   method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20_000})
    phi, theta = res.x
    return float(math.copysign(phi, theta)), float(abs(theta))


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def recovery_model(phi: Tensor, theta: Tensor, alpha: float = ALPHA, gamma: float = GAMMA):
    """(encoder, decoder) callables of the §3.1 VAE for :mod:`saub.score_matching`: the encoder maps
    x ``[N, 1]`` to (φ x, log α v*(θ)), the decoder z ``[N, 1]`` to θ z."""
    def encoder(x: Tensor) -> tuple[Tensor, Tensor]:
        v = alpha / (1 + theta**2 / gamma)
        return phi * x, torch.log(v) * torch.ones_like(x)

    return encoder, (lambda z: theta * z)


def training_loss(objective: str, x: Tensor, phi: Tensor, theta: Tensor, n_samples: int,
                  alpha: float = ALPHA, gamma: float = GAMMA) -> Tensor:
    """E_D of the FAE loss (``jfd``; = JFD − E_π C_π) or of −ELBO (``jkl``; = JKL − E_π log π, eq. 2)."""
    check_objective(objective)
    enc, dec = recovery_model(phi, theta, alpha, gamma)
    if objective == "jfd":
        return fae_objective(x, enc, dec, math.log(gamma), n_samples).mean()
    return -elbo(x, enc, dec, math.log(gamma), n_samples).mean()


def fit_recovery(objective: str, theta_star: float, *, alpha: float = ALPHA, gamma: float = GAMMA,
                 batch_size: int, n_samples: int, steps: int, lr: float, seed: int,
                 init: tuple[float, float] = (0.0, 1.0), record_every: int = 10) -> dict:
    """Minimise ``objective`` over (φ, θ) by Adam, each step on a fresh minibatch of ``batch_size``
    draws of π = N(0, θ*² + γ) with fresh reparameterised z ~ q (``n_samples`` per datum): stochastic
    optimisation of the population objective, whose optimum :func:`population_optimum` gives.

    The solution is the tail average of the last 10 % of iterates
    (:func:`~benchmarks.vsm_toys.tail_average`). Returns it (φ̂ signed as if θ̂ > 0, and |θ̂|), the
    closed-form divergences at it, and |θ| every ``record_every`` steps.
    """
    gen = torch.Generator().manual_seed(seed)
    std = math.sqrt(theta_star**2 + gamma)
    params = torch.tensor(init, dtype=DT, requires_grad=True)
    opt = torch.optim.Adam([params], lr=lr)
    torch.manual_seed(seed)
    path = []
    for _ in range(steps):
        x = std * torch.randn(batch_size, 1, generator=gen, dtype=DT)
        loss = training_loss(objective, x, params[0], params[1], n_samples, alpha, gamma)
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append(params.detach().clone())
    trajectory = torch.stack(path)
    phi, theta = tail_average(trajectory).tolist()
    phi = math.copysign(phi, theta)
    theta = abs(theta)
    return {
        "phi": phi, "theta": theta, **joint_divergences(phi, theta, theta_star, alpha, gamma),
        "step": list(range(record_every, steps + 1, record_every)),
        "theta_path": trajectory[record_every - 1::record_every, 1].abs().tolist(),
    }
