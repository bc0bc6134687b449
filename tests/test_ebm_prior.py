"""Latent energy-based prior (saub.priors.ebm): Langevin moments, gradient paths, training in the harness.

Reference for the sampler: the unadjusted Langevin chain z' = z - ε/2 p (z - μ) + √ε n on a Gaussian
energy U(z) = p/2 ‖z - μ‖² is linear, so its stationary law is known exactly: mean μ and variance
ε / (1 - (1 - εp/2)²) = 1 / (p (1 - εp/4)) per coordinate (→ 1/p as ε → 0). A missing ½ halves that
variance, a missing √ε scales it by 1/ε, noise √(2ε) doubles it, a wrong sign diverges.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from benchmarks.config import ConfigError
from benchmarks.contracts import Budget
from benchmarks.registry import METHODS, TASKS
from saub.priors import EnergyPrior, StandardGaussianPrior, langevin
from saub.seeding import seed_everything

pytestmark = pytest.mark.usefixtures("single_thread", "restore_determinism")

DT = torch.float64
N_CHAINS = 20_000


class Quadratic(nn.Module):
    """E(z) = a/2 ‖z - m‖²: over the N(0, I) base, Q = N(a m / (1 + a), I / (1 + a))."""

    def __init__(self, a: float, m: Tensor):
        super().__init__()
        self.a = a
        self.m = nn.Parameter(m.clone())

    def forward(self, z: Tensor) -> Tensor:
        return 0.5 * self.a * ((z - self.m) ** 2).sum(1)


class Linear(nn.Module):
    """E(z) = wᵀz + b: the tiny energy of the contrastive-gradient check."""

    def __init__(self, w: Tensor, b: float):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(b, dtype=w.dtype))

    def forward(self, z: Tensor) -> Tensor:
        return z @ self.w + self.b


def ula_variance(precision: float, step: float) -> float:
    return 1.0 / (precision * (1.0 - step * precision / 4.0))


def moments(z: Tensor) -> tuple[Tensor, Tensor]:
    return z.mean(0), z.var(0)


@pytest.mark.parametrize("step", [0.01, 0.05])
def test_zero_energy_samples_the_standard_normal_base(step):
    prior = EnergyPrior(2, langevin_steps=int(8 / step), langevin_step=step,
                        energy_net=Linear(torch.zeros(2, dtype=DT), 0.0))
    mean, var = moments(prior.sample(N_CHAINS, torch.Generator().manual_seed(0)))
    assert mean.abs().max() < 0.03
    torch.testing.assert_close(var, torch.full((2,), ula_variance(1.0, step), dtype=DT), rtol=0.03, atol=0)


@pytest.mark.parametrize("step", [0.01, 0.05])
def test_quadratic_energy_samples_the_gaussian_of_precision_one_plus_a(step):
    a, m = 3.0, torch.tensor([1.0, -2.0], dtype=DT)
    prior = EnergyPrior(2, langevin_steps=int(4 / step), langevin_step=step, energy_net=Quadratic(a, m))
    mean, var = moments(prior.sample(N_CHAINS, torch.Generator().manual_seed(1)))
    torch.testing.assert_close(mean, a * m / (1 + a), rtol=0, atol=0.02)
    expected = ula_variance(1 + a, step)
    torch.testing.assert_close(var, torch.full((2,), expected, dtype=DT), rtol=0.03, atol=0)
    # the continuous-time target, 1/(1 + a) = 0.25, within the discretisation bias εp/4
    assert abs(var.mean().item() - 1 / (1 + a)) < 0.25 * (step * (1 + a) / 4 + 0.03)


def test_default_sampler_is_pang_et_al_short_run():
    """60 steps of ε = 0.4²: from N(0, I) on a zero energy, the ULA law (variance 1/(1 - 0.04))."""
    prior = EnergyPrior(2, energy_net=Linear(torch.zeros(2, dtype=DT), 0.0))
    assert (prior.langevin_steps, prior.langevin_step) == (60, pytest.approx(0.16))
    _, var = moments(prior.sample(N_CHAINS, torch.Generator().manual_seed(2)))
    torch.testing.assert_close(var, torch.full((2,), ula_variance(1.0, 0.16), dtype=DT), rtol=0.03, atol=0)


def test_langevin_runs_under_no_grad_and_seeds_by_generator():
    energy = Quadratic(1.0, torch.zeros(3, dtype=DT))
    z0 = torch.randn(8, 3, dtype=DT)
    with torch.no_grad():
        a = langevin(lambda z: energy(z) + 0.5 * (z**2).sum(1), z0, 5, 0.1, torch.Generator().manual_seed(3))
    b = langevin(lambda z: energy(z) + 0.5 * (z**2).sum(1), z0, 5, 0.1, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not a.requires_grad
    assert energy.m.grad is None  # only z is differentiated
    with pytest.raises(ValueError):
        langevin(energy, z0, 5, 0.0)


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_cross_entropy_gradient_is_energy_gradient_plus_z(spectral_norm):
    torch.manual_seed(0)
    # eval: spectral normalisation keeps its power-iteration vectors, so every call sees one energy
    prior = EnergyPrior(3, hidden=16, spectral_norm=spectral_norm).to(DT).eval()
    z = torch.randn(6, 3, dtype=DT, requires_grad=True)
    (auto,) = torch.autograd.grad(prior.cross_entropy(z).sum(), z)
    h, eye = 1e-5, torch.eye(3, dtype=DT)
    with torch.no_grad():
        fd_energy = torch.stack([prior.energy(z + h * e) - prior.energy(z - h * e) for e in eye], 1) / (2 * h)
    torch.testing.assert_close(auto, fd_energy + z.detach(), rtol=1e-6, atol=1e-8)


def test_cross_entropy_is_exact_when_the_energy_vanishes():
    """E ≡ 0: Q = N(0, I), Z = 1, so the returned value is -log Q(z) itself."""
    prior = EnergyPrior(2, energy_net=Linear(torch.zeros(2, dtype=DT), 0.0))
    z = torch.randn(5, 2, dtype=DT)
    torch.testing.assert_close(prior.cross_entropy(z), -StandardGaussianPrior(2).log_prob(z))
    assert prior.trained_separately and not prior.exact_cross_entropy


def test_prior_loss_gradient_is_the_contrastive_mle_gradient():
    """E = wᵀz + b: ∇_w loss = mean z_posterior - mean z_langevin, ∇_b = 0; no gradient through the chain."""
    w = torch.tensor([0.7, -0.3], dtype=DT)
    prior = EnergyPrior(2, langevin_steps=10, langevin_step=0.1, energy_net=Linear(w, 0.5))
    z_pos = (torch.randn(64, 2, dtype=DT) + 2.0).requires_grad_(True)
    torch.manual_seed(4)
    loss = prior.prior_loss(z_pos)
    loss.backward()
    torch.manual_seed(4)
    z_neg = prior.sample(64)  # the same negatives: prior_loss draws them from the global RNG
    by_hand = z_pos.detach().mean(0) - z_neg.mean(0)
    torch.testing.assert_close(prior.energy_net.w.grad, by_hand, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(prior.energy_net.b.grad, torch.tensor(0.0, dtype=DT), rtol=0, atol=1e-12)
    torch.testing.assert_close(loss.detach(), by_hand @ w, rtol=1e-12, atol=1e-12)
    assert z_pos.grad is None  # the posterior samples are detached


def test_config_lists_ebm_and_validates_its_fields():
    entry = METHODS.get("vae-ebm")
    assert entry.resolve().prior == "ebm"
    with pytest.raises(ConfigError, match="ebm"):
        entry.resolve({"prior": "energy"})
    for bad in ({"langevin_steps": 0}, {"langevin_step": 0.0}, {"ebm_hidden": 0}):
        with pytest.raises(ValueError, match="langevin_step"):
            entry.resolve(bad)
    space = entry.cls.search_space(entry.resolve())
    assert {"prior_lr", "prior_steps"} <= set(space)


def _fit(seed: int):
    task = TASKS.get("nested-d")(seed=3, n_per_domain=32, n_test_per_domain=8)
    entry = METHODS.get("vae-ebm")
    seed_everything(seed)
    method = entry.build(entry.resolve({"langevin_steps": 10, "prior_steps": 2, "ebm_hidden": 32}), task)
    before = {n: p.detach().clone() for n, p in method.prior.named_parameters()}
    curves = method.fit(task.train.without_labels(), Budget(steps=8, batch_size=32), seed=seed)
    moved = {n: not torch.equal(before[n], p) for n, p in method.prior.named_parameters()}
    return method, task, curves, moved


def test_vae_ebm_trains_on_nested_d_reproducibly():
    method, task, curves, moved = _fit(0)
    assert {"ebm", "cross_entropy", "gw", "total"} <= set(curves)
    assert all(len(v) == 8 and all(math.isfinite(x) for x in v) for v in curves.values())
    # the energy network is trained by its own step; the output bias, a constant shift of E, gets no
    # gradient from the contrastive loss (it cancels between the two phases)
    assert not moved.pop("energy_net.4.bias") and all(moved.values())
    z = method.encode(task.test.x, task.test.d)
    assert torch.isfinite(z).all()
    _, _, again, _ = _fit(0)
    assert again == curves


def test_spectral_norm_bounds_the_energy_gradient():
    """Each layer normalised to spectral norm 1, GELU's slope at most 1.13: ‖∇E‖ ≤ 1.13² < 1.3."""
    torch.manual_seed(5)
    prior = EnergyPrior(2, hidden=64).to(DT)
    with torch.no_grad():
        for layer in prior.energy_net:
            if isinstance(layer, nn.Linear):
                layer.parametrizations.weight.original.mul_(50.0)  # a steep energy before normalisation
        for _ in range(30):  # training-mode calls run the power iteration
            prior.energy(torch.randn(4, 2, dtype=DT))
    prior.eval()
    z = (3 * torch.randn(512, 2, dtype=DT)).requires_grad_(True)
    (grad,) = torch.autograd.grad(prior.energy(z).sum(), z)
    assert grad.norm(dim=1).max() < 1.3
