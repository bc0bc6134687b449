"""ELBO, posterior divergences, the Fisher autoencoder's joint FD and the SM objectives M1-M3.

Equation numbers are those of Wenliang, "On the failure of variational score matching for VAE
models" (see :mod:`saub.score_matching.scores` for the model, shapes and score conventions). Every
function returns one value per row of ``x`` (``[B]``), a Monte Carlo average over ``n_samples``
draws z ~ q(z|x); take ``.mean()`` for the expectation over the data, E_D (Prop. 3.1).

Fisher divergences carry the ½ of eq. (5): D_F[p1||p2] = ½ E_p1 ||∇ log p1 − ∇ log p2||². (App. A.4
and A.5.1, eq. 30-32, drop the ½; their values are twice ours and their gradient relations hold
unchanged between the two divergences up to that factor.)

``reparameterize`` chooses the sample's φ-path: ``True`` differentiates through z = μ + σ ε,
``False`` detaches z, so φ is reached only through the densities' scores (for the FD this is the
"biased" gradient ∇^b of App. A.5.1, eq. 32; it is *not* a score-function estimator, except in
:func:`posterior_kl`, where the paper's recipe gives a zero φ-gradient and REINFORCE is used).
"""

from __future__ import annotations

import math

from torch import Tensor

from saub.objective import kl_to_standard_normal
from saub.score_matching.scores import (
    Decoder,
    Encoder,
    LogDensity,
    PosteriorSample,
    ScoreField,
    likelihood_x_divergence,
    likelihood_x_score,
    posterior_x_score,
    posterior_z_scores,
    sample_posterior,
    standard_normal_log_prob,
)

KL_FORMS = ("closed", "mc")


def _elbo_from_sample(ps: PosteriorSample, kl: str, log_prior: LogDensity | None) -> Tensor:
    rec = ps.split(ps.log_lik).mean(0)
    if kl == "closed":
        if log_prior is not None:
            raise ValueError("the closed-form KL needs the N(0, I) prior of eq. (3); use kl='mc'")
        return rec - ps.split(kl_to_standard_normal(ps.mean, ps.logvar))[0]
    if kl == "mc":
        log_prior = standard_normal_log_prob if log_prior is None else log_prior
        return rec - ps.split(ps.log_q - log_prior(ps.z)).mean(0)
    raise ValueError(f"kl must be one of {KL_FORMS}, got {kl!r}")


def elbo(
    x: Tensor, encoder: Encoder, decoder: Decoder, log_gamma: Tensor | float, n_samples: int = 1, *,
    kl: str = "closed", noise: Tensor | None = None, reparameterize: bool = True,
    log_prior: LogDensity | None = None,
) -> Tensor:
    """ELBO, eq. (1): F(x) = E_q[log p_θ(x|z)] − D_KL[q(z|x)||p(z)] for the Gaussian VAE (3).

    ``kl="closed"``: the KL to N(0, I) in closed form (as the paper's negative-ELBO metric, App. B.2);
    ``kl="mc"``: E_q[log q(z|x) − log p(z)] on the same samples (any ``log_prior``).
    """
    ps = sample_posterior(x, encoder, decoder, log_gamma, n_samples, noise, reparameterize)
    return _elbo_from_sample(ps, kl, log_prior)


def posterior_kl(
    x: Tensor, encoder: Encoder, decoder: Decoder, log_gamma: Tensor | float, n_samples: int = 1, *,
    kl: str = "closed", noise: Tensor | None = None, reparameterize: bool = True,
    log_prior: LogDensity | None = None,
) -> Tensor:
    """KL inference loss: D_KL[q(z|x)||p_θ(z|x)] − log p_θ(x) = −F(x), eq. (2) per datum (Alg. 1).

    The dropped log p_θ(x) does not depend on φ. ``reparameterize=True`` (Alg. 1) differentiates
    through z. ``reparameterize=False`` returns a surrogate with the same value whose φ-gradient is
    the score-function (REINFORCE) estimator E_q[(log q − log p_θ(x, z)) ∇_φ log q] (no baseline); the
    paper does not use it, because holding z fixed in the KL alone gives E_q[∇_φ log q] = 0.
    """
    if reparameterize:
        return -elbo(x, encoder, decoder, log_gamma, n_samples, kl=kl, noise=noise, log_prior=log_prior)
    ps = sample_posterior(x, encoder, decoder, log_gamma, n_samples, noise, reparameterize=False)
    value = -_elbo_from_sample(ps, kl, log_prior).detach()
    log_prior = standard_normal_log_prob if log_prior is None else log_prior
    f = (ps.log_q - log_prior(ps.z) - ps.log_lik).detach()
    surrogate = ps.split(f * (ps.log_q - ps.log_q.detach())).mean(0)
    return value + surrogate


