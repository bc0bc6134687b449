"""Proposition 1 (the SFS trick, eq. 8 / 14) checked by numbers, in float64.

For a prior Q with an analytic score, the θ-gradient of the surrogate ``-∇log Q(z̄)ᵀ z`` (z̄ = z
detached) must equal autograd's θ-gradient of the cross-entropy ``-log Q(z)`` for the same
reparameterised noise draw. The analytic score is obtained by autograd through
``torch.distributions`` log-densities, and is itself differentiable (``create_graph=True``), so an
implementation that forgot to detach z* would pick up a Hessian term and fail these tests.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

from saub.priors import sfs_cross_entropy

pytestmark = pytest.mark.usefixtures("single_thread")

DT = torch.float64
B, IN_DIM, LATENT = 16, 3, 2


def gaussian_prior() -> torch.distributions.Distribution:
    """A non-standard diagonal Gaussian N(m, diag s²)."""
    m = torch.tensor([0.7, -1.3], dtype=DT)
    s = torch.tensor([0.5, 2.0], dtype=DT)
    return Independent(Normal(m, s), 1)


def mog_prior() -> torch.distributions.Distribution:
    """A 2-component 2-D mixture with unequal weights and full (non-diagonal) covariances."""
    logits = torch.tensor([0.3, -0.4], dtype=DT)
    means = torch.tensor([[1.0, 0.5], [-1.2, -0.8]], dtype=DT)
    cov = torch.tensor([[[0.6, 0.2], [0.2, 0.4]], [[0.3, -0.1], [-0.1, 0.9]]], dtype=DT)
    return MixtureSameFamily(Categorical(logits=logits), MultivariateNormal(means, covariance_matrix=cov))


PRIORS = {"gaussian": gaussian_prior, "mog": mog_prior}


def make_score_fn(dist, calls: list | None = None):
    """score_fn(z, σ) = ∇_z log Q(z) via autograd (σ ignored: the score of Q itself)."""

    def score_fn(z: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if calls is not None:
            calls.append((z.clone(), sigma.clone()))
        with torch.enable_grad():
            zz = z if z.requires_grad else z.detach().requires_grad_(True)
            lp = dist.log_prob(zz).sum()
            return torch.autograd.grad(lp, zz, create_graph=True)[0]

    return score_fn


class TinyEncoder(nn.Module):
    """A small MLP producing (mean, logvar), float64."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(IN_DIM, 8), nn.Tanh())
        self.mean = nn.Linear(8, LATENT)
        self.logvar = nn.Linear(8, LATENT)

    def forward(self, x):
        h = self.body(x)
        return self.mean(h), self.logvar(h)


@pytest.fixture
def setup():
    torch.manual_seed(1234)
    enc = TinyEncoder().to(DT)
    x = torch.randn(B, IN_DIM, dtype=DT)
    eps = torch.randn(B, LATENT, dtype=DT)  # FIXED noise draw shared by both losses
    return enc, x, eps


def sample_z(enc, x, eps):
    mean, logvar = enc(x)
    return mean + torch.exp(0.5 * logvar) * eps


def grads(loss, params):
    return torch.autograd.grad(loss, params)


