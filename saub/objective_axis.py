"""The objectives axis of the VAUB family: which loss trains the encoders φ, the decoders θ and the prior.

The default, ``"vaub"``, is seed 000's joint objective (eq. 6-7, :mod:`saub.objective`), the β-ELBO
with the prior's cross-entropy, minimised jointly in (φ, θ, explicit ψ). The others are the objectives
of seed 002 (Wenliang, "On the failure of variational score matching for VAE models"), run by its
Alg. 1 on the multi-domain autoencoder, each from :mod:`saub.score_matching`:

=========  ===================================================  ==========================================
name       φ (inference, Alg. 1 inner step)                     θ (learning, Alg. 1 outer step)
=========  ===================================================  ==========================================
kl-m1      D_KL[q||p_θ(z|x)] − log p_θ(x) = −F(x), eq. (2)      M̃1, eq. (8) without its q-only term
kl-m2      as kl-m1                                             M2, eq. (13)
kl-m3      as kl-m1                                             M3, eq. (15)
fd-elbo    D_F[q||p_θ(z|x)], eq. (6) 1st term / A.4, eq. (26)   −ELBO, eq. (1)
fd-m1      as fd-elbo                                           M̃1, eq. (8)
fd-m2      as fd-elbo                                           M2, eq. (13)
fd-m3      as fd-elbo                                           M3, eq. (15)
fae        —                                                    joint (φ, θ): D_F[q||p_θ(z|x)] + M1 (6, 8)
=========  ===================================================  ==========================================

KL inference is reparameterised, FD inference is not (Alg. 1's pairing; the FD gradient is ∇^b of
App. A.5.1), the FAE is reparameterised (§3.3.2). One iteration: J (``encoder_steps``, default 1) φ
steps on the inference loss plus λ_GW L_GW (eq. 12-13 of seed 000, on a reparameterised z), then K
(``bilevel_steps``, default 0) differentiable SGD steps of the inference loss at step η (``bilevel_lr``),
φ_{k+1} = φ_k − η ∇_φ, so that φ_K = φ_K(θ) (Bao et al.'s bi-level scheme, App. B.1 of seed 002),
then one θ step on the learning loss at φ_K(θ), its gradient taken through φ_K(θ), and φ ← φ_K; all
on the same minibatch (App. B.1). The FAE takes one joint step (no J, no K). Expectations over q use
S (``n_samples``) draws; M2 needs S ≥ 2 (:func:`check_samples`).

The model, per domain d: q_φd(z|x), p(z) = Q_ψ(z) shared, p_θd(x|z) = N(g_θd(z), γ I) with
γ = β·obs_std²: the VAUB objective's (1/β)·Rec with a Gaussian of std obs_std is, up to a constant,
the log-likelihood of std √β·obs_std, so every objective sees one model. Each loss is Σ_d of the
mean over that domain's rows (eq. 6 of seed 000).

The prior enters

* KL inference and ELBO learning by ``−prior.cross_entropy(z)`` as log Q_ψ(z): exact for the explicit
  priors, up to the ψ-only log Z_ψ for the energy prior, and the SFS / LSGM surrogates for score priors,
  whose encoder gradient is that of the cross-entropy (seed 000, Prop. 1; eq. 23-25);
* FD inference and the FAE by its score ∇_z log Q_ψ(z) (:meth:`saub.priors.Prior.grad_log_prob`:
  autograd for explicit priors, −∇U for the energy prior, S_ψ(z, σ_min) for score priors).

An explicit prior's ψ (MoG, VampPrior) is fitted in the θ step by its cross-entropy E_q[−log Q_ψ(z)]
(the ψ-part of every objective that has one; seed 002 keeps p(z) = N(0, I) fixed, §2, and prescribes
nothing for ψ); separately trained priors keep their own step (DSM, Langevin MLE; Alg. 1 of seed 000).

Undefined combinations (:func:`undefined_reason`): every seed-002 objective needs the Gaussian
likelihood of its eq. (3); M3 and the FAE need s^q(z|x) = ∇_x log q(z|x) per row, which a
batch-normalised posterior mean (App. C of seed 000, training mode) couples across the rows of a batch;
with a score prior, ``encoder_gradient`` only chooses the cross-entropy's estimator, so the FD
objectives and the FAE, which use the prior only through S_ψ, give the same model for ``sfs`` and
``lsgm`` (``lsgm`` is refused there, naming ``sfs``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from saub.networks import MultiDomainAutoencoder
from saub.priors.base import Prior
from saub.score_matching import (
    elbo,
    fae_objective,
    m1_objective,
    m2_objective,
    m3_objective,
    posterior_fisher_divergence,
    posterior_kl,
    unroll_sgd,
)


@dataclass(frozen=True)
class Objective:
    """One choice of the axis: the φ loss (``inference``: "kl", "fd", or None for a joint objective)
    and the θ loss (``learning``); ``text`` says what it is, with its equations."""

    name: str
    inference: str | None
    learning: str
    text: str

    @property
    def needs_q_x_score(self) -> bool:
        """Whether a term uses s^q(z|x) = ∇_x log q(z|x) (M3, eq. 15; the FAE's M1, eq. 8)."""
        return self.learning in ("m3", "fae")

    @property
    def uses_prior_score(self) -> bool:
        """Whether the prior enters by its score alone (FD inference, FAE), not its cross-entropy."""
        return self.inference == "fd" or self.learning == "fae"


_KL = "seed 002 Alg. 1: encoders by D_KL[q||p(z|x)] (eq. 2)"
_FD = "seed 002 Alg. 1: encoders by D_F[q||p(z|x)] (eq. 6, 26)"
OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("vaub", None, "vaub", "seed 000's VAUB objective (eq. 6-7): the β-ELBO with the prior's "
                                    "cross-entropy, joint in encoders, decoders and prior"),
    Objective("kl-m1", "kl", "m1", f"{_KL}, decoders by M1 (eq. 8)"),
    Objective("kl-m2", "kl", "m2", f"{_KL}, decoders by M2 (eq. 13)"),
    Objective("kl-m3", "kl", "m3", f"{_KL}, decoders by M3 (eq. 15)"),
    Objective("fd-elbo", "fd", "elbo", f"{_FD}, decoders by the ELBO (eq. 1)"),
    Objective("fd-m1", "fd", "m1", f"{_FD}, decoders by M1 (eq. 8)"),
    Objective("fd-m2", "fd", "m2", f"{_FD}, decoders by M2 (eq. 13)"),
    Objective("fd-m3", "fd", "m3", f"{_FD}, decoders by M3 (eq. 15)"),
    Objective("fae", None, "fae", "seed 002's Fisher autoencoder: D_F[q||p(z|x)] + M1 (eq. 6, 8), joint in "
                                  "encoders and decoders, reparameterised"),
)}
DEFAULT = "vaub"


