"""GWAE (seed 001): the terms of eq. 13 against hand computations, the priors, a short training run."""

import itertools
import math
import statistics

import pytest
import torch

from baselines.gwae import (
    GWAE,
    GWAEConfig,
    critic_gap,
    distance_constant,
    encoder_entropy,
    gw_estimate,
    reconstruction_loss,
)
from baselines.gwae_critic import JointCritic, gradient_penalty
from baselines.gwae_priors import PRIORS, make_prior
from benchmarks.contracts import Split, Unsupported
from benchmarks.metrics.ood_isometry import distance_agreement, ood_roc, patch_shuffle


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def _brute_force_gw(x, z, log_c, rho):
    """Eq. 7 by a loop over all B² ordered pairs, d = ‖·‖/√2, C = e^{log c} / mean column stdev."""
    rows_x = [r.flatten().tolist() for r in x]
    rows_z = z.tolist()
    scale = statistics.mean(statistics.stdev(col) for col in zip(*rows_z))
    c = math.exp(log_c) / scale
    total = 0.0
    for i, j in itertools.product(range(len(rows_x)), repeat=2):
        dx = math.dist(rows_x[i], rows_x[j]) / math.sqrt(2)
        dz = math.dist(rows_z[i], rows_z[j]) / math.sqrt(2)
        total += abs(dx - c * dz) ** rho
    return total / len(rows_x) ** 2


@pytest.mark.parametrize("rho", [1.0, 2.0])
def test_gw_estimate_matches_a_loop_over_pairs(gen, rho):
    x = torch.randn(7, 2, 3, 3, generator=gen, dtype=torch.float64)
    z = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    log_c = torch.tensor(math.log(2.5), dtype=torch.float64)
    got = gw_estimate(x, z, log_c, rho).item()
    assert got == pytest.approx(_brute_force_gw(x, z, math.log(2.5), rho), rel=1e-12)


def test_constant_absorbs_a_global_latent_scale(gen):
    x = torch.randn(9, 5, generator=gen, dtype=torch.float64)
    z = torch.randn(9, 3, generator=gen, dtype=torch.float64)
    log_c = torch.tensor(0.3, dtype=torch.float64)
    for k in (0.1, 7.0):
        # C scales by 1/k, so C·d_Z and the loss do not change for the same log c ...
        assert distance_constant(k * z, log_c).item() == pytest.approx(distance_constant(z, log_c).item() / k)
        same = gw_estimate(x, z, log_c).item()
        assert gw_estimate(x, k * z, log_c).item() == pytest.approx(same, rel=1e-12)
    # ... hence the loss minimised over log c is the same, at the same log c.
    grid = torch.linspace(-3, 3, 601, dtype=torch.float64)
    best = [min((gw_estimate(x, k * z, c).item(), c.item()) for c in grid) for k in (1.0, 7.0)]
    assert best[0][0] == pytest.approx(best[1][0], rel=1e-12) and best[0][1] == best[1][1]


def test_reconstruction_is_half_squared_distance():
    x = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    x_hat = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    # rows: ½(1 + 0 + 4) = 2.5 and ½(0 + 1 + 0) = 0.5; mean 1.5 (= E d_X², d_X = ‖·‖/√2)
    assert reconstruction_loss(x, x_hat).item() == pytest.approx(1.5)


def test_entropy_matches_torch_distributions(gen):
    mean = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    logvar = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    ref = torch.distributions.Independent(torch.distributions.Normal(mean, torch.exp(0.5 * logvar)), 1)
    assert encoder_entropy(logvar).item() == pytest.approx(ref.entropy().mean().item(), rel=1e-12)


class _Quadratic(torch.nn.Module):
    """f(x, z) = ½‖x‖² + ½‖w ⊙ z‖²: ∇_x f = x, ∇_z f = w² ⊙ z."""

    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x, z):
        return 0.5 * x.flatten(1).pow(2).sum(1) + 0.5 * (self.w * z).pow(2).sum(1)


