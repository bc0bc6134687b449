"""Priors with a tractable density: N(0, I), a learnable mixture of Gaussians, the VampPrior."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from saub.priors.base import Prior

LOG_2PI = math.log(2 * math.pi)


def diag_gaussian_log_prob(z: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mean, diag(exp(logvar))), summed over the last dimension (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (z - mean) ** 2 * torch.exp(-logvar)).sum(-1)


def mixture_log_prob(z: Tensor, means: Tensor, logvars: Tensor, log_weights: Tensor) -> Tensor:
    """log Σ_k w_k N(z; μ_k, diag σ_k²) for ``z`` ``[B, D]``, components ``[K, D]``; returns ``[B]``."""
    comp = diag_gaussian_log_prob(z.unsqueeze(1), means.unsqueeze(0), logvars.unsqueeze(0))
    return torch.logsumexp(comp + log_weights, dim=1)


class StandardGaussianPrior(Prior):
    """Q(z) = N(0, I): the fixed prior of the standard VAE (``vae-gaussian``)."""

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (LOG_2PI + z**2).sum(-1)


class MixtureOfGaussiansPrior(Prior):
    """Learnable Q_ψ(z) = Σ_k π_k N(z; μ_k, diag σ_k²), the prior of VAUB (Gong et al. 2024).

    ψ = (μ, log σ², mixing logits). Means start as N(0, init_scale² I) draws, variances at 1,
    weights uniform.
    """

    def __init__(self, latent_dim: int, n_components: int = 10, init_scale: float = 1.0):
        super().__init__(latent_dim)
        self.means = nn.Parameter(init_scale * torch.randn(n_components, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(n_components))

    def log_prob(self, z: Tensor) -> Tensor:
        return mixture_log_prob(z, self.means, self.logvars, torch.log_softmax(self.logits, 0))


#: ``encode(x, domain) -> (mean, logvar)``: how a VampPrior pushes pseudo-inputs through an encoder.
DomainEncodeFn = Callable[[Tensor, int], "tuple[Tensor, Tensor]"]


class VampPrior(Prior):
    """VampPrior (Tomczak & Welling 2018) over several domains.

    Q(z) = 1/(D K) Σ_d Σ_k q_θd(z | u_dk): K learnable pseudo-inputs ``u_dk`` per domain,
    each pushed through its own domain's encoder. Batch-normalisation layers of the encoder
    are evaluated with their running statistics while pseudo-inputs pass through (a batch of
    pseudo-inputs is not a sample of the data), then restored to their previous mode.
    """

    def __init__(
        self,
        latent_dim: int,
        input_shape: tuple[int, ...],
        n_domains: int,
        encode: DomainEncodeFn,
        n_pseudo: int = 10,
        init_scale: float = 0.1,
        encoder_modules: nn.Module | None = None,
    ):
        super().__init__(latent_dim)
        self.pseudo_inputs = nn.Parameter(init_scale * torch.randn(n_domains, n_pseudo, *input_shape))
        self._encode = encode
        # Held outside the module tree so the encoder's parameters are not counted twice.
        self._bn_owner = [encoder_modules] if encoder_modules is not None else []

    def initialise_from(self, x: Tensor, domain: int) -> None:
        """Set domain ``domain``'s pseudo-inputs to the first K rows of ``x`` (a common init)."""
        k = self.pseudo_inputs.shape[1]
        with torch.no_grad():
            self.pseudo_inputs[domain].copy_(x[:k])

    def components(self) -> tuple[Tensor, Tensor]:
        """Means and log-variances of all D*K components, each ``[D*K, latent_dim]``."""
        bns = [
            m for owner in self._bn_owner for m in owner.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        modes = [m.training for m in bns]
        for m in bns:
            m.eval()
        try:
            parts = [self._encode(u, dom) for dom, u in enumerate(self.pseudo_inputs)]
        finally:
            for m, mode in zip(bns, modes):
                m.train(mode)
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def log_prob(self, z: Tensor) -> Tensor:
        means, logvars = self.components()
        n = means.shape[0]
        log_w = torch.full((n,), -math.log(n), dtype=z.dtype, device=z.device)
        return mixture_log_prob(z, means, logvars, log_w)
