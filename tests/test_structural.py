"""The GW structural loss (eq. 12-13) checked against brute force, scipy and POT (float64)."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import ortho_group

from saub.structural import gw_per_domain, gw_structural_loss, pairwise_distances

pytestmark = pytest.mark.usefixtures("single_thread")

DT = torch.float64


def data(n=13, dx=5, dz=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dx, generator=g, dtype=DT), torch.randn(n, dz, generator=g, dtype=DT)


def brute_force(x: np.ndarray, z: np.ndarray, metric: str) -> float:
    """mean over ordered pairs (i, j) of (d_X(x_i, x_j) - ||z_i - z_j||)², written as loops."""
    n = len(x)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if metric == "euclidean":
                dx = math.sqrt(sum((a - b) ** 2 for a, b in zip(x[i], x[j])))
            else:
                dot = sum(a * b for a, b in zip(x[i], x[j]))
                nx_i = math.sqrt(sum(a * a for a in x[i]))
                nx_j = math.sqrt(sum(b * b for b in x[j]))
                dx = 1.0 - dot / (nx_i * nx_j)
            dz = math.sqrt(sum((a - b) ** 2 for a, b in zip(z[i], z[j])))
            total += (dx - dz) ** 2
    return total / n**2


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_equals_brute_force_double_loop(metric):
    x, z = data()
    z = z * (0.3 if metric == "cosine" else 1.0)  # comparable scales, so neither term dominates
    got = gw_structural_loss(x, z, metric).item()
    expected = brute_force(x.tolist(), z.tolist(), metric)
    assert expected > 1e-2
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_image_shaped_inputs_are_flattened():
    x, z = data(n=6, dx=12)
    x_img = x.view(6, 3, 2, 2)
    expected = brute_force(x.tolist(), z.tolist(), "euclidean")
    assert gw_structural_loss(x_img, z).item() == pytest.approx(expected, rel=1e-12)


def test_zero_for_isometric_encoders():
    x, _ = data(n=20, dx=4)
    q = torch.from_numpy(ortho_group.rvs(4, random_state=1))
    assert gw_structural_loss(x, x @ q).item() < 1e-26
    assert gw_structural_loss(x, x @ q + 3.0).item() < 1e-26  # translations are isometries too
    # embed into a higher dimension: pad with zeros, then rotate in R^7
    q7 = torch.from_numpy(ortho_group.rvs(7, random_state=2))
    z = torch.cat([x, torch.zeros(20, 3, dtype=DT)], 1) @ q7
    assert gw_structural_loss(x, z).item() < 1e-26
    # and a non-isometry is penalised: scaling by 2 gives mean(d_X²) exactly
    dx = torch.cdist(x, x)
    assert gw_structural_loss(x, 2 * x).item() == pytest.approx((dx**2).mean().item(), rel=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("block", [1, 3, 7, 13, 100])
def test_blockwise_equals_unblocked(metric, block):
    x, z = data(n=13)
    full = gw_structural_loss(x, z, metric).item()
    assert gw_structural_loss(x, z, metric, block_size=block).item() == pytest.approx(full, rel=0, abs=1e-12)


def test_blockwise_gradient_equals_unblocked():
    x, z = data(n=11)
    z1 = z.clone().requires_grad_(True)
    z2 = z.clone().requires_grad_(True)
    gw_structural_loss(x, z1).backward()
    gw_structural_loss(x, z2, block_size=4).backward()
    torch.testing.assert_close(z1.grad, z2.grad, rtol=0, atol=1e-12)


def test_bad_arguments_raise():
    x, z = data()
    with pytest.raises(ValueError):
        gw_structural_loss(x, z[:-1])
    with pytest.raises(ValueError):
        gw_structural_loss(x, z, block_size=0)
    with pytest.raises(ValueError, match="euclidean"):
        gw_structural_loss(x, z, "manhattan")


def test_gradient_finite_with_duplicate_rows():
    x, z = data(n=8)
    x[3] = x[1]
    z[3] = z[1]
    z[5] = z[1]  # coincident latents without coincident inputs: d_Z = 0 where d_X > 0
    z = z.requires_grad_(True)
    xr = x.clone().requires_grad_(True)
    loss = gw_structural_loss(xr, z)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z.grad).all() and torch.isfinite(xr.grad).all()
    assert z.grad.abs().sum() > 0
    # duplicated rows of d_X are exactly 0 (no |a|² + |b|² - 2ab cancellation)
    assert pairwise_distances(x, x)[1, 3].item() == 0.0
    # the same with the cosine metric on the inputs
    z.grad = None
    gw_structural_loss(xr, z, "cosine").backward()
    assert torch.isfinite(z.grad).all()


def test_gradient_matches_finite_differences():
    x, z = data(n=6)
    z = z.requires_grad_(True)
    gw_structural_loss(x, z).backward()
    h = 1e-6
    fd = torch.zeros_like(z)
    with torch.no_grad():
        for i in range(z.shape[0]):
            for k in range(z.shape[1]):
                zp, zm = z.clone(), z.clone()
                zp[i, k] += h
                zm[i, k] -= h
                fd[i, k] = (gw_structural_loss(x, zp) - gw_structural_loss(x, zm)) / (2 * h)
    torch.testing.assert_close(z.grad, fd, rtol=1e-6, atol=1e-8)


def test_per_domain_sum_by_hand():
    x, z = data(n=17)
    d = torch.tensor([0, 1, 2, 1, 0, 0, 2, 1, 1, 0, 2, 2, 1, 0, 0, 1, 2])
    expected = 0.0
    for dom in (0, 1, 2):
        idx = [i for i in range(17) if d[i] == dom]
        expected += brute_force(x[idx].tolist(), z[idx].tolist(), "euclidean")
    assert gw_per_domain(x, z, d).item() == pytest.approx(expected, rel=1e-12)
    assert gw_per_domain(x, z, d, block_size=2).item() == pytest.approx(expected, rel=1e-12)
    # pairs never cross domains: this differs from the pooled loss
    assert abs(gw_structural_loss(x, z).item() - expected) > 1e-3


def test_pairwise_distances_vs_scipy_and_pot():
    x, _ = data(n=9, dx=6)
    y, _ = data(n=5, dx=6, seed=1)
    xn, yn = x.numpy(), y.numpy()
    np.testing.assert_allclose(pairwise_distances(x, y, "cosine").numpy(), cdist(xn, yn, "cosine"),
                               rtol=0, atol=1e-14)
    euclid = pairwise_distances(x, y).numpy()
    np.testing.assert_allclose(euclid, cdist(xn, yn, "euclidean"), rtol=1e-13, atol=0)
    np.testing.assert_allclose(pairwise_distances(x, y).numpy(), ot.dist(xn, yn, metric="euclidean"),
                               rtol=1e-12, atol=0)
    np.testing.assert_allclose(pairwise_distances(x, y, "cosine").numpy(), ot.dist(xn, yn, metric="cosine"),
                               rtol=0, atol=1e-14)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_equals_pot_gw_cost_of_identity_coupling(metric):
    """Our batch loss is POT's square-loss GW cost Σ_ijkl (C1_ik - C2_jl)² π_ij π_kl at π = I/B."""
    n = 10
    x, z = data(n=n)
    c1 = cdist(x.numpy(), x.numpy(), metric)
    c2 = cdist(z.numpy(), z.numpy(), "euclidean")
    p = q = np.full(n, 1.0 / n)
    pi = np.eye(n) / n
    const_c, h_c1, h_c2 = ot.gromov.init_matrix(c1, c2, p, q, loss_fun="square_loss")
    pot = float(ot.gromov.gwloss(const_c, h_c1, h_c2, pi))
    four_index = float(np.einsum("ijkl,ij,kl->", (c1[:, None, :, None] - c2[None, :, None, :]) ** 2, pi, pi))
    assert pot == pytest.approx(four_index, rel=1e-12)
    assert gw_structural_loss(x, z, metric).item() == pytest.approx(pot, rel=1e-12)
    # a different coupling gives a different cost, so the identification is not vacuous
    perm = np.eye(n)[np.roll(np.arange(n), 1)] / n
    assert abs(float(ot.gromov.gwloss(const_c, h_c1, h_c2, perm)) - pot) > 1e-3