def posterior_fisher_divergence(
    x: Tensor, encoder: Encoder, decoder: Decoder, log_gamma: Tensor | float, n_samples: int = 1, *,
    noise: Tensor | None = None, reparameterize: bool = False, log_prior: LogDensity | None = None,
    prior_score: ScoreField | None = None,
) -> Tensor:
    """FD inference loss D_F[q(z|x)||p_θ(z|x)] = ½ E_q||∇_z log q(z|x) − ∇_z log p(z) − ∇_z log p_θ(x|z)||².

    The first term of eq. (6) (A.1), written out for the Gaussian VAE in A.4, eq. (26)-(27). The
    default ``reparameterize=False`` is Alg. 1's "FD w/o repar." (biased gradient ∇^b, eq. 32);
    ``True`` is the unbiased reparameterised gradient of the FAE (§3.3.2, eq. 31). The prior is
    ``log_prior`` or its score ``prior_score`` (:func:`~saub.score_matching.scores.posterior_z_scores`).
    """
    ps = sample_posterior(x, encoder, decoder, log_gamma, n_samples, noise, reparameterize)
    score_q, score_p = posterior_z_scores(ps, log_prior, prior_score)
    return 0.5 * ((score_q - score_p) ** 2).sum(-1).mean(0)


def m1_objective(
    x: Tensor, encoder: Encoder, decoder: Decoder, log_gamma: Tensor | float, n_samples: int = 1, *,
    include_q_term: bool = True, noise: Tensor | None = None, reparameterize: bool = True,
    divergence: str = "closed",
) -> Tensor:
    """M1, eq. (8): E_q[½||s^p_θ(x|z)||² + ∇_x · s^p_θ(x|z)] + ½ E_q||s^q(z|x)||².

    ``include_q_term=False`` gives M̃1 (App. A.2, proof of Prop. 3.1), which has the same θ-gradient
    and is what Alg. 1 uses to update θ ("M1 ... for optimizing θ only", §3.2).
    """
    ps = sample_posterior(x, encoder, decoder, log_gamma, n_samples, noise, reparameterize)
    s_p = likelihood_x_score(ps)
    value = (0.5 * (s_p**2).sum(-1) + likelihood_x_divergence(ps, s_p, divergence)).mean(0)
    if include_q_term:
        s_q = posterior_x_score(ps, encoder, x.shape[1:])
        value = value + 0.5 * (s_q**2).sum(-1).mean(0)
    return value


def m2_objective(
    x: Tensor, encoder: Encoder, decoder: Decoder, log_gamma: Tensor | float, n_samples: int = 1, *,
    noise: Tensor | None = None, reparameterize: bool = True, divergence: str = "closed",
) -> Tensor:
    """M2, eq. (13) (Swersky et al.'s eq. 12 with q for p_θ(z|x)):
    E_q[||s^p_θ(x|z)||² + ∇_x · s^p_θ(x|z)] − ½ ||E_q[s^p_θ(x|z)]||².

    ||E_q s^p||² uses the S-sample mean inside the norm (biased for small S, as in the authors' code).
    """
    ps = sample_posterior(x, encoder, decoder, log_gamma, n_samples, noise, reparameterize)
    s_p = likelihood_x_score(ps)
    first = ((s_p**2).sum(-1) + likelihood_x_divergence(ps, s_p, divergence)).mean(0)
    return first - 0.5 * (s_p.mean(0) ** 2).sum(-1)


def m3_objective(
    x: Tensor, encoder: Encoder, decoder: Decoder, log_gamma: Tensor | float, n_samples: int = 1, *,
    noise: Tensor | None = None, reparameterize: bool = True, divergence: str = "closed",
) -> Tensor:
    """M3, eq. (15) (Bao et al.'s marginal FD (14) with q, Prop. 4.2):
    E_q[s^q(z|x) · s^p_θ(x|z) + ∇_x · s^p_θ(x|z)] + ½ ||E_q[s^p_θ(x|z)]||²."""
    ps = sample_posterior(x, encoder, decoder, log_gamma, n_samples, noise, reparameterize)
    s_p = likelihood_x_score(ps)
    s_q = posterior_x_score(ps, encoder, x.shape[1:])
    first = ((s_q * s_p).sum(-1) + likelihood_x_divergence(ps, s_p, divergence)).mean(0)
    return first + 0.5 * (s_p.mean(0) ** 2).sum(-1)


