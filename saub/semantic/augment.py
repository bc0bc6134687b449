"""Label-free augmentations of digit images ``[B, 1, H, W]`` in [0, 1], in plain torch.

The SimCLR views (Chen et al. 2020) of :mod:`saub.semantic.contrastive`, chosen for handwritten
digits of two sources (MNIST's thin strokes, USPS' thick, blurred, upsampled ones), so that what
the two views share is the digit's shape and not the scanner:

* a random affine map (the digit counterpart of SimCLR's random resized crop): rotation up to
  ``rotate`` degrees, isotropic scale in ``scale``, shear up to ``shear`` degrees, translation up
  to ``translate`` of the half-width;
* an elastic distortion (Simard et al. 2003): a smooth random displacement field, coarse noise
  on a ``4 x 4`` grid upsampled bicubically, amplitude ``elastic`` (normalised coordinates);
* stroke width: with probability ``p_dilate`` a 3 x 3 grey dilation (max filter);
* blur: with probability ``p_blur`` a 3 x 3 binomial blur;
* additive Gaussian noise with std uniform in [0, ``noise``], then clamping to [0, 1].

Affine and elastic maps are applied in one ``grid_sample`` (bilinear, zero padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class DigitAugment:
    """Random view generator; every draw comes from the ``generator`` passed to the call."""

    rotate: float = 15.0
    scale: tuple[float, float] = (0.8, 1.15)
    shear: float = 10.0
    translate: float = 0.15
    elastic: float = 0.08
    p_dilate: float = 0.3
    p_blur: float = 0.3
    noise: float = 0.1

    def _uniform(self, n: int, lo: float, hi: float, gen: torch.Generator) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    def affine(self, n: int, gen: torch.Generator) -> Tensor:
        """``[n, 2, 3]`` output-to-input maps of ``F.affine_grid``: rotation, shear, scale, shift."""
        rot = torch.deg2rad(self._uniform(n, -self.rotate, self.rotate, gen))
        shear = torch.tan(torch.deg2rad(self._uniform(n, -self.shear, self.shear, gen)))
        scale = self._uniform(n, *self.scale, gen)
        shift = self._uniform(2 * n, -self.translate, self.translate, gen).view(n, 2)
        cos, sin = torch.cos(rot), torch.sin(rot)
        rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
        shearing = torch.eye(2).repeat(n, 1, 1)
        shearing[:, 0, 1] = shear
        linear = rotation @ shearing / scale.view(n, 1, 1)  # grid maps output to input: 1/scale zooms in
        return torch.cat([linear, shift.unsqueeze(2)], 2)

    def __call__(self, x: Tensor, gen: torch.Generator) -> Tensor:
        n, _, h, w = x.shape
        grid = F.affine_grid(self.affine(n, gen).to(x.device), list(x.shape), align_corners=False)
        if self.elastic > 0:
            coarse = torch.randn(n, 2, 4, 4, generator=gen).to(x.device) * self.elastic
            field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
            grid = grid + field.permute(0, 2, 3, 1)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        dilate = (torch.rand(n, generator=gen) < self.p_dilate).to(x.device)
        out = torch.where(dilate.view(n, 1, 1, 1), F.max_pool2d(out, 3, 1, 1), out)
        blur = (torch.rand(n, generator=gen) < self.p_blur).to(x.device)
        k = torch.tensor([1.0, 2.0, 1.0], device=x.device)
        kernel = (torch.outer(k, k) / 16).view(1, 1, 3, 3).to(out.dtype)
        out = torch.where(blur.view(n, 1, 1, 1), F.conv2d(out, kernel, padding=1), out)
        sigma = self._uniform(n, 0.0, self.noise, gen).view(n, 1, 1, 1)
        noise = sigma * torch.randn(out.shape, generator=gen)  # drawn on the host: same numbers everywhere
        return (out + noise.to(x.device)).clamp(0.0, 1.0)
