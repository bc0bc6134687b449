"""Latent energy-based prior: an energy MLP over a Gaussian base, learned by short-run Langevin MLE.

The prior (Pang et al. 2020, "Learning latent space energy-based prior model", NeurIPS, eq. 2;
the same form as the latent EBM of seed 003's DDLS, §3.3.3, whose energy is ``-log p0(z) - d(G(z))``
over the Gaussian base p0) is

    Q_ψ(z) = exp(-E_ψ(z)) N(z; 0, I) / Z_ψ,    Z_ψ = E_{N(0, I)}[exp(-E_ψ(z))],

an EBM (seed 003, §2.2.1 and §3.2.2) with total energy U_ψ(z) = E_ψ(z) + ½‖z‖².

* Cross-entropy (the term of eq. 7): E_q[-log Q_ψ(z)] = E_q[E_ψ(z) + ½‖z‖²] + D/2 log 2π + log Z_ψ.
  log Z_ψ depends on ψ only, not on the encoder, so :meth:`EnergyPrior.cross_entropy` returns
  ``E_ψ(z) + ½‖z‖² + D/2 log 2π``: exact up to that constant (``exact_cross_entropy = False``),
  with the exact encoder gradient (∇_z: ∇E_ψ(z) + z).
* ψ by maximum likelihood on the aggregate posterior (seed 003, eq. 2.2.2-2.2.3 and 3.3.2):
  ∇_ψ KL(q‖Q_ψ) = E_q[∇_ψ E_ψ(z)] - E_{Q_ψ}[∇_ψ E_ψ(z)], the second expectation over short-run
  Langevin samples of Q_ψ started at N(0, I) and detached (Pang et al. 2020, eq. 8-9). Like the
  score priors, ψ is updated in the separate step of Alg. 1 (``trained_separately = True``).
* Langevin dynamics (seed 003, §3.2.2): z_{i+1} = z_i - ε/2 ∇_z U(z_i) + √ε n_i, n_i ~ N(0, I)
  (:func:`langevin`). Defaults: 60 steps with ε = s² = 0.16, Pang et al.'s short-run prior sampler
  (``e_l_steps = 60``, ``e_l_step_size = s = 0.4`` in their code); seed 003's DDLS uses ε = 0.01
  (noise std √ε = 0.1) for up to 1000 steps (App. A.3.2), a longer chain for the same mixing.

The energy network follows Pang et al.: two hidden layers of width 200 with GELU, a scalar output,
here with spectral normalisation of every linear layer (Miyato et al. 2018; their code's ``e_sn``
option), which makes E_ψ Lipschitz (constant ≈ 1.3 with GELU). Without it, on fig3's nested-D task
the VAE and the energy ran away together: the encoder shrank its posteriors into ever deeper
narrow wells of E_ψ that short-run chains from N(0, I) never reach, so ``mean E(pos) - mean E(neg)``
fell to -7e8 and the cross-entropy to -1.6e4 within 1000 steps (posterior std 5e-4, AUROC 0.59).
A Lipschitz energy bounds both the encoder's gain from such wells and the Langevin drift.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from saub.networks import mlp
from saub.priors.base import Prior

#: ``energy_fn(z [B, D]) -> [B]``: a total energy U(z), the negative log-density up to a constant.
EnergyFn = Callable[[Tensor], Tensor]

#: Pang et al. 2020's short-run prior sampler: K = 60 steps of size s = 0.4, i.e. ε = s².
LANGEVIN_STEPS = 60
LANGEVIN_STEP = 0.4**2


def langevin(energy_fn: EnergyFn, z: Tensor, n_steps: int, step: float,
             generator: torch.Generator | None = None) -> Tensor:
    """Unadjusted Langevin dynamics on exp(-U) (seed 003, §3.2.2), from ``z`` ``[B, D]``:

    ``z ← z - (ε/2) ∇_z U(z) + √ε n``, n ~ N(0, I), ``n_steps`` times with ε = ``step``.

    Returns the detached final state. Only z is differentiated (no gradient reaches the
    parameters of ``energy_fn``); works inside ``torch.no_grad``.
    """
    if n_steps < 0 or step <= 0:
        raise ValueError(f"need n_steps >= 0 and step > 0, got {n_steps}, {step}")
    noise_std = math.sqrt(step)
    z = z.detach()
    for _ in range(n_steps):
        with torch.enable_grad():
            z.requires_grad_(True)
            (grad,) = torch.autograd.grad(energy_fn(z).sum(), z)
        with torch.no_grad():
            noise = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
            z = z - 0.5 * step * grad + noise_std * noise
    return z


class EnergyPrior(Prior):
    """Q_ψ(z) ∝ exp(-E_ψ(z)) N(z; 0, I) (module docstring); ``energy_net(z) -> [B]`` is E_ψ.

    ``hidden``: width of the default energy MLP, ``spectral_norm``: normalise its linear layers
    (module docstring); ``langevin_steps`` and ``langevin_step`` (ε) set the sampler of
    :meth:`sample` and of the negative phase of :meth:`prior_loss`.
    """

    trained_separately = True
    exact_cross_entropy = False
    prior_loss_name = "ebm"

    def __init__(self, latent_dim: int, hidden: int = 200, langevin_steps: int = LANGEVIN_STEPS,
                 langevin_step: float = LANGEVIN_STEP, spectral_norm: bool = True,
                 energy_net: nn.Module | None = None):
        super().__init__(latent_dim)
        if langevin_steps < 1 or langevin_step <= 0:
            raise ValueError(f"need langevin_steps >= 1 and langevin_step > 0, got "
                             f"{langevin_steps}, {langevin_step}")
        self.langevin_steps = langevin_steps
        self.langevin_step = langevin_step
        if energy_net is None:
            energy_net = mlp(latent_dim, hidden, 1, 3, nn.GELU)
            if spectral_norm:
                for i, layer in enumerate(energy_net):
                    if isinstance(layer, nn.Linear):
                        energy_net[i] = apply_spectral_norm(layer)
        self.energy_net = energy_net

    def energy(self, z: Tensor) -> Tensor:
        """E_ψ(z), the correction to the base's energy, ``[B, D] -> [B]``."""
        return self.energy_net(z).reshape(z.shape[0])

    def total_energy(self, z: Tensor) -> Tensor:
        """U_ψ(z) = E_ψ(z) + ½‖z‖² = -log Q_ψ(z) - D/2 log 2π - log Z_ψ."""
        return self.energy(z) + 0.5 * (z**2).sum(1)

    def cross_entropy(self, z: Tensor) -> Tensor:
        """-log Q_ψ(z) + log Z_ψ: ``U_ψ(z) + D/2 log 2π``, exact up to the ψ-only constant log Z_ψ."""
        return self.total_energy(z) + 0.5 * self.latent_dim * math.log(2 * math.pi)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` short-run Langevin samples of Q_ψ from N(0, I) starts, ``[n, latent_dim]`` (detached)."""
        p = next(self.energy_net.parameters(), None)
        kw = {"dtype": p.dtype, "device": p.device} if p is not None else {}
        z0 = torch.randn(n, self.latent_dim, generator=generator, **kw)
        with parametrize.cached():  # one spectral normalisation per chain, not one per step
            return langevin(self.total_energy, z0, self.langevin_steps, self.langevin_step, generator)

    def prior_loss(self, z: Tensor) -> Tensor:
        """Contrastive MLE loss ``mean E_ψ(z) - mean E_ψ(z̃)``, z̃ = :meth:`sample` (as many as z), on
        detached posterior samples z: its ψ-gradient is that of KL(q‖Q_ψ) (module docstring)."""
        negatives = self.sample(z.shape[0])
        return self.energy(z.detach()).mean() - self.energy(negatives).mean()
