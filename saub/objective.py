"""The VAUB objective (eq. 6-7) split into its three terms.

For β ∈ (0, 1] (eq. 6)::

    L_VAUB = Σ_d (1/β) E_q[-log p_φ(x|z,d) + β log q_θ(z|x,d) - β log Q_ψ(z)]
           = Σ_d { (1/β) Rec_d - H_d + CE_d }

with Rec_d = E[-log p(x|z,d)] (reconstruction), H_d = E[-log q(z|x,d)] (entropy, in closed form
for the diagonal Gaussian posterior) and CE_d = E[-log Q(z)] (cross-entropy, or the score
prior's surrogate with the same encoder gradient). Each Σ_d is a sum over domains of the
mean over that domain's rows of the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from saub.domains import domain_rows
from saub.priors.base import Prior

LIKELIHOODS = ("gaussian", "bernoulli")


def reparameterize(mean: Tensor, logvar: Tensor) -> Tensor:
    """z = mean + exp(logvar/2) ⊙ ε, ε ~ N(0, I)."""
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def kl_to_standard_normal(mean: Tensor, logvar: Tensor) -> Tensor:
    """Closed-form D_KL[N(μ, diag σ²) || N(0, I)] = ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²), ``[..., d_z]``."""
    return 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0).sum(-1)


def gaussian_entropy(logvar: Tensor) -> Tensor:
    """Entropy of N(μ, diag exp(logvar)) per row: ½ Σ_j (1 + ln 2π + logvar_j)."""
    return 0.5 * (1.0 + math.log(2 * math.pi) + logvar).sum(1)


def reconstruction_nll(x: Tensor, out: Tensor, likelihood: str = "gaussian", obs_std: float = 1.0):
    """-log p(x|z) per row ``[B]``; ``out`` is the decoder mean (gaussian) or logits (bernoulli).

    gaussian: ½ ||x - out||²/s² + (D/2) ln(2π s²) with fixed observation std s = ``obs_std``.
    bernoulli: binary cross-entropy with logits, summed over dimensions (x in [0, 1]).
    """
    x, out = x.flatten(1), out.flatten(1)
    if likelihood == "gaussian":
        d = x.shape[1]
        sq = ((x - out) ** 2).sum(1)
        return 0.5 * sq / obs_std**2 + 0.5 * d * math.log(2 * math.pi * obs_std**2)
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")


def likelihood_mean(out: Tensor, likelihood: str = "gaussian") -> Tensor:
    """E[x | z] of p(x|z) from the decoder output ``out``: ``out`` itself (gaussian: it is the mean)
    or sigmoid(out) (bernoulli: ``out`` are logits). Reconstructions, translations and generated
    images are this mean, in the data's own space."""
    if likelihood == "gaussian":
        return out
    if likelihood == "bernoulli":
        return torch.sigmoid(out)
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")


def per_domain_sum(values: Tensor, d: Tensor) -> Tensor:
    """Σ_d mean_{i: d_i = d} values_i: the Σ_d E_q[·] of eq. 6 on a mixed batch."""
    total = values.new_zeros(())
    for _, rows in domain_rows(d):
        total = total + values[rows].mean()
    return total


@dataclass
class VAUBTerms:
    """The terms of eq. 7 for one batch (each already summed over domains)."""

    reconstruction: Tensor
    entropy: Tensor
    cross_entropy: Tensor
    beta: float

    @property
    def total(self) -> Tensor:
        """(1/β) Rec - H + CE, eq. 6."""
        return self.reconstruction / self.beta - self.entropy + self.cross_entropy


def vaub_terms(
    mean: Tensor,
    logvar: Tensor,
    z: Tensor,
    recon: Tensor,
    x: Tensor,
    d: Tensor,
    prior: Prior,
    beta: float = 1.0,
    likelihood: str = "gaussian",
    obs_std: float = 1.0,
) -> VAUBTerms:
    """Evaluate eq. 6-7 from an encoder pass ``(mean, logvar)``, a sample ``z`` and its decoding."""
    if not 0 < beta <= 1:
        raise ValueError(f"beta must lie in (0, 1], got {beta}")
    del mean  # the posterior enters through z and logvar; kept in the signature for clarity
    return VAUBTerms(
        reconstruction=per_domain_sum(reconstruction_nll(x, recon, likelihood, obs_std), d),
        entropy=per_domain_sum(gaussian_entropy(logvar), d),
        cross_entropy=per_domain_sum(prior.cross_entropy(z), d),
        beta=beta,
    )
