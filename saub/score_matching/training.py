"""Alg. 1 (variational score matching) with the bi-level encoder steps of §5.1 / App. B.1.

One :meth:`VariationalScoreMatching.step` is one pass of Alg. 1's outer loop:

1. J ("``encoder_steps``") updates of φ by the inference objective, D_KL (w/ reparameterisation)
   or D_F (w/o), each estimated by S = ``n_samples`` samples from q and applied by the encoder's
   own optimiser. Without ``encoder_batches`` all J use the step's minibatch (as App. B.1, "given one
   minibatch"); App. B.2 draws independent minibatches, which ``encoder_batches`` provides.
2. K ("``bilevel_steps``") further φ updates that keep their dependence on θ (Bao et al.'s bi-level
   scheme, App. B.1): φ_{k+1} = φ_k − η ∇_φ D(q_φ || p_θ(z|x)) with plain SGD (step η =
   ``bilevel_lr``, as the authors' ``BilevelAutoEncoder``) and ``create_graph=True``, so φ_K = φ_K(θ).
   With non-reparameterised inference (FD, Alg. 1's default) the inner samples are detached, so the
   hypergradient follows φ_K(θ) through the scores only, not through where the samples lie.
3. One update of θ (decoder and, if it is in the decoder's optimiser, log γ) by the learning
   objective at φ_K(θ): −ELBO (1), M̃1 (8) without its q-only term, M2 (13) or M3 (15). Its
   gradient is taken with respect to θ only, through φ_K(θ) when K > 0; φ is then set to φ_K.

``learning="fae"`` is the Fisher autoencoder instead: one joint step of (φ, θ) on eq. (6) with
J^π → M1 and reparameterised samples (J, K and ``inference`` unused). Nothing here depends on a
harness: pass modules, a log γ tensor and two optimisers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from saub.score_matching.objectives import (
    elbo,
    fae_objective,
    m1_objective,
    m2_objective,
    m3_objective,
    posterior_fisher_divergence,
    posterior_kl,
)
from saub.score_matching.scores import Encoder, LogDensity

INFERENCE = ("kl", "fd")
LEARNING = ("elbo", "m1", "m2", "m3", "fae")


def functional_encoder(encoder: nn.Module, params: dict[str, Tensor]) -> Encoder:
    """The encoder evaluated at ``params`` (its buffers unchanged), for unrolled inner steps."""
    buffers = dict(encoder.named_buffers())
    return lambda x: functional_call(encoder, {**buffers, **params}, (x,))


def unroll_sgd(
    params: dict[str, Tensor], loss_at: Callable[[dict[str, Tensor]], Tensor], steps: int, lr: float
) -> dict[str, Tensor]:
    """K differentiable SGD steps φ_{k+1} = φ_k − η ∇_φ loss(φ_k) (App. B.1, ``create_graph=True``):
    returns φ_K as a function of whatever ``loss_at(params)`` depends on besides φ (θ)."""
    for _ in range(steps):
        names = [n for n, p in params.items() if p.requires_grad]
        grads = torch.autograd.grad(loss_at(params), [params[n] for n in names], create_graph=True,
                                    allow_unused=True)
        params = {**params, **{n: params[n] - lr * g for n, g in zip(names, grads) if g is not None}}
    return params


def unroll_inference(
    encoder: nn.Module, inference_loss: Callable[[Encoder], Tensor], steps: int, lr: float
) -> dict[str, Tensor]:
    """:func:`unroll_sgd` of ``inference_loss(encoder_callable)`` from the encoder's parameters."""
    return unroll_sgd(dict(encoder.named_parameters()),
                      lambda params: inference_loss(functional_encoder(encoder, params)), steps, lr)