def test_gradient_penalty_matches_hand_computation(gen):
    xq, xp = torch.randn(2, 5, 1, 2, 2, generator=gen, dtype=torch.float64)
    zq, zp = torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    t = torch.rand(5, generator=gen, dtype=torch.float64)
    expected = 0.0
    for i in range(5):
        x_hat = t[i] * xq[i] + (1 - t[i]) * xp[i]
        z_hat = t[i] * zq[i] + (1 - t[i]) * zp[i]
        grad_sq = x_hat.pow(2).sum() + (w**2 * z_hat).pow(2).sum()
        expected += (math.sqrt(grad_sq) - 1.0) ** 2 / 5
    got = gradient_penalty(_Quadratic(w), xq, zq, xp, zp, t)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_gradient_penalty_of_a_linear_critic_is_constant(gen):
    a, b = torch.randn(4, generator=gen), torch.randn(2, generator=gen)
    critic = lambda x, z: x @ a + z @ b  # noqa: E731
    xs = torch.randn(2, 8, 4, generator=gen)
    zs = torch.randn(2, 8, 2, generator=gen)
    expected = (math.sqrt(a.pow(2).sum() + b.pow(2).sum()) - 1.0) ** 2
    assert gradient_penalty(critic, xs[0], zs[0], xs[1], zs[1]).item() == pytest.approx(expected, rel=1e-5)


def test_critic_gap_is_the_difference_of_means():
    critic = lambda x, z: x.sum(1) + 2 * z.sum(1)  # noqa: E731
    xq, zq = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]])
    xp, zp = torch.tensor([[0.0], [0.0]]), torch.tensor([[1.0], [1.0]])
    # E_q f = (1 + 5)/2 = 3, E_p f = 2
    assert critic_gap(critic, xq, zq, xp, zp).item() == pytest.approx(1.0)


@pytest.mark.parametrize("kind", PRIORS)
def test_prior_samples_are_batch_normalised(kind):
    prior = make_prior(kind, latent_dim=5, n_components=3).double().train()
    torch.manual_seed(1)
    raw = prior.raw_sample(512).detach()
    torch.manual_seed(1)
    z = prior.sample(512).detach()
    assert z.shape == (512, 5)
    # train mode: (raw - batch mean) / sqrt(biased batch variance + 1e-5), no affine parameters
    v = raw.var(0, unbiased=False)
    assert torch.allclose(z, (raw - raw.mean(0)) / torch.sqrt(v + 1e-5), atol=1e-5)
    assert z.mean(0).abs().max().item() < 1e-5
    assert torch.allclose(z.var(0, unbiased=False), v / (v + 1e-5), atol=1e-5)  # 1 up to BatchNorm's eps
    for _ in range(20):  # running statistics (momentum 0.5) converge to the raw distribution's
        prior.sample(8192)
    prior.eval()
    z_eval = prior.sample(8192).detach()
    rv = prior.norm.running_var  # eval mode: (z - running mean) / sqrt(running var + 1e-5)
    assert z_eval.mean(0).abs().max().item() < 0.1
    assert torch.allclose(z_eval.std(0), torch.sqrt(rv / (rv + 1e-5)), atol=0.05)


def test_factorised_prior_acts_coordinate_wise(gen):
    prior = make_prior("fnp", latent_dim=4)
    eps = torch.randn(3, 4, generator=gen)
    jac = torch.autograd.functional.jacobian(lambda e: prior.net(e.unsqueeze(2)).squeeze(2).sum(0), eps)
    off_diagonal = jac.sum(1) * (1 - torch.eye(4))  # d z_i / d eps_j summed over rows, i != j
    assert off_diagonal.abs().max().item() == 0.0
    assert jac.sum(1).diagonal().abs().min().item() > 0


def test_mixture_prior_draws_components_by_weight():
    torch.manual_seed(2)
    prior = make_prior("gmp", latent_dim=2, n_components=3)
    with torch.no_grad():
        prior.logits.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
        prior.sqrt_covs.zero_()
    raw = prior.raw_sample(20000)
    # with M_k = 0 every raw sample is exactly a component mean m_k, drawn with probability w_k
    hits = (raw[:, None, :] == prior.means[None]).all(2)
    assert bool(hits.any(1).all())
    freq = hits.float().mean(0)
    assert torch.allclose(freq, torch.tensor([0.2, 0.3, 0.5]), atol=0.015)


def _blobs(n=64):
    g = torch.Generator().manual_seed(3)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])
    x = centres[torch.arange(n) % 2] + 0.3 * torch.randn(n, 2, generator=g)
    return Split(x, torch.zeros(n, dtype=torch.int64))


