"""fig1 building blocks (benchmarks/stability.py): the known prior, the pretrained score network,
the exact NLL metric, divergence handling and reproducibility."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from benchmarks import stability as st
from benchmarks.experiment import thin_curves

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def prior():
    return st.known_prior()


@pytest.fixture(scope="module")
def small_net(prior):
    """A short pretraining on moderate noise levels σ ∈ [0.2, 0.5] (~3-6 s on one thread)."""
    torch.set_num_threads(1)
    return st.pretrain_score_network(prior, 400, 256, sigma_min=0.2, sigma_max=0.5, seed=3, hidden=64,
                                     lr=1e-2)


def test_known_prior_log_prob_matches_torch_distributions(prior):
    ref = MixtureSameFamily(
        Categorical(logits=prior.log_weights),
        Independent(Normal(prior.means, torch.exp(0.5 * prior.logvars)), 1),
    )
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    torch.testing.assert_close(prior.log_prob(z), ref.log_prob(z), rtol=0, atol=1e-12)
    # float32 input goes through the same formula in float32
    torch.testing.assert_close(prior.log_prob(z.float()), ref.log_prob(z).float(), rtol=1e-5, atol=1e-5)
    # a non-uniform, anisotropic mixture too
    mix = st.GaussianMixture(torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64),
                             torch.tensor([[-1.0, 0.5], [0.2, -2.0]], dtype=torch.float64),
                             torch.log(torch.tensor([0.3, 0.7], dtype=torch.float64)))
    ref = MixtureSameFamily(Categorical(probs=torch.tensor([0.3, 0.7], dtype=torch.float64)),
                            Independent(Normal(mix.means, torch.exp(0.5 * mix.logvars)), 1))
    torch.testing.assert_close(mix.log_prob(z), ref.log_prob(z), rtol=0, atol=1e-12)


def test_prior_samples_and_design(prior):
    z = prior.sample(100_000, torch.Generator().manual_seed(0), dtype=torch.float64)
    # per-coordinate variance r²/2 + s² = 1.0425 >= 1: matchable by a batch-normalised encoder mean
    torch.testing.assert_close(z.var(0), torch.full((2,), 1.4**2 / 2 + 0.25**2, dtype=torch.float64),
                               rtol=0.02, atol=0)
    torch.testing.assert_close(z.mean(0), torch.zeros(2, dtype=torch.float64), rtol=0, atol=0.02)
    assert abs(prior.entropy(50_000) - float(-prior.log_prob(z).mean())) < 0.02


def test_analytic_score_of_noised_mixture_is_the_gradient(prior):
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sigma = 0.3
    # single-component check: the noised Gaussian's score is −(z − μ)/(s² + σ²)
    one = st.GaussianMixture(prior.means[:1], prior.logvars[:1], torch.zeros(1, dtype=torch.float64))
    expect = -(z - prior.means[0]) / (0.25**2 + sigma**2)
    torch.testing.assert_close(one.score(z, sigma), expect, rtol=0, atol=1e-12)
    # mixture: finite differences of the exact log-density
    h = 1e-6
    noised = prior.noised(sigma)
    fd = torch.stack([(noised.log_prob(z + h * e) - noised.log_prob(z - h * e)) / (2 * h)
                      for e in torch.eye(2, dtype=torch.float64)], 1)
    torch.testing.assert_close(prior.score(z, sigma), fd, rtol=1e-6, atol=1e-6)


def test_pretrained_score_close_to_analytic_at_moderate_sigma(prior, small_net):
    """400 DSM steps on σ ∈ [0.2, 0.5] (hidden 64, batch 256, lr 1e-2). Measured relative MSE
    E||S_ψ − ∇log q_σ||² / E||∇log q_σ||² for seeds 3 / 4: 0.083 / 0.086 at σ = 0.3 and 0.026 / 0.041
    at σ = 0.5, against 0.74 / 0.46 for the N(0, I)-convolved score −z/(1 + σ²) (the App. C
    fallback alone). Tolerances: 0.2 at σ = 0.3, 0.1 at σ = 0.5, and below half the baseline.
    (With σ log-uniform over [0.001, 1] the network needs thousands of steps to leave the
    Gaussian baseline; see the report of benchmarks/stability.py.)"""
    assert not any(p.requires_grad for p in small_net.parameters())
    assert not small_net.training
    for sigma, tol in ((0.3, 0.2), (0.5, 0.1)):
        err = st.score_error(small_net, prior, sigma)
        assert err["relative_mse"] < tol, (sigma, err)
        # baseline: the Gaussian score alone, −z/(1 + σ²)
        z = prior.noised(sigma).sample(4000, torch.Generator().manual_seed(1), dtype=torch.float64)
        true = prior.score(z, sigma)
        base = (((-z / (1 + sigma**2)) - true) ** 2).sum(1).mean() / (true**2).sum(1).mean()
        assert err["relative_mse"] < 0.5 * float(base), (sigma, err, float(base))


def test_exact_nll_equals_hand_computation(prior):
    z = torch.tensor([[0.0, 0.0], [1.4, 0.0], [1.0, 1.0], [-3.0, 0.5]], dtype=torch.float64)
    k, r, s = 8, 1.4, 0.25
    nll = []
    for zi in z.tolist():
        dens = 0.0
        for j in range(k):
            mu = (r * math.cos(2 * math.pi * j / k), r * math.sin(2 * math.pi * j / k))
            sq = (zi[0] - mu[0]) ** 2 + (zi[1] - mu[1]) ** 2
            dens += (1 / k) * math.exp(-0.5 * sq / s**2) / (2 * math.pi * s**2)
        nll.append(-math.log(dens))
    assert st.exact_nll(prior, z) == pytest.approx(sum(nll) / len(nll), rel=1e-12)
    assert st.exact_nll(prior, z[1:2]) == pytest.approx(nll[1], rel=1e-12)


class NaNAfter(nn.Module):
    """Wraps a score network; returns NaN from the ``after``-th call on."""

    def __init__(self, net: nn.Module, after: int):
        super().__init__()
        self.net, self.after, self.calls = net, after, 0

    def forward(self, z, sigma):
        self.calls += 1
        out = self.net(z, sigma)
        return out * math.nan if self.calls > self.after else out


@pytest.mark.parametrize("gradient", st.GRADIENTS)
def test_injected_nan_records_divergence(prior, small_net, gradient):
    net = NaNAfter(small_net, after=7)
    run = st.train_against_fixed_prior(net, prior, gradient, 0.01, 30, 64, seed=0, eval_every=5, n_eval=200)
    assert run["diverged"] is True
    assert run["diverged_at"] == 7  # the 8th score call is training step 7 (0-based)
    assert "NaN" in run["error"] or "nan" in run["error"]
    assert run["step"] == [0, 5]  # evaluations before the divergence are kept
    assert all(math.isfinite(v) for v in run["nll"])
    assert run["final"]["diverged"] and run["final"]["diverged_at"] == 7
    assert st.curve_summary(run)["diverged"]


def test_score_network_stays_frozen(prior, small_net):
    before = {n: p.clone() for n, p in small_net.state_dict().items()}
    st.train_against_fixed_prior(small_net, prior, "lsgm", 0.01, 5, 64, seed=0, eval_every=5, n_eval=100)
    for n, p in small_net.state_dict().items():
        assert torch.equal(before[n], p), n
    assert not any(p.requires_grad for p in small_net.parameters())


@pytest.mark.parametrize("gradient", st.GRADIENTS)
def test_same_seed_identical_curves(prior, small_net, gradient):
    kw = dict(seed=5, eval_every=4, n_eval=300)
    a = st.train_against_fixed_prior(small_net, prior, gradient, 0.1, 12, 64, **kw)
    b = st.train_against_fixed_prior(small_net, prior, gradient, 0.1, 12, 64, **kw)
    c = st.train_against_fixed_prior(small_net, prior, gradient, 0.1, 12, 64, **{**kw, "seed": 6})
    for key in ("step", "reconstruction", "nll", "train_reconstruction"):
        assert a[key] == b[key], key
    assert a["step"] == [0, 4, 8, 12]
    assert a["nll"] != c["nll"]
    # the global RNG is left alone
    torch.manual_seed(0)
    x = torch.rand(1)
    torch.manual_seed(0)
    st.train_against_fixed_prior(small_net, prior, gradient, 0.1, 2, 16, **kw)
    assert torch.equal(torch.rand(1), x)


def test_spike_ratio():
    assert st.spike_ratio([5, 4, 3, 2, 1, 1, 1, 1]) <= 1.0
    assert st.spike_ratio([1.0] * 10 + [20.0] + [1.0] * 5) == pytest.approx(20.0)
    assert st.spike_ratio([1.0, 2.0]) == 1.0  # shorter than the warm-up
    assert st.spike_ratio([1.0] * 8 + [math.nan, 3.0]) == pytest.approx(3.0)


def test_thinned_curves_keep_each_point_with_its_own_step():
    """The paper profile evaluates 201 times (more than the 200 points a record keeps): every kept
    value must sit at the step it was measured at, not at the index of the thinned list."""
    steps = list(range(0, 20001, 100))
    thinned = thin_curves({"nll": [2.0 * t for t in steps]}, steps=steps)
    assert len(thinned["nll"]) == 200 and thinned["step"][0] == 0 and thinned["step"][-1] == 20000
    assert all(v == 2.0 * t for t, v in zip(thinned["step"], thinned["nll"]))
    assert thin_curves({"nll": [1.0, 2.0]})["step"] == [0, 1]  # no steps given: the indices
    with pytest.raises(ValueError, match="3 points but 2 steps"):
        thin_curves({"nll": [1.0, 2.0, 3.0]}, steps=[0, 1])


def test_fig1_plot_draws_each_value_at_its_step(tmp_path, monkeypatch):
    from benchmarks.experiments import fig1

    steps = list(range(0, 20001, 100))
    recon = [1.0 + t / 1000 for t in steps]
    record = {"cell": {"seed_index": 0, "label": "sfs", "sweep": {fig1.SWEEP: st.SIGMA_MINS[0]}},
              "curves": thin_curves({"reconstruction": recon, "nll": recon}, steps=steps)}
    drawn = {}
    monkeypatch.setattr(fig1, "savefig", lambda fig, path: drawn.setdefault("fig", fig))
    fig1.Fig1()._plot([record], tmp_path)
    line = drawn["fig"].axes[1].get_lines()[0]
    assert list(line.get_xdata()) == record["curves"]["step"]
    assert all(y == 1.0 + x / 1000 for x, y in zip(line.get_xdata(), line.get_ydata()))
