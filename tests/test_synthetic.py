"""The nested-D generator of §5.1: shapes, counts, determinism, mirror, nesting, separability."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path
from scipy.spatial import cKDTree

from benchmarks.tasks.synthetic import INNER, OUTER, d_curve, nested_d, standardize


def _min_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of a, the distance to the nearest row of b."""
    return cKDTree(b).query(a)[0]


def _dense(label: int, domain: int, m: int = 20001) -> np.ndarray:
    return d_curve(np.linspace(0.0, 1.0, m, endpoint=False), label, domain)


def test_shapes_and_dtypes():
    data = nested_d(200, seed=0)
    assert set(data) == {"x", "d", "y"}
    assert data["x"].shape == (400, 2) and data["x"].dtype == np.float32
    assert data["d"].shape == (400,) and data["d"].dtype == np.int64
    assert data["y"].shape == (400,) and data["y"].dtype == np.int64
    assert np.all(np.isfinite(data["x"]))


@pytest.mark.parametrize("n, outer, inner", [(20, 10, 10), (21, 11, 10), (3, 2, 1)])
def test_counts_per_domain_and_label(n, outer, inner):
    data = nested_d(n, seed=1)
    for dom in (0, 1):
        in_dom = data["d"] == dom
        assert in_dom.sum() == n
        assert ((data["y"] == 0) & in_dom).sum() == outer
        assert ((data["y"] == 1) & in_dom).sum() == inner


def test_deterministic_given_seed():
    a, b, c = nested_d(50, seed=7), nested_d(50, seed=7), nested_d(50, seed=8)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["x"], c["x"])


def test_domain_one_is_the_mirror_image():
    u = np.random.default_rng(0).random(1000)
    for label in (0, 1):
        p0, p1 = d_curve(u, label, 0), d_curve(u, label, 1)
        np.testing.assert_array_equal(p1, p0 * np.array([-1.0, 1.0]))
    # sampled points, noise-free: every reflected domain-1 point lies on domain 0's curve
    data = nested_d(300, seed=3, noise=0.0)
    for label in (0, 1):
        pts = data["x"][(data["d"] == 1) & (data["y"] == label)].astype(np.float64)
        refl = pts * np.array([-1.0, 1.0])
        assert _min_dist(refl, _dense(label, 0)).max() < 1e-3
        assert _min_dist(pts, _dense(label, 1)).max() < 1e-3
    # the domains sit apart: domain 0 left of x = 0, domain 1 right of it
    assert data["x"][data["d"] == 0, 0].max() < 0 < data["x"][data["d"] == 1, 0].min()


def test_uniform_by_arc_length():
    # equally spaced arc-length fractions give (nearly) equal chords along the curve
    for label in (0, 1):
        p = _dense(label, 0, m=2000)
        step = np.linalg.norm(np.diff(np.vstack([p, p[:1]]), axis=0), axis=1)
        assert np.median(np.abs(step / np.median(step) - 1)) < 1e-3
        assert step.max() / np.median(step) < 1.01
    # and the fraction of sampled outer points on the bar matches the bar's share of the length
    x = nested_d(20000, seed=4, noise=0.0)["x"]
    outer0 = x[:10000].astype(np.float64)
    bar_x = outer0[:, 0].min()
    theta = np.linspace(0, np.pi, 200001)
    arc = np.trapezoid(np.hypot(OUTER.w * np.cos(theta), OUTER.h * np.sin(theta)), theta)
    share = 2 * OUTER.h / (2 * OUTER.h + arc)
    assert abs(np.mean(np.abs(outer0[:, 0] - bar_x) < 1e-6) - share) < 0.02


@pytest.mark.parametrize("domain", [0, 1])
def test_inner_d_nested_inside_outer_d(domain):
    outer_curve = _dense(0, domain)
    inner_curve = _dense(1, domain)
    assert Path(_dense(0, domain, m=4001)).contains_points(inner_curve[::5]).all()
    # with a margin: the inner curve stays >= 0.19 from the outer one (0.2 by construction)
    assert _min_dist(inner_curve, outer_curve).min() > 0.19
    lo_o, hi_o = outer_curve.min(0), outer_curve.max(0)
    lo_i, hi_i = inner_curve.min(0), inner_curve.max(0)
    assert np.all(lo_i > lo_o + 0.19) and np.all(hi_i < hi_o - 0.19)
    assert INNER.h < OUTER.h and INNER.w < OUTER.w


def test_labels_separable_at_zero_noise():
    data = nested_d(200, seed=5, noise=0.0)
    x = data["x"].astype(np.float64)
    for dom in (0, 1):
        o = x[(data["d"] == dom) & (data["y"] == 0)]
        i = x[(data["d"] == dom) & (data["y"] == 1)]
        assert _min_dist(i, o).min() > 0.19
        assert Path(_dense(0, dom, m=4001)).contains_points(i).all()
        assert not Path(_dense(1, dom, m=4001)).contains_points(o).any()


def test_noise_scale():
    clean, noisy = nested_d(500, seed=6, noise=0.0)["x"], nested_d(500, seed=6, noise=0.04)["x"]
    resid = (noisy - clean).astype(np.float64)  # same draws of u and eps, so resid = noise * eps
    assert abs(resid.std() - 0.04) < 0.004


def test_invalid_arguments_and_standardize():
    with pytest.raises(ValueError):
        nested_d(1, seed=0)
    with pytest.raises(ValueError):
        nested_d(10, seed=0, noise=-1.0)
    z = standardize(nested_d(100, seed=0)["x"])
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-5)
