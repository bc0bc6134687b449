"""Explicit priors (N(0, I), mixture of Gaussians, VampPrior) against torch.distributions and scipy."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

from saub.networks import MultiDomainAutoencoder
from saub.priors import MixtureOfGaussiansPrior, Prior, StandardGaussianPrior, VampPrior

pytestmark = pytest.mark.usefixtures("single_thread")

DT = torch.float64


def random_mog(k=4, dim=3, seed=0) -> MixtureOfGaussiansPrior:
    torch.manual_seed(seed)
    prior = MixtureOfGaussiansPrior(dim, n_components=k, init_scale=1.5).to(DT)
    with torch.no_grad():
        prior.logvars.copy_(0.6 * torch.randn(k, dim, dtype=DT))
        prior.logits.copy_(torch.randn(k, dtype=DT))
    return prior


def torch_mixture(means, logvars, logits):
    components = Independent(Normal(means, torch.exp(0.5 * logvars)), 1)
    return MixtureSameFamily(Categorical(logits=logits), components)


def test_mog_log_prob_matches_torch_and_scipy():
    prior = random_mog()
    torch.manual_seed(1)
    z = 1.5 * torch.randn(50, 3, dtype=DT)
    got = prior.log_prob(z)
    ref = torch_mixture(prior.means, prior.logvars, prior.logits).log_prob(z)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)

    w = torch.softmax(prior.logits, 0).detach().numpy()
    mu, var = prior.means.detach().numpy(), prior.logvars.exp().detach().numpy()
    zn = z.numpy()
    dens = sum(w[k] * multivariate_normal.pdf(zn, mu[k], np.diag(var[k])) for k in range(len(w)))
    np.testing.assert_allclose(got.detach().numpy(), np.log(dens), rtol=1e-10, atol=1e-10)
    # the parameters are non-trivial: weights far from uniform, variances far from 1
    assert w.max() / w.min() > 2 and var.max() / var.min() > 2
    # cross-entropy of an explicit prior is exactly -log Q
    torch.testing.assert_close(prior.cross_entropy(z), -got, rtol=0, atol=0)
    assert prior.exact_cross_entropy and not prior.trained_separately


def test_mog_log_prob_is_stable_far_away():
    prior = random_mog()
    z = torch.full((2, 3), 40.0, dtype=DT)
    ref = torch_mixture(prior.means, prior.logvars, prior.logits).log_prob(z)
    got = prior.log_prob(z)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)


def test_mog_gradients_reach_all_parameters():
    prior = random_mog()
    prior.log_prob(torch.randn(8, 3, dtype=DT)).sum().backward()
    for name, p in prior.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_mog_initialisation():
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(2, n_components=5, init_scale=0.1)
    assert prior.means.shape == (5, 2) and prior.logvars.shape == (5, 2) and prior.logits.shape == (5,)
    assert prior.means.abs().max() < 0.5 and torch.all(prior.logvars == 0) and torch.all(prior.logits == 0)


def test_standard_gaussian_matches_multivariate_normal():
    prior = StandardGaussianPrior(4)
    torch.manual_seed(2)
    z = 2 * torch.randn(30, 4, dtype=DT)
    ref = MultivariateNormal(torch.zeros(4, dtype=DT), torch.eye(4, dtype=DT)).log_prob(z)
    torch.testing.assert_close(prior.log_prob(z), ref, rtol=1e-13, atol=1e-13)
    assert prior.log_prob(torch.zeros(1, 4, dtype=DT)).item() == pytest.approx(-2 * math.log(2 * math.pi))
    assert list(prior.parameters()) == []


def test_base_prior_has_no_density():
    p = Prior(2)
    with pytest.raises(NotImplementedError):
        p.log_prob(torch.zeros(1, 2))
    with pytest.raises(NotImplementedError):
        p.prior_loss(torch.zeros(1, 2))


# --------------------------------------------------------------------------------------------
# VampPrior
# --------------------------------------------------------------------------------------------

IN, LAT, D, K = 5, 3, 2, 4


@pytest.fixture
def vamp():
    torch.manual_seed(0)
    model = MultiDomainAutoencoder((IN,), D, LAT, hidden=16).to(DT)
    prior = VampPrior(LAT, (IN,), D, model.encode_domain, n_pseudo=K, init_scale=1.0,
                      encoder_modules=model).to(DT)
    # give the BN layers non-trivial running statistics (mean far from 0, var far from 1)
    model.train()
    with torch.no_grad():
        for _ in range(20):
            for dom in range(D):
                model.encode_domain(3.0 + 2.0 * torch.randn(64, IN, dtype=DT), dom)
    return model, prior


def bn_layers(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]


def bn_state(model: nn.Module):
    return [
        (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
        for m in bn_layers(model)
    ]


def hand_mixture(model, prior, z):
    """Σ_d Σ_k 1/(DK) q_θd(z | u_dk), the encoders evaluated with BN in eval mode."""
    ref_model = copy.deepcopy(model).eval()
    means, logvars = [], []
    with torch.no_grad():
        for dom in range(D):
            m, lv = ref_model.encode_domain(prior.pseudo_inputs[dom], dom)
            means.append(m)
            logvars.append(lv)
    means, logvars = torch.cat(means), torch.cat(logvars)
    return torch_mixture(means, logvars, torch.zeros(D * K, dtype=DT)).log_prob(z), means


def test_vamp_log_prob_equals_hand_mixture(vamp):
    model, prior = vamp
    assert len(bn_layers(model)) == D
    torch.manual_seed(3)
    z = torch.randn(25, LAT, dtype=DT)
    expected, comp_means = hand_mixture(model, prior, z)
    model.train()
    got = prior.log_prob(z)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    # negative control: BN with batch statistics of the K pseudo-inputs gives another density
    train_model = copy.deepcopy(model).train()
    with torch.no_grad():
        m_train = torch.cat([train_model.encode_domain(prior.pseudo_inputs[d], d)[0] for d in range(D)])
    assert (m_train - comp_means).abs().max() > 0.1


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_vamp_restores_bn_mode_and_does_not_touch_running_stats(vamp, mode):
    model, prior = vamp
    model.train(mode == "train")
    before = bn_state(model)
    flags = [m.training for m in model.modules()]
    prior.log_prob(torch.randn(7, LAT, dtype=DT))
    assert [m.training for m in model.modules()] == flags
    assert all(m.training == (mode == "train") for m in model.modules())
    for (rm0, rv0, n0), (rm1, rv1, n1) in zip(before, bn_state(model)):
        assert torch.equal(rm0, rm1) and torch.equal(rv0, rv1) and torch.equal(n0, n1)


def test_vamp_restores_bn_mode_on_error(vamp):
    model, prior = vamp
    model.train()
    prior.pseudo_inputs.data = prior.pseudo_inputs.data[:, :, :2]  # wrong feature size: the encoder fails
    with pytest.raises(RuntimeError):
        prior.log_prob(torch.randn(3, LAT, dtype=DT))
    assert all(m.training for m in model.modules())


def test_vamp_gradients_reach_pseudo_inputs_and_encoders(vamp):
    model, prior = vamp
    prior.log_prob(torch.randn(10, LAT, dtype=DT)).sum().backward()
    g = prior.pseudo_inputs.grad
    assert g is not None and g.shape == (D, K, IN)
    for dom in range(D):
        assert g[dom].abs().sum() > 0
        enc = model.encoders[dom]
        assert enc.mean_head.weight.grad is not None and enc.mean_head.weight.grad.abs().sum() > 0
    # the encoder parameters are not registered in the prior (not counted twice)
    assert [n for n, _ in prior.named_parameters()] == ["pseudo_inputs"]


def test_vamp_initialise_from(vamp):
    model, prior = vamp
    x = torch.randn(9, IN, dtype=DT)
    prior.initialise_from(x, 1)
    assert torch.equal(prior.pseudo_inputs[1], x[:K])
    assert not torch.equal(prior.pseudo_inputs[0], x[:K])
