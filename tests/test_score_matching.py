"""Variational score matching (Wenliang, "On the failure of variational score matching for VAE
models") against the paper's closed forms.

Most models here are linear-Gaussian, so every integrand is a polynomial of degree <= 2 in (x, ε).
The tests then use *moment-matched* samples (``whitened``: antithetic standard normals whitened to
sample mean 0 and sample covariance I exactly), under which a Monte Carlo average of such a
polynomial equals its Gaussian expectation to rounding error; the comparisons are tight. Only the
score-function estimator and the nonlinear decoder of §3.3.1 need ordinary Monte Carlo tolerances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, minimize_scalar
from torch import nn

from saub.score_matching import (
    VariationalScoreMatching,
    autoencoding_loss,
    elbo,
    exact_divergence,
    fae_objective,
    fisher_constant,
    functional_encoder,
    h_fisher,
    h_kl,
    joint_fisher_divergence,
    kl_to_standard_normal,
    likelihood_x_divergence,
    likelihood_x_score,
    m1_objective,
    m2_objective,
    m3_objective,
    posterior_fisher_divergence,
    posterior_kl,
    posterior_x_score,
    posterior_z_scores,
    sample_posterior,
    unroll_inference,
)

pytestmark = pytest.mark.usefixtures("single_thread")

DT = torch.float64


def whitened(n: int, dim: int, seed: int) -> torch.Tensor:
    """``n`` (even) points in R^dim with sample mean exactly 0, sample covariance exactly I, odd moments 0."""
    half = torch.randn(n // 2, dim, generator=torch.Generator().manual_seed(seed), dtype=DT)
    half = half - half.mean(0)
    chol = torch.linalg.cholesky(half.T @ half / (n // 2))
    half = half @ torch.linalg.inv(chol).T
    return torch.cat([half, -half], 0)


def whitened_noise(s: int, b: int, d_z: int, seed: int) -> torch.Tensor:
    """ε of shape ``[S, B, d_z]``, moment-matched separately for every row."""
    return torch.stack([whitened(s, d_z, seed + i) for i in range(b)], 1)


def gaussian_data(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int) -> torch.Tensor:
    """x with sample mean ``mean`` and sample covariance ``cov`` exactly."""
    return mean + whitened(n, mean.numel(), seed) @ torch.linalg.cholesky(cov).T


class LinearEncoder(nn.Module):
    """q(z|x) = N(A x + c, diag exp(B x + d)); ``B = 0`` gives an x-independent variance."""

    def __init__(self, a, c, b, d):
        super().__init__()
        self.a, self.c, self.b, self.d = (nn.Parameter(torch.as_tensor(t, dtype=DT)) for t in (a, c, b, d))

    def forward(self, x):
        return x @ self.a.T + self.c, x @ self.b.T + self.d


class LinearDecoder(nn.Module):
    """g_θ(z) = W z + b."""

    def __init__(self, w, b):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=DT))
        self.b = nn.Parameter(torch.as_tensor(b, dtype=DT))

    def forward(self, z):
        return z @ self.w.T + self.b


W = [[1.2, -0.3], [0.4, 0.9], [-0.7, 0.5]]
B_DEC = [0.1, -0.2, 0.3]
A_ENC = [[0.5, 0.1, -0.2], [0.0, 0.3, 0.4]]
C_ENC = [0.2, -0.1]
LOG_GAMMA = math.log(0.3)


def linear_model(logvar_slope: float = 0.0):
    b = np.zeros((2, 3))
    b[0, 1] = logvar_slope
    enc = LinearEncoder(A_ENC, C_ENC, b, [-1.0, -0.6])
    return enc, LinearDecoder(W, B_DEC)


# --- scores -----------------------------------------------------------------------------------------


def test_scores_match_closed_forms_and_torch_distributions():
    """s^p = −(x − g)/γ (eq. 18), ∇_x·s^p = −d_x/γ (eq. 21, exact trace by autograd), s^q(z|x) at fixed
    z, and ∇_z log q, ∇_z log p(z, x) against torch.distributions autograd."""
    enc, dec = linear_model(logvar_slope=0.7)
    x = torch.tensor([[0.5, -1.0, 0.3], [2.0, 0.3, -0.4]], dtype=DT)
    ps = sample_posterior(x, enc, dec, LOG_GAMMA, 3, noise=torch.randn(3, 2, 2, dtype=DT))
    gamma = math.exp(LOG_GAMMA)
    s_p = likelihood_x_score(ps)
    z, xr = ps.split(ps.z).detach(), ps.split(ps.x).detach()
    g = dec(z)
    torch.testing.assert_close(s_p, -(xr - g) / gamma)
    closed = likelihood_x_divergence(ps, s_p, "closed")
    exact = likelihood_x_divergence(ps, s_p, "exact")
    torch.testing.assert_close(exact, torch.full((3, 2), -3 / gamma, dtype=DT))
    torch.testing.assert_close(closed, exact)
    # s^q(z|x) = A^T (z − μ)/σ² + ½ B^T ((z − μ)²/σ² − 1) for the linear encoder, z held fixed
    mu, lv = enc(xr)
    r = (z - mu) * torch.exp(-lv)
    s_q_hand = r @ enc.a + 0.5 * ((z - mu) ** 2 * torch.exp(-lv) - 1) @ enc.b
    torch.testing.assert_close(posterior_x_score(ps, enc, x.shape[1:]), s_q_hand.detach())
    # z-scores against torch.distributions
    zl = z.clone().requires_grad_(True)
    logq = torch.distributions.Normal(mu.detach(), torch.exp(0.5 * lv.detach())).log_prob(zl).sum()
    normal = torch.distributions.Normal
    logp = normal(torch.zeros_like(zl), 1.0).log_prob(zl).sum()
    logp = logp + normal(dec(zl), math.sqrt(gamma)).log_prob(xr).sum()
    score_q, score_p = posterior_z_scores(ps)
    torch.testing.assert_close(score_q, torch.autograd.grad(logq, zl)[0])
    torch.testing.assert_close(score_p, torch.autograd.grad(logp, zl)[0])


def test_exact_divergence_of_a_nonlinear_field():
    x = torch.randn(5, 3, dtype=DT, requires_grad=True)
    x0, x1, x2 = x.unbind(1)
    field = torch.stack([torch.sin(x0) * x1, x1**3 + x2, torch.exp(x2 * x0)], 1)
    hand = torch.cos(x[:, 0]) * x[:, 1] + 3 * x[:, 1] ** 2 + x[:, 0] * torch.exp(x[:, 2] * x[:, 0])
    torch.testing.assert_close(exact_divergence(field, x), hand)


# --- ELBO -------------------------------------------------------------------------------------------


def exact_posterior(x, w, b, gamma):
    """Posterior of N(0, I) × N(W z + b, γ I): precision I + WᵀW/γ, mean Λ⁻¹ Wᵀ(x − b)/γ."""
    lam = torch.eye(w.shape[1], dtype=DT) + w.T @ w / gamma
    return lam, (x - b) @ w @ torch.linalg.inv(lam).T / gamma


def test_elbo_closed_and_mc_kl_and_equals_log_marginal_at_exact_posterior():
    """Eq. (1): with q = p_θ(z|x) the ELBO equals log p_θ(x) = log N(x; b, WWᵀ + γI), and the MC form of
    the KL agrees with the closed form."""
    gamma = 0.3
    w = torch.tensor([[1.2, 0.0], [0.0, 0.9], [0.0, 0.0]], dtype=DT)  # orthogonal columns: diagonal posterior
    b = torch.tensor(B_DEC, dtype=DT)
    lam, _ = exact_posterior(torch.zeros(1, 3, dtype=DT), w, b, gamma)
    a_enc = torch.linalg.inv(lam) @ w.T / gamma
    enc = LinearEncoder(a_enc, -(b @ a_enc.T), np.zeros((2, 3)), -torch.log(torch.diag(lam)))
    dec = LinearDecoder(w, b)
    x = torch.tensor([[0.5, -1.0, 0.3], [2.0, 0.3, -0.4], [0.0, 0.1, 0.2]], dtype=DT)
    noise = whitened_noise(64, 3, 2, seed=1)
    log_px = torch.distributions.MultivariateNormal(b, w @ w.T + gamma * torch.eye(3, dtype=DT)).log_prob(x)
    closed = elbo(x, enc, dec, math.log(gamma), 64, noise=noise, kl="closed")
    mc = elbo(x, enc, dec, math.log(gamma), 64, noise=noise, kl="mc")
    torch.testing.assert_close(closed.detach(), log_px)
    torch.testing.assert_close(mc.detach(), log_px)
    # away from the exact posterior the gap is the posterior KL (eq. 2), positive
    enc.d.data += 0.5
    assert (log_px - elbo(x, enc, dec, math.log(gamma), 64, noise=noise)).min() > 1e-3


# --- Fisher divergences -----------------------------------------------------------------------------


def gaussian_fd(mean1, cov1, mean2, cov2):
    """½ E_1 ||∇ log N1 − ∇ log N2||² = ½[tr((Λ2 − Λ1) Σ1 (Λ2 − Λ1)) + ||Λ2 (m1 − m2)||²]."""
    l1, l2 = torch.linalg.inv(cov1), torch.linalg.inv(cov2)
    diff = l2 - l1
    return 0.5 * (torch.trace(diff @ cov1 @ diff) + ((l2 @ (mean1 - mean2)) ** 2).sum())


def test_posterior_fd_of_gaussians_matches_closed_form():
    """D_F[q(z|x)||p_θ(z|x)] (eq. 26) for a linear-Gaussian VAE, whose posterior is Gaussian, against the
    Gaussian-to-Gaussian closed form; reparameterised and not give the same value."""
    enc, dec = linear_model()
    gamma = math.exp(LOG_GAMMA)
    x = torch.tensor([[0.5, -1.0, 0.3], [2.0, 0.3, -0.4]], dtype=DT)
    noise = whitened_noise(32, 2, 2, seed=3)
    ours = posterior_fisher_divergence(x, enc, dec, LOG_GAMMA, 32, noise=noise).detach()
    ours_r = posterior_fisher_divergence(x, enc, dec, LOG_GAMMA, 32, noise=noise, reparameterize=True)
    ours_r = ours_r.detach()
    lam, m_post = exact_posterior(x, dec.w.detach(), dec.b.detach(), gamma)
    mu, lv = (t.detach() for t in enc(x))
    for i in range(2):
        ref = gaussian_fd(mu[i], torch.diag(lv[i].exp()), m_post[i], torch.linalg.inv(lam))
        torch.testing.assert_close(ours[i], ref)
    torch.testing.assert_close(ours, ours_r)
    assert ours.min() > 0.1  # a real mismatch, not a trivially zero case


def recovery_closed_forms(phi, theta, theta_star, alpha, gamma):
    """§3.1's model in closed form: joint FD (6) and joint KL (2) between q_φ(z|x)π(x) and p_θ(z, x),
    both zero-mean Gaussians over (z, x); q's variance is α v*(θ), v*(θ) = (1 + θ²/γ)⁻¹."""
    s2 = theta_star**2 + gamma
    v = alpha / (1 + theta**2 / gamma)
    cov_q = np.array([[v + phi**2 * s2, phi * s2], [phi * s2, s2]])
    cov_p = np.array([[1.0, theta], [theta, theta**2 + gamma]])
    lq, lp = np.linalg.inv(cov_q), np.linalg.inv(cov_p)
    jfd = 0.5 * np.trace((lp - lq) @ cov_q @ (lp - lq))
    jkl = 0.5 * (np.trace(lp @ cov_q) - 2 + np.log(np.linalg.det(cov_p) / np.linalg.det(cov_q)))
    return jfd, jkl


