"""MNIST and USPS images as every task uses them: float32 in [0, 1], ``[N, 1, 28, 28]`` (USPS upsampled
16 -> 28 bilinearly; the protocol is documented in :mod:`benchmarks.tasks.digits`). A data-layer
module, so tasks, metrics and the semantic spaces all import it downward.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SIZE = 28
RESIZE = "bilinear (torch.nn.functional.interpolate, align_corners=False, antialias=False)"


def to_28(x: Tensor) -> Tensor:
    """``[N, S, S]`` images in [0, 1] -> ``[N, 1, 28, 28]``; 16x16 USPS is upsampled bilinearly."""
    x = x.unsqueeze(1) if x.dim() == 3 else x
    if x.shape[-1] == SIZE and x.shape[-2] == SIZE:
        return x.contiguous()
    out = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=False)
    return out.clamp_(0.0, 1.0)  # only float rounding of the convex weights can leave [0, 1]


def _source(name: str, split: str, root):
    from benchmarks.data import mnist_source, usps_source

    return (mnist_source if name == "mnist" else usps_source)(split, root=root)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, split: str, fmt: str, paths: tuple) -> tuple[Tensor, Tensor]:
    """Load and resize one dataset split once per process (keyed by the files actually read)."""
    from benchmarks.data import load_mnist, load_usps

    root = paths[0].parent.parent  # <cache>/<subdir>/<file>
    loader = load_mnist if name == "mnist" else load_usps
    x, y = loader(split, formats=fmt, root=root)
    x = to_28(torch.from_numpy(np.ascontiguousarray(x)))
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name} {split}: pixels outside [0, 1]")
    return x, torch.from_numpy(np.ascontiguousarray(y))


def load_domain(name: str, split: str, root=None) -> tuple[Tensor, Tensor, object]:
    """``(x [N,1,28,28], y [N], choice)`` for ``name`` in {mnist, usps}; ``choice`` names the files read."""
    choice = _source(name, split, root)
    x, y = _load_cached(name, split, choice.format, tuple(choice.paths))
    return x, y, choice
