"""Rotated MNIST as several domains (App. G, Fig. 8): task ``rotated-mnist``.

Domain k holds MNIST digits rotated by ``angles[k]`` degrees (default 0°, 30°, 60°: App. G's
"three different MNIST rotation angles"). The domains are *unpaired*: each gets its own disjoint,
seeded share of the MNIST images (``n_per_domain`` training and ``n_test`` test images per
domain), so no image appears in two domains and distribution matching has to find the
correspondence itself. Images are those of :mod:`benchmarks.tasks.digits` (1 x 28 x 28 in [0, 1])
rotated by :func:`rotate`. Labels stay in ``y`` for metrics only (hidden from training).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.contracts import Split, TaskData
from benchmarks.data.digit_images import SIZE, load_domain
from benchmarks.registry import register_task
from benchmarks.tasks.digits import data_checksums
from saub.seeding import derive_seed

ANGLES = (0, 30, 60)


def rotate(x: Tensor, degrees: float) -> Tensor:
    """``[N, C, H, W]`` images rotated counter-clockwise (as displayed) by ``degrees`` about the centre.

    Bilinear sampling (``F.grid_sample``, ``align_corners=False``), zeros outside the image; the
    grid maps each output pixel p to the input point R(θ) p in normalised coordinates (x right,
    y down), which turns the picture counter-clockwise. Multiples of 90° permute pixels exactly
    (``torch.rot90``); other angles interpolate, so values stay in the input's range.
    """
    if degrees % 360 == 0:
        return x.clone()
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]], dtype=x.dtype,
                         device=x.device)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _domain_rows(n_total: int, n: int | None, n_domains: int, seed: int) -> list[Tensor]:
    """Disjoint seeded shares of ``n`` rows each (``None``: an equal share of everything)."""
    per = n_total // n_domains if n is None else n
    if per * n_domains > n_total:
        raise ValueError(f"{n_domains} domains of {per} images need {per * n_domains}; MNIST has {n_total}")
    perm = torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))
    return [torch.sort(perm[k * per : (k + 1) * per]).values for k in range(n_domains)]


@register_task("rotated-mnist")
def rotated_mnist(seed: int, angles: tuple = ANGLES, n_per_domain: int | None = 2000,
                  n_test: int | None = 200, root=None) -> TaskData:
    """Domain k = MNIST rotated by ``angles[k]``; see the module docstring."""
    angles = tuple(float(a) for a in angles)
    if len(angles) < 2:
        raise ValueError(f"rotated-mnist needs at least two angles, got {angles}")
    splits, datasets = {}, set()
    for split, n in (("train", n_per_domain), ("test", n_test)):
        x, y, choice = load_domain("mnist", split, root)
        datasets.add(choice.dataset)
        parts = _domain_rows(len(x), n, len(angles), derive_seed(seed, "rotated-mnist", split))
        splits[split] = Split(
            torch.cat([rotate(x[rows], a) for rows, a in zip(parts, angles)]),
            torch.cat([torch.full((len(rows),), k, dtype=torch.int64) for k, rows in enumerate(parts)]),
            torch.cat([y[rows] for rows in parts]),
        )
    protocol = {
        "angles": list(angles),
        "domains": {str(k): f"MNIST rotated {a:g}°" for k, a in enumerate(angles)},
        "n_per_domain": {split: int((splits[split].d == 0).sum()) for split in ("train", "test")},
        "pairing": "unpaired: disjoint seeded shares of MNIST per domain",
        "rotation": "counter-clockwise, bilinear grid_sample, zero padding",
        "image_size": f"1x{SIZE}x{SIZE}",
        "normalisation": "pixels in [0, 1], k/255 of the uint8 gray levels",
        "labels": "hidden during training; y for metrics only",
        "model_selection": "last iterate",
    }
    return TaskData(name="rotated-mnist", train=splits["train"], test=splits["test"],
                    input_shape=(1, SIZE, SIZE), n_domains=len(angles), n_classes=10, protocol=protocol,
                    checksums=data_checksums(datasets, root))