def recovery_model(phi, theta, alpha, gamma):
    """The §3.1 VAE as callables: p(z) = N(0, 1), p_θ(x|z) = N(θ z, γ), q_φ(z|x) = N(φ x, α v*(θ))."""
    def encoder(x):
        v = alpha / (1 + theta**2 / gamma)
        return phi * x, torch.log(v) * torch.ones_like(x)

    return encoder, (lambda z: theta * z)


ALPHA, GAMMA_31 = 0.6, 0.5


@pytest.mark.parametrize("theta_star", [0.5, 1.0, 2.0])
def test_parameter_recovery_objectives_match_closed_form(theta_star):
    """§3.1 at α = 0.6, γ = 0.5: our joint FD (definition, eq. 6-7), FAE loss + C_π (A.1) and
    −ELBO + E_π log π (the joint KL, eq. 2) equal the Gaussian closed forms at several (φ, θ)."""
    s2 = theta_star**2 + GAMMA_31
    x = gaussian_data(200, torch.zeros(1, dtype=DT), torch.tensor([[s2]], dtype=DT), seed=5)
    noise = whitened_noise(8, 200, 1, seed=7)
    grad_log_pi = lambda v: -v / s2  # noqa: E731
    lg = math.log(GAMMA_31)
    for phi, theta in [(0.3, 1.0), (0.8, theta_star), (-0.2, 2.5)]:
        enc, dec = recovery_model(torch.tensor(phi, dtype=DT), torch.tensor(theta, dtype=DT), ALPHA, GAMMA_31)
        jfd_ref, jkl_ref = recovery_closed_forms(phi, theta, theta_star, ALPHA, GAMMA_31)
        jfd = joint_fisher_divergence(x, enc, dec, lg, grad_log_pi, 8, noise=noise).mean()
        fae = (fae_objective(x, enc, dec, lg, 8, noise=noise) + fisher_constant(x, grad_log_pi)).mean()
        neg_entropy = -0.5 * math.log(2 * math.pi * s2) - 0.5  # E_π log π
        jkl = -elbo(x, enc, dec, lg, 8, noise=noise).mean() + neg_entropy
        assert float(jfd.detach()) == pytest.approx(jfd_ref, rel=1e-9)
        assert float(fae.detach()) == pytest.approx(jfd_ref, rel=1e-9)
        assert float(jkl.detach()) == pytest.approx(jkl_ref, rel=1e-9)


