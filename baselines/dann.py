"""DANN: domain-adversarial training (Ganin et al. 2016, JMLR 17(59), "Domain-Adversarial Training
of Neural Networks"), as a harness method.

Architecture (the suite's choice, so every Table 1 row shares one encoder):

* **Feature extractor** G_f: :func:`saub.networks.make_encoder` for the task's input shape (the
  same CNN the VAUB family uses for 28x28 digits) and its posterior **mean** (after the App. C
  batch normalisation when ``batchnorm_mean``) is the feature; the log-variance head is unused.
  One extractor serves both domains (DANN shares it), and source and target halves of a batch go
  through it together, so its BatchNorm sees the mixed batch. ``encode`` returns this feature.
* **Label predictor** G_y: 2 linear layers with a ReLU (the classifier of App. H.3), width
  ``cls_hidden``.
* **Domain classifier** G_d: an MLP with ``domain_layers`` hidden ReLU layers of width
  ``domain_hidden`` and one logit. Default 1024-1024, the domain component of Ganin et al.'s deep
  image experiments (§5.2: "x -> 1024 -> 1024 -> 2"); their MNIST -> MNIST-M runs used a single
  100-unit layer "to speed up the experiments" (``domain_hidden=100, domain_layers=1``). The quoted
  sizes are from memory of the paper, not re-checked against its text in this repository.
* **Gradient reversal layer** between G_f and G_d: identity forward, ``-λ`` times the gradient
  backward, with λ_p = 2 / (1 + exp(-γ p)) - 1, γ = 10 (their §5.2), p = training progress
  in [0, 1]. The λ schedule acts on the GRL only; G_d is trained on the plain domain loss.

Optimisation as in the paper: SGD, momentum 0.9, learning rate annealed as
μ_p = μ0 / (1 + α p)^β with μ0 = 0.01, α = 10, β = 0.75; batches are half source, half target
(``Budget.batch_size // 2`` each). Objective per step: cross-entropy of G_y on the labelled source
half + binary cross-entropy of G_d on both halves (domain 0 = source, 1 = target), one backward
pass, the GRL turning the domain term into a maximisation for G_f. Model selection: the last
iterate.

Labels: ``fit`` reads source labels from ``train.y`` (``-1`` marks an unlabelled target row);
``train.y is None`` raises ``ValueError`` (the harness must pass labels for tasks whose protocol
sets ``source_labels_visible``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.checkpoints import CountedBatches
from benchmarks.contracts import Budget, Method, Split, batched, register_method
from benchmarks.search import Choice, LogUniform
from saub.networks import make_encoder, mlp


def grl_lambda(p: float, gamma: float = 10.0) -> float:
    """λ_p = 2 / (1 + exp(-γ p)) - 1 (Ganin et al. 2016, §5.2): 0 at p = 0, -> 1 as p -> 1."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def annealed_lr(p: float, mu0: float = 0.01, alpha: float = 10.0, beta: float = 0.75) -> float:
    """μ_p = μ0 / (1 + α p)^β (Ganin et al. 2016, §5.2)."""
    return mu0 / (1.0 + alpha * p) ** beta


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, lam: float) -> Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return -ctx.lam * grad, None


def grad_reverse(x: Tensor, lam: float) -> Tensor:
    """The gradient reversal layer R_λ: forward identity, backward ``-λ`` times the gradient."""
    return _GradReverse.apply(x, lam)


def split_source_target(train: Split) -> tuple[Tensor, Tensor, Tensor]:
    """``(x_source, y_source, x_target)`` from a split whose ``y`` is -1 on unlabelled target rows.

    Domain 0 is the labelled source, every other domain the target. Raises ``ValueError`` when the
    split carries no labels or a source row is unlabelled.
    """
    if train.y is None:
        raise ValueError("this domain-adaptation method needs source labels: train.y is None. Tasks "
                         "with protocol['source_labels_visible'] give train.y = source labels on domain-0 "
                         "rows and -1 on target rows; the harness must pass them to fit()")
    src = train.d == 0
    if not bool(src.any()) or not bool((~src).any()):
        raise ValueError("need rows of the source domain (d=0) and of the target domain (d=1)")
    ys = train.y[src]
    if bool((ys < 0).any()):
        raise ValueError("every source row (d=0) needs a label >= 0 in train.y")
    return train.x[src], ys, train.x[~src]


def source_target_batches(xs: Tensor, ys: Tensor, xt: Tensor, half: int, gen: torch.Generator):
    """Endless ``(xs, ys, xt)`` batches of ``half`` rows per domain, without replacement within a
    batch (the whole domain when it has fewer rows)."""
    while True:
        i = torch.randperm(len(xs), generator=gen)[:half]
        j = torch.randperm(len(xt), generator=gen)[:half]
        yield xs[i], ys[i], xt[j]


