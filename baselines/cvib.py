"""CVIB: conditional variational information bottleneck (Moyer et al. 2018, NeurIPS, "Invariant
Representations without Adversarial Training").

An encoder q(z|x) and a decoder p(x|z, c) that sees the group c. Their bound (§2-3):

    I(z; c) ≤ −H(x|c) − E_{x,c} E_{q(z|x)} log p(x|z, c) + E_x KL(q(z|x) || q(z)),

where q(z) = E_x q(z|x) is the aggregate posterior. Its KL is bounded by the pairwise form
(convexity of KL in its second argument, their eq. for Gaussian posteriors):

    E_x KL(q(z|x) || q(z)) ≤ (1/N²) Σ_i Σ_j KL(q(z|x_i) || q(z|x_j)),

computed in closed form between the diagonal Gaussians of a batch. With the VAE terms the
per-batch loss (H(x|c) is a constant) is

    L = (1 + λ) · mean_i [−log p(x_i|z_i, c_i)] + β · mean_i KL(q(z|x_i) || N(0, I))
        + λ · (1/N²) Σ_{i,j} KL(q(z|x_i) || q(z|x_j)) + α · CE(y, g(z)),

z_i ~ q(z|x_i) by reparameterisation; p(x|z, c) Gaussian with unit std (the task's standardised
or one-hot features). Knob: λ (the weight of the I(z; c) bound). The last term is the
*supervised* variant that FCRL's comparison runs (``run_cvib_adult.sh``: "CVIB Supervised",
λ ∈ [0.01, 1], β ∈ {1e-3, 1e-2, 1e-1}); ``alpha = 0`` gives Moyer et al.'s unsupervised model
(labels are then passed but unused). g is an MLP on z with one hidden layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from baselines.fair_common import (
    FairConfig,
    FairRepresentation,
    labelled_cross_entropy,
    one_hot_groups,
)
from benchmarks.contracts import register_method
from saub.networks import make_decoder, mlp
from saub.objective import kl_to_standard_normal, reconstruction_nll, reparameterize


def pairwise_gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """``[N, N]`` matrix KL(N(μ_i, Σ_i) || N(μ_j, Σ_j)) for diagonal Gaussians:
    ½ Σ_k [ log σ²_jk − log σ²_ik + (σ²_ik + (μ_ik − μ_jk)²) / σ²_jk − 1 ]."""
    var = logvar.exp()
    diff2 = (mean[:, None, :] - mean[None, :, :]).pow(2)
    ratio = (var[:, None, :] + diff2) / var[None, :, :]
    return 0.5 * (logvar[None, :, :] - logvar[:, None, :] + ratio - 1.0).sum(-1)


@dataclass
class CVIBConfig(FairConfig):
    """CVIB hyper-parameters."""

    #: λ, weight of the I(z; c) bound.
    lambda_: float = 0.1
    #: β, weight of KL(q(z|x) || N(0, I)).
    beta: float = 0.01
    #: α, weight of the label loss (0 = Moyer et al.'s unsupervised model).
    alpha: float = 1.0
    dec_layers: int = 3
    pred_hidden: int = 64

    def validate(self) -> None:
        super().validate()
        if min(self.lambda_, self.beta, self.alpha) < 0:
            raise ValueError("lambda_, beta and alpha must be >= 0")


class CVIB(FairRepresentation):
    """Encoder q(z|x), group-conditioned decoder p(x|z, c), label predictor g(z)."""

    config_class = CVIBConfig

    def build(self) -> None:
        c = self.config
        self.decoder = make_decoder(self.input_shape, c.latent_dim, c.hidden, c.dec_layers,
                                    condition_dim=self.n_domains)
        self.predictor = mlp(c.latent_dim, c.pred_hidden, self.n_classes, 2)
        self.nets.update({"decoder": self.decoder, "predictor": self.predictor})

    def losses(self, x: Tensor, d: Tensor, y: Tensor) -> dict[str, Tensor]:
        mean, logvar = self.posterior(x)
        z = reparameterize(mean, logvar)
        recon = self.decoder(torch.cat([z, one_hot_groups(d, self.n_domains)], 1))
        return {"recon_nll": reconstruction_nll(x, recon).mean(),
                "kl_prior": kl_to_standard_normal(mean, logvar).mean(),
                "kl_pairwise": pairwise_gaussian_kl(mean, logvar).mean(),
                "pred": labelled_cross_entropy(self.predictor(z), y)}

    def loss_weights(self) -> dict[str, float]:
        c = self.config
        return {"recon_nll": 1 + c.lambda_, "kl_prior": c.beta, "kl_pairwise": c.lambda_, "pred": c.alpha}

    def train_step(self, x: Tensor, d: Tensor, y: Tensor) -> dict[str, float]:
        c = self.config
        parts = self.losses(x, d, y)
        loss = ((1 + c.lambda_) * parts["recon_nll"] + c.beta * parts["kl_prior"]
                + c.lambda_ * parts["kl_pairwise"] + c.alpha * parts["pred"])
        self.step(loss)
        return {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}

    def logits(self, x: Tensor, d: Tensor) -> Tensor:
        return self.predictor(self.representation(x, d))


register_method("cvib", CVIB, "conditional VIB with the pairwise-KL bound on I(z;c) (Moyer et al. 2018)")