def get_objective(name: str) -> Objective:
    """The objective called ``name``; an unknown name lists the valid ones."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; valid objectives: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def undefined_reason(objective: str, prior: str, encoder_gradient: str = "sfs", likelihood: str = "gaussian",
                     batchnorm_mean: bool = False) -> str | None:
    """Why ``objective`` is undefined for this model (module docstring), or None where it is defined.
    ``prior`` is a VAUB-family prior name (``gaussian``, ``mog``, ``vamp``, ``ebm``, ``score``)."""
    spec = get_objective(objective)
    if spec.name == DEFAULT:
        return None
    if likelihood != "gaussian":
        return f"{objective} needs the Gaussian likelihood p(x|z) = N(g(z), γI) of seed 002's eq. (3)"
    if spec.needs_q_x_score and batchnorm_mean:
        return (f"{objective} needs s^q(z|x) = ∇_x log q(z|x) per row, which the batch-normalised posterior "
                "mean couples across the batch; set batchnorm_mean=False")
    if spec.uses_prior_score and prior == "score" and encoder_gradient == "lsgm":
        return (f"{objective} uses the score prior only through S_ψ(z, σ_min), so encoder_gradient='lsgm' "
                "gives the same model as 'sfs' (the SFS row)")
    return None


def defined_objectives(prior: str, encoder_gradient: str = "sfs", likelihood: str = "gaussian",
                       batchnorm_mean: bool = False) -> list[str]:
    """The objectives defined for this model, in :data:`OBJECTIVES` order."""
    return [o for o in OBJECTIVES
            if undefined_reason(o, prior, encoder_gradient, likelihood, batchnorm_mean) is None]


def check_objective(objective: str, prior: str, encoder_gradient: str = "sfs", likelihood: str = "gaussian",
                    batchnorm_mean: bool = False) -> None:
    """Raise ``ValueError`` for an undefined combination, with the reason and the defined objectives."""
    why = undefined_reason(objective, prior, encoder_gradient, likelihood, batchnorm_mean)
    if why is not None:
        valid = defined_objectives(prior, encoder_gradient, likelihood, batchnorm_mean)
        model = (f"prior={prior!r} (encoder_gradient={encoder_gradient!r}, likelihood={likelihood!r}, "
                 f"batchnorm_mean={batchnorm_mean})")
        raise ValueError(f"objective {objective!r} is undefined for {model}: {why}; "
                         f"defined here: {', '.join(valid)}")


def _check_own_inference_step(objective: str, knob: str, value: int, used: bool) -> None:
    """A φ-step knob (J > 1, K > 0) is refused for an objective that updates φ and θ jointly."""
    if used and get_objective(objective).inference is None:
        raise ValueError(f"{knob}={value} needs an objective with an inference step of its own; "
                         f"{objective!r} updates encoders and decoders jointly")


def check_encoder_steps(objective: str, encoder_steps: int) -> None:
    """J ≥ 1 φ steps per θ step, and J = 1 for an objective without a φ step of its own (VAUB, FAE)."""
    if isinstance(encoder_steps, bool) or not isinstance(encoder_steps, int) or encoder_steps < 1:
        raise ValueError(f"encoder_steps must be a positive integer, got {encoder_steps!r}")
    _check_own_inference_step(objective, "encoder_steps", encoder_steps, encoder_steps > 1)


def check_bilevel_steps(objective: str, bilevel_steps: int, bilevel_lr: float) -> None:
    """K ≥ 0 bi-level steps at η > 0, and K = 0 for an objective without a φ step of its own (VAUB, FAE)."""
    if isinstance(bilevel_steps, bool) or not isinstance(bilevel_steps, int) or bilevel_steps < 0:
        raise ValueError(f"bilevel_steps must be a non-negative integer, got {bilevel_steps!r}")
    if not bilevel_lr > 0:
        raise ValueError(f"bilevel_lr must be positive, got {bilevel_lr!r}")
    _check_own_inference_step(objective, "bilevel_steps", bilevel_steps, bilevel_steps > 0)


def minimum_samples(objective: str) -> int:
    """The fewest draws S of q per row that keep ``objective`` itself: 2 for M2 (with one draw
    ||E_q s||² is ||s||², and M2 (13) becomes M̃1 (8), with the same θ-gradient), 1 otherwise."""
    return 2 if get_objective(objective).learning == "m2" else 1


def check_samples(objective: str, n_samples: int) -> None:
    """S ≥ 1 draws of q, and S ≥ :func:`minimum_samples` (2 for M2, else seed 002's objectives M2 and
    M1 would be one)."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"objective_samples must be a positive integer, got {n_samples!r}")
    if n_samples < minimum_samples(objective):
        raise ValueError(f"{objective} needs objective_samples >= 2: with one draw of q, M2 (eq. 13) is "
                         "M1 (eq. 8) without its q-only term, the same θ-gradient")


