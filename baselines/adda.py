"""ADDA: adversarial discriminative domain adaptation (Tzeng et al. 2017, CVPR), as a harness method.

Two stages, ``Budget.steps`` divided between them by ``pretrain_fraction`` (default 0.5; each stage
gets at least one step when ``steps >= 2``):

1. **Pre-training.** A source encoder M_s and a classifier C on the labelled source rows, cross-
   entropy, Adam with ``pretrain_lr`` = 1e-3 (the authors' digit scripts, erictzeng/adda
   ``scripts/*.sh``: ``train.py --lr 0.001 --solver adam``, batch 128).
2. **Adversarial adaptation.** The target encoder M_t starts as a copy of M_s; M_s and C are
   frozen (``eval`` mode: their parameters and BatchNorm statistics never change again). A
   discriminator D (500-500-1 with ReLUs, the paper's digit adversary, §5.1; ``--adversary_relu``
   in the authors' scripts) outputs the logit of "source". With sources s = M_s(x_s), targets
   t = M_t(x_t), the losses are the paper's eq. (9)-(10), the GAN loss with inverted labels:

   * L_D = -mean log σ(D(s)) - mean log(1 - σ(D(t)))
   * L_M = -mean log σ(D(t))

   Both are computed from the same forward pass and applied simultaneously (D's step on L_D, M_t's
   step on L_M), as in the authors' ``train_adda.py``; Adam, lr 2e-4, β1 = 0.5 (their digit
   scripts and ``AdamOptimizer(lr, 0.5)``). Note: their code averages L_D over the concatenated
   2B batch, i.e. half of the paper's sum; Adam is invariant to that scale up to its ε.

Encoders: :func:`saub.networks.make_encoder` and its posterior **mean**, the suite's shared
encoder (see :mod:`baselines.dann`); the classifier is App. H.3's 2 linear layers with a ReLU.
M_t trains in ``train`` mode, so its BatchNorm normalises target batches with their own
statistics and its running statistics move from the source's to the target's. ``encode(x, d)``
uses M_s for d = 0 rows and M_t for the others; ``predict`` applies C to that encoding. Model
selection: the last iterate.

Labels: ``fit`` reads source labels from ``train.y`` (``-1`` = unlabelled target row) and raises
``ValueError`` when ``train.y is None``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from baselines.dann import source_target_batches, split_source_target
from benchmarks.checkpoints import CountedBatches
from benchmarks.contracts import Budget, Method, Split, batched, register_method
from benchmarks.search import Choice, LogUniform, Uniform
from saub.networks import make_encoder, mlp


def discriminator_loss(d_source: Tensor, d_target: Tensor) -> Tensor:
    """L_D of ADDA eq. (9): source encodings labelled 1, target encodings labelled 0 (logits in)."""
    return (F.binary_cross_entropy_with_logits(d_source, torch.ones_like(d_source))
            + F.binary_cross_entropy_with_logits(d_target, torch.zeros_like(d_target)))


def mapping_loss(d_target: Tensor) -> Tensor:
    """L_M of ADDA eq. (10): the inverted-label GAN loss, target encodings labelled 1 (source)."""
    return F.binary_cross_entropy_with_logits(d_target, torch.ones_like(d_target))


@dataclass
class ADDAConfig:
    """ADDA hyper-parameters (digit settings of Tzeng et al. 2017 and their public scripts)."""

    latent_dim: int = 64
    hidden: int = 256
    batchnorm_mean: bool = True
    #: Image feature extractor: "cnn" (the suite's shared encoder) or "lenet" (the LeNet protocol).
    encoder: str = field(default="cnn", metadata={"choices": ("cnn", "lenet")})
    cls_hidden: int = 100
    disc_hidden: int = 500
    disc_layers: int = 2
    #: Share of Budget.steps spent on stage 1 (source pre-training).
    pretrain_fraction: float = 0.5
    pretrain_lr: float = 1e-3
    lr: float = 2e-4
    beta1: float = 0.5

    def validate(self) -> None:
        if not 0 < self.pretrain_fraction < 1:
            raise ValueError(f"pretrain_fraction must lie in (0, 1), got {self.pretrain_fraction}")
        if self.disc_layers < 1 or self.latent_dim < 1 or self.cls_hidden < 1:
            raise ValueError("latent_dim, cls_hidden and disc_layers must be >= 1")


class ADDA(Method):
    """Source encoder + classifier, then a target encoder trained against a discriminator."""

    config_class = ADDAConfig

    @classmethod
    def search_space(cls, config: ADDAConfig) -> dict:
        """Both stages' learning rates around the paper's 2e-4 (adaptation) and 1e-3 (pre-training), the
        share of the budget spent pre-training, Adam's β1 (the paper's 0.5, or the default 0.9)."""
        return {"lr": LogUniform(2e-5, 2e-3), "pretrain_lr": LogUniform(1e-4, 3e-3),
                "pretrain_fraction": Uniform(0.2, 0.6), "beta1": Choice(0.5, 0.9)}
    needs_source_labels = True
    resumable = True

    def __init__(self, config: ADDAConfig, input_shape, n_domains, n_classes):
        super().__init__(config, input_shape, n_domains, n_classes)
        if n_classes is None:
            raise ValueError("ADDA needs a task with n_classes")
        c = config
        self.source_encoder = make_encoder(input_shape, c.latent_dim, hidden=c.hidden,
                                           batchnorm_mean=c.batchnorm_mean, arch=c.encoder)
        self.classifier = mlp(c.latent_dim, c.cls_hidden, n_classes, 2)
        self.target_encoder = copy.deepcopy(self.source_encoder)
        self.discriminator = mlp(c.latent_dim, c.disc_hidden, 1, c.disc_layers + 1)
        #: Stage 2 (adversarial adaptation) has started.
        self.adapting = False
        self.nets = nn.ModuleDict({"source": self.source_encoder, "classifier": self.classifier,
                                   "target": self.target_encoder, "disc": self.discriminator})

    def stage_steps(self, steps: int) -> tuple[int, int]:
        """``(stage-1 steps, stage-2 steps)``; both >= 1 when ``steps >= 2``."""
        n1 = round(self.config.pretrain_fraction * steps)
        if steps >= 2:
            n1 = min(max(n1, 1), steps - 1)
        return n1, steps - n1

    def pretrain_step(self, xs: Tensor, ys: Tensor, opt: torch.optim.Optimizer) -> float:
        self.source_encoder.train()
        self.classifier.train()
        loss = F.cross_entropy(self.classifier(self.source_encoder(xs)[0]), ys)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    def finish_fit(self, train: Split) -> None:
        """Before stage 2 the target encoder is M_s itself (a checkpoint in stage 1 evaluates that)."""
        if not self.adapting:
            self.start_adaptation()

    def loss_weights(self) -> dict[str, float]:
        """Stage 1: the source classifier's loss; stage 2: L_D (discriminator) and L_M (mapping)."""
        return {"cls_loss": 1.0, "disc_loss": 1.0, "mapping_loss": 1.0}

    def start_adaptation(self, copy_source: bool = True) -> None:
        """Freeze M_s and C, and initialise M_t as a copy of M_s (``copy_source=False``: a run resumed
        mid-adaptation, whose M_t comes from its checkpoint)."""
        self.adapting = True
        self.source_encoder.eval()
        self.classifier.eval()
        for p in [*self.source_encoder.parameters(), *self.classifier.parameters()]:
            p.requires_grad_(False)
        if copy_source:
            self.target_encoder.load_state_dict(self.source_encoder.state_dict())

    def adversarial_losses(self, xs: Tensor, xt: Tensor) -> tuple[Tensor, Tensor]:
        """``(L_D, L_M)`` on one batch; M_s in eval mode, M_t in train mode."""
        with torch.no_grad():
            s = self.source_encoder(xs)[0]
        t = self.target_encoder(xt)[0]
        d_s, d_t = self.discriminator(s).squeeze(1), self.discriminator(t).squeeze(1)
        return discriminator_loss(d_s, d_t), mapping_loss(d_t)

    def adapt_step(self, xs: Tensor, xt: Tensor, opt_d: torch.optim.Optimizer,
                   opt_m: torch.optim.Optimizer) -> tuple[float, float]:
        self.target_encoder.train()
        self.discriminator.train()
        loss_d, loss_m = self.adversarial_losses(xs, xt)
        opt_d.zero_grad(set_to_none=True)
        opt_m.zero_grad(set_to_none=True)
        loss_d.backward(inputs=list(self.discriminator.parameters()), retain_graph=True)
        loss_m.backward(inputs=list(self.target_encoder.parameters()))
        opt_d.step()
        opt_m.step()
        return loss_d.item(), loss_m.item()

    def fit(self, train: Split, budget: Budget, seed: int) -> dict[str, list[float]]:
        c = self.config
        xs, ys, xt = split_source_target(train)
        gen = torch.Generator().manual_seed(seed)
        batches = CountedBatches(source_target_batches(xs, ys, xt, max(2, budget.batch_size // 2), gen))
        n1, _ = self.stage_steps(budget.steps)
        nan = float("nan")
        opt = torch.optim.Adam([*self.source_encoder.parameters(), *self.classifier.parameters()],
                               lr=c.pretrain_lr)
        betas = (c.beta1, 0.999)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr, betas=betas)
        opt_m = torch.optim.Adam(self.target_encoder.parameters(), lr=c.lr, betas=betas)
        history: list[tuple[float, float, float, float]] = []  # (stage, cls, disc, mapping) per step
        parts = self.training_parts(history=history, opt=opt, opt_d=opt_d, opt_m=opt_m)
        for step in self.training_steps(budget, parts, batches, "adda"):
            if step < n1:
                b_xs, b_ys, _ = next(batches)
                history.append((1, self.pretrain_step(b_xs, b_ys, opt), nan, nan))
                continue
            if not self.adapting:  # stage 2 starts here, or a resumed run continues it
                self.start_adaptation(copy_source=step == n1)
            b_xs, _, b_xt = next(batches)
            history.append((2, nan, *self.adapt_step(b_xs, b_xt, opt_d, opt_m)))
        if not self.adapting:  # a budget of pretraining only: M_t still starts as M_s
            self.start_adaptation()
        curves = {k: [h[i] for h in history] for i, k in enumerate(("stage", "cls_loss", "disc_loss",
                                                                    "mapping_loss"))}
        self.nets.eval()
        return curves

    def _encode(self, x: Tensor, d: Tensor) -> Tensor:
        out = torch.empty(len(x), self.config.latent_dim, device=x.device)
        src = d == 0
        if bool(src.any()):
            out[src] = self.source_encoder(x[src])[0]
        if bool((~src).any()):
            out[~src] = self.target_encoder(x[~src])[0]
        return out

    def encode(self, x: Tensor, d: Tensor) -> Tensor:
        """M_s(x) on source rows (d = 0), M_t(x) on target rows."""
        self.nets.eval()
        return batched(self._encode, x, d)

    def predict(self, x: Tensor, d: Tensor) -> Tensor:
        """Class logits ``[N, n_classes]``: the source classifier C on :meth:`encode`."""
        self.nets.eval()
        return batched(lambda xb, db: self.classifier(self._encode(xb, db)), x, d)


register_method("adda", ADDA, "adversarial discriminative domain adaptation (Tzeng et al. 2017)")
