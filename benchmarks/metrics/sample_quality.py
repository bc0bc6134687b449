"""Sample quality in a named feature space: the Fréchet distance and the kernel distance.

With the pool features of Inception-v3 these are FID (Heusel et al. 2017, "GANs trained by a two
time-scale update rule converge to a local Nash equilibrium", §"Fréchet Inception Distance") and KID
(Bińkowski et al. 2018, "Demystifying MMD GANs", §4: the unbiased MMD² with the cubic polynomial
kernel). Seed 002's Table 1 reports both. Inception's weights are not on this machine. The same two
distances in any other network's features are *not* FID and KID: a page must name the network, and
this module's names say "feature", never "inception".

* Fréchet distance (:func:`frechet_distance`): the squared 2-Wasserstein distance between the two
  Gaussians fitted to the feature rows,
  d² = ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2}) (Heusel et al., eq. 6; Dowson & Landau 1982);
* kernel distance (:func:`kernel_distance`): the unbiased MMD² between the feature rows with
  k(u, v) = (uᵀv / d + 1)³, computed on all rows at once (Bińkowski et al. average it over blocks of
  1,000 rows; with ≤ 1,000 rows, as here, that is one block);
* :class:`ClassifierFeatures`: the substitute feature space, the penultimate layer of a small
  convolutional classifier trained on the dataset's own labelled training images.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from torch import Tensor, nn

from benchmarks.metrics.fitting import fit_cross_entropy
from saub.networks import ConvBody


def gaussian_frechet_distance(
    mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2}) between N(μ_a, Σ_a) and N(μ_b, Σ_b), in float64.

    tr (Σ_a Σ_b)^{1/2} = tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2} (the two matrices are similar), computed
    from the eigenvalues of that symmetric positive semi-definite matrix, round-off negatives set to
    0: exact for singular covariances too, where a general matrix root (``scipy.linalg.sqrtm`` of
    Σ_a Σ_b) is ill-conditioned."""
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    values, vectors = scipy.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    inner = scipy.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace = np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(np.clip(inner, 0, None)).sum()
    return float(np.sum((mean_a - mean_b) ** 2) + trace)


def frechet_distance(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """:func:`gaussian_frechet_distance` between the sample means and unbiased (n − 1) covariances of
    the feature rows ``a`` ``[n, d]`` and ``b`` ``[m, d]``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return gaussian_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def cubic_kernel_mmd2(a: Tensor, b: Tensor) -> Tensor:
    """Unbiased MMD² between samples ``a`` ``[n, d]`` and ``b`` ``[m, d]`` with k(u, v) = (uᵀv/d + 1)³:
    (Σ_{i≠j} k(a_i, a_j))/(n(n−1)) + (Σ_{i≠j} k(b_i, b_j))/(m(m−1)) − 2 Σ_{i,j} k(a_i, b_j)/(nm)."""
    d = a.shape[1]
    kernel = lambda u, v: (u @ v.T / d + 1) ** 3  # noqa: E731
    n, m = len(a), len(b)
    kaa, kbb = kernel(a, a), kernel(b, b)
    within = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1)) + (kbb.sum() - kbb.diagonal().sum()) / (
        m * (m - 1)
    )
    return within - 2 * kernel(a, b).mean()


def kernel_distance(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """KID's estimator (:func:`cubic_kernel_mmd2`, in float64) between the feature rows ``a`` and ``b``."""
    as_double = lambda t: torch.as_tensor(t, dtype=torch.float64)  # noqa: E731
    return float(cubic_kernel_mmd2(as_double(a), as_double(b)))


class ClassifierFeatures:
    """The substitute feature space: a :class:`~saub.networks.ConvBody` (``hidden`` features) with a
    linear head, trained on labelled images ``x`` ``[N, C, S, S]`` and labels ``y`` by
    :func:`~benchmarks.metrics.fitting.fit_cross_entropy` (Adam at ``lr``, ``steps`` minibatches of
    ``batch_size``), initialised from its own seed inside a fork of torch's global random state
    (training it leaves the caller's random stream as it found it).

    :meth:`features` is the body's output in evaluation mode, standardised by the training images'
    per-feature mean and standard deviation, less the features that are constant on them (dead
    ReLUs): the cubic kernel of KID assumes uᵀv/d of order 1, which Inception's pool features have
    and a raw ReLU layer need not (ours: the standardisation is one fixed map, learned from the
    training images only, so every model scored by one classifier is scored in the same space)."""

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        *,
        steps: int,
        batch_size: int = 100,
        lr: float = 1e-3,
        hidden: int = 128,
        seed: int = 0,
    ):
        n_classes = int(y.max()) + 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.body = ConvBody(x.shape[1], x.shape[-1], hidden)
            self.head = nn.Linear(hidden, n_classes)
        fit_cross_entropy(nn.Sequential(self.body, self.head), x, y, steps=steps,
                          generator=torch.Generator().manual_seed(seed), lr=lr, batch_size=batch_size)
        raw = self._raw_features(x)
        self.mean, self.std = raw.mean(0), raw.std(0)
        self.alive = self.std > 0

    def _raw_features(self, x: Tensor, chunk: int = 500) -> Tensor:
        with torch.no_grad():
            return torch.cat([self.body(block) for block in x.split(chunk)])

    def features(self, x: Tensor) -> Tensor:
        """The standardised live features ``[N, ≤ hidden]`` of images ``x`` (class docstring)."""
        return ((self._raw_features(x) - self.mean) / self.std)[:, self.alive]

    def accuracy(self, x: Tensor, y: Tensor) -> float:
        """The classifier's accuracy on labelled images (a check that the feature space is informative)."""
        with torch.no_grad():
            predicted = self.head(self._raw_features(x)).argmax(1)
        return float((predicted == y).float().mean())