def minimise_closed_form(which, theta_star, alpha):
    f = lambda p: recovery_closed_forms(p[0], p[1], theta_star, alpha, GAMMA_31)[which]  # noqa: E731
    return minimize(f, [0.5, 1.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14}).x


def test_parameter_recovery_jkl_recovers_jfd_is_biased_and_our_gradients_find_the_jfd_optimum():
    """Fig. 1: at α = 0.6 minimising the joint KL recovers |θ*|, minimising the joint FD does not
    (it does at α = 1); L-BFGS on our FAE loss (autograd scores) reaches the closed-form JFD optimum."""
    for theta_star in (0.5, 1.0, 2.0):
        assert abs(minimise_closed_form(1, theta_star, ALPHA)[1]) == pytest.approx(theta_star, abs=1e-5)
        assert abs(minimise_closed_form(0, theta_star, 1.0)[1]) == pytest.approx(theta_star, abs=1e-5)
        # the downward bias of Fig. 1 (left): |θ̂| = 0.39, 0.77, 1.20 for θ* = 0.5, 1, 2
        assert abs(minimise_closed_form(0, theta_star, ALPHA)[1]) < 0.85 * theta_star
    phi_hat, theta_hat = minimise_closed_form(0, 2.0, ALPHA)
    s2 = 2.0**2 + GAMMA_31
    x = gaussian_data(64, torch.zeros(1, dtype=DT), torch.tensor([[s2]], dtype=DT), seed=11)
    noise = whitened_noise(4, 64, 1, seed=13)
    params = torch.tensor([0.5, 1.0], dtype=DT, requires_grad=True)
    opt = torch.optim.LBFGS([params], lr=1, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        enc, dec = recovery_model(params[0], params[1], ALPHA, GAMMA_31)
        loss = fae_objective(x, enc, dec, math.log(GAMMA_31), 4, noise=noise).mean()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(params.detach().numpy(), [phi_hat, theta_hat], atol=1e-4)


# --- §3.3.1: optimal posterior ----------------------------------------------------------------------


def elementwise_decoder(c):
    """g(z) = (2 z1 + c z1³, 1.5 z2 + c sin z2, c z1²/2): each output depends on one z_j, so G = JᵀJ is
    diagonal and the diagonal-Gaussian q contains Λ* = I + G/γ."""
    return lambda z: torch.stack([2 * z[:, 0] + c * z[:, 0] ** 3, 1.5 * z[:, 1] + c * torch.sin(z[:, 1]),
                                  0.5 * c * z[:, 0] ** 2], 1)


def optimal_logvar(loss_fn, mean, start):
    def f(lv):
        lv_t = torch.tensor(lv, dtype=DT, requires_grad=True)
        value = loss_fn(lambda xx: (mean.expand(xx.shape[0], 2), lv_t.expand(xx.shape[0], 2))).sum()
        return float(value.detach()), torch.autograd.grad(value, lv_t)[0].numpy()

    res = minimize(f, start, jac=True, method="BFGS", options={"gtol": 1e-10})
    return res.x, res.fun


@pytest.mark.parametrize("curvature", [0.0, 0.3])
def test_optimal_posterior_precision_and_fd(curvature):
    """§3.3.1 / A.4, γ = 1e-4, μ = z0 with x = g(z0): the FD-optimal precision is Λ* = I + G_θ(x)/γ, the
    KL-optimal one too (Dai et al. eq. 83), and for a linear decoder the optimal FD is ½||μ*||² (eq. 10)."""
    gamma, z0 = 1e-4, torch.tensor([[0.8, -0.5]], dtype=DT)
    dec = elementwise_decoder(curvature)
    x = dec(z0).detach()
    jac = torch.autograd.functional.jacobian(lambda z: dec(z[None])[0], z0[0])
    lv_star = -torch.log(1 + torch.diag(jac.T @ jac) / gamma).numpy()
    noise = whitened_noise(2000, 1, 2, seed=17)
    fd = lambda e: posterior_fisher_divergence(  # noqa: E731
        x, e, dec, math.log(gamma), 2000, noise=noise, reparameterize=True)
    kl = lambda e: posterior_kl(x, e, dec, math.log(gamma), 2000, noise=noise)  # noqa: E731
    lv_fd, fd_min = optimal_logvar(fd, z0, lv_star + 0.5)
    lv_kl, _ = optimal_logvar(kl, z0, lv_star + 0.5)
    np.testing.assert_allclose(lv_fd, lv_star, atol=1e-3)
    np.testing.assert_allclose(lv_kl, lv_star, atol=1e-3)
    if curvature == 0.0:
        assert fd_min == pytest.approx(0.5 * float((z0**2).sum()), rel=1e-8)


def test_fd_optimal_mean_is_not_the_code_of_x():
    """Eq. (10) assumes x = g_θ(μ(x)); with the mean free, the FD of a linear-Gaussian VAE is minimised at
    the posterior mean, where it is 0 < ½||z0||² (diagonal posterior, so q can be exact)."""
    gamma, z0 = 1e-2, torch.tensor([[0.8, -0.5]], dtype=DT)
    dec = elementwise_decoder(0.0)
    x = dec(z0).detach()
    w = torch.autograd.functional.jacobian(lambda z: dec(z[None])[0], z0[0])
    lam, m_post = exact_posterior(x, w, torch.zeros(3, dtype=DT), gamma)
    noise = whitened_noise(16, 1, 2, seed=19)
    enc = lambda xx: (m_post.expand(xx.shape[0], 2), -torch.log(torch.diag(lam)).expand(xx.shape[0], 2))  # noqa: E731
    at_post = posterior_fisher_divergence(x, enc, dec, math.log(gamma), 16, noise=noise)
    assert float(at_post.detach()) == pytest.approx(0.0, abs=1e-12)
    assert float((m_post - z0).norm()) > 1e-3


# --- A.5.1: gradient relations ----------------------------------------------------------------------


class ConstantPosterior(nn.Module):
    """q(z) = N(m1, s1²), parameterised by the mean and the standard deviation as in A.5.1."""

    def __init__(self, m1, s1):
        super().__init__()
        self.m1, self.s1 = nn.Parameter(torch.tensor(m1, dtype=DT)), nn.Parameter(torch.tensor(s1, dtype=DT))

    def forward(self, x):
        ones = torch.ones(x.shape[0], 1, dtype=DT)
        return self.m1 * ones, 2 * torch.log(self.s1) * ones


def a51_setup(m1=0.4, s1=0.7, theta=1.5, gamma=0.5, xval=1.2):
    """p_2 = p_θ(z|x) for prior N(0, 1), likelihood N(θ z, γ) at x: N(m2, s2²), s2² = (1 + θ²/γ)⁻¹."""
    s2sq = 1 / (1 + theta**2 / gamma)
    m2 = s2sq * theta * xval / gamma
    x = torch.tensor([[xval]], dtype=DT)
    return ConstantPosterior(m1, s1), (lambda z: theta * z), math.log(gamma), x, m2, math.sqrt(s2sq)


def grads(loss, enc):
    return [float(g) for g in torch.autograd.grad(loss.sum(), [enc.m1, enc.s1])]


def test_fd_and_kl_gradients_of_univariate_gaussians():
    """App. A.5.1 with the paper's un-halved FD (2 × ours): FD (30), its reparameterised gradient (31), the
    biased non-reparameterised gradient (32), the KL gradient (29) and the relations between them.

    The printed relation ∂D_F/∂s1 = 2/(s1² s2²) ∂D_KL/∂s1 does not follow from (29) and (31); the
    factor that does is 2 (s1² + s2²)/(s1² s2²), checked here."""
    enc, dec, lg, x, m2, s2 = a51_setup()
    m1, s1 = 0.4, 0.7
    noise = whitened_noise(64, 1, 1, seed=23)
    fd_r = 2 * posterior_fisher_divergence(x, enc, dec, lg, 64, noise=noise, reparameterize=True)
    fd_b = 2 * posterior_fisher_divergence(x, enc, dec, lg, 64, noise=noise, reparameterize=False)
    kl = posterior_kl(x, enc, dec, lg, 64, noise=noise)
    eq30 = 1 / s1**2 - 2 / s2**2 + (s1**2 + (m1 - m2) ** 2) / s2**4
    assert float(fd_r.detach()) == pytest.approx(eq30, rel=1e-10)
    d_kl = grads(kl, enc)
    d_fd = grads(fd_r, enc)
    d_b = grads(fd_b, enc)
    assert d_kl == pytest.approx([(m1 - m2) / s2**2, (s1**2 - s2**2) / (s1 * s2**2)], rel=1e-10)  # (29)
    assert d_fd == pytest.approx([2 * (m1 - m2) / s2**4, 2 * (s1**4 - s2**4) / (s1**3 * s2**4)],
                                 rel=1e-10)  # (31)
    assert d_b == pytest.approx([2 * (m1 - m2) / (s1**2 * s2**2), 4 * (s1**2 - s2**2) / (s1**3 * s2**2)],
                                rel=1e-10)  # (32)
    assert d_fd[0] == pytest.approx(2 / s2**2 * d_kl[0], rel=1e-10)
    assert d_fd[1] == pytest.approx(2 * (s1**2 + s2**2) / (s1**2 * s2**2) * d_kl[1], rel=1e-10)
    assert d_fd[1] != pytest.approx(2 / (s1**2 * s2**2) * d_kl[1], rel=0.05)  # the printed factor
    assert d_b[0] == pytest.approx(2 / s1**2 * d_kl[0], rel=1e-10)
    assert d_b[1] == pytest.approx(4 / s1**2 * d_kl[1], rel=1e-10)


def test_score_function_kl_gradient_is_unbiased():
    """posterior_kl(reparameterize=False): same value, and its REINFORCE gradient averages to (29)."""
    enc, dec, lg, x, m2, s2 = a51_setup()
    m1, s1 = 0.4, 0.7
    torch.manual_seed(0)
    noise = torch.randn(400_000, 1, 1, dtype=DT)
    noise = torch.cat([noise, -noise], 0)
    sf = posterior_kl(x, enc, dec, lg, noise.shape[0], noise=noise, reparameterize=False)
    rp = posterior_kl(x, enc, dec, lg, noise.shape[0], noise=noise)
    assert float(sf.detach()) == pytest.approx(float(rp.detach()), rel=1e-12)
    expected = [(m1 - m2) / s2**2, (s1**2 - s2**2) / (s1 * s2**2)]
    got = grads(sf, enc)
    # tolerances: 4 standard errors of this estimator (0.0044 and 0.020, measured over 6 seeds)
    assert abs(got[0] - expected[0]) < 0.02 and abs(got[1] - expected[1]) < 0.08


# --- A.1, Prop. 3.1, 4.1, 4.2 -----------------------------------------------------------------------

PI_MEAN = torch.tensor([0.3, -0.5, 1.0], dtype=DT)
PI_COV = torch.tensor([[1.0, 0.3, 0.0], [0.3, 0.8, -0.2], [0.0, -0.2, 1.5]], dtype=DT)


def grad_log_pi(v):
    return -(v - PI_MEAN) @ torch.linalg.inv(PI_COV)


def test_m1_equals_expected_j_plus_c_pi():
    """A.1: E_π J^π_{q,θ} = E_π M1 + E_π C_π with C_π = ½||∇ log π||², for π ≠ p_θ; J^π obtained as joint FD
    minus posterior FD (eq. 6). The constant as printed in (17), ½||E_π ∇ log π||² = 0, would not close it."""
    enc, dec = linear_model()
    x = gaussian_data(300, PI_MEAN, PI_COV, seed=29)
    noise = whitened_noise(8, 300, 2, seed=31)
    args = (x, enc, dec, LOG_GAMMA)
    j = (joint_fisher_divergence(*args, grad_log_pi, 8, noise=noise)
         - posterior_fisher_divergence(*args, 8, noise=noise)).mean()
    m1 = m1_objective(*args, 8, noise=noise).mean()
    c_pi = fisher_constant(x, grad_log_pi).mean()
    assert float(j.detach()) == pytest.approx(float((m1 + c_pi).detach()), rel=1e-9)
    printed_c = 0.5 * float((grad_log_pi(x).mean(0) ** 2).sum())
    assert printed_c == pytest.approx(0.0, abs=1e-12)
    assert float(c_pi) > 0.5


def closed_autoencoding(x, enc, dec):
    """L_KL (4) for the linear model in closed form: ||x − (Wμ + b)||² + tr(W Σ Wᵀ)."""
    mu, lv = (t.detach() for t in enc(x))
    w = dec.w.detach()
    mean_g = mu @ w.T + dec.b.detach()
    return ((x - mean_g) ** 2).sum(1) + (lv.exp() * (w**2).sum(0)).sum(1), mean_g


def test_m1_and_elbo_reduce_to_the_same_autoencoding_loss():
    """Prop. 3.1 and (4): M̃1 = L_KL/(2γ²) − d_x/γ and −E_q log p_θ(x|z) = L_KL/(2γ) + (d_x/2) log 2πγ; the
    optimal γ of both objectives is E_D L_KL / d_x, where E_D M̃1 = h_F(E_D L_KL) (eq. 9, 22) and
    E_D[−ELBO] = h_K(E_D L_KL) + d_x(1 + log 2π)/2 + E_D KL."""
    enc, dec = linear_model(logvar_slope=0.0)
    x = gaussian_data(50, PI_MEAN, PI_COV, seed=37)
    noise = whitened_noise(8, 50, 2, seed=41)
    gamma, d_x = math.exp(LOG_GAMMA), 3
    l_kl, _ = closed_autoencoding(x, enc, dec)
    ps = sample_posterior(x, enc, dec, LOG_GAMMA, 8, noise=noise)
    torch.testing.assert_close(autoencoding_loss(x, ps.split(ps.g).detach()), l_kl)
    m1_t = m1_objective(x, enc, dec, LOG_GAMMA, 8, noise=noise, include_q_term=False).detach()
    torch.testing.assert_close(m1_t, l_kl / (2 * gamma**2) - d_x / gamma)
    kl = kl_to_standard_normal(*(t.detach() for t in enc(x)))
    rec = -elbo(x, enc, dec, LOG_GAMMA, 8, noise=noise).detach() - kl
    torch.testing.assert_close(rec, l_kl / (2 * gamma) + 0.5 * d_x * math.log(2 * math.pi * gamma))
    # the q-only term of M1 does not move with θ
    q_term = m1_objective(x, enc, dec, LOG_GAMMA, 8, noise=noise) - m1_t
    dec.w.data *= 1.7
    q_term2 = m1_objective(x, enc, dec, LOG_GAMMA, 8, noise=noise) - m1_objective(
        x, enc, dec, LOG_GAMMA, 8, noise=noise, include_q_term=False)
    torch.testing.assert_close(q_term.detach(), q_term2.detach())
    l_bar = float(closed_autoencoding(x, enc, dec)[0].mean())

    def m1_of(lg):
        return float(m1_objective(x, enc, dec, lg, 8, noise=noise, include_q_term=False).mean().detach())

    def nelbo_of(lg):
        return float(-elbo(x, enc, dec, lg, 8, noise=noise).mean().detach())

    r_m1 = minimize_scalar(m1_of, bracket=(-3, 0), tol=1e-12)
    r_el = minimize_scalar(nelbo_of, bracket=(-3, 0), tol=1e-12)
    assert math.exp(r_m1.x) == pytest.approx(l_bar / d_x, rel=1e-5)
    assert math.exp(r_el.x) == pytest.approx(l_bar / d_x, rel=1e-5)
    assert r_m1.fun == pytest.approx(h_fisher(l_bar, d_x), rel=1e-9)
    expected = h_kl(l_bar, d_x) + 0.5 * d_x * (1 + math.log(2 * math.pi)) + float(kl.mean())
    assert r_el.fun == pytest.approx(expected, rel=1e-9)


def test_m2_and_m3_autoencoding_forms():
    """Prop. 4.1 and A.1's proof of Prop. A.1. M2 = (||x − E g||² + 2 Σ_j V_q[g_j])/(2γ²) − d_x/γ (the proof's
    third line prints 2 E_q||g||², which differs whenever E_q g ≠ 0); M3 = ||x − E g||²/(2γ²) −
    (E_q[s^q · (x − g)] + d_x)/γ with s^q computed by hand."""
    enc, dec = linear_model(logvar_slope=0.7)
    x = gaussian_data(20, PI_MEAN, PI_COV, seed=43)
    noise = whitened_noise(8, 20, 2, seed=47)
    gamma, d_x = math.exp(LOG_GAMMA), 3
    ps = sample_posterior(x, enc, dec, LOG_GAMMA, 8, noise=noise)
    g = ps.split(ps.g).detach()
    sq_mean = ((x - g.mean(0)) ** 2).sum(1)
    trace_var = g.var(0, unbiased=False).sum(1)
    m2 = m2_objective(x, enc, dec, LOG_GAMMA, 8, noise=noise).detach()
    torch.testing.assert_close(m2, (sq_mean + 2 * trace_var) / (2 * gamma**2) - d_x / gamma)
    printed = (sq_mean + 2 * (g**2).sum(-1).mean(0)) / (2 * gamma**2) - d_x / gamma
    assert (printed - m2).abs().min() > 1.0
    z, xr = ps.split(ps.z).detach(), ps.split(ps.x).detach()
    mu, lv = (t.detach() for t in enc(xr))
    prec = torch.exp(-lv)
    s_q = ((z - mu) * prec) @ enc.a.detach() + 0.5 * ((z - mu) ** 2 * prec - 1) @ enc.b.detach()
    m3_hand = sq_mean / (2 * gamma**2) - ((s_q * (xr - g)).sum(-1).mean(0) + d_x) / gamma
    torch.testing.assert_close(m3_objective(x, enc, dec, LOG_GAMMA, 8, noise=noise).detach(), m3_hand)


def test_m3_is_bao_marginal_fd_with_q():
    """Prop. 4.2: ½ E_π||∇ log π − E_q s^p_θ(x|z)||² (eq. 14 with q) = E_π M3 + E_π C_π."""
    enc, dec = linear_model()
    x = gaussian_data(300, PI_MEAN, PI_COV, seed=53)
    noise = whitened_noise(8, 300, 2, seed=59)
    gamma = math.exp(LOG_GAMMA)
    _, mean_g = closed_autoencoding(x, enc, dec)
    lhs = 0.5 * ((grad_log_pi(x) + (x - mean_g) / gamma) ** 2).sum(1).mean()
    rhs = (m3_objective(x, enc, dec, LOG_GAMMA, 8, noise=noise) + fisher_constant(x, grad_log_pi)).mean()
    assert float(rhs.detach()) == pytest.approx(float(lhs.detach()), rel=1e-9)


# --- Alg. 1 and the bi-level steps ------------------------------------------------------------------


def small_vae(seed=0):
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 4)).to(DT)
    dec = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).to(DT)
    return enc, dec


