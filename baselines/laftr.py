"""LAFTR-DP: learning adversarially fair and transferable representations, demographic-parity
adversary (Madras et al. 2018, ICML, "Learning Adversarially Fair and Transferable Representations").

Networks: encoder f (App. H.1's MLP, deterministic: the posterior-mean head), classifier g(z),
decoder k(z, a) that sees the group a, adversary h(z) ∈ (0, 1) predicting a. Their objective
(eq. 2) is the game

    min_{f, g, k} max_h  L_C(g(f(x)), y) + α · L_Dec(k(f(x), a), x) + γ · L_Adv^DP(h(f(x)), a),

with the cross-entropy classifier loss L_C, the squared-error reconstruction loss L_Dec
(mean over rows of the summed squared error) and the DP adversary's group-normalised ℓ1 objective
(their eq. 4)

    L_Adv^DP = 1 − Σ_{i ∈ {0, 1}} (1 / |D_i|) Σ_{(z, a) ∈ D_i} |h(z) − a|,

D_i the batch rows of group i (a group absent from a batch adds nothing). L_Adv^DP = 1 for a
perfect adversary and 0 for a constant h = ½; γ is the fairness knob (their Adult sweep, kept in
FCRL's copy ``laftr/adult_experiments.sh``: γ ∈ [0.1, 4]). Optimisation: per step one Adam step of
h on −γ·L_Adv^DP, then one Adam step of (f, g, k) on the full objective (with the updated h),
lr 1e-3 for both. α = 1 (a reconstruction term weighted as the classifier; Madras et al. vary it
only in the transfer experiments). Networks g, k, h have one hidden layer of ``hidden`` units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from baselines.fair_common import FairConfig, FairRepresentation, labelled_cross_entropy, one_hot_groups
from benchmarks.contracts import register_method
from saub.networks import make_decoder, mlp


def dp_adversary_objective(h: Tensor, a: Tensor) -> Tensor:
    """L_Adv^DP = 1 − Σ_i mean_{rows of group i} |h − a| over the groups present (a ∈ {0, 1})."""
    total = h.new_zeros(())
    for group in (0, 1):
        rows = a == group
        if bool(rows.any()):
            total = total + (h[rows] - group).abs().mean()
    return 1.0 - total


@dataclass
class LAFTRConfig(FairConfig):
    """LAFTR-DP hyper-parameters."""

    #: γ, weight of the adversary's objective.
    gamma: float = 1.0
    #: α, weight of the reconstruction loss.
    alpha: float = 1.0
    dec_layers: int = 2
    adv_hidden: int = 64

    def validate(self) -> None:
        super().validate()
        if self.gamma < 0 or self.alpha < 0:
            raise ValueError(f"gamma and alpha must be >= 0, got {self.gamma}, {self.alpha}")


class LAFTR(FairRepresentation):
    """Encoder, classifier, group-conditioned decoder and a DP adversary, trained alternately."""

    config_class = LAFTRConfig

    def build(self) -> None:
        c = self.config
        self.classifier = mlp(c.latent_dim, c.hidden, self.n_classes, 2)
        self.decoder = make_decoder(self.input_shape, c.latent_dim, c.hidden, c.dec_layers,
                                    condition_dim=self.n_domains)
        self.adversary = nn.Sequential(mlp(c.latent_dim, c.adv_hidden, 1, 2), nn.Sigmoid())
        self.nets.update({"classifier": self.classifier, "decoder": self.decoder})
        # The adversary has its own optimiser and is not part of ``self.nets``' optimiser.
        self.adv_optimizer = self.make_optimizer(self.adversary.parameters())

    def losses(self, x: Tensor, d: Tensor, y: Tensor) -> dict[str, Tensor]:
        z = self.representation(x, d)
        recon = self.decoder(torch.cat([z, one_hot_groups(d, self.n_domains)], 1))
        return {"cls": labelled_cross_entropy(self.classifier(z), y),
                "recon": (recon - x).flatten(1).pow(2).sum(1).mean(),
                "adv": dp_adversary_objective(self.adversary(z).squeeze(1), d)}

    def loss_weights(self) -> dict[str, float]:
        c = self.config
        return {"cls": 1.0, "recon": c.alpha, "adv": c.gamma}

    def train_step(self, x: Tensor, d: Tensor, y: Tensor) -> dict[str, float]:
        c = self.config
        self.adversary.train()
        with torch.no_grad():
            z = self.representation(x, d)
        adv_loss = -c.gamma * dp_adversary_objective(self.adversary(z).squeeze(1), d)
        self.adv_optimizer.zero_grad(set_to_none=True)
        adv_loss.backward()
        self.adv_optimizer.step()
        parts = self.losses(x, d, y)
        loss = parts["cls"] + c.alpha * parts["recon"] + c.gamma * parts["adv"]
        self.step(loss)
        return {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}

    def logits(self, x: Tensor, d: Tensor) -> Tensor:
        return self.classifier(self.representation(x, d))


register_method("laftr-dp", LAFTR, "adversarially fair representations, DP adversary (Madras et al. 2018)")
