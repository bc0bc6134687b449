"""§3.3.2 of seed 002 (Fig. 2): a Gaussian q fitted to the posteriors of two toy likelihoods.

Prior p(z) = N(0, I₂) and the likelihoods of eq. (11)::

    p_I(x = 2 | z)  = N(2; z₁ z₂, 0.5²),        p_II(x = 1 | z) = N(1; z₁ relu(z₂), 1.0²).

q(z) = N(m, diag s²) (one fixed x, so q is not amortised) is optimised from each point of a regular
grid of initial means by D_KL[q||p(z|x)] (reparameterised, :func:`saub.score_matching.posterior_kl`)
or D_F[q||p(z|x)] with or without reparameterisation (:func:`saub.score_matching.posterior_fisher_divergence`;
without it the gradient is the biased ∇^b of A.5.1, eq. 32), by plain SGD or Adam. All grid points
are optimised at once as independent rows: the loss is the sum of the per-row losses and both
optimisers act element-wise, so each row follows its own trajectory exactly as if run alone.

:class:`GridPosterior` evaluates the exact posterior on a fine grid (brute-force quadrature) for the
summaries: the highest-density level of a final mean (the posterior mass of the region denser than
it), and the KL of the final q to the exact posterior.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from benchmarks.vsm_toys import optimizer_for, tail_average
from saub.score_matching import posterior_fisher_divergence, posterior_kl
from saub.score_matching.scores import (
    diag_gaussian_log_prob,
    gaussian_log_likelihood,
    standard_normal_log_prob,
)

DT = torch.float64
#: Inference settings of Fig. 2: (divergence, reparameterised).
SETTINGS = {"kl-repar": ("kl", True), "fd-repar": ("fd", True), "fd-norepar": ("fd", False)}


@dataclass(frozen=True)
class ToyLikelihood:
    """p(x|z) = N(x; g(z), std²) at one observed ``x`` (eq. 11)."""

    name: str
    x: float
    std: float
    mean_fn: Callable[[Tensor], Tensor]

    @property
    def log_gamma(self) -> float:
        return 2 * math.log(self.std)

    def decoder(self, z: Tensor) -> Tensor:
        """g(z), ``[N, 2] -> [N, 1]``."""
        return self.mean_fn(z)[:, None]

    def log_joint(self, z: Tensor) -> Tensor:
        """log p(z) + log p(x|z), ``[N, 2] -> [N]``."""
        x = torch.full((z.shape[0], 1), self.x, dtype=z.dtype)
        return standard_normal_log_prob(z) + gaussian_log_likelihood(x, self.decoder(z), self.log_gamma)


LIKELIHOODS = {
    "p_I": ToyLikelihood("p_I", 2.0, 0.5, lambda z: z[:, 0] * z[:, 1]),
    "p_II": ToyLikelihood("p_II", 1.0, 1.0, lambda z: z[:, 0] * torch.relu(z[:, 1])),
}


def likelihood(name: str) -> ToyLikelihood:
    if name not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {tuple(LIKELIHOODS)}, got {name!r}")
    return LIKELIHOODS[name]


class GridPosterior:
    """The exact posterior p(z|x) ∝ p(z) p(x|z) on a ``points × points`` grid over [−half, half]²."""

    def __init__(self, lik: ToyLikelihood, half: float = 5.0, points: int = 401):
        self.lik, self.half = lik, half
        g = torch.linspace(-half, half, points, dtype=DT)
        self.axis = g
        self.cell_area = float((g[1] - g[0]) ** 2)
        zz = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
        log_joint = lik.log_joint(zz)
        #: log p(x) by quadrature (the grid covers all but a negligible tail of the prior).
        self.log_evidence = float(torch.logsumexp(log_joint, 0) + math.log(self.cell_area))
        self.log_density = (log_joint - self.log_evidence).reshape(points, points)
        self.mass = (self.log_density.exp() * self.cell_area).flatten()
        self._sorted_log = self.log_density.flatten().sort(descending=True).values
        self._cum_mass = (self._sorted_log.exp() * self.cell_area).cumsum(0)

    def log_prob(self, z: Tensor) -> Tensor:
        """Exact log p(z|x) (the quadrature's normaliser), ``[N, 2] -> [N]``."""
        return self.lik.log_joint(z.to(DT)) - self.log_evidence

    def hpd_level(self, z: Tensor) -> Tensor:
        """Posterior mass of {z' : p(z'|x) > p(z|x)}, ``[N, 2] -> [N]`` in [0, 1]: near 1 means z lies
        where the posterior has almost no density (outside its highest-density regions)."""
        above = torch.searchsorted(-self._sorted_log, -self.log_prob(z))
        padded = torch.cat([torch.zeros(1, dtype=DT), self._cum_mass])
        return padded[above].clamp(max=1.0)

    def mean(self) -> Tensor:
        """E_p(z|x)[z] by quadrature."""
        zz = torch.stack(torch.meshgrid(self.axis, self.axis, indexing="xy"), -1).reshape(-1, 2)
        return (self.mass[:, None] * zz).sum(0) / self.mass.sum()

    def kl_from(self, mean: Tensor, logstd: Tensor, n: int = 4000, seed: int = 0) -> Tensor:
        """D_KL[N(m, diag s²) || p(z|x)] per row by Monte Carlo with ``n`` antithetic draws, ``[B]``."""
        half = torch.randn(n // 2, *mean.shape, generator=torch.Generator().manual_seed(seed), dtype=DT)
        eps = torch.cat([half, -half], 0)
        z = mean + logstd.exp() * eps
        log_q = diag_gaussian_log_prob(z, mean, 2 * logstd)
        log_p = self.log_prob(z.reshape(-1, 2)).reshape(z.shape[:2])
        return (log_q - log_p).mean(0)


def initial_means(points: int, half: float) -> Tensor:
    """The regular ``points × points`` grid of initial means over [−half, half]², ``[points², 2]``."""
    g = torch.linspace(-half, half, points, dtype=DT)
    return torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)


def inference_loss(setting: str, lik: ToyLikelihood, mean: Tensor, logstd: Tensor, n_samples: int,
                   noise: Tensor | None = None) -> Tensor:
    """Σ over rows of D_KL (``kl-repar``; up to −log p(x), eq. 2) or D_F (``fd-repar``, ``fd-norepar``)
    between q and p(z|x), each row's q = N(mean[b], diag exp(2 logstd[b])), estimated by ``n_samples``
    draws per row (``noise``: their standard normal ε ``[S, B, 2]``, else drawn)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {tuple(SETTINGS)}, got {setting!r}")
    divergence, repar = SETTINGS[setting]
    rows = mean.shape[0]

    def encoder(xx: Tensor) -> tuple[Tensor, Tensor]:  # sample_posterior stacks the S copies row-block-wise
        reps = xx.shape[0] // rows
        return mean.repeat(reps, 1), (2 * logstd).repeat(reps, 1)

    x = torch.full((rows, 1), lik.x, dtype=DT)
    if divergence == "kl":
        loss = posterior_kl(x, encoder, lik.decoder, lik.log_gamma, n_samples, noise=noise,
                            reparameterize=repar)
    else:
        loss = posterior_fisher_divergence(x, encoder, lik.decoder, lik.log_gamma, n_samples, noise=noise,
                                           reparameterize=repar)
    return loss.sum()


def fit_gaussians(setting: str, lik: ToyLikelihood, init_mean: Tensor, *, optimizer: str, lr: float,
                  steps: int, n_samples: int, seed: int, init_logstd: float = 0.0) -> dict[str, Tensor]:
    """Optimise one Gaussian q per row of ``init_mean`` ``[B, 2]`` (log std ``init_logstd``).

    Returns the trajectory of the means ``[steps + 1, B, 2]`` (row 0 the initial means), the final
    (tail-averaged) means and log stds ``[B, 2]``, and ``diverged`` ``[B]`` (a non-finite iterate)."""
    mean = init_mean.clone().to(DT).requires_grad_(True)
    logstd = torch.full_like(mean, init_logstd).requires_grad_(True)
    opt = optimizer_for(optimizer, [mean, logstd], lr)
    torch.manual_seed(seed)
    means, logstds = [mean.detach().clone()], [logstd.detach().clone()]
    for _ in range(steps):
        loss = inference_loss(setting, lik, mean, logstd, n_samples)
        opt.zero_grad()
        loss.backward()
        opt.step()
        means.append(mean.detach().clone())
        logstds.append(logstd.detach().clone())
    trajectory, logstd_path = torch.stack(means), torch.stack(logstds)
    diverged = ~(torch.isfinite(trajectory).all(0).all(-1) & torch.isfinite(logstd_path).all(0).all(-1))
    return {"trajectory": trajectory, "mean": tail_average(trajectory[1:]),
            "logstd": tail_average(logstd_path[1:]), "diverged": diverged}


def assign_optima(points: Tensor, radius: float) -> list[int]:
    """The optimum each row of ``points`` ``[N, 2]`` belongs to, by greedy leader clustering in row
    order: a point joins the first leader within ``radius``, else becomes a new leader; a non-finite
    point (a diverged run) gets −1."""
    leaders: list[Tensor] = []
    labels = []
    for p in points:
        if not torch.isfinite(p).all():
            labels.append(-1)
            continue
        k = next((k for k, c in enumerate(leaders) if float((p - c).norm()) <= radius), None)
        if k is None:
            leaders.append(p)
            k = len(leaders) - 1
        labels.append(k)
    return labels


def count_optima(points: Tensor, radius: float) -> int:
    """Number of distinct optima among the finite rows of ``points`` (:func:`assign_optima`)."""
    return len({k for k in assign_optima(points, radius) if k >= 0})