LossFn = Callable[..., Tensor]
#: The θ objectives of seed 002 as :mod:`saub.score_matching` computes them (M̃1: θ-gradient of M1).
LEARNING: dict[str, LossFn] = {
    "m1": lambda *a: m1_objective(*a, include_q_term=False),
    "m2": m2_objective,
    "m3": m3_objective,
}


def set_gradients(loss: Tensor, params: list[Tensor]) -> None:
    """``p.grad = ∂loss/∂p`` for ``params`` only (None where ``loss`` does not depend on ``p``), so that
    an optimiser over more parameters steps just these (Adam skips parameters without a gradient)."""
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    for p, g in zip(params, grads):
        p.grad = None if g is None else g.detach()


class ObjectiveLosses:
    """The losses of one non-default :class:`Objective` for a :class:`MultiDomainAutoencoder` and a
    :class:`Prior` (module docstring), each Σ_d of the domain's mean."""

    def __init__(self, objective: str, model: MultiDomainAutoencoder, prior: Prior, *, beta: float = 1.0,
                 obs_std: float = 1.0, n_samples: int = 1):
        self.spec = get_objective(objective)
        if self.spec.name == DEFAULT:
            raise ValueError("the default objective 'vaub' is saub.objective.vaub_terms, not an axis loss")
        check_samples(objective, n_samples)
        self.model, self.prior, self.n_samples = model, prior, n_samples
        #: log γ with γ = β·obs_std² (module docstring).
        self.log_gamma = math.log(beta * obs_std**2)

    def log_prior(self, z: Tensor) -> Tensor:
        """log Q_ψ(z) as the KL and ELBO terms read it: −``prior.cross_entropy(z)`` (module docstring)."""
        return -self.prior.cross_entropy(z)

    def _per_domain(self, x: Tensor, d: Tensor, fn: Callable[..., Tensor]) -> Tensor:
        total = x.new_zeros(())
        for dom in torch.unique(d).tolist():
            def encoder(xs, dom=dom):
                return self.model.encode_domain(xs, dom)

            def decoder(zs, dom=dom):
                return self.model.decode_domain(zs, dom)

            total = total + fn(x[d == dom], encoder, decoder, self.log_gamma, self.n_samples).mean()
        return total

    def inference(self, x: Tensor, d: Tensor) -> Tensor:
        """The φ loss: Σ_d E[D_KL[q||p(z|x)] − log p(x)] (eq. 2) or Σ_d E D_F[q||p(z|x)] (eq. 26)."""
        if self.spec.inference == "kl":
            return self._per_domain(x, d, lambda *a: posterior_kl(*a, kl="mc", log_prior=self.log_prior))
        return self._per_domain(
            x, d, lambda *a: posterior_fisher_divergence(*a, prior_score=self.prior.grad_log_prob))

    def learning(self, x: Tensor, d: Tensor) -> Tensor:
        """The θ loss: Σ_d of −ELBO (1), M̃1 (8), M2 (13), M3 (15), or the FAE loss (6 with M1)."""
        if self.spec.learning == "elbo":
            return self._per_domain(x, d, lambda *a: -elbo(*a, kl="mc", log_prior=self.log_prior))
        if self.spec.learning == "fae":
            return self._per_domain(x, d, lambda *a: fae_objective(*a, prior_score=self.prior.grad_log_prob))
        return self._per_domain(x, d, LEARNING[self.spec.learning])

    def prior_fit(self, x: Tensor, d: Tensor) -> Tensor:
        """Σ_d E_q[−log Q_ψ(z)], the explicit prior's ψ loss (module docstring), z ~ q detached."""
        mean, logvar = self.model.encode(x, d)
        z = (mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)).detach()
        ce = self.prior.cross_entropy(z)
        return sum(ce[d == dom].mean() for dom in torch.unique(d).tolist())