def _params(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _descend(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    """One optimiser step on ``loss`` with gradients for this optimiser's parameters only."""
    params = _params(optimizer)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for p, g in zip(params, grads):
        p.grad = None if g is None else g.detach()
    optimizer.step()


class VariationalScoreMatching:
    """Alg. 1 of Wenliang (2022): inference by D_KL or D_F, learning by ELBO, M1, M2 or M3.

    ``reparameterize`` defaults to Alg. 1's pairing (KL with, FD without reparameterisation);
    ``kl`` is the ELBO's KL form ("closed" or "mc"), ``divergence`` the trace of eq. (21).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        log_gamma: Tensor,
        encoder_optimizer: torch.optim.Optimizer,
        decoder_optimizer: torch.optim.Optimizer,
        *,
        inference: str = "kl",
        learning: str = "m1",
        n_samples: int = 1,
        encoder_steps: int = 1,
        bilevel_steps: int = 0,
        bilevel_lr: float = 1e-3,
        reparameterize: bool | None = None,
        kl: str = "closed",
        divergence: str = "closed",
        log_prior: LogDensity | None = None,
    ):
        if inference not in INFERENCE:
            raise ValueError(f"inference must be one of {INFERENCE}, got {inference!r}")
        if learning not in LEARNING:
            raise ValueError(f"learning must be one of {LEARNING}, got {learning!r}")
        if encoder_steps < 0 or bilevel_steps < 0 or n_samples < 1:
            raise ValueError("encoder_steps and bilevel_steps must be >= 0 and n_samples >= 1")
        if learning == "fae" and bilevel_steps:
            raise ValueError("the Fisher autoencoder is a joint minimisation; it has no bi-level steps")
        self.encoder, self.decoder, self.log_gamma = encoder, decoder, log_gamma
        self.encoder_optimizer, self.decoder_optimizer = encoder_optimizer, decoder_optimizer
        self.inference, self.learning = inference, learning
        self.n_samples, self.encoder_steps, self.bilevel_steps = n_samples, encoder_steps, bilevel_steps
        self.bilevel_lr = bilevel_lr
        self.reparameterize = (inference == "kl") if reparameterize is None else reparameterize
        self.kl, self.divergence, self.log_prior = kl, divergence, log_prior

    def inference_loss(self, x: Tensor, encoder: Encoder | None = None) -> Tensor:
        """E_D of D_KL[q||p_θ(z|x)] − log p_θ(x) (= −ELBO) or of D_F[q||p_θ(z|x)] (Alg. 1, inner loop)."""
        enc = self.encoder if encoder is None else encoder
        args = (x, enc, self.decoder, self.log_gamma, self.n_samples)
        common = {"reparameterize": self.reparameterize, "log_prior": self.log_prior}
        if self.inference == "kl":
            loss = posterior_kl(*args, kl=self.kl, **common)
        else:
            loss = posterior_fisher_divergence(*args, **common)
        return loss.mean()

    def learning_loss(self, x: Tensor, encoder: Encoder | None = None) -> Tensor:
        """E_D of the θ objective: −ELBO (1), M̃1 (8), M2 (13), M3 (15), or the FAE loss (6)."""
        enc = self.encoder if encoder is None else encoder
        args = (x, enc, self.decoder, self.log_gamma, self.n_samples)
        if self.learning == "elbo":
            return -elbo(*args, kl=self.kl, log_prior=self.log_prior).mean()
        if self.learning == "m1":
            return m1_objective(*args, include_q_term=False, divergence=self.divergence).mean()
        if self.learning == "m2":
            return m2_objective(*args, divergence=self.divergence).mean()
        if self.learning == "m3":
            return m3_objective(*args, divergence=self.divergence).mean()
        return fae_objective(*args, divergence=self.divergence, log_prior=self.log_prior).mean()

    def step(self, x: Tensor, encoder_batches: Sequence[Tensor] | Iterable[Tensor] | None = None) -> dict:
        """One outer iteration of Alg. 1; returns the last inference loss and the learning loss."""
        log: dict[str, float] = {}
        if self.learning == "fae":
            loss = self.learning_loss(x)
            params = _params(self.encoder_optimizer) + _params(self.decoder_optimizer)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for p, g in zip(params, grads):
                p.grad = None if g is None else g.detach()
            self.encoder_optimizer.step()
            self.decoder_optimizer.step()
            return {"learning_loss": float(loss.detach())}
        batches = [x] * self.encoder_steps if encoder_batches is None else list(encoder_batches)
        if len(batches) != self.encoder_steps:
            raise ValueError(f"expected {self.encoder_steps} encoder batches, got {len(batches)}")
        for batch in batches:
            loss = self.inference_loss(batch)
            _descend(self.encoder_optimizer, loss)
            log["inference_loss"] = float(loss.detach())
        if self.bilevel_steps:
            params = unroll_inference(
                self.encoder, lambda enc: self.inference_loss(x, enc), self.bilevel_steps, self.bilevel_lr
            )
            loss = self.learning_loss(x, functional_encoder(self.encoder, params))
            _descend(self.decoder_optimizer, loss)
            with torch.no_grad():
                for name, p in self.encoder.named_parameters():
                    p.copy_(params[name])
        else:
            loss = self.learning_loss(x)
            _descend(self.decoder_optimizer, loss)
        log["learning_loss"] = float(loss.detach())
        return log