@dataclass
class DANNConfig:
    """DANN hyper-parameters (defaults: Ganin et al. 2016, §5.2; encoder sizes as the VAUB family's
    option names, so one override sets the shared encoder of every Table 1 row)."""

    latent_dim: int = 64
    hidden: int = 256
    batchnorm_mean: bool = True
    #: Image feature extractor: "cnn" (the suite's shared encoder) or "lenet" (the LeNet protocol).
    encoder: str = field(default="cnn", metadata={"choices": ("cnn", "lenet")})
    cls_hidden: int = 100
    domain_hidden: int = 1024
    domain_layers: int = 2
    #: μ0, α, β of the learning-rate annealing μ_p = μ0 / (1 + α p)^β.
    lr: float = 0.01
    lr_alpha: float = 10.0
    lr_beta: float = 0.75
    momentum: float = 0.9
    #: γ of λ_p = 2 / (1 + exp(-γ p)) - 1.
    grl_gamma: float = 10.0
    #: Multiplies λ_p (1 = the paper).
    grl_scale: float = 1.0

    def validate(self) -> None:
        if self.domain_layers < 1 or self.latent_dim < 1 or self.cls_hidden < 1:
            raise ValueError("latent_dim, cls_hidden and domain_layers must be >= 1")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")


class DANN(Method):
    """Feature extractor + label predictor + domain classifier behind a gradient reversal layer."""

    config_class = DANNConfig
    resumable = True

    @classmethod
    def search_space(cls, config: DANNConfig) -> dict:
        """μ0 around the paper's 0.01, the reversal weight (DomainBed searches its λ over 10^[-2, 2]),
        and the domain classifier's width (the paper's 1024 or its MNIST runs' 100)."""
        return {"lr": LogUniform(1e-3, 3e-2), "grl_scale": LogUniform(0.1, 3.0),
                "domain_hidden": Choice(100, 1024)}

    needs_source_labels = True

    def __init__(self, config: DANNConfig, input_shape, n_domains, n_classes):
        super().__init__(config, input_shape, n_domains, n_classes)
        if n_classes is None:
            raise ValueError("DANN needs a task with n_classes")
        c = config
        self.encoder = make_encoder(input_shape, c.latent_dim, hidden=c.hidden,
                                    batchnorm_mean=c.batchnorm_mean, arch=c.encoder)
        self.label_predictor = mlp(c.latent_dim, c.cls_hidden, n_classes, 2)
        self.domain_classifier = mlp(c.latent_dim, c.domain_hidden, 1, c.domain_layers + 1)
        self.nets = nn.ModuleDict({"encoder": self.encoder, "label": self.label_predictor,
                                      "domain": self.domain_classifier})
        self.optimizer = torch.optim.SGD(self.nets.parameters(), lr=c.lr, momentum=c.momentum)

    def features(self, x: Tensor) -> Tensor:
        return self.encoder(x)[0]

    def losses(self, xs: Tensor, ys: Tensor, xt: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        """``(label loss, domain loss)``; the domain loss reaches the features through R_λ."""
        f = self.features(torch.cat([xs, xt]))
        fs = f[: len(xs)]
        cls_loss = F.cross_entropy(self.label_predictor(fs), ys)
        dom_target = torch.cat([torch.zeros(len(xs), device=f.device), torch.ones(len(xt), device=f.device)])
        dom_logits = self.domain_classifier(grad_reverse(f, lam)).squeeze(1)
        dom_loss = F.binary_cross_entropy_with_logits(dom_logits, dom_target)
        return cls_loss, dom_loss

    def train_step(self, xs: Tensor, ys: Tensor, xt: Tensor, p: float) -> dict[str, float]:
        """One SGD step at training progress ``p`` with the annealed μ_p and λ_p."""
        c = self.config
        lam = c.grl_scale * grl_lambda(p, c.grl_gamma)
        lr = annealed_lr(p, c.lr, c.lr_alpha, c.lr_beta)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.nets.train()
        cls_loss, dom_loss = self.losses(xs, ys, xt, lam)
        self.optimizer.zero_grad(set_to_none=True)
        (cls_loss + dom_loss).backward()
        self.optimizer.step()
        return {"cls_loss": cls_loss.item(), "domain_loss": dom_loss.item(), "lambda": lam, "lr": lr}

    def fit(self, train: Split, budget: Budget, seed: int) -> dict[str, list[float]]:
        xs, ys, xt = split_source_target(train)
        gen = torch.Generator().manual_seed(seed)
        batches = CountedBatches(source_target_batches(xs, ys, xt, max(2, budget.batch_size // 2), gen))
        history: list[dict[str, float]] = []
        for step in self.training_steps(budget, self.training_parts(history=history), batches, "dann"):
            history.append(self.train_step(*next(batches), step / budget.steps))
        self.nets.eval()
        keys = history[0].keys() if history else []
        return {k: [h[k] for h in history] for k in keys}

    def loss_weights(self) -> dict[str, float]:
        """The step's objective: label loss + domain loss (reversed by λ_p for G_f)."""
        return {"cls_loss": 1.0, "domain_loss": 1.0}

    def encode(self, x: Tensor, d: Tensor) -> Tensor:
        self.nets.eval()
        return batched(lambda xb, _: self.features(xb), x, d)

    def predict(self, x: Tensor, d: Tensor) -> Tensor:
        """Class logits ``[N, n_classes]`` of the label predictor G_y."""
        self.nets.eval()
        return batched(lambda xb, _: self.label_predictor(self.features(xb)), x, d)


register_method("dann", DANN,
                "domain-adversarial training with a gradient reversal layer (Ganin et al. 2016)")
