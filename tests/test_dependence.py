"""The I_q(z; u) estimators of saub.dependence (seed 003, §4.5) on cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from saub.dependence import (
    StatisticsNetwork,
    donsker_varadhan,
    gaussian_log_density_matrix,
    minibatch_total_correlation,
    mmd2_unbiased,
    product_samples,
)


def closed_form_mmd2(shift: torch.Tensor, std: float, bandwidth: float) -> float:
    """MMD² between N(0, s²I) and N(Δ, s²I) under the Gaussian kernel of width σ:
    E k(a, a') = (σ² / (σ² + 2s²))^{D/2} exp(−‖μ_a − μ_a'‖² / (2(σ² + 2s²)))."""
    d, var = shift.numel(), bandwidth**2 + 2 * std**2
    c = (bandwidth**2 / var) ** (d / 2)
    return 2 * c * (1 - math.exp(-float(shift.pow(2).sum()) / (2 * var)))


def test_mmd_matches_its_definition_by_brute_force():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 3, generator=gen), torch.randn(5, 3, generator=gen) + 0.5
    k = lambda p, q: math.exp(-float((p - q).pow(2).sum()) / (2 * 1.3**2))  # noqa: E731
    m, n = len(a), len(b)
    brute = (sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
             + sum(k(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
             - 2 * sum(k(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n))
    assert float(mmd2_unbiased(a, b, 1.3)) == pytest.approx(brute, rel=1e-5)


def test_mmd_of_identical_and_of_shifted_gaussians():
    gen = torch.Generator().manual_seed(1)
    n, d, bw = 3000, 2, 1.0
    same = mmd2_unbiased(torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen), bw)
    shift = torch.tensor([1.0, 0.5])
    shifted = mmd2_unbiased(torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen) + shift, bw)
    assert abs(float(same)) < 0.005
    assert float(shifted) == pytest.approx(closed_form_mmd2(shift, 1.0, bw), abs=0.01)
    assert closed_form_mmd2(shift, 1.0, bw) > 0.1  # the shifted case is far from the identical one


def test_gaussian_log_density_matrix_matches_torch_distributions():
    gen = torch.Generator().manual_seed(2)
    x, mean, logvar = (torch.randn(4, 3, generator=gen) for _ in range(3))
    normal = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    ref = torch.stack([normal.log_prob(xi).sum(1) for xi in x])
    assert torch.allclose(gaussian_log_density_matrix(x, mean, logvar), ref, atol=1e-5)


def _correlated_latents(m: int, noise_var: float, gen: torch.Generator, dims: int = 1):
    """x ~ N(0, I); q(z|x) = q(u|x) = N(x, noise_var·I): (z, u) jointly Gaussian with correlation
    ρ = 1 / (1 + noise_var) per dimension, I(z; u) = −(dims/2) log(1 − ρ²)."""
    x = torch.randn(m, dims, generator=gen)
    logvar = torch.full_like(x, math.log(noise_var))
    z = x + math.sqrt(noise_var) * torch.randn(m, dims, generator=gen)
    u = x + math.sqrt(noise_var) * torch.randn(m, dims, generator=gen)
    rho = 1 / (1 + noise_var)
    return x, logvar, z, u, -0.5 * dims * math.log(1 - rho**2)


def test_minibatch_total_correlation_recovers_the_mutual_information_of_gaussians():
    gen = torch.Generator().manual_seed(3)
    x, logvar, z, u, mi = _correlated_latents(4000, 0.5, gen, dims=2)
    estimate = float(minibatch_total_correlation(z, x, logvar, u, x, logvar))
    assert mi == pytest.approx(0.588, abs=1e-3)
    assert estimate == pytest.approx(mi, abs=0.05)
    # independent blocks: q(u|x) ignores x
    u_free = torch.randn(4000, 2, generator=gen)
    zero = float(minibatch_total_correlation(z, x, logvar, u_free, torch.zeros_like(x), torch.zeros_like(x)))
    assert abs(zero) < 0.02


def test_donsker_varadhan_is_its_formula_with_the_permutation_given():
    torch.manual_seed(0)
    net = StatisticsNetwork(2, 3, hidden=8)
    z, u = torch.randn(6, 2), torch.randn(6, 3)
    perm_u = product_samples(u, torch.Generator().manual_seed(5))
    expected = net(z, u).mean() - torch.log(torch.exp(net(z, perm_u)).mean())
    got = donsker_varadhan(net, z, u, torch.Generator().manual_seed(5))
    assert got.item() == pytest.approx(expected.item(), abs=1e-6)


def test_mine_bound_approaches_the_mutual_information_of_correlated_gaussians():
    """ρ = 0.8: I = −½ log(1 − 0.64) = 0.511 nats; a trained T gives a lower bound close to it."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(4)
    rho, mi = 0.8, -0.5 * math.log(1 - 0.64)

    def sample(n):
        z = torch.randn(n, 1, generator=gen)
        return z, rho * z + math.sqrt(1 - rho**2) * torch.randn(n, 1, generator=gen)

    net = StatisticsNetwork(1, 1, hidden=64)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(800):
        z, u = sample(512)
        loss = -donsker_varadhan(net, z, u, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        z, u = sample(20000)
        estimate = float(donsker_varadhan(net, z, u, gen))
    assert mi - 0.08 < estimate < mi + 0.03
