"""fig1 building blocks: SFS vs. LSGM encoder gradients against a fixed, known prior (§3.2.1, Fig. 1).

The experiment (seed 000, §3.2.1 and App. E):

1. Fix a known mixture-of-Gaussians prior Q* in a 2-D latent space (:func:`known_prior`).
2. Pre-train ONE noise-conditional score network on samples of Q* by DSM with σ drawn
   log-uniformly in [0.001, 1] (:func:`pretrain_score_network`), so that it can be queried at
   every σ_min of the sweep with σ_max = 1; then freeze it.
3. Train encoder and decoder only (score network frozen, prior never updated) with the VAUB
   objective, β = 0.1, once with the SFS cross-entropy (eq. 10: one detached score evaluation
   at σ_min) and once with LSGM's (eq. 23-24: weighted DSM over [σ_min, 1], back-propagated
   through the score network), for σ_min ∈ {0.001, 0.01, 0.1, 0.2}
   (:func:`train_against_fixed_prior`; the experiment is ``benchmarks.experiments.fig1``).
4. Track the reconstruction error and the EXACT NLL of posterior samples under Q*,
   mean_i −log Q*(z_i), z_i ~ q(z|x_i), on a fixed evaluation set (:func:`exact_nll`).

Choices the paper leaves open (documented here, returned in ``results["config"]``):

* Q*: 8 equal-weight isotropic Gaussians, means on a circle of radius 1.4, std 0.25. App. C
  batch-normalises the posterior mean (no affine), so the means of a batch have zero mean and
  unit variance per coordinate and a posterior sample has per-coordinate variance
  1 + E[σ²_q] ≥ 1. Q*'s per-coordinate variance is r²/2 + s² = 0.98 + 0.0625 ≈ 1.04, so the
  aggregate posterior CAN match Q* (a ring of radius 1.0 with std 0.25 has variance 0.56 and
  could not: the encoder would be pushed off the prior by the batch normalisation alone).
* Data X: 8 isotropic Gaussian clusters (std 0.2) on a circle of radius 2 in R², rotated by
  π/8 against Q* — the prior's structure at another scale and orientation, as in the paper's
  panel (a) ("the target distribution projected onto the Z-space"). Single domain (d = 0).
* Networks: ``MultiDomainAutoencoder((2,), 1, 2, hidden=64)`` (App. C mean batch norm on),
  Gaussian likelihood with unit observation std, Adam lr 1e-3. Score network:
  :class:`saub.priors.score.ScoreNetwork` (σ·score parameterisation, App. C Gaussian mixing).
* LSGM draws σ log-uniformly in [σ_min, 1] (t ~ U[0, 1] of the VE SDE) and adds the terminal
  cross-entropy against N(0, (1 + σ_max²) I) (:func:`saub.priors.score.lsgm_cross_entropy`); SFS
  evaluates the score once at σ_min on z* = z + σ_min ε (eq. 10).
* Reconstruction is reported as the mean squared error Σ_j (x_j − D(z)_j)², z ~ q(z|x), on the
  evaluation set; the per-step training reconstruction is kept too (for spikes between evals).
* All eight trainings of one seed share the model initialisation, the data stream and the
  evaluation noise (common random numbers); only the cross-entropy term differs.

Every function takes its sizes as keyword arguments; the experiment's profiles choose them.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from saub.networks import MultiDomainAutoencoder
from saub.priors.explicit import mixture_log_prob
from saub.priors.score import NoiseSchedule, ScoreNetwork, ScorePrior, dsm_loss
from saub.seeding import derive_seed
from saub.training import AlternatingTrainer, Batch, DivergenceError

SIGMA_MINS = (0.001, 0.01, 0.1, 0.2)
GRADIENTS = ("sfs", "lsgm")
SIGMA_MAX = 1.0
BETA = 0.1
LOG_2PI = math.log(2 * math.pi)

# --------------------------------------------------------------------------------------------
# The known prior (and the data, which is a mixture of the same kind)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianMixture:
    """A mixture of diagonal Gaussians in R^D with fixed parameters (float64 internally)."""

    means: Tensor  # [K, D]
    logvars: Tensor  # [K, D]
    log_weights: Tensor  # [K], normalised

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
        """``n`` draws ``[n, D]``; all randomness from ``generator`` (the global RNG if None)."""
        comp = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        z = self.means[comp] + torch.exp(0.5 * self.logvars[comp]) * eps
        return z.to(dtype)

    def log_prob(self, z: Tensor) -> Tensor:
        """Exact log Q(z) ``[B]`` via :func:`saub.priors.explicit.mixture_log_prob`."""
        return mixture_log_prob(z, self.means.to(z.dtype), self.logvars.to(z.dtype),
                                self.log_weights.to(z.dtype))

    def noised(self, sigma: float) -> GaussianMixture:
        """The mixture convolved with N(0, σ² I): q_σ = Q * N(0, σ²), the DSM target density."""
        return GaussianMixture(self.means, torch.log(self.logvars.exp() + sigma**2), self.log_weights)

    def score(self, z: Tensor, sigma: float = 0.0) -> Tensor:
        """Analytic ∇_z log q_σ(z) ``[B, D]`` of the noised mixture (autograd of the exact log-density)."""
        mix = self.noised(sigma) if sigma > 0 else self
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(mix.log_prob(zz).sum(), zz)
        return grad

    def entropy(self, n: int = 200_000, seed: int = 0) -> float:
        """Monte-Carlo H(Q) = E_Q[−log Q] (the NLL of a posterior that matches Q exactly)."""
        z = self.sample(n, torch.Generator().manual_seed(seed), dtype=torch.float64)
        return float(-self.log_prob(z).mean())


def ring_mixture(k: int, radius: float, std: float, rotation: float = 0.0) -> GaussianMixture:
    """``k`` equal-weight isotropic Gaussians (std ``std``) with means on a circle in R²."""
    angle = rotation + 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    means = radius * torch.stack([angle.cos(), angle.sin()], 1)
    logvars = torch.full((k, 2), 2 * math.log(std), dtype=torch.float64)
    log_weights = torch.full((k,), -math.log(k), dtype=torch.float64)
    return GaussianMixture(means, logvars, log_weights)


def known_prior(k: int = 8, radius: float = 1.4, std: float = 0.25, rotation: float = 0.0) -> GaussianMixture:
    """Q*: the fixed prior of fig1 (defaults: 8 components, radius 1.4, std 0.25; see module doc)."""
    return ring_mixture(k, radius, std, rotation)


def default_data(k: int = 8, radius: float = 2.0, std: float = 0.2,
                 rotation: float = math.pi / 8) -> GaussianMixture:
    """The data distribution X of fig1: Q*'s structure at another scale and orientation."""
    return ring_mixture(k, radius, std, rotation)


