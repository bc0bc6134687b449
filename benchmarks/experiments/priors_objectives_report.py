"""The priors-objectives page: one heat map per task and metric (priors × objectives, mean and 95%
interval over seeds in each square), undefined pairs and "n/a" metrics hatched, and the table."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from benchmarks.plotting import plt, savefig
from benchmarks.report import Table
from benchmarks.results_table import fields_by, values_by
from benchmarks.stats import summarize
from saub.objective_axis import OBJECTIVES

#: Record key -> what the heat map shows (the domain probe from the records' diagnostics).
METRICS = {
    "auroc": "label AUROC (svc-auroc, higher is better)",
    "test_recon_mse": "test reconstruction MSE (lower is better)",
    "test_elbo": "test ELBO, nats per datum (higher is better)",
    "domain_probe": "domain probe balanced accuracy on test latents (0.5 = aligned)",
}
PROBE = ("diagnostics", "final", "alignment", "balanced_accuracy")
Label = Callable[[str, str, str], str]


def metric_values(records: list[dict], key: str) -> dict[str, dict[int, float]]:
    """{row label: {seed: value}} of a :data:`METRICS` key (numeric values only)."""
    if key != "domain_probe":
        return values_by(records, key)
    with_probe = [r for r in records if ((r.get("diagnostics") or {}).get("final") or {}).get("alignment")]
    return fields_by(with_probe, PROBE)


def _state(records: list[dict], label: str, key: str, values: dict) -> str:
    """"value", "n/a" (done, metric not numeric) or "not run"."""
    if label in values and values[label]:
        return "value"
    done = any(r["cell"]["label"] == label and r.get("status") == "done" for r in records)
    return "n/a" if done else "not run"


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if math.isfinite(x) else "—"


def heatmap_cells(records: list[dict], task: str, key: str, methods: list[str],
                  undefined: list[tuple[str, str, str, str]], label: Label):
    """(grid of means, annotation texts, hatched squares) of one heat map: rows are priors (methods),
    columns objectives; a square reads "mean\n[95% CI]", "undefined" (the page's table says why), "n/a"
    or "not run"."""
    values = metric_values(records, key)
    objectives = list(OBJECTIVES)
    undefined_pairs = {(m, o) for t, m, o, _ in undefined if t == task}
    grid = np.full((len(methods), len(objectives)), np.nan)
    text = np.full(grid.shape, "", dtype=object)
    hatched = []
    for i, m in enumerate(methods):
        for j, o in enumerate(objectives):
            lab = label(m, o, task)
            state = "undefined" if (m, o) in undefined_pairs else _state(records, lab, key, values)
            if state != "value":
                text[i, j] = "undefined\n(see table)" if state == "undefined" else state
                if state in ("undefined", "n/a"):
                    hatched.append((i, j))
                continue
            s = summarize(list(values[lab].values()))
            grid[i, j] = s.mean
            interval = f"\n[{_fmt(s.low, 2)}, {_fmt(s.high, 2)}]" if s.n > 1 else "\n(1 seed)"
            text[i, j] = _fmt(s.mean) + interval
    return grid, text, hatched


def heatmap_figure(records: list[dict], task: str, key: str, title: str, methods: list[str],
                   undefined: list[tuple[str, str, str, str]], figs: Path, name: str, *, label: Label,
                   prior_name: Callable[[str], str]) -> Path:
    """Draw :func:`heatmap_cells` (colour = mean over seeds) to ``figs / name``."""
    grid, text, hatched = heatmap_cells(records, task, key, methods, undefined, label)
    objectives = list(OBJECTIVES)
    fig, ax = plt.subplots(figsize=(1.6 * len(objectives) + 2, 0.8 * len(methods) + 1.5))
    finite = np.isfinite(grid)
    # Robust colour limits (5th-95th percentile), so one diverging square does not flatten the rest.
    lo, hi = np.percentile(grid[finite], [5, 95]) if finite.any() else (0.0, 1.0)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1,
                      aspect="auto", extent=(0, len(objectives), len(methods), 0))
    if finite.any():
        fig.colorbar(image, ax=ax)
    for i, j in hatched:
        ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor="0.6", lw=0))
    for i in range(len(methods)):
        for j in range(len(objectives)):
            light = finite[i, j] and grid[i, j] < (lo + hi) / 2
            ax.text(j + 0.5, i + 0.5, text[i, j], ha="center", va="center", fontsize=7,
                    color="white" if light else "0.2")
    ax.set_xticks(np.arange(len(objectives)) + 0.5, objectives, rotation=30, ha="right")
    ax.set_yticks(np.arange(len(methods)) + 0.5, [prior_name(m) for m in methods])
    ax.set(xlabel="objective", ylabel="prior", title=title)
    path = figs / name
    savefig(fig, path)
    return path


def matrix_table(records: list[dict], task: str, task_title: str, methods: list[str], label: Label,
                 prior_name: Callable[[str], str], searched: set[str]) -> Table:
    """One line per defined (prior, objective) with a cell: its settings ("searched": the committed
    selection of its label-free search, in ``searched``; else "shared"), every metric's mean ± std and
    95% CI."""
    values = {key: metric_values(records, key) for key in METRICS}
    present = {r["cell"]["label"] for r in records}
    rows = []
    for m in methods:
        for o in OBJECTIVES:
            lab = label(m, o, task)
            if lab not in present:
                continue
            line = [prior_name(m), o, "searched" if lab in searched else "shared"]
            for key in METRICS:
                s = summarize(list(values[key].get(lab, {}).values()))
                line.append("n/a" if s.n == 0 else f"{s.fmt(3)} {s.fmt_ci(3)}")
            rows.append(line)
    return Table(f"{task_title}: every defined pair (mean ± std over seeds, 95% CI)",
                 ["prior", "objective", "settings", "AUROC", "test recon MSE", "test ELBO", "domain probe"],
                 rows,
                 note="" if rows else "No cell of this task has a record yet (see 'Not run' / missing).")
