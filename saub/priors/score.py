"""Score-based prior: a noise-conditional score network S_ψ(z, σ) learned by DSM.

Equations (seed 000):

* DSM, eq. 2 / 11: ``E_{σ, z, ε} λ(σ)/2 ||S_ψ(z + σε, σ) + ε/σ||²``, the target
  ``∇_z̃ log q_σ(z̃|z) = -ε/σ``. With the NCSN weighting λ(σ) = σ² (the default) this is
  ``1/2 ||σ S_ψ + ε||²``, the form in which the network predicts σ·score (the authors' choice).
* SFS, eq. 8-10: the cross-entropy term E_q[-log Q_ψ(z)] is replaced by the surrogate
  ``-S_ψ(z*, σ_0)ᵀ z`` with ``z* = z + σ_0 ε`` detached and σ_0 = σ_min. One score evaluation,
  no graph through the score network; its θ-gradient equals that of the cross-entropy
  (Prop. 1) when S_ψ is the prior's score.
* LSGM, eq. 23-25 (App. E; Vahdat et al. 2021, eq. 5 and App. A): the cross-entropy is the
  likelihood-weighted DSM loss plus the cross-entropy at the end of the diffusion, with the
  encoder gradient back-propagated through S_ψ. Both marginals follow the heat equation
  ∂_t q_t = g²/2 Δq_t, so d/dt CE(q_t‖Q_t) = -g²/2 E_{q_t}[||S - ∇log q_t||² - ||∇log q_t||²], and by
  the DSM identity (conditioning on the clean z, kernel N(z, σ_t²))

      CE(q_σmin‖Q_σmin) = CE(q_σmax‖Q_σmax) + ∫_0^1 g(t)²/2 E[||S(z_t, σ_t) + ε/σ_t||² - D/σ_t²] dt.

  For the variance-exploding schedule σ_t = σ_min (σ_max/σ_min)^t, g(t)² = dσ_t²/dt =
  2 σ_t² ln(σ_max/σ_min), so the integrand is ``ln(σ_max/σ_min) (||σ_t S + ε||² - D)`` (the paper's
  eq. 24 writes ``ε/σ_t - S_ψ`` for the convention z_t = z - σ_t ε: the same term). The generative
  model starts from a known Gaussian, Q_σmax = N(0, v_T I), so the terminal term is analytic given z:
  ``E_ε' ||z + σ_max ε'||²/(2 v_T) + D/2 ln(2π v_T) = (||z||² + D σ_max²)/(2 v_T) + D/2 ln(2π v_T)``.
  It depends on the encoder unless σ_max dwarfs the latent scale, so it is kept (dropping it
  gave the encoder the gradient of CE(q_σmin‖Q_σmin) - CE(q_σmax‖Q_σmax): 36 % off at σ_max = 1,
  77 % off at 0.4). Default v_T = 1 + σ_max²: the standard normal base of App. C's fallback score
  convolved with the noise.
* App. C: the network's output is blended with the score of a standard Gaussian convolved
  with the noise, ``S = α f_ψ(z, σ)/σ + (1 - α)(-z / (1 + σ²))`` with α = sigmoid(λ), λ
  learnable, so regions the network has not seen fall back to a Gaussian score.

Noise levels: ``n_levels`` geometric levels between σ_min and σ_max (the authors use 100); the
same :class:`NoiseSchedule` samples σ for DSM training and for the LSGM cross-entropy, so both
query the network only where it was trained. ``n_levels=None`` samples σ log-uniformly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from saub.priors.base import Prior

#: ``score_fn(z [B, D], sigma [B]) -> [B, D]``: a (learned or analytic) noise-conditional score.
ScoreFn = Callable[[Tensor, Tensor], Tensor]


class NoiseSchedule:
    """Geometric noise levels σ_i = σ_min (σ_max/σ_min)^{i/(L-1)}, i = 0..L-1."""

    def __init__(self, sigma_min: float, sigma_max: float, n_levels: int | None = 100):
        if not 0 < sigma_min <= sigma_max:
            raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
        if n_levels is not None and n_levels < 1:
            raise ValueError(f"n_levels must be >= 1 or None, got {n_levels}")
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.n_levels = n_levels

    @property
    def log_ratio(self) -> float:
        """ln(σ_max / σ_min), the factor of the VE-SDE likelihood weighting g(t)²/(2σ_t²)."""
        return math.log(self.sigma_max / self.sigma_min)

    def levels(self, dtype=torch.float32) -> Tensor:
        """All L levels, increasing, shape ``[L]``."""
        n = self.n_levels or 1
        if n == 1:
            return torch.tensor([self.sigma_min], dtype=dtype)
        t = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
        levels = self.sigma_min * (self.sigma_max / self.sigma_min) ** t
        levels[0], levels[-1] = self.sigma_min, self.sigma_max  # endpoints exact, not rounded
        return levels.to(dtype)

    def sample(self, n: int, dtype=torch.float32) -> Tensor:
        """σ for ``n`` samples: a uniformly drawn level each (log-uniform when continuous)."""
        if self.n_levels is None:
            t = torch.rand(n, dtype=dtype)
            return self.sigma_min * (self.sigma_max / self.sigma_min) ** t
        idx = torch.randint(0, self.n_levels, (n,))
        return self.levels(dtype)[idx]


class _SigmaEmbedding(nn.Module):
    """Fixed Fourier features of log σ, ``[B] -> [B, dim]``."""

    def __init__(self, dim: int = 32, scale: float = 1.0):
        super().__init__()
        self.register_buffer("freqs", scale * torch.arange(1, dim // 2 + 1, dtype=torch.float32))

    def forward(self, sigma: Tensor) -> Tensor:
        arg = torch.log(sigma).unsqueeze(-1) * self.freqs.to(sigma.dtype)
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)


class _ResidualBlock(nn.Module):
    def __init__(self, hidden: int, emb_dim: int):
        super().__init__()
        self.lin1 = nn.Linear(hidden, hidden)
        self.emb = nn.Linear(emb_dim, hidden)
        self.lin2 = nn.Linear(hidden, hidden)
        self.act = nn.SiLU()

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        return h + self.lin2(self.act(self.lin1(self.act(h)) + self.emb(emb)))


class ScoreNetwork(nn.Module):
    """Noise-conditional score network S_ψ(z, σ) with the App. C Gaussian-score mixing.

    The trunk maps ``[z, emb(log σ)]`` through ``n_layers`` hidden layers of width ``hidden``
    (plain SiLU layers, or residual blocks with ``residual=True``) to f_ψ(z, σ) ≈ σ·score.
    """

    def __init__(
        self,
        latent_dim: int,
        hidden: int = 128,
        n_layers: int = 3,
        residual: bool = False,
        gaussian_mixing: bool = True,
        mixing_logit: float = 0.0,
        emb_dim: int = 32,
        layernorm: bool = False,
    ):
        super().__init__()
        if layernorm and residual:
            raise ValueError("layernorm applies to the plain (non-residual) trunk")
        self.embed = _SigmaEmbedding(emb_dim)
        self.inp = nn.Linear(latent_dim + emb_dim, hidden)
        self.residual = residual
        if residual:
            self.blocks = nn.ModuleList(_ResidualBlock(hidden, emb_dim) for _ in range(n_layers))
        else:
            self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(n_layers - 1))
        #: LayerNorm after every hidden linear layer, before the activation (the authors' score MLP).
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(n_layers)) if layernorm else None
        self.out = nn.Linear(hidden, latent_dim)
        self.act = nn.SiLU()
        self.mixing_logit = nn.Parameter(torch.tensor(float(mixing_logit))) if gaussian_mixing else None

    def forward(self, z: Tensor, sigma: Tensor) -> Tensor:
        sigma = torch.as_tensor(sigma, dtype=z.dtype, device=z.device).expand(z.shape[0])
        emb = self.embed(sigma)
        h = self.inp(torch.cat([z, emb], dim=1))
        h = self.act(self.norms[0](h) if self.norms is not None else h)
        for i, block in enumerate(self.blocks):
            if self.residual:
                h = block(h, emb)
            else:
                h = block(h)
                h = self.act(self.norms[i + 1](h) if self.norms is not None else h)
        score = self.out(h) / sigma.unsqueeze(1)
        if self.mixing_logit is None:
            return score
        alpha = torch.sigmoid(self.mixing_logit)
        gaussian_score = -z / (1.0 + sigma.unsqueeze(1) ** 2)
        return alpha * score + (1 - alpha) * gaussian_score


def dsm_loss(score_fn: ScoreFn, z: Tensor, schedule: NoiseSchedule, weighting: str = "sigma2"):
    """Denoising score matching, eq. 2 / 11, averaged over the batch; returns a scalar.

    ``weighting="sigma2"``: ``1/2 ||σ S(z̃, σ) + ε||²`` (λ(σ) = σ², NCSN);
    ``weighting="none"``: ``1/2 ||S(z̃, σ) + ε/σ||²`` (eq. 2 literally).
    """
    sigma = schedule.sample(z.shape[0], dtype=z.dtype).to(z.device)
    eps = torch.randn_like(z)
    s = score_fn(z + sigma.unsqueeze(1) * eps, sigma)
    if weighting == "sigma2":
        resid = sigma.unsqueeze(1) * s + eps
    elif weighting == "none":
        resid = s + eps / sigma.unsqueeze(1)
    else:
        raise ValueError(f"weighting must be 'sigma2' or 'none', got {weighting!r}")
    return 0.5 * (resid**2).sum(1).mean()


def sfs_cross_entropy(z: Tensor, score_fn: ScoreFn, sigma0: float, perturb: bool = True,
                      shrink: float = 0.0) -> Tensor:
    """SFS surrogate of eq. 9-10, per sample ``[B]``: ``-S(z*, σ_0)ᵀ z`` with z* detached.

    ``perturb=True`` evaluates the score at ``z* = z + σ_0 ε`` (eq. 10); ``False`` at z itself
    (eq. 9, the form of Prop. 1). The score is computed without a graph, so no gradient reaches
    the score network and no activation of it is kept. ``shrink = c > 0`` uses ``S(z*) - c z*``
    instead (the authors' code adds ``-0.05 z`` to the learned score in the VAE step: a Gaussian
    score of precision c on top of the prior's).
    """
    with torch.no_grad():
        z_star = z.detach()
        if perturb:
            z_star = z_star + sigma0 * torch.randn_like(z_star)
        sigma = torch.full((z.shape[0],), sigma0, dtype=z.dtype, device=z.device)
        s = score_fn(z_star, sigma)
        if shrink:
            s = s - shrink * z_star
    return -(s * z).sum(1)


def lsgm_cross_entropy(z: Tensor, score_fn: ScoreFn, schedule: NoiseSchedule,
                       terminal_var: float | None = None) -> Tensor:
    """LSGM cross-entropy CE(q_σmin‖Q_σmin), eq. 23-24 plus the terminal term, per sample ``[B]``:

    ``ln(σ_max/σ_min) (||σ S(z+σε, σ) + ε||² - D) + (||z||² + D σ_max²)/(2 v_T) + D/2 ln(2π v_T)``

    with σ one of the schedule's levels and v_T = ``terminal_var`` (default 1 + σ_max²), the
    variance of the known Gaussian Q_σmax (module docstring). Unbiased for the cross-entropy of
    the diffusion model whose terminal marginal is N(0, v_T I) and whose score is ``score_fn``
    (exactly so for continuous levels, ``n_levels=None``; L geometric levels are a quadrature of
    the integral). The graph runs through ``score_fn``, so the encoder gradient contains the score
    network's Jacobian (eq. 25).
    """
    dim = z.shape[1]
    v_t = terminal_var if terminal_var is not None else 1.0 + schedule.sigma_max**2
    if v_t <= 0:
        raise ValueError(f"terminal_var must be > 0, got {v_t}")
    sigma = schedule.sample(z.shape[0], dtype=z.dtype).to(z.device)
    eps = torch.randn_like(z)
    s = score_fn(z + sigma.unsqueeze(1) * eps, sigma)
    diffusion = schedule.log_ratio * (((sigma.unsqueeze(1) * s + eps) ** 2).sum(1) - dim)
    terminal = ((z**2).sum(1) + dim * schedule.sigma_max**2) / (2 * v_t) \
        + 0.5 * dim * math.log(2 * math.pi * v_t)
    return diffusion + terminal


ENCODER_GRADIENTS = ("sfs", "lsgm")


class ScorePrior(Prior):
    """Score-based prior Q_ψ known through S_ψ; ``encoder_gradient`` picks SFS or LSGM.

    Both variants share the network and its DSM training (Alg. 1, step 2); they differ only in
    :meth:`cross_entropy`, i.e. in the gradient the encoder receives.
    """

    trained_separately = True
    exact_cross_entropy = False
    prior_loss_name = "dsm"

    def __init__(
        self,
        latent_dim: int,
        encoder_gradient: str = "sfs",
        sigma_min: float = 0.01,
        sigma_max: float = 0.4,
        n_levels: int | None = 100,
        sfs_perturb: bool = True,
        dsm_weighting: str = "sigma2",
        score_net: nn.Module | None = None,
        sfs_level: int | None = None,
        sfs_shrink: float = 0.0,
        terminal_var: float | None = None,
        **net_kwargs,
    ):
        super().__init__(latent_dim)
        if encoder_gradient not in ENCODER_GRADIENTS:
            raise ValueError(
                f"encoder_gradient must be one of {ENCODER_GRADIENTS}, got {encoder_gradient!r}"
            )
        self.encoder_gradient = encoder_gradient
        self.schedule = NoiseSchedule(sigma_min, sigma_max, n_levels)
        self.sfs_perturb = sfs_perturb
        #: σ_0 of the SFS surrogate: σ_min (None, eq. 10) or the schedule's level of this index (the
        #: authors' code evaluates the score at level 30 of 100).
        if sfs_level is not None and not 0 <= sfs_level < (n_levels or 1):
            raise ValueError(f"sfs_level must index one of the {n_levels} noise levels, got {sfs_level}")
        self.sfs_sigma = self.schedule.sigma_min if sfs_level is None \
            else float(self.schedule.levels(torch.float64)[sfs_level])
        self.sfs_shrink = sfs_shrink
        #: v_T of LSGM's terminal Gaussian N(0, v_T I) (None: 1 + σ_max²).
        self.terminal_var = terminal_var
        self.dsm_weighting = dsm_weighting
        self.score_net = score_net if score_net is not None else ScoreNetwork(latent_dim, **net_kwargs)

    def score(self, z: Tensor, sigma: Tensor) -> Tensor:
        """S_ψ(z, σ) ≈ ∇_z log q_σ(z)."""
        return self.score_net(z, sigma)

    def grad_log_prob(self, z: Tensor) -> Tensor:
        """∇_z log Q_ψ(z) as the network gives it: S_ψ(z, σ_min), the score of the prior smoothed by the
        smallest noise level (the closest to the clean prior DSM trains it at; eq. 10's σ_0), with a
        graph through S_ψ (so a reparameterised z gets the score network's Jacobian)."""
        sigma = torch.full((z.shape[0],), self.schedule.sigma_min, dtype=z.dtype, device=z.device)
        return self.score(z, sigma)

    def cross_entropy(self, z: Tensor) -> Tensor:
        if self.encoder_gradient == "sfs":
            return sfs_cross_entropy(z, self.score, self.sfs_sigma, self.sfs_perturb, self.sfs_shrink)
        return lsgm_cross_entropy(z, self.score, self.schedule, self.terminal_var)

    def prior_loss(self, z: Tensor) -> Tensor:
        """DSM loss (eq. 11) on detached posterior samples."""
        return dsm_loss(self.score, z.detach(), self.schedule, self.dsm_weighting)