class SplitEncoder(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, logvar


def test_alg1_step_matches_a_hand_written_update():
    """J = 2 KL updates of φ (Adam), then one SGD step of θ on M̃1, against the same updates written out."""
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1), dtype=DT)
    net0, dec0 = small_vae(seed=3)
    initial = torch.cat([p.detach().flatten() for p in [*net0.parameters(), *dec0.parameters()]] + [
        torch.tensor([-1.0], dtype=DT)])
    runs = []
    for manual in (False, True):
        net, dec = small_vae(seed=3)
        enc = SplitEncoder(net)
        log_gamma = nn.Parameter(torch.tensor(-1.0, dtype=DT))
        opt_phi = torch.optim.Adam(enc.parameters(), lr=1e-2)
        opt_theta = torch.optim.SGD([*dec.parameters(), log_gamma], lr=1e-2)
        torch.manual_seed(5)
        if manual:
            for _ in range(2):
                opt_phi.zero_grad()
                (-elbo(x, enc, dec, log_gamma, 3)).mean().backward()
                opt_phi.step()
            loss = m1_objective(x, enc, dec, log_gamma, 3, include_q_term=False).mean()
            grads_theta = torch.autograd.grad(loss, [*dec.parameters(), log_gamma])
            with torch.no_grad():
                for p, g in zip([*dec.parameters(), log_gamma], grads_theta):
                    p -= 1e-2 * g
        else:
            VariationalScoreMatching(enc, dec, log_gamma, opt_phi, opt_theta, inference="kl", learning="m1",
                                     n_samples=3, encoder_steps=2).step(x)
        params = [*enc.parameters(), *dec.parameters(), log_gamma]
        runs.append(torch.cat([p.detach().flatten() for p in params]))
    torch.testing.assert_close(runs[0], runs[1])
    assert float((runs[0] - initial).abs().max()) > 1e-3  # the step moved both φ and θ


