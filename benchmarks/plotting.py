"""Shared matplotlib setup for report figures (Agg backend, legible defaults)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({
    "figure.dpi": 110, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 10,
    "axes.labelsize": 10, "legend.fontsize": 8, "savefig.bbox": "tight",
})

#: One colour per row label, stable across figures.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
#: Colours of the four (domain, label) groups of the nested-D data.
GROUP_COLOURS = {(0, 0): "#1f77b4", (0, 1): "#aec7e8", (1, 0): "#d62728", (1, 1): "#ff9896"}


def savefig(fig, path) -> None:
    fig.savefig(path)
    plt.close(fig)


def image_grid(rows, path, cell: tuple[float, float] = (0.7, 0.8), label_size: int = 8) -> None:
    """Save a grid of images: one row per ``(name, images)`` of ``rows``, ``images`` an array-like
    ``[n, C, H, W]`` (C = 1 gray, C = 3 RGB) or ``[n, H, W]`` in [0, 1] (values outside are clipped),
    every row ``n`` wide; the row's name labels its first image."""
    import numpy as np

    grid = [(name, np.clip(np.asarray(imgs, dtype=float), 0.0, 1.0)) for name, imgs in rows]
    n = len(grid[0][1])
    width = cell[0] * n + 0.1 * label_size * max(len(name) for name, _ in grid) / 8  # room for the labels
    fig, axes = plt.subplots(len(grid), n, figsize=(width, cell[1] * len(grid)), squeeze=False)
    for i, (name, imgs) in enumerate(grid):
        for j in range(n):
            img = imgs[j]
            rgb = img.ndim == 3 and img.shape[0] == 3
            img = img.transpose(1, 2, 0) if rgb else img.reshape(img.shape[-2:])
            axes[i, j].imshow(img, cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=label_size)
    fig.tight_layout()
    savefig(fig, path)


__all__ = ["plt", "PALETTE", "GROUP_COLOURS", "savefig", "image_grid"]
