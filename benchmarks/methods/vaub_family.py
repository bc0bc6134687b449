"""The VAUB family as harness methods: one class, six registered names.

``vae-gaussian`` (N(0, I)), ``vaub`` (learnable MoG, Gong et al. 2024), ``vae-vamp``
(VampPrior), ``vae-ebm`` (latent energy-based prior over N(0, I), Pang et al. 2020, learned by
short-run Langevin MLE: :mod:`saub.priors.ebm`), ``lsgm`` (score prior, encoder gradient through
the score network, eq. 23-25) and ``saub`` (score prior with the SFS trick, eq. 8-11, Alg. 1).
Structural preservation is an option of all of them: ``gw = none | ep | sp`` with weight
``lambda_gw`` (eq. 12-13). For ``sp``, d_X lives in the semantic space ``semantic`` (a name of
:mod:`benchmarks.semantic`: ``pixel``, ``clip-vit-large-patch14``, ``contrastive-digits-v1`` or
``precomputed:FILE.npy``); ``fit`` embeds the training images (cached on disk) unless the split
already carries ``emb``. The paper's SP distance is cosine (``gw_metric="cosine"``); ``gw_pairs``
chooses within-domain pairs only (default) or all pairs of a batch
(:class:`saub.training.AlternatingTrainer`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from benchmarks.checkpoints import CountedBatches
from benchmarks.contracts import Budget, Method, Split, Unsupported, batched, register_method
from benchmarks.sampling import balanced_batches
from benchmarks.search import Choice, LogUniform
from benchmarks.semantic import build_embedder, embed_split
from benchmarks.semantic import check_name as check_semantic_name
from saub.networks import MultiDomainAutoencoder
from saub.objective import likelihood_mean
from saub.objective_axis import DEFAULT as DEFAULT_OBJECTIVE
from saub.objective_axis import (
    OBJECTIVES,
    check_bilevel_steps,
    check_encoder_steps,
    check_objective,
    check_samples,
)
from saub.priors import (
    EnergyPrior,
    MixtureOfGaussiansPrior,
    Prior,
    ScorePrior,
    StandardGaussianPrior,
    VampPrior,
)
from saub.priors.ebm import LANGEVIN_STEP, LANGEVIN_STEPS
from saub.score_matching import elbo as score_matching_elbo
from saub.training import AlternatingTrainer, Batch

PRIORS = ("gaussian", "mog", "vamp", "ebm", "score")
#: Priors whose ψ is learned in the separate step of Alg. 1 (at ``prior_lr``, ``prior_steps`` times).
SEPARATE_PRIORS = ("ebm", "score")


@dataclass
class VAUBConfig:
    """Hyper-parameters of a VAUB-family model (defaults: the synthetic 2-D setting)."""

    prior: str = field(default="score", metadata={"choices": PRIORS})
    encoder_gradient: str = field(default="sfs", metadata={"choices": ("sfs", "lsgm")})
    #: What trains the encoders, decoders and prior (:mod:`saub.objective_axis`): seed 000's VAUB
    #: objective (eq. 6-7, the default) or one of seed 002's (KL / FD inference with M1-M3 or ELBO
    #: learning, the Fisher autoencoder); validated per prior and likelihood.
    objective: str = field(default=DEFAULT_OBJECTIVE, metadata={"choices": tuple(OBJECTIVES)})
    #: S of seed 002's Alg. 1: draws of q per row in an axis objective's expectations (M2 needs ≥ 2).
    objective_samples: int = 1
    #: J of seed 002's Alg. 1: encoder (φ) steps per decoder (θ) step of an axis objective.
    encoder_steps: int = 1
    #: K of seed 002's bi-level scheme (App. B.1): unrolled φ steps at ``bilevel_lr`` through which the θ
    #: step's gradient is taken (0: none, Alg. 1 as the seed runs it by default).
    bilevel_steps: int = 0
    bilevel_lr: float = 1e-3
    latent_dim: int = 2
    hidden: int = 64
    enc_layers: int = 2
    dec_layers: int = 3
    shared_networks: bool = False
    batchnorm_mean: bool = True
    #: How eval mode normalises the batch-normalised posterior mean (App. C): ``"running"``,
    #: BatchNorm's running averages (PyTorch's default); ``"domain"``, each domain's population
    #: statistics over its training rows, computed after ``fit``
    #: (:meth:`saub.networks.MultiDomainAutoencoder.calibrate_domain_norm`).
    eval_norm: str = field(default="running", metadata={"choices": ("running", "domain")})
    beta: float = 1.0
    likelihood: str = field(default="gaussian", metadata={"choices": ("gaussian", "bernoulli")})
    obs_std: float = 1.0
    gw: str = field(default="ep", metadata={"choices": ("none", "ep", "sp")})
    lambda_gw: float = 1.0
    gw_metric: str = field(default="euclidean", metadata={"choices": ("euclidean", "cosine")})
    gw_block_size: int | None = None
    gw_pairs: str = field(default="within", metadata={"choices": ("within", "all")})
    #: GW-SP's embedding space (None: the training split must carry ``emb`` already).
    semantic: str | None = None
    lr: float = 1e-3
    prior_lr: float = 1e-3
    #: L of Alg. 1: updates of a separately trained prior (score or energy) per encoder/decoder update.
    prior_steps: int = 10
    sigma_min: float = 0.01
    sigma_max: float = 1.0
    n_levels: int | None = 100
    sfs_perturb: bool = True
    score_hidden: int = 128
    score_layers: int = 3
    #: LayerNorm after each hidden layer of the score MLP (the authors' 400-wide LayerNorm MLP).
    score_layernorm: bool = False
    #: Index of the noise level at which SFS evaluates the score (None: σ_min, eq. 10; the authors'
    #: code: 30 of 100, on unperturbed z).
    sfs_level: int | None = None
    #: c of the Gaussian term −c·z added to the score in the VAE step (the authors' code: 0.05).
    sfs_shrink: float = 0.0
    #: Per-domain networks start from one initialisation (the authors' code: both VAEs seeded alike).
    same_init: bool = False
    #: Clamp of the log-variance to ±bound (the authors' code: 3.5); None: unbounded.
    logvar_bound: float | None = None
    optimizer: str = field(default="adam", metadata={"choices": ("adam", "adamw")})
    weight_decay: float = 0.0
    mog_components: int = 10
    vamp_pseudo: int = 10
    #: Width of the energy MLP's two hidden layers (Pang et al. 2020: 200).
    ebm_hidden: int = 200
    #: Spectral normalisation of the energy MLP's layers (a Lipschitz energy; :mod:`saub.priors.ebm`).
    ebm_spectral_norm: bool = True
    #: Short-run Langevin sampler of the energy prior: steps and ε of z ← z − ε/2 ∇U + √ε n
    #: (defaults: Pang et al. 2020's 60 steps of size s = 0.4, ε = s²; :mod:`saub.priors.ebm`).
    langevin_steps: int = LANGEVIN_STEPS
    langevin_step: float = LANGEVIN_STEP

    def validate(self) -> None:
        check_objective(self.objective, self.prior, self.encoder_gradient, self.likelihood,
                        self.batchnorm_mean)
        check_encoder_steps(self.objective, self.encoder_steps)
        check_bilevel_steps(self.objective, self.bilevel_steps, self.bilevel_lr)
        if self.objective != DEFAULT_OBJECTIVE:
            check_samples(self.objective, self.objective_samples)
        if not 0 < self.beta <= 1:
            raise ValueError(f"beta must lie in (0, 1], got {self.beta}")
        if not 0 < self.sigma_min <= self.sigma_max:
            raise ValueError(f"need 0 < sigma_min <= sigma_max, got {self.sigma_min}, {self.sigma_max}")
        if self.semantic is not None:
            check_semantic_name(self.semantic, self.gw_metric if self.gw == "sp" else None)
        if self.sfs_level is not None and not 0 <= self.sfs_level < (self.n_levels or 1):
            raise ValueError(f"sfs_level must index one of the {self.n_levels} noise levels, "
                             f"got {self.sfs_level}")
        if self.weight_decay < 0 or self.sfs_shrink < 0:
            raise ValueError("weight_decay and sfs_shrink must be >= 0")
        if self.logvar_bound is not None and self.logvar_bound <= 0:
            raise ValueError(f"logvar_bound must be positive or None, got {self.logvar_bound}")
        if self.ebm_hidden < 1 or self.langevin_steps < 1 or not self.langevin_step > 0:
            raise ValueError(f"need ebm_hidden >= 1, langevin_steps >= 1 and langevin_step > 0, got "
                             f"{self.ebm_hidden}, {self.langevin_steps}, {self.langevin_step}")


def training_batches(train: Split, batch_size: int, seed: int) -> Iterator[Batch]:
    """The endless balanced batches ``fit`` trains on (:func:`benchmarks.sampling.balanced_batches`)."""
    gen = torch.Generator().manual_seed(seed)
    return (Batch(b.x, b.d, b.emb) for b in balanced_batches(train, batch_size, gen))


class VAUBFamily(Method):
    """A multi-domain VAE trained by Alg. 1 with the configured prior and GW option."""

    config_class = VAUBConfig
    resumable = True

    @classmethod
    def search_space(cls, config: VAUBConfig) -> dict:
        """β and the likelihood scale (the matching terms weigh 2σ²β against the summed squared error),
        the learning rate; λ_GW with a GW term; the prior's learning rate and L of Alg. 1 with a
        separately trained (score or energy) prior.
        Ranges span the table1 configuration (2σ²β = 0.01) to the authors' code (≈ 4-8)."""
        space = {"beta": LogUniform(1e-3, 1.0), "lr": LogUniform(5e-5, 1e-3)}
        if config.likelihood == "gaussian":
            space["obs_std"] = LogUniform(0.5, 2.0)
        if config.gw != "none":
            space["lambda_gw"] = LogUniform(0.1, 100.0)
        if config.prior in SEPARATE_PRIORS:
            space |= {"prior_lr": LogUniform(1e-4, 3e-3), "prior_steps": Choice(1, 2, 5, 10)}
        return space

    def __init__(self, config: VAUBConfig, input_shape, n_domains, n_classes):
        super().__init__(config, input_shape, n_domains, n_classes)
        c = config
        self.model = MultiDomainAutoencoder(
            input_shape, n_domains, c.latent_dim, c.hidden, c.enc_layers, c.dec_layers,
            shared=c.shared_networks, batchnorm_mean=c.batchnorm_mean, same_init=c.same_init,
            logvar_bound=c.logvar_bound,
        )
        self.prior = self._make_prior()

    def _make_prior(self) -> Prior:
        c = self.config
        if c.prior == "gaussian":
            return StandardGaussianPrior(c.latent_dim)
        if c.prior == "mog":
            return MixtureOfGaussiansPrior(c.latent_dim, c.mog_components)
        if c.prior == "vamp":
            return VampPrior(
                c.latent_dim, self.input_shape, self.n_domains, self.model.encode_domain,
                n_pseudo=c.vamp_pseudo, encoder_modules=self.model,
            )
        if c.prior == "ebm":
            return EnergyPrior(c.latent_dim, c.ebm_hidden, c.langevin_steps, c.langevin_step,
                               c.ebm_spectral_norm)
        return ScorePrior(
            c.latent_dim, encoder_gradient=c.encoder_gradient, sigma_min=c.sigma_min,
            sigma_max=c.sigma_max, n_levels=c.n_levels, sfs_perturb=c.sfs_perturb, sfs_level=c.sfs_level,
            sfs_shrink=c.sfs_shrink, hidden=c.score_hidden, n_layers=c.score_layers,
            layernorm=c.score_layernorm,
        )

    def fit(self, train: Split, budget: Budget, seed: int) -> dict[str, list[float]]:
        c = self.config
        if c.prior == "vamp":  # pseudo-inputs start at real rows of each domain
            for dom in range(self.n_domains):
                self.prior.initialise_from(train.x[train.d == dom], dom)
        trainer = self.make_trainer()
        if c.gw == "sp" and train.emb is None:
            if c.semantic is None:
                raise ValueError("gw='sp' needs a semantic space: set semantic= (e.g. "
                                 "'contrastive-digits-v1') or attach embeddings to the task "
                                 "(benchmarks.semantic.attach_embeddings)")
            train = embed_split(train, build_embedder(c.semantic))
        batches = CountedBatches(training_batches(train, budget.batch_size, seed))
        for _ in self.training_steps(budget, self.training_parts(trainer=trainer), batches):
            trainer.train_step(batches)
        self.finish_fit(train)
        keys = trainer.history[0].keys() if trainer.history else []
        return {k: [h[k] for h in trainer.history] for k in keys}

    def make_trainer(self) -> AlternatingTrainer:
        """Alg. 1's optimiser for this model, prior and configuration (what ``fit`` trains with)."""
        c = self.config
        return AlternatingTrainer(
            self.model, self.prior, beta=c.beta, gw=c.gw, lambda_gw=c.lambda_gw,
            gw_metric=c.gw_metric, gw_block_size=c.gw_block_size, gw_pairs=c.gw_pairs,
            likelihood=c.likelihood, obs_std=c.obs_std, lr=c.lr, prior_lr=c.prior_lr,
            prior_steps=c.prior_steps, optimizer=c.optimizer, weight_decay=c.weight_decay,
            objective=c.objective, objective_samples=c.objective_samples, encoder_steps=c.encoder_steps,
            bilevel_steps=c.bilevel_steps, bilevel_lr=c.bilevel_lr,
        )

    def finish_fit(self, train: Split) -> None:
        """Eval mode, with each domain's own normalisation statistics when ``eval_norm="domain"``."""
        if self.config.eval_norm == "domain" and self.config.batchnorm_mean:
            self.model.calibrate_domain_norm(train.x, train.d)
        self.model.eval()

    def loss_weights(self) -> dict[str, float]:
        """eq. 6-7 and 12: (1/β) Rec − H + CE (the score prior's surrogate for SFS / LSGM) + λ_GW L_GW;
        another objective: its φ loss ``inference`` (absent for the FAE) and θ loss ``learning``
        (:func:`saub.objective_axis.step_objective`) + λ_GW L_GW."""
        c = self.config
        if c.objective != DEFAULT_OBJECTIVE:
            weights = {"learning": 1.0} if OBJECTIVES[c.objective].inference is None \
                else {"inference": 1.0, "learning": 1.0}
        else:
            weights = {"reconstruction": 1.0 / c.beta, "entropy": -1.0, "cross_entropy": 1.0}
        if c.gw != "none":
            weights["gw"] = c.lambda_gw
        return weights

    @torch.no_grad()
    def elbo(self, x: Tensor, d: Tensor, n_samples: int = 1) -> Tensor:
        """F(x) per row (seed 002, eq. 1) under the fitted model: prior Q_ψ, p(x|z) = N(g_d(z), obs_std² I),
        KL by Monte Carlo over ``n_samples`` draws; :class:`Unsupported` where log Q_ψ is unknown (score
        and energy priors) or the likelihood is not Gaussian."""
        c = self.config
        if c.likelihood != "gaussian" or c.prior in SEPARATE_PRIORS:
            raise Unsupported(f"no ELBO: prior {c.prior!r} has no log-density or likelihood {c.likelihood!r} "
                              "is not Gaussian")
        self.model.eval()
        out = x.new_empty(len(x))
        for dom in torch.unique(d).tolist():
            rows = d == dom
            out[rows] = score_matching_elbo(
                x[rows], lambda xs, dom=dom: self.model.encode_domain(xs, dom),
                lambda zs, dom=dom: self.model.decode_domain(zs, dom), 2 * math.log(c.obs_std), n_samples,
                kl="mc", log_prior=self.prior.log_prob)
        return out

    def posterior_moments(self, x: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        self.model.eval()
        return self.model.encode(x, d)

    def _posterior_mean(self, x: Tensor, d: Tensor) -> Tensor:
        return self.model.encode(x, d)[0]

    def encode(self, x: Tensor, d: Tensor) -> Tensor:
        self.model.eval()
        return batched(self._posterior_mean, x, d)

    def decode_mean(self, z: Tensor, d: Tensor) -> Tensor:
        """E[x | z, d]: the decoder's output through :func:`saub.objective.likelihood_mean` (a
        Bernoulli decoder's logits become pixel probabilities)."""
        return likelihood_mean(self.model.decode(z, d), self.config.likelihood)

    def reconstruct(self, x: Tensor, d: Tensor) -> Tensor:
        self.model.eval()
        return batched(lambda xs, ds: self.decode_mean(self._posterior_mean(xs, ds), ds), x, d)

    @torch.no_grad()
    def translate(self, x: Tensor, d_from: int, d_to: int) -> Tensor:
        self.model.eval()
        return likelihood_mean(self.model.translate(x, d_from, d_to), self.config.likelihood)


register_method("vae-gaussian", VAUBFamily, "VAUB objective, fixed N(0, I) prior (eq. 6-7)",
                prior="gaussian")
register_method("vaub", VAUBFamily, "VAUB with a learnable mixture-of-Gaussians prior (Gong et al. 2024)",
                prior="mog")
register_method("vae-vamp", VAUBFamily, "VAUB with a VampPrior (Tomczak & Welling 2018)", prior="vamp")
register_method("vae-ebm", VAUBFamily,
                "VAUB, latent energy-based prior over N(0, I), short-run Langevin MLE (Pang et al. 2020)",
                prior="ebm")
register_method("lsgm", VAUBFamily, "score prior, encoder gradient through the score net (eq. 23-25)",
                prior="score", encoder_gradient="lsgm")
register_method("saub", VAUBFamily, "score prior with the SFS trick (eq. 8-11, Alg. 1)",
                prior="score", encoder_gradient="sfs")
