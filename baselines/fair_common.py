"""What the fair-representation baselines share (FCRL, CVIB, LAFTR-DP, the unconstrained MLP).

* **Encoder.** App. H.1: a 3-layer MLP, hidden 64, latent 8, ReLU. Here
  :func:`saub.networks.make_encoder` with ``enc_layers = 2`` body layers plus the mean head (3
  linear layers); a log-variance head beside the mean head gives the Gaussian posterior of the
  stochastic methods (FCRL, CVIB). No batch normalisation of the mean (that is App. C's device
  for the score prior). ``encode`` returns the posterior mean.
* **Labels.** Each of these methods trains on labels (``needs_source_labels``), so the harness
  passes ``train.y`` when the task allows it (Adult: every training row). A row with ``y < 0`` is
  unlabelled and adds nothing to a classification loss (the domain-adaptation tasks' convention),
  so the same code runs on tasks where only some rows carry labels. Under a label-free protocol
  (``train.y is None``: the thesis' §4.5) a method with ``learns_without_labels`` trains with every
  row unlabelled; the unconstrained MLP, which would learn nothing, raises ``ValueError``.
* **Batches.** Uniformly shuffled epochs over all training rows (the groups in their natural
  proportions, as in the authors' loaders), ``Budget.batch_size`` rows per step.
* **Optimiser.** Adam, ``lr`` 1e-3 (FCRL's and LAFTR's public configurations).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.checkpoints import CountedBatches
from benchmarks.contracts import Budget, Method, Split, Unsupported, batched
from benchmarks.search import Choice, LogUniform
from saub.networks import make_encoder

UNLABELLED = -1


@dataclass
class FairConfig:
    """Hyper-parameters every fair-representation baseline shares (App. H.1 sizes)."""

    latent_dim: int = 8
    hidden: int = 64
    enc_layers: int = 2
    lr: float = 1e-3
    weight_decay: float = 0.0

    def validate(self) -> None:
        if self.latent_dim < 1 or self.hidden < 1 or self.enc_layers < 1:
            raise ValueError("latent_dim, hidden and enc_layers must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")


def require_labels(train: Split, method: str) -> Tensor:
    """``train.y`` (int64), or ``ValueError`` when the harness did not pass labels."""
    if train.y is None:
        raise ValueError(f"{method} trains on labels but train.y is None: tasks whose protocol sets "
                         "source_labels_visible give the training labels (source labels; -1 = unlabelled "
                         "row), and the harness passes them to methods with needs_source_labels")
    return train.y.long()


def shuffled_batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[Tensor]:
    """Endless row indices: shuffled epochs of ``range(n)`` cut into batches of ``batch_size``
    (the last batch of an epoch may be smaller; an epoch never mixes with the next)."""
    if n < 1:
        raise ValueError("no training rows")
    while True:
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            yield order[i : i + batch_size]


def labelled_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy over the rows with ``y >= 0``; 0 (with a graph) when there are none."""
    rows = y >= 0
    if not bool(rows.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[rows], y[rows])


def one_hot_groups(d: Tensor, n_groups: int) -> Tensor:
    return F.one_hot(d.long(), n_groups).float()


class FairRepresentation(Method):
    """Base of the fair baselines: a Gaussian MLP encoder, the training loop, ``encode``/``predict``.

    Subclasses build their extra networks in ``build()`` (registering them in ``self.nets``),
    implement ``train_step(x, d, y) -> {curve: value}`` and ``logits(x, d)``.
    """

    needs_source_labels = True
    resumable = True
    #: Whether the method still learns a representation when every row is unlabelled.
    learns_without_labels = True
    #: Whether the method uses App. H.1's Gaussian encoder (``self.encoder``).
    gaussian_encoder = True

    def __init__(self, config: FairConfig, input_shape, n_domains, n_classes):
        super().__init__(config, input_shape, n_domains, n_classes)
        if n_classes is None:
            raise ValueError(f"{type(self).__name__} needs a task with n_classes")
        c = config
        self.nets = nn.ModuleDict()
        if self.gaussian_encoder:
            self.encoder = make_encoder(input_shape, c.latent_dim, hidden=c.hidden, n_layers=c.enc_layers,
                                        batchnorm_mean=False)
            self.nets["encoder"] = self.encoder
        self.build()
        self.optimizer = self.make_optimizer(self.nets.parameters())

    @classmethod
    def search_space(cls, config: FairConfig) -> dict:
        """Adam's learning rate and weight decay (each method's fairness knob is the experiment's sweep)."""
        return {"lr": LogUniform(1e-4, 3e-3), "weight_decay": Choice(0.0, 1e-5, 1e-4)}

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def build(self) -> None:
        """Create the method's networks besides the encoder and add them to ``self.nets``."""

    @abstractmethod
    def train_step(self, x: Tensor, d: Tensor, y: Tensor) -> dict[str, float]:
        """One optimisation step on a batch; returns the values of the training curves."""

    @abstractmethod
    def logits(self, x: Tensor, d: Tensor) -> Tensor:
        """The method's own class scores ``[N, n_classes]``."""

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.encoder(x)

    def posterior_moments(self, x: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        if not self.gaussian_encoder:
            raise Unsupported(f"{type(self).__name__} has a deterministic encoder")
        self.nets.eval()
        return self.posterior(x)

    def representation(self, x: Tensor, d: Tensor) -> Tensor:
        return self.posterior(x)[0]

    def step(self, loss: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def training_labels(self, train: Split) -> Tensor:
        """``train.y``; when the harness hid the labels (a label-free protocol, ``train.y is None``),
        every row is unlabelled for a method that can learn without labels (its label terms vanish:
        FCRL, CVIB and LAFTR keep their invariance and reconstruction terms), else ``ValueError``."""
        if train.y is None and self.learns_without_labels:
            return torch.full((len(train),), UNLABELLED, dtype=torch.long)
        return require_labels(train, type(self).__name__)

    def fit(self, train: Split, budget: Budget, seed: int) -> dict[str, list[float]]:
        y = self.training_labels(train)
        gen = torch.Generator().manual_seed(seed)
        batches = CountedBatches(shuffled_batches(len(train), budget.batch_size, gen))
        history: list[dict[str, float]] = []
        self.nets.train()
        parts = self.training_parts(history=history)
        for _ in self.training_steps(budget, parts, batches, type(self).__name__):
            rows = next(batches)
            history.append(self.train_step(train.x[rows], train.d[rows], y[rows]))
        self.nets.eval()
        keys = history[0].keys() if history else []
        return {k: [h[k] for h in history] for k in keys}

    def encode(self, x: Tensor, d: Tensor) -> Tensor:
        self.nets.eval()
        return batched(self.representation, x, d)

    def predict(self, x: Tensor, d: Tensor) -> Tensor:
        self.nets.eval()
        return batched(self.logits, x, d)