def test_training_reduces_reconstruction_and_gw(single_thread):
    torch.manual_seed(0)
    method = GWAE(GWAEConfig(lr=3e-3, critic_lr=3e-3, critic_steps=1), (2,), 1, None)
    x = _blobs().x
    with torch.no_grad():
        before = method.losses(x)
    for _ in range(150):
        method.train_step(x)
    with torch.no_grad():
        after = method.losses(x)
    assert after["w"].item() < 0.75 * before["w"].item()
    assert after["gw"].item() < before["gw"].item()


def test_pooled_model_ignores_domains_and_does_not_translate():
    torch.manual_seed(0)
    method = GWAE(GWAEConfig(critic_steps=1), (2,), 2, None)
    x = torch.randn(10, 2)
    assert torch.equal(method.encode(x, torch.zeros(10, dtype=torch.int64)),
                       method.encode(x, torch.ones(10, dtype=torch.int64)))
    with pytest.raises(Unsupported, match="reconstruction"):
        method.translate(x, 0, 1)


def test_critic_layers_are_spectrally_normalised():
    critic = JointCritic((1, 16, 16), latent_dim=3).train()
    x, z = torch.randn(4, 1, 16, 16), torch.randn(4, 3)
    for _ in range(30):  # power iterations converge while training
        critic(x, z)
    critic.eval()
    for module in critic.modules():
        if isinstance(module, torch.nn.Linear):
            assert torch.linalg.matrix_norm(module.weight, ord=2).item() == pytest.approx(1.0, abs=0.02)


def test_patch_shuffle_permutes_whole_patches(gen):
    x = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4)
    out = patch_shuffle(x, grid=2, generator=gen)
    for img_in, img_out in zip(x, out):
        patches_in = sorted(tuple(p.flatten().tolist()) for p in img_in[0].unfold(0, 2, 2).unfold(1, 2, 2)
                            .reshape(-1, 2, 2))
        patches_out = sorted(tuple(p.flatten().tolist()) for p in img_out[0].unfold(0, 2, 2).unfold(1, 2, 2)
                             .reshape(-1, 2, 2))
        assert patches_in == patches_out


def test_isometry_metrics_on_an_exact_similarity(gen):
    x = torch.randn(30, 6, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    out = distance_agreement(x, 3.0 * x @ q)  # rotation and scale: d_Z = 3 d_X
    assert out["pearson"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(1.0)
    assert out["rel_error"] == pytest.approx(0.0, abs=1e-12)


def test_ood_roc_auroc_of_separated_and_identical_scores():
    auroc, tpr = ood_roc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0]))
    assert auroc == 1.0 and tpr[-1] == 1.0
    assert ood_roc(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]))[0] == 0.5


def test_fig3_gwae_weighs_reconstruction_like_the_vaub_rows(gen):
    """fig3's λ_W makes λ_W L_W equal the other rows' Gaussian NLL (std 0.1) up to its constant."""
    from benchmarks.experiments.fig3 import GWAE_SETTINGS, SHARED_SETTINGS
    from saub.objective import reconstruction_nll

    x, x_hat = torch.randn(32, 2, generator=gen), torch.randn(32, 2, generator=gen)
    std = SHARED_SETTINGS["obs_std"]
    nll = reconstruction_nll(x, x_hat, "gaussian", std).mean() - math.log(2 * math.pi * std**2)
    assert GWAE_SETTINGS["lambda_w"] * reconstruction_loss(x, x_hat) == pytest.approx(float(nll), rel=1e-6)


def test_table1_lambda_h_is_the_authors_code_entropy_weight(gen):
    """table1's λ_H on R_H has the gradient of the authors' 0.03 × (-Σ log σ²) (settings/gwae.yaml)."""
    from benchmarks.experiments.table1 import GWAE_DIGITS

    logvar = torch.randn(16, 64, generator=gen, dtype=torch.float64, requires_grad=True)
    (ours,) = torch.autograd.grad(-GWAE_DIGITS["lambda_h"] * encoder_entropy(logvar), logvar)
    (code,) = torch.autograd.grad(0.03 * (-logvar.sum(1)).mean(), logvar)
    torch.testing.assert_close(ours, code, rtol=1e-12, atol=1e-15)
