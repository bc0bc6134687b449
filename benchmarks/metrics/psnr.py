"""Peak signal-to-noise ratio of reconstructions (seed 001, App. C.3.3, eq. 61; Table 2's PSNR).

Eq. 61: PSNR = 20 log10(MAX) - 10 log10(MSE), MAX = 1 "because the images input as a dataset data
are scaled within the range [0, 1]". The text does not say over what the MSE is taken. The
authors' evaluation code (``vaetc.evaluation.metrics.elbo.psnr``, github.com/ganmodokix/vaetc)
takes it per image, over its C x H x W values, and averages the per-image PSNRs; **ours is that:**
``test_psnr``, the mean over test images of eq. 61 on each image's MSE. ``test_psnr_pooled`` is eq. 61
on the MSE pooled over every test value (= -10 log10 of the mean squared error); by Jensen's
inequality it is never above ``test_psnr``. A perfect reconstruction (MSE 0) has PSNR +inf.

Reconstructions are clipped to [0, MAX] before scoring (a decoder with an unbounded mean can leave
the pixel range; clipping never moves a value away from a target in [0, MAX]).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from benchmarks.contracts import TaskData
from benchmarks.registry import register_metric

#: App. C.3.3: pixel values lie in [0, 1].
MAX_VALUE = 1.0


def psnr_from_mse(mse: Tensor | float, max_value: float = MAX_VALUE) -> Tensor:
    """Eq. 61: 20 log10(MAX) - 10 log10(MSE), elementwise on ``mse``."""
    return 20.0 * math.log10(max_value) - 10.0 * torch.log10(torch.as_tensor(mse, dtype=torch.float64))


def per_image_psnr(x: Tensor, x_hat: Tensor, max_value: float = MAX_VALUE) -> Tensor:
    """``[N]`` PSNR of each image: eq. 61 on the mean of (x - x̂)² over its values (``[N, ...]`` inputs)."""
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(x_hat.shape)}")
    mse = (x.double() - x_hat.double()).flatten(1).pow(2).mean(1)
    return psnr_from_mse(mse, max_value)


@register_metric("psnr")
def reconstruction_psnr(method, task: TaskData, seed: int) -> dict:
    """Test PSNR of D(E(x)) in dB: per-image mean (``test_psnr``) and pooled (``test_psnr_pooled``)."""
    x = task.test.x
    x_hat = method.reconstruct(x, task.test.d).clamp(0.0, MAX_VALUE)
    pooled = (x.double() - x_hat.double()).pow(2).mean()
    return {"test_psnr": float(per_image_psnr(x, x_hat).mean()),
            "test_psnr_pooled": float(psnr_from_mse(pooled))}
