"""Pixel space: the flattened image with Euclidean distance, i.e. GW-EP's d_X (eq. 13)."""

from __future__ import annotations

from torch import Tensor

from saub.semantic.base import Embedder


class PixelEmbedder(Embedder):
    """``x [N, ...] -> x.flatten(1)`` (float32); metric ``"euclidean"``."""

    name = "pixel"
    metric = "euclidean"

    def embed(self, images: Tensor) -> Tensor:
        return images.flatten(1).float()
