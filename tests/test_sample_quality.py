"""Sample quality in a named feature space (benchmarks.metrics.sample_quality): the Fréchet distance
against POT's Bures-Wasserstein distance and the closed form of commuting covariances, KID's
estimator against a double loop, and the substitute classifier's features; the image study's
``sample_quality`` against the same steps by hand."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch

from benchmarks.metrics.sample_quality import (
    ClassifierFeatures,
    cubic_kernel_mmd2,
    frechet_distance,
    gaussian_frechet_distance,
    kernel_distance,
)
from benchmarks.vsm_toys.images import DCGANDecoder, DCGANEncoder, ImageVAE, sample_quality


def _spd(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T


def test_gaussian_frechet_distance_is_the_squared_bures_wasserstein_distance_of_pot():
    rng = np.random.default_rng(0)
    for d in (1, 3, 8):
        ma, mb, ca, cb = rng.normal(size=d), rng.normal(size=d), _spd(rng, d), _spd(rng, d)
        want = float(ot.gaussian.bures_wasserstein_distance(ma, mb, ca, cb)) ** 2
        assert gaussian_frechet_distance(ma, ca, mb, cb) == pytest.approx(want, rel=1e-8)


def test_gaussian_frechet_distance_of_commuting_covariances_is_the_closed_form():
    """Diagonal Σ_a, Σ_b: ‖μ_a − μ_b‖² + Σ_i (√a_i − √b_i)², singular ones (zero variances) too."""
    ma, mb = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, 0.0])
    va, vb = np.array([1.0, 4.0, 0.0, 2.0]), np.array([9.0, 1.0, 0.25, 0.0])
    want = np.sum((ma - mb) ** 2) + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    assert gaussian_frechet_distance(ma, np.diag(va), mb, np.diag(vb)) == pytest.approx(want, rel=1e-12)


def test_frechet_distance_fits_the_sample_moments():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(40, 4)) * 2 + 1
    want = gaussian_frechet_distance(a.mean(0), np.cov(a.T, ddof=1), b.mean(0), np.cov(b.T, ddof=1))
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-12)
    assert frechet_distance(b, a) == pytest.approx(want, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # rank-deficient features (more dimensions than rows): still finite and ≥ 0
    wide = rng.normal(size=(5, 12))
    assert 0 <= frechet_distance(wide, wide + 1) == pytest.approx(12.0, rel=1e-6)


def test_cubic_kernel_mmd2_matches_a_double_loop():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(5, 3, generator=gen, dtype=torch.float64) + 0.5
    k = lambda u, v: (float(u @ v) / 3 + 1) ** 3  # noqa: E731
    within_a = sum(k(a[i], a[j]) for i in range(6) for j in range(6) if i != j) / 30
    within_b = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / 20
    cross = sum(k(a[i], b[j]) for i in range(6) for j in range(5)) / 30
    assert float(cubic_kernel_mmd2(a, b)) == pytest.approx(within_a + within_b - 2 * cross, rel=1e-12)


def test_cubic_kernel_mmd2_is_unbiased_for_equal_distributions():
    """E[MMD²_u] = 0 when both samples come from one distribution: the mean over many pairs of
    draws is within a few standard errors of 0 (a biased estimator sits well above)."""
    gen = torch.Generator().manual_seed(1)
    vals = torch.stack(
        [
            cubic_kernel_mmd2(
                torch.randn(20, 4, generator=gen, dtype=torch.float64),
                torch.randn(20, 4, generator=gen, dtype=torch.float64),
            )
            for _ in range(400)
        ]
    )
    assert abs(float(vals.mean())) < 4 * float(vals.std()) / math.sqrt(len(vals))


def test_kernel_distance_is_the_cubic_mmd2_in_float64():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(7, 3)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    want = cubic_kernel_mmd2(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64))
    assert kernel_distance(a, b) == float(want)


def _two_class_images(n, gen):
    """32×32 images with a bright 8×8 block in the left (class 0) or the right (class 1) half."""
    y = torch.randint(2, (n,), generator=gen)
    x = -torch.ones(n, 1, 32, 32) + 0.1 * torch.randn(n, 1, 32, 32, generator=gen)
    rows = torch.randint(0, 24, (n,), generator=gen)
    for i in range(n):
        col = 2 if y[i] == 0 else 22
        x[i, 0, rows[i] : rows[i] + 8, col : col + 8] = 1.0
    return x, y


def test_the_classifier_features_separate_the_classes_and_are_reproducible():
    gen = torch.Generator().manual_seed(0)
    x, y = _two_class_images(300, gen)
    x_test, y_test = _two_class_images(100, gen)
    state = torch.random.get_rng_state()
    first = ClassifierFeatures(x, y, steps=60, batch_size=50, hidden=16, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert first.accuracy(x_test, y_test) == 1.0
    second = ClassifierFeatures(x, y, steps=60, batch_size=50, hidden=16, seed=3)
    feats = first.features(x)
    assert torch.equal(feats, second.features(x))
    # standardised by the training images, dead features dropped
    assert feats.shape == (300, int(first.alive.sum())) and 0 < feats.shape[1] <= 16
    torch.testing.assert_close(feats.mean(0), torch.zeros(feats.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats.std(0), torch.ones(feats.shape[1]), atol=1e-4, rtol=0)
    # the features tell the two classes apart: the Fréchet distance between them is far above that
    # between two halves of one class
    zeros, ones = feats[y == 0], feats[y == 1]
    half = len(zeros) // 2
    assert frechet_distance(zeros, ones) > 10 * frechet_distance(zeros[:half], zeros[half:])


def test_sample_quality_scores_decoder_means_of_prior_draws():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x, y = _two_class_images(120, gen)
    features = ClassifierFeatures(x, y, steps=20, batch_size=40, hidden=8, seed=0)
    model = ImageVAE(DCGANEncoder(4, 1, 4), DCGANDecoder(4, 1, 4), torch.tensor(0.0))
    got = sample_quality(model, x[:50], features, torch.Generator().manual_seed(7))
    z = torch.randn(50, 4, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        fake = features.features(model.decoder(z))
    real = features.features(x[:50])
    assert got["feature_fd"] == pytest.approx(frechet_distance(real, fake), rel=1e-12)
    assert got["feature_kd"] == pytest.approx(1e3 * kernel_distance(real, fake), rel=1e-12)
    assert math.isfinite(got["feature_fd"]) and got["feature_fd"] > 0
