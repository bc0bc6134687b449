"""The structural (Gromov-Wasserstein) loss of eq. 12-13.

``L_GW = E_{(x,z),(x',z') ~ q_data(x) q_θ(z|x)} |d_X(x, x') - d_Z(z, z')|²``, estimated on a
batch as the mean over all B² ordered pairs (the diagonal contributes 0). d_Z is Euclidean in
latent space. d_X is Euclidean on the inputs (GW-EP) or on any embedding of them (GW-SP), with
``"cosine"`` meaning 1 - cos(e, e') of the embeddings (CLIP's semantic distance).

For a large batch the B×B matrices need not exist at once: ``block_size`` processes rows in
blocks (the authors use 128) and gives the same value up to floating-point summation order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from saub.domains import domain_rows

METRICS = ("euclidean", "cosine")


def pairwise_distances(a: Tensor, b: Tensor, metric: str = "euclidean") -> Tensor:
    """Distances between the rows of ``a`` ``[n, F]`` and ``b`` ``[m, F]``; returns ``[n, m]``.

    Euclidean distances are computed exactly (no ``|a|² + |b|² - 2ab`` shortcut), so identical
    rows give exactly 0 and the gradient there is 0 rather than NaN.
    """
    a, b = a.flatten(1), b.flatten(1)
    if metric == "euclidean":
        return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
    if metric == "cosine":
        return 1.0 - F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def gw_structural_loss(
    x_repr: Tensor,
    z: Tensor,
    x_metric: str = "euclidean",
    block_size: int | None = None,
) -> Tensor:
    """Batch GW cost of eq. 13: mean over i, j of (d_X(x_i, x_j) - ||z_i - z_j||)².

    ``x_repr`` ``[B, ...]`` is the input (EP) or its embedding (SP); ``z`` ``[B, K]``.
    """
    n = x_repr.shape[0]
    if z.shape[0] != n:
        raise ValueError(f"x_repr and z must have the same rows, got {n} and {z.shape[0]}")
    step = n if block_size is None else int(block_size)
    if step < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    total = z.new_zeros(())
    for start in range(0, n, step):
        rows = slice(start, start + step)
        dx = pairwise_distances(x_repr[rows], x_repr, x_metric).to(z.dtype)
        dz = pairwise_distances(z[rows], z, "euclidean")
        total = total + ((dx - dz) ** 2).sum()
    return total / n**2


def gw_per_domain(
    x_repr: Tensor, z: Tensor, d: Tensor, x_metric: str = "euclidean", block_size: int | None = None
) -> Tensor:
    """Σ_d of :func:`gw_structural_loss` within each domain's rows (pairs never cross domains)."""
    total = z.new_zeros(())
    for _, rows in domain_rows(d):
        total = total + gw_structural_loss(x_repr[rows], z[rows], x_metric, block_size)
    return total
