"""FCRL: fair representations by contrastive information estimation (Gupta et al. 2021, AAAI,
"Controllable Guarantees for Fair Outcomes via Contrastive Information Estimation").

Objective (their §3-4, as their public code ``umgupta/fairness-via-contrastive-estimation``
``src/models/fcrl_model.py`` sets it): I(z; c) = I(z; x, c) − I(z; x | c) is bounded above by
E KL(q(z|x) || N(0, I)) − I_NCE(z; x | c), and the label enters through a predictor conditioned on
c, a bound on I(y; z | c). Per batch,

    L = CE(y, g([z, c])) + β · mean_i KL(q(z|x_i) || N(0, I)) − λ · Î_NCE(z; x | c),

with z ~ q(z|x) sampled by the reparameterisation trick and the conditional InfoNCE estimate

    Î_NCE = mean_i [ log T(x_i, z_i, c_i) − log (1/N_{c_i}) Σ_{j : c_j = c_i} T(x_i, z_j, c_i) ],
    T(x, z, c) = softplus( f_x(x)ᵀ W_c f_z(z) ),

negatives drawn only from rows of the same group c (``+1e-8`` inside both logs, as in their code).
f_x is an MLP (one hidden layer of width ``critic_hidden``, output ``latent_dim``), f_z a linear
map, W_c one ``latent_dim × latent_dim`` matrix per group (their ``CPC`` module).

Knobs: λ drives the trade-off; their Adult sweep sets β = λ / 2 (``run_fcrl_adult.sh``,
λ ∈ [0.01, 2]); ``beta = None`` keeps that rule, a number fixes β. Settings from their config:
Adam lr 1e-3, weight decay 1e-4, batch 128, z of size 8. The encoder is App. H.1's (see
:mod:`baselines.fair_common`; theirs had one hidden layer of 50), and predict uses the posterior
mean with the row's group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from baselines.fair_common import (
    FairConfig,
    FairRepresentation,
    labelled_cross_entropy,
    one_hot_groups,
)
from benchmarks.contracts import register_method
from saub.networks import mlp
from saub.objective import kl_to_standard_normal, reparameterize

EPS = 1e-8


class ConditionalCritic(nn.Module):
    """T(x, z, c) = softplus(f_x(x)ᵀ W_c f_z(z)) for every (x_i, z_j) pair of one batch."""

    def __init__(self, in_dim: int, latent_dim: int, n_groups: int, hidden: int = 50):
        super().__init__()
        self.f_x = mlp(in_dim, hidden, latent_dim, 2)
        self.f_z = nn.Linear(latent_dim, latent_dim)
        self.w = nn.Parameter(torch.randn(n_groups, latent_dim, latent_dim))

    def scores(self, x: Tensor, z: Tensor, c: Tensor) -> Tensor:
        """``[N, N]`` matrix T[i, j] = T(x_i, z_j, c_i)."""
        fx = torch.einsum("nk,nkl->nl", self.f_x(x.flatten(1)), self.w[c])
        return F.softplus(fx @ self.f_z(z).T)


def conditional_infonce(scores: Tensor, c: Tensor) -> Tensor:
    """Per-row Î_NCE of the module docstring from ``scores[i, j] = T(x_i, z_j, c_i)``."""
    same = (c[:, None] == c[None, :]).to(scores.dtype)
    negatives = (scores * same).sum(1) / same.sum(1)
    return torch.log(scores.diagonal() + EPS) - torch.log(negatives + EPS)


@dataclass
class FCRLConfig(FairConfig):
    """FCRL hyper-parameters (defaults: their Adult configuration)."""

    #: λ, weight of −Î_NCE(z; x | c).
    lambda_: float = 0.1
    #: β, weight of the KL term; None = λ / 2 (their Adult sweep).
    beta: float | None = None
    critic_hidden: int = 50
    pred_hidden: int = 50
    weight_decay: float = 1e-4

    def validate(self) -> None:
        super().validate()
        if self.lambda_ < 0 or (self.beta is not None and self.beta < 0):
            raise ValueError(f"lambda_ and beta must be >= 0, got {self.lambda_}, {self.beta}")

    @property
    def effective_beta(self) -> float:
        return self.lambda_ / 2 if self.beta is None else self.beta


class FCRL(FairRepresentation):
    """Encoder, group-conditioned predictor g([z, c]) and the conditional InfoNCE critic."""

    config_class = FCRLConfig

    def build(self) -> None:
        c = self.config
        self.critic = ConditionalCritic(math.prod(self.input_shape), c.latent_dim, self.n_domains,
                                        c.critic_hidden)
        self.predictor = mlp(c.latent_dim + self.n_domains, c.pred_hidden, self.n_classes, 2)
        self.nets.update({"critic": self.critic, "predictor": self.predictor})

    def _predict_from(self, z: Tensor, d: Tensor) -> Tensor:
        return self.predictor(torch.cat([z, one_hot_groups(d, self.n_domains)], 1))

    def losses(self, x: Tensor, d: Tensor, y: Tensor) -> dict[str, Tensor]:
        mean, logvar = self.posterior(x)
        z = reparameterize(mean, logvar)
        return {"pred": labelled_cross_entropy(self._predict_from(z, d), y),
                "kl": kl_to_standard_normal(mean, logvar).mean(),
                "mi": conditional_infonce(self.critic.scores(x, z, d), d).mean()}

    def loss_weights(self) -> dict[str, float]:
        c = self.config
        return {"pred": 1.0, "kl": c.effective_beta, "mi": -c.lambda_}

    def train_step(self, x: Tensor, d: Tensor, y: Tensor) -> dict[str, float]:
        c = self.config
        parts = self.losses(x, d, y)
        loss = parts["pred"] + c.effective_beta * parts["kl"] - c.lambda_ * parts["mi"]
        self.step(loss)
        return {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}

    def logits(self, x: Tensor, d: Tensor) -> Tensor:
        return self._predict_from(self.representation(x, d), d)


register_method("fcrl", FCRL,
                "contrastive fair representations, InfoNCE bound on I(z;x|c) (Gupta et al. 2021)")