def parameter_groups(model: MultiDomainAutoencoder, prior: Prior) -> dict[str, list[Tensor]]:
    """φ (encoders), θ (decoders and a shared model's domain embedding) and ψ (an explicit prior's
    parameters; none for a separately trained prior)."""
    groups = {"phi": list(model.encoders.parameters()), "theta": list(model.decoders.parameters())}
    if model.domain_embedding is not None:
        groups["theta"] += list(model.domain_embedding.parameters())
    groups["psi"] = [] if prior.trained_separately else [p for p in prior.parameters() if p.requires_grad]
    return groups


def step_objective(
    losses: ObjectiveLosses, optimizer: torch.optim.Optimizer, x: Tensor, d: Tensor,
    structural: Callable[[], Tensor] | None = None, lambda_gw: float = 0.0, encoder_steps: int = 1,
    bilevel_steps: int = 0, bilevel_lr: float = 1e-3,
) -> dict[str, float]:
    """One iteration of seed 002's Alg. 1 (module docstring) with ``optimizer`` over φ, θ and ψ:
    J = ``encoder_steps`` φ steps, K = ``bilevel_steps`` unrolled φ steps at ``bilevel_lr``, then one θ
    step at φ_K(θ), all on the minibatch (x, d) (App. B.1); ``structural()`` is L_GW, added as
    λ_GW L_GW to each of the J φ losses (or the FAE's joint loss; the FAE has no φ step of its own, so J
    must be 1 and K 0). The K unrolled steps descend the inference divergence alone, seed 002's inner
    problem φ_K ≈ argmin_φ D(q_φ || p_θ(z|x)): L_GW does not depend on θ, and its pairwise distances
    (``torch.cdist``) have no second derivative for the unroll to differentiate. Returns the terms:
    ``inference`` (of the last of the J φ steps), ``learning``, ``gw``, ``prior_fit`` (those the
    objective has)."""
    check_encoder_steps(losses.spec.name, encoder_steps)
    check_bilevel_steps(losses.spec.name, bilevel_steps, bilevel_lr)
    groups = parameter_groups(losses.model, losses.prior)
    logs: dict[str, float] = {}

    def structural_term() -> Tensor | None:
        """λ_GW L_GW on a fresh z (drawn before the loss's own z), or None."""
        if structural is None:
            return None
        gw = structural()
        logs["gw"] = gw.item()
        return lambda_gw * gw

    def phi_loss() -> Tensor:
        extra = structural_term()
        inference = losses.inference(x, d)
        logs["inference"] = inference.item()
        return inference if extra is None else inference + extra

    if losses.spec.inference is None:  # FAE: one joint step
        extra = structural_term()
        learning = losses.learning(x, d)
        set_gradients(learning if extra is None else learning + extra, groups["phi"] + groups["theta"])
    else:
        for _ in range(encoder_steps):
            set_gradients(phi_loss(), groups["phi"])
            _clear(groups["theta"] + groups["psi"])
            optimizer.step()
        phi_k = None
        if bilevel_steps:
            def inference_at(params: dict[str, Tensor]) -> Tensor:
                return at_parameters(losses.model, params, lambda: losses.inference(x, d))

            phi_k = unroll_sgd(encoder_parameters(losses.model), inference_at, bilevel_steps, bilevel_lr)
            learning = at_parameters(losses.model, phi_k, lambda: losses.learning(x, d))
        else:
            learning = losses.learning(x, d)
        set_gradients(learning, groups["theta"])
        if phi_k is not None:  # φ ← φ_K once θ's gradient through φ_K(θ) is taken
            with torch.no_grad():
                for name, p in encoder_parameters(losses.model).items():
                    p.copy_(phi_k[name])
        _clear(groups["phi"])
    logs["learning"] = learning.item()
    if groups["psi"]:
        fit = losses.prior_fit(x, d)
        set_gradients(fit, groups["psi"])
        logs["prior_fit"] = fit.item()
    optimizer.step()
    return logs


def encoder_parameters(model: MultiDomainAutoencoder) -> dict[str, Tensor]:
    """φ by the model's own parameter names (``encoders.…``)."""
    return {f"encoders.{name}": p for name, p in model.encoders.named_parameters()}


class _Within(nn.Module):
    """Runs a closure as its forward, so that :func:`torch.func.functional_call` swaps the wrapped
    module's parameters for the closure's duration."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, fn: Callable[[], Tensor]) -> Tensor:
        return fn()


def at_parameters(model: nn.Module, params: dict[str, Tensor], fn: Callable[[], Tensor]) -> Tensor:
    """``fn()`` with ``model``'s parameters named in ``params`` replaced by those tensors (the others and
    the buffers as they are), differentiable in ``params``."""
    return functional_call(_Within(model), {f"module.{name}": t for name, t in params.items()}, (fn,),
                           strict=False)


def _clear(params: list[Tensor]) -> None:
    for p in params:
        p.grad = None
