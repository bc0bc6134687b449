"""The unconstrained classifier of Fig. 4 ("Unfair Classifier": a classifier trained directly on the
original data, no fairness term).

The network is App. H.1's downstream classifier itself: a 3-layer MLP, hidden 64, ReLU, trained
by cross-entropy on (x, y) with Adam (lr 1e-3), shuffled epochs (:mod:`baselines.fair_common`).
``predict`` gives its logits, the figure's "unfair" point (``own-fair-classification``).
``encode`` returns its last hidden layer (64 features), so the post-hoc protocol applies to it
as to every other method. Rows with ``y < 0`` are unlabelled and ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn

from baselines.fair_common import FairConfig, FairRepresentation, labelled_cross_entropy
from benchmarks.contracts import register_method
from saub.networks import mlp


@dataclass
class UnfairMLPConfig(FairConfig):
    """The classifier's sizes: ``enc_layers + 1`` linear layers of width ``hidden`` (default 3);
    ``latent_dim`` (inherited) is unused: the representation is the last hidden layer."""


class UnfairMLP(FairRepresentation):
    """A plain MLP classifier on the (flattened) inputs: body (``enc_layers`` layers) -> ReLU -> head."""

    config_class = UnfairMLPConfig
    gaussian_encoder = False
    learns_without_labels = False

    def build(self) -> None:
        c = self.config
        in_dim = math.prod(self.input_shape)
        self.body = nn.Sequential(nn.Flatten(), mlp(in_dim, c.hidden, c.hidden, c.enc_layers), nn.ReLU())
        self.head = nn.Linear(c.hidden, self.n_classes)
        self.nets.update({"body": self.body, "head": self.head})

    def representation(self, x: Tensor, d: Tensor) -> Tensor:
        return self.body(x)

    def logits(self, x: Tensor, d: Tensor) -> Tensor:
        return self.head(self.body(x))

    def loss_weights(self) -> dict[str, float]:
        return {"loss": 1.0}

    def train_step(self, x: Tensor, d: Tensor, y: Tensor) -> dict[str, float]:
        loss = labelled_cross_entropy(self.logits(x, d), y)
        self.step(loss)
        return {"loss": loss.item()}


register_method("unfair-mlp", UnfairMLP, "unconstrained 3-layer MLP classifier, no fairness term (Fig. 4)")
