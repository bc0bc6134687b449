"""§5.2 / App. B.2 of seed 002 (Fig. 4, Fig. 9): Gaussian VAEs on 32×32 images with DCGAN networks.

The model is eq. (3): p(z) = N(0, I_{d_z}), p_θ(x|z) = N(g_θ(z), γ I), q(z|x) = N(μ(x), diag σ²(x)),
d_z = 100 (App. B.2), γ learned. Images are resized to 32×32 (MNIST and Fashion-MNIST zero-padded
from 28×28, App. B.2), mapped to [−1, 1] (the DCGAN tutorial's normalisation, which App. B.2's
footnote names as the networks' source; the seed does not state the pixel range) and given a fresh
isotropic Gaussian noise of sd 0.1 every time they are used (App. B.2; the test set's noise is drawn
once, from a fixed seed).

Networks (the DCGAN tutorial's, pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html, for 32×32:
one stage fewer than its 64×64 version), with ReLU everywhere (App. B.2) and *no* batch
normalisation: M1 and M3 need the per-row x-score s^q(z|x) at a fixed z, which batch statistics
couple across the rows of a batch (:mod:`saub.score_matching.scores`), and the exact posterior score
∇_z log p_θ(z|x) of the posterior FD needs a row-wise g_θ.

* g_θ (:class:`DCGANDecoder`): z → ConvT(d_z, 4w, 4, 1, 0) → ReLU → ConvT(4w, 2w, 4, 2, 1) → ReLU →
  ConvT(2w, w, 4, 2, 1) → ReLU → ConvT(w, C, 4, 2, 1) → tanh; sides 4, 8, 16, 32;
* q (:class:`DCGANEncoder`): the discriminator mirrored, Conv(C, w, 4, 2, 1) → ReLU → Conv(w, 2w) → ReLU
  → Conv(2w, 4w) → ReLU → Conv(4w, 2 d_z, 4, 1, 0): the mean and log-variance.

The tutorial's width is w = 64; the CPU profiles use a narrower w (recorded in every record).

Test metrics (App. B.2, each the mean over the test images):

* negative ELBO: −F(x) of eq. (1), reconstruction term by 5 samples of q, KL to N(0, I) in closed form;
* reconstruction MSE: ‖x − g_θ(μ(x))‖² / d_x for the noisy test image x;
* latent MMD: one z ~ q(z|x) per test image against as many z ~ p(z), unbiased MMD² with the cubic
  kernel k(a, b) = (aᵀb / d_z + 1)³ (:func:`~benchmarks.metrics.sample_quality.cubic_kernel_mmd2`;
  the kernel of KID, Bińkowski et al., ref. [3] of the seed);
* posterior FD: D_F[q(z|x)||p_θ(z|x)] = ½ E_q‖∇_z log q − ∇_z log p_θ(z|x)‖² by 5 samples of q
  (:func:`saub.score_matching.posterior_fisher_divergence`);
* posterior SDs (Fig. 9): σ_j(x) of every test image and latent dimension, as per-dimension histograms;
* sample quality (Table 1's FID and KID, here in a *substitute* feature space, after training,
  :func:`sample_quality`): the Fréchet and kernel distances between the features of the clean test
  images and of as many samples g_θ(z), z ~ N(0, I), in the features of a classifier trained on the
  labelled training images (:class:`~benchmarks.metrics.sample_quality.ClassifierFeatures`), not
  Inception-v3's, whose weights are absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.metrics.sample_quality import (
    ClassifierFeatures,
    cubic_kernel_mmd2,
    frechet_distance,
    kernel_distance,
)
from saub.score_matching import VariationalScoreMatching, elbo, posterior_fisher_divergence

SIDE = 32
NOISE_SD = 0.1
#: Histogram bins of the posterior SDs (Fig. 9's axis spans [0, 1]; a little room above 1).
SD_BINS = np.linspace(0.0, 1.2, 25)
#: An SD counts as "at 0" below, and "at 1" above, these (ours: the predicate of Fig. 9's claim).
SD_LOW, SD_HIGH = 0.2, 0.8


class DCGANDecoder(nn.Module):
    """g_θ(z): ``[N, d_z] -> [N, C, 32, 32]`` in (−1, 1) (module docstring)."""

    def __init__(self, latent_dim: int, channels: int, width: int):
        super().__init__()
        w = width
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 4 * w, 4, 1, 0),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(w, channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class DCGANEncoder(nn.Module):
    """q(z|x): ``[N, C, 32, 32] -> (mean, logvar)``, each ``[N, d_z]`` (module docstring)."""

    def __init__(self, latent_dim: int, channels: int, width: int):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(4 * w, 2 * latent_dim, 4, 1, 0),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.net(x).flatten(1).chunk(2, dim=-1)
        return mean, logvar


def to_model_images(x: np.ndarray) -> Tensor:
    """Gray images ``[N, S, S]`` in [0, 1] (S ≤ 32) -> ``[N, 1, 32, 32]`` in [−1, 1], zero-padded
    (in [0, 1], i.e. with the background) to 32×32 as App. B.2; colour ``[N, 3, 32, 32]`` passes."""
    t = torch.as_tensor(x, dtype=torch.float32)
    if t.dim() == 3:
        t = t[:, None]
    pad = SIDE - t.shape[-1]
    if pad < 0 or pad % 2 or t.shape[-1] != t.shape[-2]:
        raise ValueError(f"expected square images of side ≤ {SIDE} (even difference), got {tuple(t.shape)}")
    t = nn.functional.pad(t, (pad // 2,) * 4)
    return 2 * t - 1


def add_noise(x: Tensor, gen: torch.Generator) -> Tensor:
    """x + 0.1 ε, ε ~ N(0, I) (App. B.2)."""
    return x + NOISE_SD * torch.randn(x.shape, generator=gen)


def sd_extreme_fraction(sd: Tensor) -> float:
    """The share of posterior SDs at 0 or at 1 (below :data:`SD_LOW` or above :data:`SD_HIGH`)."""
    return float(((sd < SD_LOW) | (sd > SD_HIGH)).float().mean())


def sd_histograms(sd: Tensor) -> list[list[float]]:
    """Per latent dimension, the share of test images whose σ_j falls in each of :data:`SD_BINS`'s bins
    (values above the last edge go to the last bin): ``d_z`` lists of ``len(SD_BINS) − 1`` shares."""
    clipped = np.minimum(sd.numpy().astype(np.float64), SD_BINS[-1])  # float64: the last edge itself counts
    return [np.round(np.histogram(col, SD_BINS)[0] / len(col), 4).tolist() for col in clipped.T]


@dataclass
class ImageVAE:
    """A trained (or training) model: encoder, decoder and log γ."""

    encoder: DCGANEncoder
    decoder: DCGANDecoder
    log_gamma: Tensor


def evaluate_test_set(
    model: ImageVAE, x: Tensor, *, n_samples: int = 5, chunk: int = 100, gen: torch.Generator | None = None
) -> dict[str, float]:
    """The test metrics of the module docstring on noisy test images ``x`` ``[N, C, 32, 32]``, in
    ``chunk``-sized blocks, and the posterior SDs' share at 0 or 1. The sampled terms draw from torch's
    global generator, seeded from ``gen`` inside a fork of its state (so a call is reproducible and
    leaves the training's random stream as it found it)."""
    with torch.random.fork_rng(devices=[]):
        if gen is not None:
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
        return _test_metrics(model, x, n_samples, chunk)


def _test_metrics(model: ImageVAE, x: Tensor, n_samples: int, chunk: int) -> dict[str, float]:
    enc, dec, lg = model.encoder, model.decoder, model.log_gamma.detach()
    neg_elbo, mse, fd, z_q, sds = [], [], [], [], []
    for block in x.split(chunk):
        with torch.no_grad():
            mean, logvar = enc(block)
            neg_elbo.append(-elbo(block, enc, dec, lg, n_samples, kl="closed"))
            mse.append((dec(mean) - block).pow(2).flatten(1).mean(1))
            z_q.append(mean + (0.5 * logvar).exp() * torch.randn_like(mean))
            sds.append((0.5 * logvar).exp())
        fd.append(posterior_fisher_divergence(block, enc, dec, lg, n_samples).detach())
    z_q_all, sd = torch.cat(z_q), torch.cat(sds)
    z_p = torch.randn_like(z_q_all)
    return {
        "neg_elbo": float(torch.cat(neg_elbo).mean()),
        "mse": float(torch.cat(mse).mean()),
        "mmd": float(cubic_kernel_mmd2(z_q_all, z_p)),
        "posterior_fd": float(torch.cat(fd).mean()),
        "sd_extreme_fraction": sd_extreme_fraction(sd),
        "gamma": float(lg.exp()),
    }


def sample_quality(
    model: ImageVAE, x_clean: Tensor, features: ClassifierFeatures, gen: torch.Generator
) -> dict[str, float]:
    """Fréchet distance and kernel distance × 10³ (Table 1's scale for KID) between the classifier
    features of the clean test images ``x_clean`` and of ``len(x_clean)`` decoder means g_θ(z), z ~
    N(0, I) drawn from ``gen`` (module docstring)."""
    z = torch.randn(len(x_clean), model.decoder.latent_dim, generator=gen)
    with torch.no_grad():
        samples = torch.cat([model.decoder(block) for block in z.split(500)])
    real, fake = features.features(x_clean), features.features(samples)
    return {
        "feature_fd": frechet_distance(real, fake),
        "feature_kd": 1e3 * kernel_distance(real, fake),
    }


def posterior_sds(model: ImageVAE, x: Tensor, chunk: int = 500) -> Tensor:
    """σ(x) ``[N, d_z]`` of the test images."""
    with torch.no_grad():
        return torch.cat([(0.5 * model.encoder(b)[1]).exp() for b in x.split(chunk)])


def minibatches(x: Tensor, batch_size: int, gen: torch.Generator) -> Iterator[Tensor]:
    """Endless noisy minibatches of ``x``, a fresh permutation every epoch."""
    while True:
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            if len(idx) == batch_size:
                yield add_noise(x[idx], gen)


def train_image_vae(
    x_train: Tensor,
    inference: str,
    learning: str,
    *,
    latent_dim: int,
    width: int,
    steps: int,
    batch_size: int,
    lr: float,
    encoder_steps: int,
    n_samples: int,
    log_gamma0: float,
    seed: int,
    gamma_lr: float | None = None,
    evaluate: Callable[[ImageVAE], dict] | None = None,
    eval_every: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Alg. 1 (:class:`~saub.score_matching.VariationalScoreMatching`) for ``steps`` decoder updates,
    each after J = ``encoder_steps`` encoder updates on independent minibatches (App. B.2), S =
    ``n_samples`` draws of q (reparameterised for KL inference, not for FD); Adam (``lr``) for the
    encoder and for (g_θ, log γ), log γ at ``gamma_lr`` when given (a scalar whose Adam steps are at
    most about the step size each, so at 1e-3 it needs thousands of steps to settle). Every
    ``eval_every`` decoder steps (and at the end) ``evaluate`` is called; training stops at a
    non-finite loss or parameter. Returns the model, the learning-loss curve, the evaluations
    ``[(step, metrics)]``, the steps done and whether all stayed finite."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    channels = x_train.shape[1]
    model = ImageVAE(
        DCGANEncoder(latent_dim, channels, width),
        DCGANDecoder(latent_dim, channels, width),
        torch.tensor(float(log_gamma0), requires_grad=True),
    )
    algo = VariationalScoreMatching(
        model.encoder,
        model.decoder,
        model.log_gamma,
        torch.optim.Adam(model.encoder.parameters(), lr=lr),
        torch.optim.Adam(
            [
                {"params": model.decoder.parameters()},
                {"params": [model.log_gamma], "lr": lr if gamma_lr is None else gamma_lr},
            ],
            lr=lr,
        ),
        inference=inference,
        learning=learning,
        n_samples=n_samples,
        encoder_steps=encoder_steps,
    )
    batches = minibatches(x_train, batch_size, gen)
    curve, evaluations, finite = [], [], True
    params = [model.log_gamma, *model.decoder.parameters(), *model.encoder.parameters()]
    for step in range(1, steps + 1):
        log = algo.step(next(batches), [next(batches) for _ in range(encoder_steps)])
        curve.append(log["learning_loss"])
        if not (math.isfinite(log["learning_loss"]) and all(torch.isfinite(p).all() for p in params)):
            finite = False
            break
        if evaluate is not None and (step == steps or (eval_every and step % eval_every == 0)):
            evaluations.append((step, evaluate(model)))
        if progress is not None:
            progress(step)
    return {
        "model": model,
        "curve": curve,
        "evaluations": evaluations,
        "steps_done": len(curve),
        "finite": finite,
    }
