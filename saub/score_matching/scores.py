"""Posterior samples and the scores of a Gaussian VAE, by autograd, as Wenliang (2022) writes them.

Paper: "On the failure of variational score matching for VAE models" (L. K. Wenliang). The model is
the Gaussian VAE of its eq. (3)::

    p(z) = N(0, I),   p_θ(x|z) = N(x; g_θ(z), γ I),   q(z|x) = N(z; μ(x), diag σ²(x)),

with the prior replaceable by any log-density (``log_prior``, e.g. :meth:`saub.priors.Prior.log_prob`;
the paper keeps it fixed, §2). Shorthands of §3:

* ``s_p``  = s^p_θ(x|z) := ∇_x log p_θ(x|z)                          (eq. 18 for the Gaussian likelihood)
* ``s_q``  = s^q(z|x)  := ∇_x log q(z|x), the *x*-score of q at a fixed z (used by M1 and M3)
* ``div``  = ∇_x · s^p_θ(x|z), the exact trace: ``"closed"`` is −d_x/γ (eq. 21), ``"exact"``
  differentiates each coordinate of s^p by autograd (d_x backward passes, for small d_x). The
  paper uses the exact value; no Hutchinson estimator is used or offered.
* ``z_score_q`` = ∇_z log q(z|x) and ``z_score_p`` = ∇_z log p(z) + ∇_z log p_θ(x|z) = ∇_z log p_θ(z|x),
  whose difference is the integrand of the posterior FD (A.4, eq. 26-27).

Every score is ``torch.autograd.grad`` of a log-density with ``create_graph=True``, so objectives
built from them can be differentiated again with respect to θ and φ.

Fixed-z convention. The x-scores are partial derivatives at a *fixed* z (the integration-by-parts
steps of A.1 and A.3 need it). The sample z is therefore drawn from an encoder pass on a detached
copy of x, and ``log q(z|x)`` for ``s_q`` comes from a second pass on an x that requires grad, so
no derivative ever flows through z = μ(x) + σ(x) ε into x. (The authors' repository differentiates
``log q(z(x)|x)`` through a reparameterised z instead; we follow the paper's definition.)

Encoders with batch-coupled layers (BatchNorm in training mode) couple the rows' x-scores; use an
encoder without them (``GaussianEncoder(batchnorm_mean=False)``) or evaluation mode.

Shapes: ``x`` is ``[B, *shape]`` (flattened to ``[B, D]``), the encoder maps ``[N, *shape]`` to
``(mean, logvar)`` of shape ``[N, d_z]``, the decoder maps ``[N, d_z]`` to g_θ(z) of shape
``[N, *shape]``. With S samples per row, per-sample tensors are ``[S, B, ...]``; ``noise`` (optional)
is the standard normal ε of shape ``[S, B, d_z]`` (common random numbers for tests and sweeps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Encoder = Callable[[Tensor], tuple[Tensor, Tensor]]
Decoder = Callable[[Tensor], Tensor]
LogDensity = Callable[[Tensor], Tensor]
#: ``[N, d_z] -> [N, d_z]``: a score ∇_z log p(z) given directly (a prior known only through it).
ScoreField = Callable[[Tensor], Tensor]

LOG_2PI = math.log(2 * math.pi)
DIVERGENCES = ("closed", "exact")


def diag_gaussian_log_prob(v: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """log N(v; mean, diag exp(logvar)) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (v - mean) ** 2 * torch.exp(-logvar)).sum(-1)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I), the fixed prior of eq. (3); ``[N, d_z] -> [N]``."""
    return -0.5 * (z**2 + LOG_2PI).sum(-1)


def gaussian_log_likelihood(x: Tensor, g: Tensor, log_gamma: Tensor | float) -> Tensor:
    """log N(x; g, γ I) with γ = exp(log_gamma), eq. (3); ``x, g`` ``[N, D] -> [N]``."""
    log_gamma = torch.as_tensor(log_gamma, dtype=x.dtype, device=x.device)
    d = x.shape[-1]
    return -0.5 * ((x - g) ** 2).sum(-1) * torch.exp(-log_gamma) - 0.5 * d * (LOG_2PI + log_gamma)


def grad_of_sum(out: Tensor, wrt: Tensor) -> Tensor:
    """∇_wrt Σ_n out_n with a graph (rows are independent, so this is the per-row gradient); zeros
    where ``out`` does not depend on ``wrt`` (e.g. the x-score of an x-independent q)."""
    if not out.requires_grad:
        return torch.zeros_like(wrt)
    grad = torch.autograd.grad(out.sum(), wrt, create_graph=True, allow_unused=True)[0]
    return torch.zeros_like(wrt) if grad is None else grad


def exact_divergence(field: Tensor, x: Tensor) -> Tensor:
    """Exact ∇_x · f(x) = Σ_i ∂f_i/∂x_i of a field ``[N, D]`` of rows of ``x`` ``[N, D]`` (D passes)."""
    cols = [torch.autograd.grad(field[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(x.shape[1])]
    return torch.stack(cols, 1).sum(1)


@dataclass
class PosteriorSample:
    """S samples z ~ q(z|x) per row and the quantities every objective shares, each ``[S, B, ...]``.

    ``x`` is the flattened, repeated input (a leaf that requires grad, for the x-scores); ``z`` is
    reparameterised (carries the φ-gradient) or detached (the non-reparameterised gradient of A.5.1).
    """

    x: Tensor
    z: Tensor
    mean: Tensor
    logvar: Tensor
    g: Tensor
    log_gamma: Tensor
    log_q: Tensor
    log_lik: Tensor
    n_samples: int

    def split(self, t: Tensor) -> Tensor:
        """``[S*B, ...] -> [S, B, ...]``."""
        return t.reshape(self.n_samples, -1, *t.shape[1:])


def sample_posterior(
    x: Tensor,
    encoder: Encoder,
    decoder: Decoder,
    log_gamma: Tensor | float,
    n_samples: int = 1,
    noise: Tensor | None = None,
    reparameterize: bool = True,
) -> PosteriorSample:
    """Draw z = μ(x) + σ(x) ε (eq. 3) S times per row, decode it, evaluate log q and log p_θ(x|z)."""
    shape = x.shape[1:]
    flat = x.detach().flatten(1)
    batch = flat.shape[0]
    x_rep = flat.repeat(n_samples, 1)
    mean, logvar = encoder(x_rep.view(n_samples * batch, *shape))
    if noise is None:
        eps = torch.randn_like(mean)
    else:
        eps = noise.to(mean).reshape(n_samples * batch, -1)
    z = mean + torch.exp(0.5 * logvar) * eps
    if not reparameterize or not z.requires_grad:
        z = z.detach().requires_grad_(True)
    x_leaf = x_rep.clone().requires_grad_(True)
    g = decoder(z).flatten(1)
    log_gamma = torch.as_tensor(log_gamma, dtype=flat.dtype, device=flat.device)
    return PosteriorSample(
        x=x_leaf, z=z, mean=mean, logvar=logvar, g=g, log_gamma=log_gamma,
        log_q=diag_gaussian_log_prob(z, mean, logvar),
        log_lik=gaussian_log_likelihood(x_leaf, g, log_gamma),
        n_samples=n_samples,
    )


def likelihood_x_score(ps: PosteriorSample) -> Tensor:
    """s^p_θ(x|z) = ∇_x log p_θ(x|z) by autograd (= −(x − g_θ(z))/γ, eq. 18); ``[S, B, D]``."""
    return ps.split(grad_of_sum(ps.log_lik, ps.x))


def likelihood_x_divergence(ps: PosteriorSample, s_p: Tensor, divergence: str = "closed") -> Tensor:
    """∇_x · s^p_θ(x|z), ``[S, B]``: −d_x/γ (eq. 21, ``"closed"``) or the autograd trace (``"exact"``)."""
    if divergence == "closed":
        d = ps.x.shape[1]
        return (-d * torch.exp(-ps.log_gamma)).expand(s_p.shape[:2])
    if divergence == "exact":
        return ps.split(exact_divergence(s_p.reshape(ps.x.shape), ps.x))
    raise ValueError(f"divergence must be one of {DIVERGENCES}, got {divergence!r}")


def posterior_x_score(ps: PosteriorSample, encoder: Encoder, shape: torch.Size) -> Tensor:
    """s^q(z|x) = ∇_x log q(z|x) at fixed z, by autograd through a second encoder pass; ``[S, B, D]``."""
    mean, logvar = encoder(ps.x.view(ps.x.shape[0], *shape))
    return ps.split(grad_of_sum(diag_gaussian_log_prob(ps.z, mean, logvar), ps.x))


def posterior_z_scores(
    ps: PosteriorSample, log_prior: LogDensity | None = None, prior_score: ScoreField | None = None
) -> tuple[Tensor, Tensor]:
    """(∇_z log q(z|x), ∇_z log p(z) + ∇_z log p_θ(x|z)) by autograd, each ``[S, B, d_z]`` (eq. 26).

    The prior enters by its log-density ``log_prior`` (differentiated here; default N(0, I)) or by its
    score ``prior_score`` directly (``[N, d_z] -> [N, d_z]``, e.g. :meth:`saub.priors.Prior.grad_log_prob`
    or a score network), for priors known only through ∇_z log p(z); not both.
    """
    if log_prior is not None and prior_score is not None:
        raise ValueError("give the prior by log_prior or by prior_score, not both")
    score_q = grad_of_sum(ps.log_q, ps.z)
    if prior_score is not None:
        score_p = prior_score(ps.z) + grad_of_sum(ps.log_lik, ps.z)
    else:
        log_prior = standard_normal_log_prob if log_prior is None else log_prior
        score_p = grad_of_sum(log_prior(ps.z) + ps.log_lik, ps.z)
    return ps.split(score_q), ps.split(score_p)