def test_analytic_score_helper_is_the_gaussian_score():
    """Sanity check of the helper against the closed form -(z - m)/s²."""
    dist = gaussian_prior()
    z = torch.randn(10, 2, dtype=DT)
    expected = -(z - dist.base_dist.loc) / dist.base_dist.scale**2
    torch.testing.assert_close(make_score_fn(dist)(z, None), expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("prior_name", sorted(PRIORS))
def test_sfs_gradient_equals_cross_entropy_gradient(setup, prior_name):
    enc, x, eps = setup
    dist = PRIORS[prior_name]()
    params = list(enc.parameters())

    ce = (-dist.log_prob(sample_z(enc, x, eps))).mean()
    g_true = grads(ce, params)

    sur = sfs_cross_entropy(sample_z(enc, x, eps), make_score_fn(dist), sigma0=0.01, perturb=False).mean()
    g_sfs = grads(sur, params)

    total = math.sqrt(sum(float((g**2).sum()) for g in g_true))
    assert total > 1e-2, "the true gradient must be non-trivial for the check to mean anything"
    for gt, gs in zip(g_true, g_sfs):
        torch.testing.assert_close(gs, gt, rtol=0, atol=1e-10)

    # The surrogate is a gradient surrogate only: its value is not the cross-entropy.
    assert abs(sur.item() - ce.item()) > 0.1


@pytest.mark.parametrize("prior_name", sorted(PRIORS))
def test_sfs_gradient_w_r_t_z_is_minus_score(prior_name):
    """Per sample, d(surrogate)/dz = -∇log Q(z) = d(-log Q(z))/dz, and no gradient flows via z*."""
    torch.manual_seed(5)
    dist = PRIORS[prior_name]()
    z = torch.randn(B, LATENT, dtype=DT, requires_grad=True)
    (g_sfs,) = torch.autograd.grad(sfs_cross_entropy(z, make_score_fn(dist), 0.01, perturb=False).sum(), z)
    (g_ce,) = torch.autograd.grad((-dist.log_prob(z)).sum(), z)
    torch.testing.assert_close(g_sfs, g_ce, rtol=0, atol=1e-12)


def test_score_is_queried_at_sigma0_on_detached_z(setup):
    enc, x, eps = setup
    calls: list = []
    z = sample_z(enc, x, eps)
    sfs_cross_entropy(z, make_score_fn(mog_prior(), calls), sigma0=0.037, perturb=False)
    assert len(calls) == 1
    z_seen, sigma_seen = calls[0]
    assert torch.equal(z_seen, z.detach())
    assert sigma_seen.shape == (B,) and sigma_seen.dtype == DT
    assert torch.all(sigma_seen == 0.037)


def test_wrong_surrogate_is_detected(setup):
    """Negative control: scoring at a perturbed point with large σ0 changes the gradient."""
    enc, x, eps = setup
    dist = mog_prior()
    params = list(enc.parameters())
    g_true = grads((-dist.log_prob(sample_z(enc, x, eps))).mean(), params)
    torch.manual_seed(0)
    bad = sfs_cross_entropy(sample_z(enc, x, eps), make_score_fn(dist), 0.5, perturb=True)
    g_bad = grads(bad.mean(), params)
    diff = max(float((a - b).abs().max()) for a, b in zip(g_true, g_bad))
    assert diff > 1e-3


@pytest.mark.parametrize("prior_name", sorted(PRIORS))
def test_perturbed_sfs_equals_hand_computation(setup, prior_name):
    """perturb=True: value -S(z*)ᵀ z with z* = z + σ0 ε (eq. 10), ε the next torch.randn draw."""
    enc, x, eps = setup
    dist = PRIORS[prior_name]()
    score = make_score_fn(dist)
    sigma0 = 0.3
    params = list(enc.parameters())

    z = sample_z(enc, x, eps)
    torch.manual_seed(77)
    val = sfs_cross_entropy(z, score, sigma0, perturb=True)
    g_val = grads(val.mean(), params)

    torch.manual_seed(77)
    eps_star = torch.randn(B, LATENT, dtype=DT)
    z_star = z.detach() + sigma0 * eps_star
    s_star = score(z_star, None).detach()
    expected = -(s_star * sample_z(enc, x, eps)).sum(1)  # a fresh graph, same numbers as z
    torch.testing.assert_close(val, expected, rtol=0, atol=1e-12)
    # Its θ-gradient is J_θ(z)ᵀ(-S(z*)), i.e. the score is a constant in the graph.
    g_exp = grads(expected.mean(), params)
    for a, b in zip(g_val, g_exp):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)

    # And z* really differs from z (so the perturbation is applied, with the seeded draw).
    calls: list = []
    torch.manual_seed(77)
    sfs_cross_entropy(z, make_score_fn(dist, calls), sigma0, perturb=True)
    torch.testing.assert_close(calls[0][0], z_star, rtol=0, atol=1e-15)
    assert (calls[0][0] - z.detach()).abs().max() > 0.05