@pytest.mark.parametrize("inference,learning", [("kl", "m2"), ("fd", "m3")])
def test_bilevel_hypergradient_matches_finite_differences(inference, learning):
    """App. B.1: the θ-gradient after K = 2 differentiable inner steps is d/dθ L(φ_K(θ), θ) (central finite
    differences, same noise), and it differs from the gradient that ignores φ_K's θ-dependence.
    (Reparameterised inner samples: with detached ones the gradient ignores, by design, how the
    samples move with φ_K(θ), and finite differences would not agree.)"""
    net, dec = small_vae(seed=7)
    enc = SplitEncoder(net)
    log_gamma = nn.Parameter(torch.tensor(-0.5, dtype=DT))
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(2), dtype=DT)
    trainer = VariationalScoreMatching(
        enc, dec, log_gamma, torch.optim.SGD(enc.parameters(), lr=0.0),
        torch.optim.SGD(dec.parameters(), lr=0.0), inference=inference, learning=learning, n_samples=2,
        encoder_steps=0, bilevel_steps=2, bilevel_lr=0.05, reparameterize=True)
    weight = dec[2].weight

    def objective(through_phi=True):
        torch.manual_seed(11)
        params = unroll_inference(enc, lambda e: trainer.inference_loss(x, e), 2, 0.05)
        if not through_phi:
            params = {k: v.detach() for k, v in params.items()}
        return trainer.learning_loss(x, functional_encoder(enc, params))

    hyper = torch.autograd.grad(objective(), weight)[0]
    naive = torch.autograd.grad(objective(through_phi=False), weight)[0]
    fd = torch.zeros_like(weight)
    h = 1e-5
    for idx in np.ndindex(*weight.shape):
        with torch.no_grad():
            weight[idx] += h
        up = float(objective().detach())
        with torch.no_grad():
            weight[idx] -= 2 * h
        down = float(objective().detach())
        with torch.no_grad():
            weight[idx] += h
        fd[idx] = (up - down) / (2 * h)
    torch.testing.assert_close(hyper, fd, rtol=1e-5, atol=1e-6)
    assert float((hyper - naive).abs().max()) > 1e-4
