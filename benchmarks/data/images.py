"""Image files -> float tensors in [0, 1] (Pillow), shared by the CelebA and FairFace loaders."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def load_rgb(paths: Sequence[str | os.PathLike], size: int, crop: int | None = None) -> Tensor:
    """``[N, 3, size, size]`` float32 in [0, 1]: optional centre ``crop`` x ``crop``, then a bicubic resize.

    The crop offsets are ``(W - crop) // 2`` and ``(H - crop) // 2``; Pillow's bicubic filter
    antialiases when it shrinks.
    """
    from PIL import Image

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            img = img.convert("RGB")
            if crop is not None:
                left, top = (img.width - crop) // 2, (img.height - crop) // 2
                img = img.crop((left, top, left + crop, top + crop))
            out[i] = np.asarray(img.resize((size, size), Image.Resampling.BICUBIC))
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
