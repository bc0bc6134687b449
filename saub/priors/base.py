"""The prior interface shared by every VAUB-family method.

A prior Q_ψ(z) enters the VAUB objective (eq. 7) only through its cross-entropy term
E_q[-log Q_ψ(z)]. :meth:`Prior.cross_entropy` returns, per sample, a quantity whose gradient
with respect to the encoder parameters θ (through ``z``) is the gradient of that term:

* explicit priors (Gaussian, MoG, VampPrior) return ``-log Q_ψ(z)`` itself, and their
  parameters ψ are learned jointly with the encoder (the min over p(z) in eq. 1);
* score-based priors return a surrogate (eq. 9/10 for SFS, eq. 23-24 for LSGM) and learn ψ
  separately by denoising score matching (eq. 11) in the alternating loop of Alg. 1;
* the latent energy-based prior (:mod:`saub.priors.ebm`) returns ``-log Q_ψ(z)`` up to the
  ψ-only constant log Z_ψ and learns ψ separately by short-run Langevin maximum likelihood.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Prior(nn.Module):
    """Base class: a distribution over the shared latent space ``R^latent_dim``."""

    #: True when ψ is learned in a separate step (Alg. 1: DSM, or Langevin MLE), not with the encoder.
    trained_separately: bool = False
    #: Name under which the separate step's loss is logged (``history``, the records' curves).
    prior_loss_name: str = "prior_loss"
    #: True when ``cross_entropy`` returns ``-log Q(z)`` exactly (not only its gradient).
    exact_cross_entropy: bool = True

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: Tensor) -> Tensor:
        """log Q_ψ(z) for ``z`` of shape ``[B, latent_dim]``; returns ``[B]``."""
        raise NotImplementedError(f"{type(self).__name__} has no tractable log-density")

    def cross_entropy(self, z: Tensor) -> Tensor:
        """Per-sample cross-entropy term of eq. 7 (or a surrogate with the same θ-gradient)."""
        return -self.log_prob(z)

    def grad_log_prob(self, z: Tensor) -> Tensor:
        """∇_z log Q_ψ(z), ``[B, latent_dim] -> [B, latent_dim]``, with a graph (differentiable again in
        z and ψ): the score that Fisher-divergence objectives need (seed 002, eq. 6 and A.4, eq. 26).

        Default: −∇_z of :meth:`cross_entropy` by autograd, which is ∇_z log Q_ψ(z) whenever the
        cross-entropy is −log Q_ψ(z) up to a ψ-only constant (explicit priors; the energy prior,
        −∇_z U_ψ). A prior whose cross-entropy is only a surrogate (score priors) overrides this.
        """
        with torch.enable_grad():
            z = z if z.requires_grad else z.detach().requires_grad_(True)
            return -torch.autograd.grad(self.cross_entropy(z).sum(), z, create_graph=True)[0]

    def prior_loss(self, z: Tensor) -> Tensor:
        """Loss of the separate prior update (Alg. 1, step 2); only for separately trained priors."""
        raise NotImplementedError(f"{type(self).__name__} is trained jointly with the encoder")
