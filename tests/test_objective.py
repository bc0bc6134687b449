"""The VAUB objective (eq. 6-7) term by term, against hand computations, scipy and torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import multivariate_normal, norm

from saub.objective import (
    VAUBTerms,
    gaussian_entropy,
    likelihood_mean,
    per_domain_sum,
    reconstruction_nll,
    reparameterize,
    vaub_terms,
)
from saub.priors import MixtureOfGaussiansPrior, StandardGaussianPrior
from saub.priors.explicit import diag_gaussian_log_prob

pytestmark = pytest.mark.usefixtures("single_thread")

DT = torch.float64
LOG2PI = math.log(2 * math.pi)


def linear_gaussian_batch():
    """A 2-D linear-Gaussian model with known numbers: mean = A x, logvar fixed, recon = C z."""
    x = torch.tensor([[0.5, -1.0], [2.0, 0.3], [-0.7, 0.1], [1.1, 1.2], [0.0, -0.4]], dtype=DT)
    d = torch.tensor([0, 1, 0, 0, 1])
    a = torch.tensor([[0.8, 0.1], [-0.2, 1.3]], dtype=DT)
    c = torch.tensor([[1.1, 0.0], [0.4, 0.9]], dtype=DT)
    mean = x @ a.T
    logvar = torch.tensor([[-1.0, -0.5]], dtype=DT).expand(5, 2) + 0.1 * torch.arange(5, dtype=DT)[:, None]
    eps = torch.tensor([[0.3, -1.2], [0.9, 0.4], [-0.5, 0.5], [1.5, -0.1], [-0.8, 2.0]], dtype=DT)
    z = mean + torch.exp(0.5 * logvar) * eps
    recon = z @ c.T
    return mean, logvar, z, recon, x, d


def domain_mean_sum(rows: list[float], d: list[int]) -> float:
    out = 0.0
    for dom in sorted(set(d)):
        vals = [r for r, dd in zip(rows, d) if dd == dom]
        out += sum(vals) / len(vals)
    return out


@pytest.mark.parametrize("beta", [1.0, 0.3])
@pytest.mark.parametrize("obs_std", [1.0, 0.7])
def test_terms_equal_hand_computation(beta, obs_std):
    mean, logvar, z, recon, x, d = linear_gaussian_batch()
    terms = vaub_terms(mean, logvar, z, recon, x, d, StandardGaussianPrior(2), beta=beta, obs_std=obs_std)
    dl = d.tolist()
    rec_rows, ent_rows, ce_rows = [], [], []
    for i in range(5):
        sq = sum((x[i, j].item() - recon[i, j].item()) ** 2 for j in range(2))
        rec_rows.append(0.5 * sq / obs_std**2 + 2 / 2 * math.log(2 * math.pi * obs_std**2))
        ent_rows.append(0.5 * sum(1 + LOG2PI + logvar[i, j].item() for j in range(2)))
        ce_rows.append(0.5 * sum(LOG2PI + z[i, j].item() ** 2 for j in range(2)))
    rec, ent, ce = (domain_mean_sum(r, dl) for r in (rec_rows, ent_rows, ce_rows))
    assert terms.reconstruction.item() == pytest.approx(rec, rel=1e-13)
    assert terms.entropy.item() == pytest.approx(ent, rel=1e-13)
    assert terms.cross_entropy.item() == pytest.approx(ce, rel=1e-13)
    assert terms.total.item() == pytest.approx(rec / beta - ent + ce, rel=1e-13)
    assert terms.beta == beta


def test_terms_equal_scipy_densities():
    """Rec = -log N(x; recon, s²I), H = entropy of N(mean, diag e^logvar), per row (scipy)."""
    mean, logvar, z, recon, x, d = linear_gaussian_batch()
    s = 0.7
    rec_rows = reconstruction_nll(x, recon, "gaussian", s).numpy()
    np.testing.assert_allclose(rec_rows, -norm.logpdf(x.numpy(), recon.numpy(), s).sum(1), rtol=1e-13)
    ent = gaussian_entropy(logvar).numpy()
    for i in range(5):
        ref = multivariate_normal(mean[i].numpy(), np.diag(np.exp(logvar[i].numpy()))).entropy()
        assert ent[i] == pytest.approx(ref, rel=1e-13)


def test_cross_entropy_uses_the_prior():
    """With a MoG prior the CE term is the domain-averaged -log Q(z) of that prior."""
    mean, logvar, z, recon, x, d = linear_gaussian_batch()
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(2, n_components=3).to(DT)
    terms = vaub_terms(mean, logvar, z, recon, x, d, prior)
    expected = domain_mean_sum((-prior.log_prob(z)).tolist(), d.tolist())
    assert terms.cross_entropy.item() == pytest.approx(expected, rel=1e-13)


def test_bernoulli_likelihood_is_bce_with_logits():
    torch.manual_seed(0)
    logits = 3 * torch.randn(6, 1, 4, 4, dtype=DT)
    x = torch.rand(6, 1, 4, 4, dtype=DT)
    x[:3] = (x[:3] > 0.5).to(DT)  # binary rows and grey-level rows
    got = reconstruction_nll(x, logits, "bernoulli")
    p = torch.sigmoid(logits).flatten(1)
    xf = x.flatten(1)
    by_hand = -(xf * torch.log(p) + (1 - xf) * torch.log1p(-p)).sum(1)
    torch.testing.assert_close(got, by_hand, rtol=1e-10, atol=1e-12)
    bce = F.binary_cross_entropy(p, xf, reduction="none").sum(1)
    torch.testing.assert_close(got, bce, rtol=1e-8, atol=1e-10)  # BCE clamps log at -100


def test_unknown_likelihood_raises():
    with pytest.raises(ValueError, match="gaussian"):
        reconstruction_nll(torch.zeros(2, 3), torch.zeros(2, 3), "laplace")
    with pytest.raises(ValueError, match="bernoulli"):
        likelihood_mean(torch.zeros(2, 3), "laplace")


def test_likelihood_mean_is_the_distributions_mean():
    """E[x|z]: the Gaussian's mean is the output itself, the Bernoulli's is sigmoid(logits)."""
    logits = 4 * torch.randn(5, 1, 3, 3, generator=torch.Generator().manual_seed(2), dtype=DT)
    bernoulli = torch.distributions.Bernoulli(logits=logits).mean
    torch.testing.assert_close(likelihood_mean(logits, "bernoulli"), bernoulli, rtol=1e-12, atol=1e-15)
    gaussian = torch.distributions.Normal(logits, 0.1).mean
    assert torch.equal(likelihood_mean(logits, "gaussian"), gaussian)


def test_per_domain_sum_unequal_counts():
    v = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=DT)
    d = torch.tensor([0, 0, 2, 0, 0, 5])
    # domain 0: mean(1, 2, 4, 5) = 3; domain 2: 3; domain 5: 6
    assert per_domain_sum(v, d).item() == 12.0
    assert per_domain_sum(v, torch.zeros(6, dtype=torch.long)).item() == 3.5
    # it is not a pooled mean times the number of domains
    assert per_domain_sum(v, d).item() != pytest.approx(3 * v.mean().item())


@pytest.mark.parametrize("beta", [0.0, -0.1, 1.5])
def test_beta_outside_unit_interval_raises(beta):
    mean, logvar, z, recon, x, d = linear_gaussian_batch()
    with pytest.raises(ValueError, match="beta"):
        vaub_terms(mean, logvar, z, recon, x, d, StandardGaussianPrior(2), beta=beta)


def test_total_property():
    t = VAUBTerms(torch.tensor(3.0), torch.tensor(1.5), torch.tensor(2.0), beta=0.5)
    assert t.total.item() == 3.0 / 0.5 - 1.5 + 2.0


def test_reparameterize_uses_next_randn_draw():
    mean = torch.tensor([[1.0, -2.0], [0.5, 0.0]], dtype=DT)
    logvar = torch.tensor([[0.0, 1.0], [-2.0, 0.4]], dtype=DT)
    torch.manual_seed(4)
    z = reparameterize(mean, logvar)
    torch.manual_seed(4)
    eps = torch.randn(2, 2, dtype=DT)
    torch.testing.assert_close(z, mean + torch.exp(0.5 * logvar) * eps, rtol=0, atol=0)


def test_monte_carlo_kl_to_standard_gaussian():
    """-H + CE (CE by Monte Carlo) ≈ KL(q || N(0, I)) = ½ Σ (σ² + μ² - 1 - ln σ²)."""
    n = 200_000
    mu = torch.tensor([0.8, -1.5, 0.2], dtype=DT)
    logvar = torch.tensor([-1.0, 0.5, 0.0], dtype=DT)
    mean, lv = mu.expand(n, 3), logvar.expand(n, 3)
    torch.manual_seed(0)
    z = reparameterize(mean, lv)
    d = torch.zeros(n, dtype=torch.long)
    x = torch.zeros(n, 1, dtype=DT)
    terms = vaub_terms(mean, lv, z, x, x, d, StandardGaussianPrior(3))
    kl = 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum().item()
    ce_rows = StandardGaussianPrior(3).cross_entropy(z)
    se = ce_rows.std().item() / math.sqrt(n)
    assert se < 0.01
    assert terms.cross_entropy.item() - terms.entropy.item() == pytest.approx(kl, abs=5 * se)
    # the MC estimate of the entropy agrees with the closed form as well
    ent_rows = -diag_gaussian_log_prob(z, mean, lv)
    se_h = ent_rows.std().item() / math.sqrt(n)
    assert ent_rows.mean().item() == pytest.approx(terms.entropy.item(), abs=5 * se_h)
    # and the KL is far from 0 here, so the comparison is informative
    assert kl > 1.0