def joint_fisher_divergence(
    x: Tensor, encoder: Encoder, decoder: Decoder, log_gamma: Tensor | float,
    grad_log_pi: LogDensity, n_samples: int = 1, *, noise: Tensor | None = None,
    reparameterize: bool = True, log_prior: LogDensity | None = None,
) -> Tensor:
    """Joint FD by its definition, eq. (6)-(7) (A.1, first line), for a data density π with known score:
    ½ E_q[||∇_z log q(z|x) − ∇_z log p_θ(z, x)||² + ||∇_x log π(x) + s^q(z|x) − s^p_θ(x|z)||²]
    = D_F[q(z|x)||p_θ(z|x)] + J^π_{q,θ}(x).

    ``grad_log_pi`` maps flattened ``[N, D]`` inputs to ∇_x log π ``[N, D]``. For data of unknown π,
    use :func:`fae_objective`, equal to this up to E_π C_π (A.1).
    """
    ps = sample_posterior(x, encoder, decoder, log_gamma, n_samples, noise, reparameterize)
    score_q, score_p = posterior_z_scores(ps, log_prior)
    s_p = likelihood_x_score(ps)
    s_q = posterior_x_score(ps, encoder, x.shape[1:])
    pi_score = ps.split(grad_log_pi(ps.x.detach()))
    j = 0.5 * ((pi_score + s_q - s_p) ** 2).sum(-1)
    return (0.5 * ((score_q - score_p) ** 2).sum(-1) + j).mean(0)


def fisher_constant(x: Tensor, grad_log_pi: LogDensity) -> Tensor:
    """C_π per datum, ½ ||∇_x log π(x)||², so that E_π J^π = E_π[M1] + E_π C_π (A.1).

    Eq. (17) prints ½ ||E_π ∇_x log π||², which is 0 under the boundary condition of (25); the
    term it comes from in (16) is ½ E_π ||∇_x log π||², which we implement.
    """
    return 0.5 * (grad_log_pi(x.flatten(1)) ** 2).sum(-1)


def fae_objective(
    x: Tensor, encoder: Encoder, decoder: Decoder, log_gamma: Tensor | float, n_samples: int = 1, *,
    noise: Tensor | None = None, reparameterize: bool = True, divergence: str = "closed",
    log_prior: LogDensity | None = None, prior_score: ScoreField | None = None,
) -> Tensor:
    """Fisher autoencoder (Elkhalil et al.) per datum: D_F[q(z|x)||p_θ(z|x)] + M1(x), eq. (6) with
    J^π replaced by M1 (8); its E_π is the joint FD minus E_π C_π (A.1), minimised jointly in (φ, θ)
    with reparameterised samples (§3.1, §3.3.2). Both terms use the same samples; the prior is
    ``log_prior`` or its score ``prior_score``."""
    ps = sample_posterior(x, encoder, decoder, log_gamma, n_samples, noise, reparameterize)
    score_q, score_p = posterior_z_scores(ps, log_prior, prior_score)
    s_p = likelihood_x_score(ps)
    s_q = posterior_x_score(ps, encoder, x.shape[1:])
    m1 = 0.5 * (s_p**2).sum(-1) + likelihood_x_divergence(ps, s_p, divergence) + 0.5 * (s_q**2).sum(-1)
    return (0.5 * ((score_q - score_p) ** 2).sum(-1) + m1).mean(0)


def autoencoding_loss(x: Tensor, g_samples: Tensor) -> Tensor:
    """L_KL(x) = ||x − E_q g_θ(z)||² + Σ_j V_q[g_θ(z)_j], eq. (4) and (9), from decodings ``[S, B, D]``.

    Eq. (9) sums the variances over j ≤ d_z; g_θ(z) has d_x coordinates, so we sum over d_x as (4) does.
    """
    mean = g_samples.mean(0)
    return ((x.flatten(1) - mean) ** 2).sum(-1) + g_samples.var(0, unbiased=False).sum(-1)


def h_kl(y: Tensor | float, d_x: int):
    """h_K(y) = d_x log(y / d_x) / 2, eq. (4); min_γ E_D[−F] = h_K(E_D L_KL) + const (fixed q)."""
    return d_x * (math.log(y / d_x) if isinstance(y, float) else (y / d_x).log()) / 2


def h_fisher(y: Tensor | float, d_x: int):
    """h_F(y) = −d_x² / (2 y), Prop. 3.1, eq. (9); min_γ E_D[M̃1] = h_F(E_D L_KL) by eq. (22)."""
    return -(d_x**2) / (2 * y)
