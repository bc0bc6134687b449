"""The nested-D synthetic data of §5.1 (Fig. 2, 3; App. I).

Two 2-D domains, each made of two closed "D" curves: an outer D (label 0 here, the paper's
"Label 1") and a smaller inner D nested inside it (label 1 here, the paper's "Label 2").
Domain 0 (the paper's "Domain 1", the left nested D) is a D whose round side faces right;
domain 1 (the paper's "Domain 2", the right flipped D) is its mirror image.

Geometry (local coordinates of one D, before centring and placement):

* a D is a vertical bar ``x = bar_x, y in [-h, h]`` closed by the half ellipse
  ``x = bar_x + w * sin(theta), y = h * cos(theta), theta in [0, pi]``;
* the outer D has ``bar_x = 0, h = 1, w = 0.9`` (taller than wide, like the letter);
* the inner D is the outer one scaled by 0.5 (``h = 0.5, w = 0.45``) with its bar moved
  right to ``bar_x = 0.2`` so that it sits inside the outer D. Noise-free, the two curves are
  at least 0.2 apart (bar to bar; the arc tips are 0.25 apart), i.e. 5 noise std's at the
  default ``noise = 0.04``: the labels are separable in the data space but not trivially so
  for a few noisy points, and every inner point is strictly inside the outer D's region;
* the pair is centred on its bounding box (x in [-0.45, 0.45], y in [-1, 1]).

Placement. Fig. 2 calls the domains "left" and "right", so by default domain 0 is centred at
``(-offset, 0)`` and domain 1 is its reflection across the vertical axis ``x = 0``, centred at
``(+offset, 0)``; with ``offset = 1.5`` the domains do not overlap (a gap of 2.1), so their
raw coordinates differ and a model must actually align them. ``offset = 0`` puts both
domains on the origin (same support region, mirrored shapes) for anyone who reads "left" and
"right" as panel positions only.

Sampling. Points are uniform along each closed curve by arc length (bar and arc together; the
half-ellipse arc length is inverted numerically on a fine table), independently per domain
(domain 1 is the mirror image in distribution, not point by point), plus isotropic Gaussian
noise of std ``noise``.

Sample size. ``n_per_domain`` counts the points of ONE domain: the paper's "number of data
samples" n is ambiguous (it says "the total number of data samples"); we choose per domain,
so the arrays hold ``2 * n_per_domain`` points. Within a domain, ``n // 2`` points go to the
inner D and the rest (``n - n // 2``, one more when n is odd) to the outer D.

Row order: domain 0 outer, domain 0 inner, domain 1 outer, domain 1 inner.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["DShape", "OUTER", "INNER", "d_curve", "nested_d", "standardize"]


@dataclass(frozen=True)
class DShape:
    """One D in local coordinates: a bar at ``x = bar_x`` of half height ``h``, and a half
    ellipse of horizontal semi-axis ``w`` and vertical semi-axis ``h``."""

    bar_x: float
    h: float
    w: float


OUTER = DShape(bar_x=0.0, h=1.0, w=0.9)
INNER = DShape(bar_x=0.2, h=0.5, w=0.45)
_SHAPES = (OUTER, INNER)  # indexed by label
_X_CENTRE = OUTER.bar_x + OUTER.w / 2.0  # centre of the bounding box of the pair
_TABLE_SIZE = 8193


@lru_cache(maxsize=8)
def _arc_table(h: float, w: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative arc length of the half ellipse over a fine theta grid in [0, pi]."""
    theta = np.linspace(0.0, np.pi, _TABLE_SIZE)
    speed = np.sqrt((w * np.cos(theta)) ** 2 + (h * np.sin(theta)) ** 2)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(theta))])
    return theta, cum


def _local_curve(u: np.ndarray, shape: DShape) -> np.ndarray:
    """Points of one D at arc-length fractions ``u`` in [0, 1) (bar bottom-to-top, then the arc
    top-to-bottom), in local coordinates."""
    theta_tab, cum = _arc_table(shape.h, shape.w)
    bar_len = 2.0 * shape.h
    s = np.asarray(u, dtype=np.float64) * (bar_len + cum[-1])
    on_bar = s < bar_len
    theta = np.interp(s - bar_len, cum, theta_tab)
    x = np.where(on_bar, shape.bar_x, shape.bar_x + shape.w * np.sin(theta))
    y = np.where(on_bar, s - shape.h, shape.h * np.cos(theta))
    return np.stack([x, y], axis=-1)


def d_curve(u: np.ndarray, label: int, domain: int, offset: float = 1.5) -> np.ndarray:
    """Noise-free points (float64, [len(u), 2]) of the D of ``label`` (0 outer, 1 inner) in
    ``domain`` (0 or 1), at arc-length fractions ``u`` in [0, 1). Domain 1 is the reflection
    of domain 0 across ``x = 0``."""
    if label not in (0, 1) or domain not in (0, 1):
        raise ValueError(f"label and domain must be 0 or 1, got label={label}, domain={domain}")
    p = _local_curve(u, _SHAPES[label])
    p[:, 0] += -_X_CENTRE - offset
    if domain == 1:
        p[:, 0] = -p[:, 0]
    return p


def nested_d(n_per_domain: int, seed: int, noise: float = 0.04, offset: float = 1.5) -> dict:
    """Sample the nested-D data set.

    Args:
        n_per_domain: points per domain (the total is ``2 * n_per_domain``); ``n // 2`` on the
            inner D and the rest on the outer D.
        seed: seed of the ``numpy.random.Generator`` (the output is a function of it).
        noise: std of the isotropic Gaussian noise added to each point.
        offset: domain 0 is centred at ``(-offset, 0)``, domain 1 at ``(+offset, 0)``.

    Returns:
        ``{"x": float32 [2n, 2], "d": int64 [2n] (domain), "y": int64 [2n] (0 outer, 1 inner)}``
        with rows ordered domain 0 outer, domain 0 inner, domain 1 outer, domain 1 inner.
    """
    n = int(n_per_domain)
    if n < 2:
        raise ValueError(f"n_per_domain must be >= 2 (one point per D), got {n_per_domain}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    counts = (n - n // 2, n // 2)  # (outer, inner)
    xs, ds, ys = [], [], []
    for domain in (0, 1):
        for label in (0, 1):
            m = counts[label]
            u = rng.random(m)
            eps = rng.standard_normal((m, 2))
            xs.append(d_curve(u, label, domain, offset) + noise * eps)
            ds.append(np.full(m, domain, dtype=np.int64))
            ys.append(np.full(m, label, dtype=np.int64))
    return {
        "x": np.concatenate(xs).astype(np.float32),
        "d": np.concatenate(ds),
        "y": np.concatenate(ys),
    }


def standardize(x: np.ndarray) -> np.ndarray:
    """Columns to zero mean and unit std over all rows pooled (float32); a constant column is only
    centred."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std(axis=0)
    return ((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)
