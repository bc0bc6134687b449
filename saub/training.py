"""The alternating optimiser of Alg. 1.

Step 1 updates the encoders and decoders (θ, φ) — and the parameters of an explicit prior,
which VAUB learns jointly (the min over p(z) in eq. 1) — on

    L_total = L_VAUB (eq. 6) + λ_GW L_GW (eq. 12-13).

Step 2, for separately trained priors only, runs ``prior_steps`` (L in Alg. 1) updates of ψ on
``prior.prior_loss`` (DSM, eq. 11, for score priors; the contrastive Langevin MLE loss for the
energy-based prior), each on a fresh batch encoded by the now fixed encoder.

Every loss term of every step is logged in :attr:`AlternatingTrainer.history`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from saub.networks import MultiDomainAutoencoder
from saub.objective import reparameterize, vaub_terms
from saub.objective_axis import DEFAULT as DEFAULT_OBJECTIVE
from saub.objective_axis import ObjectiveLosses, check_bilevel_steps, check_encoder_steps, step_objective
from saub.priors.base import Prior
from saub.structural import gw_per_domain, gw_structural_loss

GW_MODES = ("none", "ep", "sp")
GW_PAIRS = ("within", "all")
#: Adam (L2 penalty in the gradient when weight_decay > 0) or AdamW (decoupled decay; the authors'
#: code: weight decay 0.01 for the VAEs and the score model).
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


class DivergenceError(FloatingPointError):
    """A loss became NaN or infinite, or ran away past :data:`MAX_LOSS`; the run cannot continue."""


#: A loss whose magnitude exceeds this has run away (the summed squared error of a 28x28 image in
#: [0, 1] is at most 784; a finite 1e19 reconstruction was seen on a diverging run).
MAX_LOSS = 1e10


def check_loss(name: str, value: float, step: int) -> None:
    """Raise :class:`DivergenceError` when ``value`` is NaN, infinite or larger than :data:`MAX_LOSS`."""
    if not math.isfinite(value):
        raise DivergenceError(f"{name} is {value} at step {step}")
    if abs(value) > MAX_LOSS:
        raise DivergenceError(f"{name} ran away: |{value:.3g}| > {MAX_LOSS:g} at step {step}")


@dataclass
class Batch:
    """A mixed-domain batch: inputs ``x``, domain index ``d``, and for GW-SP the embeddings."""

    x: Tensor
    d: Tensor
    emb: Tensor | None = None


class AlternatingTrainer:
    """Alg. 1 for a :class:`MultiDomainAutoencoder` and any :class:`Prior`.

    ``gw="ep"`` takes d_X on the inputs, ``gw="sp"`` on ``batch.emb`` with ``gw_metric``
    (``"cosine"`` for CLIP-like features). ``gw_pairs="within"`` sums the GW cost of each domain's
    own pairs (:func:`saub.structural.gw_per_domain`); ``"all"`` averages over every pair of the
    batch, cross-domain pairs included (:func:`saub.structural.gw_structural_loss`), which is
    meaningful only when d_X is one space shared by the domains (e.g. CLIP). Explicit priors are
    optimised with the autoencoder at ``lr``; separately trained priors (score, energy-based) by
    their own optimiser at ``prior_lr``; both optimisers are ``optimizer`` (:data:`OPTIMIZERS`)
    with ``weight_decay``.
    """

    def __init__(
        self,
        model: MultiDomainAutoencoder,
        prior: Prior,
        *,
        beta: float = 1.0,
        gw: str = "none",
        lambda_gw: float = 0.0,
        gw_metric: str = "euclidean",
        gw_block_size: int | None = None,
        gw_pairs: str = "within",
        likelihood: str = "gaussian",
        obs_std: float = 1.0,
        lr: float = 1e-3,
        prior_lr: float = 1e-3,
        prior_steps: int = 10,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        objective: str = DEFAULT_OBJECTIVE,
        objective_samples: int = 1,
        encoder_steps: int = 1,
        bilevel_steps: int = 0,
        bilevel_lr: float = 1e-3,
    ):
        if gw not in GW_MODES:
            raise ValueError(f"gw must be one of {GW_MODES}, got {gw!r}")
        if gw_pairs not in GW_PAIRS:
            raise ValueError(f"gw_pairs must be one of {GW_PAIRS}, got {gw_pairs!r}")
        self.model, self.prior = model, prior
        self.beta, self.gw, self.lambda_gw = beta, gw, lambda_gw
        self.gw_metric = gw_metric if gw == "sp" else "euclidean"
        self.gw_block_size, self.gw_pairs = gw_block_size, gw_pairs
        self.likelihood, self.obs_std = likelihood, obs_std
        self.prior_steps = prior_steps if prior.trained_separately else 0
        vae_params = list(model.parameters())
        if not prior.trained_separately:
            vae_params += [p for p in prior.parameters() if p.requires_grad]
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {optimizer!r}")
        make = OPTIMIZERS[optimizer]
        self.vae_opt = make(vae_params, lr=lr, weight_decay=weight_decay, foreach=True)
        prior_params = [p for p in prior.parameters() if p.requires_grad]
        self.prior_opt = (
            make(prior_params, lr=prior_lr, weight_decay=weight_decay, foreach=True)
            if prior.trained_separately and prior_params and self.prior_steps > 0
            else None
        )
        self.history: list[dict[str, float]] = []
        #: Step 1 by another objective of the axis (:mod:`saub.objective_axis`), or None for eq. 6.
        self.objective = None if objective == DEFAULT_OBJECTIVE else ObjectiveLosses(
            objective, model, prior, beta=beta, obs_std=obs_std, n_samples=objective_samples)
        check_encoder_steps(objective, encoder_steps)
        #: J of seed 002's Alg. 1: φ steps per θ step of an axis objective.
        self.encoder_steps = encoder_steps
        check_bilevel_steps(objective, bilevel_steps, bilevel_lr)
        #: K and η of seed 002's bi-level scheme (App. B.1): unrolled φ steps before the θ step.
        self.bilevel_steps, self.bilevel_lr = bilevel_steps, bilevel_lr
        if self.objective is not None and likelihood != "gaussian":
            raise ValueError(f"objective {objective!r} needs likelihood='gaussian', got {likelihood!r}")

    def state_dict(self) -> dict:
        """The optimisers' states and the training history (networks and prior hold their own)."""
        return {"vae_opt": self.vae_opt.state_dict(),
                "prior_opt": self.prior_opt.state_dict() if self.prior_opt is not None else None,
                "history": list(self.history)}

    def load_state_dict(self, state: dict) -> None:
        self.vae_opt.load_state_dict(state["vae_opt"])
        if self.prior_opt is not None:
            self.prior_opt.load_state_dict(state["prior_opt"])
        self.history = list(state["history"])

    def _check(self, name: str, value: Tensor) -> None:
        check_loss(name, value.item(), len(self.history))

    def vae_loss(self, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """L_total of Step 1 and its logged terms."""
        mean, logvar = self.model.encode(batch.x, batch.d)
        z = reparameterize(mean, logvar)
        recon = self.model.decode(z, batch.d)
        terms = vaub_terms(
            mean, logvar, z, recon, batch.x, batch.d, self.prior, self.beta,
            self.likelihood, self.obs_std,
        )
        loss = terms.total
        logs = {
            "reconstruction": terms.reconstruction.item(),
            "entropy": terms.entropy.item(),
            "cross_entropy": terms.cross_entropy.item(),
            "vaub": loss.item(),
        }
        if self.gw != "none":
            gw = self.structural_loss(batch, z)
            logs["gw"] = gw.item()
            loss = loss + self.lambda_gw * gw
        logs["total"] = loss.item()
        return loss, logs

    def structural_loss(self, batch: Batch, z: Tensor) -> Tensor:
        """L_GW (eq. 12-13) between the batch's inputs (EP) or embeddings (SP) and the latents ``z``."""
        if self.gw == "sp" and batch.emb is None:
            raise ValueError("gw='sp' needs batch.emb (the semantic embeddings of x)")
        x_repr = batch.emb if self.gw == "sp" else batch.x
        if self.gw_pairs == "all":
            return gw_structural_loss(x_repr, z, self.gw_metric, self.gw_block_size)
        return gw_per_domain(x_repr, z, batch.d, self.gw_metric, self.gw_block_size)

    def _structural_of_fresh_sample(self, batch: Batch) -> Tensor:
        mean, logvar = self.model.encode(batch.x, batch.d)
        return self.structural_loss(batch, reparameterize(mean, logvar))

    def vae_step(self, batch: Batch) -> dict[str, float]:
        """Step 1 of Alg. 1: one gradient step on θ, φ (and an explicit prior's ψ); with another
        objective of the axis, its φ and θ steps (:func:`saub.objective_axis.step_objective`)."""
        self.model.train()
        if self.objective is not None:
            structural = None if self.gw == "none" else lambda: self._structural_of_fresh_sample(batch)
            logs = step_objective(self.objective, self.vae_opt, batch.x, batch.d, structural, self.lambda_gw,
                                  self.encoder_steps, self.bilevel_steps, self.bilevel_lr)
            for name, value in logs.items():
                check_loss(name, value, len(self.history))
            logs["total"] = (logs.get("inference", 0.0) + logs["learning"]
                             + self.lambda_gw * logs.get("gw", 0.0))
            return logs
        loss, logs = self.vae_loss(batch)
        self._check("total loss", loss)
        self.vae_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.vae_opt.step()
        return logs

    def prior_step(self, batch: Batch) -> float:
        """One update of ψ on ``prior.prior_loss`` (e.g. DSM, eq. 11) on latents of the fixed encoder."""
        with torch.no_grad():
            mean, logvar = self.model.encode(batch.x, batch.d)
            z = reparameterize(mean, logvar)
        loss = self.prior.prior_loss(z)
        self._check(f"{self.prior.prior_loss_name.upper()} loss", loss)
        self.prior_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.prior_opt.step()
        return loss.item()

    def train_step(self, batches: Iterator[Batch]) -> dict[str, float]:
        """One iteration of Alg. 1: a VAE step, then L prior steps, each on a new batch (their mean
        loss logged under ``prior.prior_loss_name``)."""
        logs = self.vae_step(next(batches))
        if self.prior_opt is not None:
            losses = [self.prior_step(next(batches)) for _ in range(self.prior_steps)]
            logs[self.prior.prior_loss_name] = sum(losses) / len(losses)
        self.history.append(logs)
        return logs