def nll_floor(prior: GaussianMixture) -> float:
    """min_z −log Q*(z) (attained near a component mean): the NLL of posteriors collapsed onto the modes."""
    return float(-prior.log_prob(prior.means).max())


def exact_nll(prior: GaussianMixture, z: Tensor) -> float:
    """The fig1 metric: mean_i −log Q*(z_i) under the known prior, in float64."""
    return float(-prior.log_prob(z.detach().to(torch.float64)).mean())


# --------------------------------------------------------------------------------------------
# Score-network pre-training on Q* and its accuracy
# --------------------------------------------------------------------------------------------


def pretrain_score_network(
    prior: GaussianMixture,
    steps: int,
    batch_size: int = 512,
    *,
    sigma_min: float = 0.001,
    sigma_max: float = SIGMA_MAX,
    n_levels: int | None = None,
    seed: int = 0,
    hidden: int = 128,
    n_layers: int = 3,
    lr: float = 3e-3,
    progress: bool = False,
    **net_kwargs,
) -> ScoreNetwork:
    """DSM (eq. 2 / 11 with λ(σ) = σ², :func:`saub.priors.score.dsm_loss`) on fresh samples of Q*.

    σ is log-uniform in [σ_min, σ_max] (``n_levels=None``) or uniform over ``n_levels`` geometric
    levels. Adam (lr 3e-3: at 6000 steps it reached 3-10x lower score errors at σ ∈ [0.01, 0.2]
    than 1e-3) with a cosine learning-rate decay to 0. ``net_kwargs`` go to
    :class:`~saub.priors.score.ScoreNetwork`. Returns the network frozen
    (``requires_grad=False``) and in eval mode; the global torch RNG is left untouched.
    """
    schedule = NoiseSchedule(sigma_min, sigma_max, n_levels)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ScoreNetwork(prior.dim, hidden=hidden, n_layers=n_layers, **net_kwargs)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
        report_every = max(steps // 10, 1)
        running = 0.0
        for step in range(steps):
            loss = dsm_loss(net, prior.sample(batch_size, gen), schedule)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
            if progress and (step + 1) % report_every == 0:
                print(f"  pretrain {step + 1}/{steps}: DSM {running / report_every:.4f}", flush=True)
                running = 0.0
    return net.requires_grad_(False).eval()


def score_error(
    net: nn.Module, prior: GaussianMixture, sigma: float, n: int = 4000, seed: int = 1
) -> dict[str, float]:
    """Learned vs. analytic score of the noised prior q_σ, on samples z̃ ~ q_σ.

    ``relative_mse`` = E||S_ψ − ∇log q_σ||² / E||∇log q_σ||²; ``sigma_scaled_rmse`` =
    sqrt(E||σ(S_ψ − ∇log q_σ)||²), the error of the network's own output f ≈ σ·score (the scale
    on which DSM trains it; the score error is this divided by σ).
    """
    gen = torch.Generator().manual_seed(seed)
    z = prior.noised(sigma).sample(n, gen)
    true = prior.score(z.double(), sigma)
    with torch.no_grad():
        learned = net(z, torch.full((n,), sigma)).double()
    err = ((learned - true) ** 2).sum(1)
    return {
        "sigma": sigma,
        "relative_mse": float(err.mean() / (true**2).sum(1).mean()),
        "sigma_scaled_rmse": float(sigma * err.mean().sqrt()),
        "true_score_rms": float((true**2).sum(1).mean().sqrt()),
    }


# --------------------------------------------------------------------------------------------
# Encoder/decoder training against the frozen score network
# --------------------------------------------------------------------------------------------


def _batches(data, batch_size: int, gen: torch.Generator) -> Iterable[Batch]:
    d = torch.zeros(batch_size, dtype=torch.long)
    while True:
        if isinstance(data, Tensor):
            x = data[torch.randint(0, data.shape[0], (batch_size,), generator=gen)]
        else:
            x = data.sample(batch_size, gen)
        yield Batch(x, d)


def _freeze(net: nn.Module) -> nn.Module:
    net.requires_grad_(False)
    return net.eval()


def train_against_fixed_prior(
    score_net: nn.Module,
    prior: GaussianMixture,
    encoder_gradient: str,
    sigma_min: float,
    steps: int,
    batch_size: int = 256,
    *,
    seed: int = 0,
    lr: float = 1e-3,
    eval_every: int = 50,
    data: GaussianMixture | Tensor | None = None,
    n_eval: int = 2000,
    sigma_max: float = SIGMA_MAX,
    beta: float = BETA,
    hidden: int = 64,
    progress: bool = False,
) -> dict:
    """Train encoder/decoder only, with the score network frozen, and record the fig1 curves.

    ``data``: an object with ``sample(n, generator)`` (default :func:`default_data`) or a tensor
    ``[N, 2]`` to draw minibatches from with replacement. Every ``eval_every`` steps (and at
    the first and last step) on a fixed evaluation set of ``n_eval`` points with fixed noise:
    ``reconstruction`` = mean ||x − D(z)||², ``nll`` = mean −log Q*(z), z ~ q(z|x), and
    ``posterior_std`` = mean posterior standard deviation, the encoder in eval mode (batch norm
    with running statistics). ``train_reconstruction`` holds the per-step training ||x − D(z)||²
    (batch mean, recovered from the logged Gaussian NLL).

    A NaN/inf loss (:class:`saub.training.DivergenceError`) or a non-finite evaluation ends the
    run: ``diverged`` is True and ``diverged_at`` the step. Never raises on divergence.
    ``score_net`` is frozen in place (``requires_grad=False``, eval mode) and never updated; the
    global torch RNG is left untouched.
    """
    data = default_data() if data is None else data
    _freeze(score_net)
    gen = torch.Generator().manual_seed(seed)
    eval_gen = torch.Generator().manual_seed(derive_seed("stability-eval", seed))
    if isinstance(data, Tensor):
        x_eval = data[torch.randint(0, data.shape[0], (n_eval,), generator=eval_gen)]
    else:
        x_eval = data.sample(n_eval, eval_gen)
    eps_eval = torch.randn(n_eval, prior.dim, generator=eval_gen)
    d_eval = torch.zeros(n_eval, dtype=torch.long)
    const = 0.5 * x_eval.shape[1] * LOG_2PI  # Gaussian NLL (unit std) = ½||x − x̂||² + const

    out: dict = {"encoder_gradient": encoder_gradient, "sigma_min": sigma_min, "seed": seed,
                 "step": [], "reconstruction": [], "nll": [], "posterior_std": [], "train_reconstruction": [],
                 "diverged": False, "diverged_at": None, "error": None}
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MultiDomainAutoencoder((prior.dim,), 1, prior.dim, hidden=hidden)
        sp = ScorePrior(prior.dim, encoder_gradient=encoder_gradient, sigma_min=sigma_min,
                        sigma_max=sigma_max, n_levels=None, score_net=score_net)
        trainer = AlternatingTrainer(model, sp, beta=beta, lr=lr, prior_steps=0)
        assert trainer.prior_opt is None and not any(p.requires_grad for p in sp.parameters())
        stream = _batches(data, batch_size, gen)

        def evaluate(step: int) -> bool:
            model.eval()
            with torch.no_grad():
                mean, logvar = model.encode(x_eval, d_eval)
                z = mean + torch.exp(0.5 * logvar) * eps_eval
                rec = float(((model.decode(z, d_eval) - x_eval) ** 2).sum(1).mean())
                nll = exact_nll(prior, z)
            model.train()
            out["step"].append(step)
            out["reconstruction"].append(rec)
            out["nll"].append(nll)
            out["posterior_std"].append(float(torch.exp(0.5 * logvar).mean()))
            if progress:
                print(f"  {encoder_gradient} σ_min={sigma_min} step {step}: recon {rec:.4g} nll {nll:.4g}",
                      flush=True)
            return math.isfinite(rec) and math.isfinite(nll)

        for step in range(steps + 1):
            if step % eval_every == 0 or step == steps:
                if not evaluate(step):
                    out["diverged"], out["diverged_at"] = True, step
                    out["error"] = "non-finite evaluation"
                    break
            if step == steps:
                break
            try:
                logs = trainer.train_step(stream)
            except DivergenceError as exc:
                out["diverged"], out["diverged_at"], out["error"] = True, step, str(exc)
                break
            out["train_reconstruction"].append(2.0 * (logs["reconstruction"] - const))
    out["seconds"] = time.perf_counter() - t0
    out["final"] = curve_summary(out)
    return out


# --------------------------------------------------------------------------------------------
# Scalars for the claims
# --------------------------------------------------------------------------------------------


def _finite(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def spike_ratio(values: Sequence[float], window: int = 10, warmup: int = 5) -> float:
    """max_t values[t] / median(values[t−window : t]) for t ≥ ``warmup`` (1.0 if too short).

    A curve that only decreases gives ≤ 1; a sudden jump to k times the recent level gives ≈ k.
    """
    v = _finite(values)
    ratios = [v[t] / statistics.median(v[max(0, t - window):t]) for t in range(max(warmup, 1), len(v))]
    ratios = [r for r in ratios if math.isfinite(r)]
    return float(max(ratios)) if ratios else 1.0


def curve_summary(run: dict, tail: float = 0.1) -> dict:
    """Scalars of one run's curves (non-finite values dropped).

    ``final_*``: mean over the last ``tail`` of the evaluations (of a diverged run: of those
    before the divergence); ``min_nll`` / ``max_nll`` over all evaluations (step 0 included);
    ``max_nll_late`` over the second half of the evaluations (late instability);
    ``recon_spike``: :func:`spike_ratio` of the evaluation reconstruction curve (window 10 evals);
    ``train_recon_spike``: the same on the per-step training reconstruction (window 100 steps);
    ``final_posterior_std``: mean posterior standard deviation of q(z|x) (Q*'s components have 0.25).
    """
    nll, rec = _finite(run["nll"]), _finite(run["reconstruction"])
    post = run.get("posterior_std")
    k = max(1, int(round(tail * len(nll))))
    return {
        "final_nll": float(nll[-k:].mean()) if len(nll) else math.nan,
        "final_reconstruction": float(rec[-k:].mean()) if len(rec) else math.nan,
        "final_posterior_std": float(np.mean(post[-k:])) if post else math.nan,
        "min_nll": float(nll.min()) if len(nll) else math.nan,
        "max_nll": float(nll.max()) if len(nll) else math.nan,
        "max_nll_late": float(nll[len(nll) // 2:].max()) if len(nll) else math.nan,
        "diverged": bool(run["diverged"]),
        "diverged_at": run["diverged_at"],
        "recon_spike": spike_ratio(run["reconstruction"], window=10, warmup=5),
        "train_recon_spike": spike_ratio(run["train_reconstruction"], window=100, warmup=50),
        "last_step": run["step"][-1] if run["step"] else None,
    }


__all__ = [
    "SIGMA_MINS", "GRADIENTS", "SIGMA_MAX", "BETA",
    "GaussianMixture", "ring_mixture", "known_prior", "default_data", "exact_nll", "nll_floor",
    "pretrain_score_network", "score_error", "train_against_fixed_prior", "spike_ratio", "curve_summary",
]
