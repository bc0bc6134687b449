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


__all__ = ["plt", "PALETTE", "GROUP_COLOURS", "savefig"]
