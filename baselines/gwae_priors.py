"""The sampled (implicit) priors of GWAE (seed 001, §3.2.3 and App. B.2).

A GWAE prior π_θ(z) is defined by its sampler only; no density is needed because the GW
objective (eq. 7) and the critic (eq. 11) use samples. Three families:

* **NP** (neural prior, App. B.2): z = g_θ(ε), ε ~ N(0, I_L), g_θ a fully connected network
  (Table 5 of the paper is lost in our copy of the text; the authors' code uses 3 hidden layers
  of width 4L with the activation ``(1 - a) silu(h) + a h``, a = 0.2, which we follow).
* **FNP** (factorised neural prior): z_i = g_θ^(i)(ε_i) for each coordinate separately, i.e.
  L disjoint scalar networks, implemented as 1-D grouped convolutions with ``groups = L``
  (App. B.2), same widths and activation as NP.
* **GMP** (Gaussian-mixture prior, §3.2.3): π_θ(z) = Σ_k w_k N(z | m_k, M_k M_kᵀ); a sample picks
  k ~ Cat(w) and returns z = m_k + M_k ε. Initialisation as in the authors' code: m_k ~ N(0, I),
  M_k = I + 0.01 · noise, mixture logits ~ N(0, 1). The paper lists w_k among the trainable
  parameters, but a categorical draw passes no gradient to w (neither the paper nor the code uses
  a relaxation), so the weights stay at their initial values: we keep that behaviour and say so.

Every family ends in ``BatchNorm1d(L, affine=False)`` (the authors' code, momentum 0.5): in train
mode each batch of prior samples has mean 0 and (biased) variance 1 per coordinate, which fixes
the location and scale that the GW estimator's trainable constant C would otherwise chase.
In eval mode the running statistics are used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PRIORS = ("np", "fnp", "gmp")
#: BatchNorm momentum of the prior's output normalisation (authors' code).
BATCHNORM_MOMENTUM = 0.5


class LeakySiLU(nn.Module):
    """``(1 - a) · silu(h) + a · h``: the activation of the authors' neural samplers (a = 0.2)."""

    def __init__(self, negative_slope: float = 0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, h: Tensor) -> Tensor:
        return (1.0 - self.negative_slope) * F.silu(h) + self.negative_slope * h


class SampledPrior(nn.Module):
    """Base class: ``sample(n)`` draws ``[n, latent_dim]`` raw samples and batch-normalises them."""

    def __init__(self, latent_dim: int):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = latent_dim
        self.norm = nn.BatchNorm1d(latent_dim, affine=False, momentum=BATCHNORM_MOMENTUM)

    def raw_sample(self, n: int) -> Tensor:
        raise NotImplementedError

    def sample(self, n: int) -> Tensor:
        """``n`` prior samples ``[n, latent_dim]`` (needs ``n >= 2`` in train mode, for BatchNorm)."""
        if self.training and n < 2:
            raise ValueError("a GWAE prior needs at least 2 samples per batch in train mode (BatchNorm)")
        return self.norm(self.raw_sample(n))

    def _noise(self, n: int) -> Tensor:
        ref = self.norm.running_mean
        return torch.randn(n, self.latent_dim, device=ref.device, dtype=ref.dtype)


class NeuralPrior(SampledPrior):
    """NP: z = BN(g_θ(ε)), g_θ an MLP ``L -> 4L -> 4L -> 4L -> L`` (App. B.2)."""

    def __init__(self, latent_dim: int, hidden_ratio: int = 4, n_hidden: int = 3):
        super().__init__(latent_dim)
        width = hidden_ratio * latent_dim
        dims = [latent_dim] + [width] * n_hidden
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), LeakySiLU()]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], latent_dim))

    def raw_sample(self, n: int) -> Tensor:
        return self.net(self._noise(n))


class FactorizedNeuralPrior(SampledPrior):
    """FNP: z_i = BN(g_θ^(i)(ε_i)), L independent scalar MLPs as grouped 1x1 convolutions."""

    def __init__(self, latent_dim: int, hidden_ratio: int = 4, n_hidden: int = 3):
        super().__init__(latent_dim)
        L = latent_dim
        widths = [L] + [hidden_ratio * L] * n_hidden
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Conv1d(a, b, 1, groups=L), LeakySiLU()]
        self.net = nn.Sequential(*layers, nn.Conv1d(widths[-1], L, 1, groups=L))

    def raw_sample(self, n: int) -> Tensor:
        return self.net(self._noise(n).unsqueeze(2)).squeeze(2)


class GaussianMixturePrior(SampledPrior):
    """GMP: z = BN(m_k + M_k ε), k ~ Cat(softmax(logits)) (§3.2.3)."""

    def __init__(self, latent_dim: int, n_components: int = 10):
        super().__init__(latent_dim)
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        L, K = latent_dim, n_components
        self.means = nn.Parameter(torch.randn(K, L))
        self.sqrt_covs = nn.Parameter(torch.eye(L).expand(K, L, L) + 0.01 * torch.randn(K, L, L))
        self.logits = nn.Parameter(torch.randn(K))

    def components(self, n: int) -> Tensor:
        """Component index of each of ``n`` samples, drawn from Cat(softmax(logits))."""
        return torch.multinomial(torch.softmax(self.logits.detach(), 0), n, replacement=True)

    def raw_sample(self, n: int) -> Tensor:
        k = self.components(n).to(self.means.device)
        eps = self._noise(n)
        return self.means[k] + torch.einsum("nij,nj->ni", self.sqrt_covs[k], eps)


def make_prior(kind: str, latent_dim: int, n_components: int = 10, hidden_ratio: int = 4) -> SampledPrior:
    """The GWAE prior family ``kind`` in :data:`PRIORS`."""
    if kind == "np":
        return NeuralPrior(latent_dim, hidden_ratio)
    if kind == "fnp":
        return FactorizedNeuralPrior(latent_dim, hidden_ratio)
    if kind == "gmp":
        return GaussianMixturePrior(latent_dim, n_components)
    raise ValueError(f"GWAE prior must be one of {PRIORS}, got {kind!r}")
