"""Estimators of the dependence I_q(z; u) between two latent blocks (seed 003, eq. 4.5.1, §4.5).

The thesis' fair model penalises the mutual information between its shared latent Z and its
private latent U and names three estimators (§4.5, "Experiments"): MMD (Gretton et al. 2006), the
total-correlation estimator of Esmaeili et al. 2019, and MINE (Belghazi et al. 2018). Each acts on
one minibatch of joint samples ``(z_i, u_i) ~ q(z, u)``; samples of the product of the marginals
q(z) q(u) are the same rows with ``u`` permuted (:func:`product_samples`).

* :func:`mmd2_unbiased` — the unbiased MMD² of Gretton et al. 2012 (eq. 3) with the Gaussian kernel
  k(a, b) = exp(−‖a − b‖² / (2σ²)):
  MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(a_i, a_j) + 1/(n(n−1)) Σ_{i≠j} k(b_i, b_j) − 2/(mn) Σ_{i,j} k(a_i, b_j).
  :func:`mmd_dependence` applies it to joint vs product samples of ``[z, u]``.
* :func:`minibatch_total_correlation` — KL(q(z, u) ‖ q(z) q(u)) with each aggregate density
  estimated on the batch (the minibatch estimator of Chen et al. 2018 / Esmaeili et al. 2019):
  log q̂(z_i) = log (1/M) Σ_j q(z_i | x_j), likewise for u and for (z, u), whose conditional
  density factorises, q(z, u | x) = q(z | x, a) q(u | x). Then
  TĈ = mean_i [log q̂(z_i, u_i) − log q̂(z_i) − log q̂(u_i)].
* :func:`donsker_varadhan` — MINE's lower bound I(z; u) ≥ E_q(z,u)[T] − log E_q(z)q(u)[e^T] for a
  statistics network T (:class:`StatisticsNetwork`), maximised over T and minimised by the encoders.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from saub.networks import mlp

LOG_2PI = math.log(2 * math.pi)


def product_samples(u: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``u`` with its rows permuted: paired with the unpermuted ``z``, samples of q(z) q(u)."""
    return u[torch.randperm(u.shape[0], generator=generator, device=u.device)]


def gaussian_kernel(a: Tensor, b: Tensor, bandwidth: float) -> Tensor:
    """``[len(a), len(b)]`` matrix exp(−‖a_i − b_j‖² / (2σ²)), σ = ``bandwidth``."""
    return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth**2))


def mmd2_unbiased(a: Tensor, b: Tensor, bandwidth: float) -> Tensor:
    """Unbiased MMD² between samples ``a`` ``[m, D]`` and ``b`` ``[n, D]`` (Gretton et al. 2012, eq. 3)."""
    m, n = a.shape[0], b.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 samples per side, got {m} and {n}")
    kaa, kbb = gaussian_kernel(a, a, bandwidth), gaussian_kernel(b, b, bandwidth)
    within_a = (kaa.sum() - kaa.diagonal().sum()) / (m * (m - 1))
    within_b = (kbb.sum() - kbb.diagonal().sum()) / (n * (n - 1))
    return within_a + within_b - 2 * gaussian_kernel(a, b, bandwidth).mean()


def mmd_dependence(z: Tensor, u: Tensor, bandwidth: float | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """MMD² between joint samples ``[z_i, u_i]`` and product samples ``[z_i, u_π(i)]``; the default
    bandwidth is σ² = dim z + dim u (the kernel's scale follows the joint's dimension)."""
    joint = torch.cat([z, u], 1)
    product = torch.cat([z, product_samples(u, generator)], 1)
    sigma = math.sqrt(joint.shape[1]) if bandwidth is None else bandwidth
    return mmd2_unbiased(joint, product, sigma)


def gaussian_log_density_matrix(x: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """``[M, M]`` matrix log N(x_i; mean_j, diag exp(logvar_j)), summed over dimensions."""
    diff = x[:, None, :] - mean[None, :, :]
    return -0.5 * (diff.pow(2) / logvar.exp()[None] + logvar[None] + LOG_2PI).sum(-1)


def minibatch_total_correlation(z: Tensor, z_mean: Tensor, z_logvar: Tensor,
                                u: Tensor, u_mean: Tensor, u_logvar: Tensor) -> Tensor:
    """TĈ of the module docstring from samples ``z_i ~ q(z|x_i)``, ``u_i ~ q(u|x_i)`` and each row's
    Gaussian posterior parameters (all ``[M, ·]``)."""
    log_qz = gaussian_log_density_matrix(z, z_mean, z_logvar)
    log_qu = gaussian_log_density_matrix(u, u_mean, u_logvar)
    log_m = math.log(z.shape[0])
    joint = torch.logsumexp(log_qz + log_qu, 1) - log_m
    marginals = (torch.logsumexp(log_qz, 1) - log_m) + (torch.logsumexp(log_qu, 1) - log_m)
    return (joint - marginals).mean()


class StatisticsNetwork(nn.Module):
    """MINE's T(z, u): an MLP on the concatenation ``[z, u]`` returning one score per row."""

    def __init__(self, z_dim: int, u_dim: int, hidden: int = 64, n_layers: int = 3):
        super().__init__()
        self.net = mlp(z_dim + u_dim, hidden, 1, n_layers)

    def forward(self, z: Tensor, u: Tensor) -> Tensor:
        return self.net(torch.cat([z, u], 1)).squeeze(1)


def donsker_varadhan(statistics: StatisticsNetwork, z: Tensor, u: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    """MINE's bound mean_i T(z_i, u_i) − log mean_i exp T(z_i, u_π(i)) (Belghazi et al. 2018, eq. 10)."""
    joint = statistics(z, u).mean()
    product = statistics(z, product_samples(u, generator))
    return joint - (torch.logsumexp(product, 0) - math.log(product.shape[0]))
