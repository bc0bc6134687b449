"""The options that configure SAUB like the authors' public code (table1's extra row): the SFS score
level and its −c·z term, the LayerNorm score MLP, one initialisation for both domains' networks, the
log-variance bound and AdamW. Numbers, not shapes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmarks.experiments.table1 import AUTHORS_CODE
from benchmarks.registry import METHODS
from saub.networks import MultiDomainAutoencoder
from saub.priors import ScorePrior
from saub.priors.score import ScoreNetwork, sfs_cross_entropy
from saub.training import AlternatingTrainer


def gaussian_score(z, sigma):
    """Score of N(0, I) convolved with the noise: -z / (1 + σ²)."""
    return -z / (1 + sigma.unsqueeze(1) ** 2)


def test_sfs_shrink_adds_a_gaussian_score_to_the_encoder_gradient():
    """d/dz of the surrogate −(S(z*) − c z*)ᵀ z on unperturbed z* = z is −S(z) + c z."""
    z = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    sigma0, c = 0.031, 0.05
    sfs_cross_entropy(z, gaussian_score, sigma0, perturb=False, shrink=c).sum().backward()
    want = z.detach() / (1 + sigma0**2) + c * z.detach()
    assert torch.allclose(z.grad, want, atol=1e-12)


def test_sfs_level_picks_the_schedules_level():
    prior = ScorePrior(4, sigma_min=0.01, sigma_max=0.4, n_levels=100, sfs_level=30)
    assert prior.sfs_sigma == pytest.approx(0.01 * 40 ** (30 / 99), rel=1e-12)
    assert ScorePrior(4, sigma_min=0.01, sigma_max=0.4).sfs_sigma == 0.01
    with pytest.raises(ValueError, match="sfs_level"):
        ScorePrior(4, n_levels=100, sfs_level=100)


def test_layernorm_score_network_matches_a_hand_written_forward():
    torch.manual_seed(0)
    net = ScoreNetwork(3, hidden=5, n_layers=2, layernorm=True, gaussian_mixing=False).double()
    z, sigma = torch.randn(4, 3, dtype=torch.float64), torch.full((4,), 0.1, dtype=torch.float64)
    emb = net.embed(sigma)
    h = F.silu(F.layer_norm(net.inp(torch.cat([z, emb], 1)), (5,), net.norms[0].weight, net.norms[0].bias))
    h = F.silu(F.layer_norm(net.blocks[0](h), (5,), net.norms[1].weight, net.norms[1].bias))
    assert torch.allclose(net(z, sigma), net.out(h) / 0.1, atol=1e-12)


def test_same_init_and_logvar_bound():
    torch.manual_seed(0)
    model = MultiDomainAutoencoder((6,), 2, latent_dim=3, hidden=8, same_init=True, logvar_bound=0.5)
    for nets in (model.encoders, model.decoders):
        for (k, a), (_, b) in zip(nets[0].state_dict().items(), nets[1].state_dict().items()):
            assert torch.equal(a, b), k
    with torch.no_grad():
        model.encoders[0].logvar_head.bias.fill_(10.0)
    with torch.no_grad():
        _, logvar = model.encode(100 * torch.randn(20, 6), torch.zeros(20, dtype=torch.int64))
    assert float(logvar.max()) <= 0.5 and float(logvar.min()) >= -0.5
    different = MultiDomainAutoencoder((6,), 2, latent_dim=3, hidden=8)
    assert not torch.equal(different.encoders[0].mean_head.weight, different.encoders[1].mean_head.weight)


def test_adamw_decays_weights_decoupled_from_the_gradient():
    """With a zero gradient Adam's step is zero and AdamW shrinks each weight by lr · wd."""
    model = MultiDomainAutoencoder((4,), 2, latent_dim=2, hidden=4)
    prior = ScorePrior(2, hidden=4, n_layers=2)
    trainer = AlternatingTrainer(model, prior, optimizer="adamw", weight_decay=0.01, lr=1e-3, prior_lr=1e-2,
                                 prior_steps=1)
    assert isinstance(trainer.vae_opt, torch.optim.AdamW) and isinstance(trainer.prior_opt, torch.optim.AdamW)
    w = next(model.parameters())
    before = w.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    trainer.vae_opt.step()
    assert torch.allclose(w.detach(), before * (1 - 1e-3 * 0.01), atol=1e-12)
    with pytest.raises(ValueError, match="optimizer"):
        AlternatingTrainer(model, prior, optimizer="sgd")


def test_the_authors_code_row_resolves_and_weighs_the_matching_terms_as_their_mean_reduced_loss():
    config = METHODS.get("saub").resolve(AUTHORS_CODE)
    assert config.latent_dim == 100 and not config.shared_networks and config.optimizer == "adamw"
    # 2σ²β = D / (2K): the weight of the matching terms per unit of summed squared error
    assert 2 * config.obs_std**2 * config.beta == pytest.approx(784 / (2 * 100), rel=1e-3)
    assert config.lambda_gw == pytest.approx(0.03 * 2 * 100)
    assert math.isclose(ScorePrior(100, sfs_level=config.sfs_level).sfs_sigma, 0.01 * 40 ** (30 / 99))
