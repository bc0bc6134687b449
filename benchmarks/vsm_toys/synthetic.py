"""§5.1 / App. B.1 of seed 002 (Fig. 3, Fig. 7): Gaussian VAEs on 2-D synthetic data, trained by
Alg. 1's combined objectives and evaluated by importance sampling.

The model is eq. (3) with d_x = d_z = 2: p(z) = N(0, I), p_θ(x|z) = N(g_θ(z), γ I), q(z|x) =
N(μ(x), diag σ²(x)); g_θ and the encoder are fully connected with two hidden layers of 30 ReLU units
(§5.1). Evaluation (§5.1, "approximated by importance sampling") uses q(z|x) as the proposal,
z_s ~ q(z|x), log w_s = log p_θ(x|z_s) + log p(z_s) − log q(z_s|x):

* NLL: −log p̂_θ(x) = −(logsumexp_s log w_s − log S);
* the score matching loss (FD minus the data-only constant, Hyvärinen's form):
  SM(x) = ½ ‖∇_x log p_θ(x)‖² + Δ_x log p_θ(x), with the Fisher identity
  ∇_x log p_θ(x) = E_{p_θ(z|x)}[s_s], s_s = ∇_x log p_θ(x|z_s) = (g_θ(z_s) − x)/γ (eq. 18), and
  ∇²_x log p_θ(x) = E[∇²_x log p_θ(x|z)] + Cov[s] = −I/γ + Cov[s] (A.3's identities), so
  Δ_x log p_θ(x) = −d_x/γ + E‖s‖² − ‖E s‖², each expectation over p_θ(z|x) estimated by
  self-normalised importance weights w̄_s.

A linear decoder g(z) = W z + b has the closed forms p(x) = N(b, W Wᵀ + γ I) and SM(x) =
½ ‖C⁻¹(x − b)‖² − tr C⁻¹ (:func:`linear_gaussian_reference`), which the tests compare with.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from saub.networks import MLPDecoder, mlp
from saub.score_matching import VariationalScoreMatching, gaussian_log_likelihood, standard_normal_log_prob
from saub.score_matching.scores import diag_gaussian_log_prob

#: The two datasets of the authors' bi-level script (run_bilevel_toy.py: "sparse", "mixture") and three
#: standard 2-D toys of our choice (App. B.1 names none of its three further datasets).
DATASETS = ("sparse", "mixture", "moons", "circles", "ring8")
HIDDEN, LAYERS, D = 30, 3, 2
#: Objectives of Fig. 3: (inference, learning); ELBO is D_KL-ELBO.
OBJECTIVES = (("kl", "elbo"), ("kl", "m1"), ("kl", "m2"), ("kl", "m3"),
              ("fd", "m1"), ("fd", "m2"), ("fd", "m3"))
BILEVEL = ("m2", "m3")


def sample_dataset(name: str, n: int, gen: torch.Generator) -> Tensor:
    """``n`` draws ``[n, 2]`` of dataset ``name`` (float32):

    * ``sparse``: z ~ N(0, I), z ← sign(z) z², x = z A + 0.01 ε, A = [[1, 0.3], [−0.3, 1]]/10;
    * ``mixture``: equal halves N(∓0.5·1, 0.2² I);
    * ``moons``: two interleaved half circles (radius 1, the second shifted by (1, −0.5)) + 0.05 ε;
    * ``circles``: two concentric circles of radii 1 and 0.5 + 0.05 ε;
    * ``ring8``: eight N(·, 0.1² I) centred on the unit circle.
    """
    eps = torch.randn(n, D, generator=gen)
    half = torch.arange(n) < n // 2
    if name == "sparse":
        z = torch.randn(n, D, generator=gen)
        a = torch.tensor([[1.0, 0.3], [-0.3, 1.0]]) / 10
        return (z.sign() * z**2) @ a + 0.01 * eps
    if name == "mixture":
        return torch.where(half[:, None], -0.5, 0.5) + 0.2 * eps
    t = torch.rand(n, generator=gen)
    if name == "moons":
        t = math.pi * t
        upper = torch.stack([t.cos(), t.sin()], -1)
        return torch.where(half[:, None], upper, 1 - upper - torch.tensor([0.0, 0.5])) + 0.05 * eps
    if name == "circles":
        t = 2 * math.pi * t
        radius = torch.where(half, 1.0, 0.5)[:, None]
        return radius * torch.stack([t.cos(), t.sin()], -1) + 0.05 * eps
    if name == "ring8":
        k = torch.randint(8, (n,), generator=gen) * (2 * math.pi / 8)
        return torch.stack([k.cos(), k.sin()], -1) + 0.1 * eps
    raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")


class MLPEncoder(nn.Module):
    """q(z|x): two hidden layers of 30 ReLU units, then (mean, logvar) heads (§5.1)."""

    def __init__(self):
        super().__init__()
        self.net = mlp(D, HIDDEN, 2 * D, LAYERS)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.net(x).chunk(2, dim=-1)
        return mean, logvar


def importance_estimates(x: Tensor, encoder, decoder, log_gamma: Tensor | float, n_samples: int, *,
                         chunk: int = 1000, gen: torch.Generator | None = None) -> dict[str, Tensor]:
    """Per row of ``x`` ``[B, D]``: the importance-sampling NLL −log p̂_θ(x) and score matching loss
    SM(x) = ½‖∇ log p‖² + Δ log p (module docstring), from ``n_samples`` draws of q(z|x), streamed
    in ``chunk``-sized blocks (a running log-sum-exp of the weights and weighted sums of s, ‖s‖²)."""
    log_gamma = torch.as_tensor(log_gamma, dtype=x.dtype)
    gamma = log_gamma.exp()
    with torch.no_grad():
        mean, logvar = encoder(x)
        top = torch.full((x.shape[0],), -math.inf, dtype=x.dtype)
        w_sum = torch.zeros_like(top)
        s_sum = torch.zeros_like(x)
        s2_sum = torch.zeros_like(top)
        done = 0
        while done < n_samples:
            s = min(chunk, n_samples - done)
            eps = torch.randn(s, *mean.shape, generator=gen, dtype=x.dtype)
            z = mean + (0.5 * logvar).exp() * eps
            g = decoder(z.reshape(-1, mean.shape[-1])).reshape(s, *x.shape)
            log_w = (gaussian_log_likelihood(x, g, log_gamma) + standard_normal_log_prob(z)
                     - diag_gaussian_log_prob(z, mean, logvar))
            new_top = torch.maximum(top, log_w.max(0).values)
            scale = (top - new_top).exp()
            w = (log_w - new_top).exp()
            score = (g - x) / gamma
            w_sum = w_sum * scale + w.sum(0)
            s_sum = s_sum * scale[:, None] + (w[..., None] * score).sum(0)
            s2_sum = s2_sum * scale + (w * score.pow(2).sum(-1)).sum(0)
            top = new_top
            done += s
        grad = s_sum / w_sum[:, None]
        lap = -x.shape[-1] / gamma + s2_sum / w_sum - grad.pow(2).sum(-1)
        nll = -(top + w_sum.log() - math.log(n_samples))
    return {"nll": nll, "sm": 0.5 * grad.pow(2).sum(-1) + lap}


def linear_gaussian_reference(x: Tensor, weight: Tensor, bias: Tensor, gamma: float) -> dict[str, Tensor]:
    """Closed forms for g(z) = W z + b: p(x) = N(b, C), C = W Wᵀ + γ I; NLL = −log N(x; b, C) and
    SM(x) = ½ ‖C⁻¹(x − b)‖² − tr C⁻¹."""
    cov = weight @ weight.T + gamma * torch.eye(weight.shape[0], dtype=weight.dtype)
    prec = torch.linalg.inv(cov)
    nll = -torch.distributions.MultivariateNormal(bias, cov).log_prob(x)
    grad = -(x - bias) @ prec
    return {"nll": nll, "sm": 0.5 * grad.pow(2).sum(-1) - torch.trace(prec)}


def linear_gaussian_posterior(weight: Tensor, bias: Tensor, gamma: float):
    """The exact posterior of g(z) = W z + b as an encoder: Σ = (I + WᵀW/γ)⁻¹, μ(x) = Σ Wᵀ(x − b)/γ
    (``logvar`` the log of Σ's diagonal, exact when WᵀW is diagonal)."""
    cov = torch.linalg.inv(torch.eye(weight.shape[1], dtype=weight.dtype) + weight.T @ weight / gamma)

    def encoder(x: Tensor) -> tuple[Tensor, Tensor]:
        mean = (x - bias) @ weight @ cov.T / gamma
        return mean, cov.diagonal().log().expand_as(mean)

    return encoder


def train_vae(dataset: str, inference: str, learning: str, *, encoder_steps: int, bilevel_steps: int,
              steps: int, batch_size: int, lr: float, bilevel_lr: float, n_samples: int, log_gamma0: float,
              seed: int) -> dict:
    """Alg. 1 (:class:`~saub.score_matching.VariationalScoreMatching`) for ``steps`` decoder updates,
    each on a fresh minibatch of ``batch_size`` draws (the same one for its J encoder updates, App.
    B.1); Adam (lr ``lr``) for the encoder and for (g_θ, log γ). Stops early at a non-finite loss.
    Returns the modules, log γ, the learning-loss curve and the step reached."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    encoder, decoder = MLPEncoder(), MLPDecoder(D, (D,), hidden=HIDDEN, n_layers=LAYERS)
    log_gamma = torch.tensor(log_gamma0, requires_grad=True)
    algo = VariationalScoreMatching(
        encoder, decoder, log_gamma, torch.optim.Adam(encoder.parameters(), lr=lr),
        torch.optim.Adam([*decoder.parameters(), log_gamma], lr=lr), inference=inference, learning=learning,
        n_samples=n_samples, encoder_steps=encoder_steps, bilevel_steps=bilevel_steps, bilevel_lr=bilevel_lr)
    curve, finite = [], True
    for _ in range(steps):
        log = algo.step(sample_dataset(dataset, batch_size, gen))
        curve.append(log["learning_loss"])
        if not (math.isfinite(log["learning_loss"]) and all(
                torch.isfinite(p).all() for p in [log_gamma, *decoder.parameters(), *encoder.parameters()])):
            finite = False
            break
    return {"encoder": encoder, "decoder": decoder, "log_gamma": log_gamma.detach(), "curve": curve,
            "steps_done": len(curve), "finite": finite}
