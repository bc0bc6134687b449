"""fig6: limited source labels (App. D, Fig. 6), a view of table1's cells.

The models are table1's (same cells, same records under ``results/table1/<profile>``): running
``fig6`` runs, or reuses, exactly those cells. Each cell's ``label-fraction-accuracy`` metric
trains the post-hoc classifier of App. H.3 on a random share of the labelled source rows,
fractions {0.04, 0.1, 0.2, 0.5, 1, 5, 10, 100} %, 10 trials each; the figure plots the target
accuracy against the fraction (mean over trials, then mean ± std over seeds) and the UMAP of the
test latents (seed 0) for every row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.experiment import Claim, register_experiment
from benchmarks.experiments.table1 import (
    ARROW,
    DIRECTION,
    DIRECTIONS,
    SP_SPACE,
    Table1View,
    both_directions,
    row_display,
    umap_2d,
)
from benchmarks.metrics.domain_adaptation import LABEL_FRACTIONS, fraction_key
from benchmarks.plotting import PALETTE, plt, savefig
from benchmarks.report import Page, Table
from benchmarks.results_table import fields_by, first_by
from benchmarks.semantic import describe_space
from benchmarks.stats import summarize, threshold_verdict

#: The paper's "without SP" model and its "with SP" model.
WITHOUT_SP, WITH_SP = "SAUB w/o GW", "SAUB GW-SP"


def fraction_curves(records: list[dict]) -> dict[tuple[str, str, str], dict[int, float]]:
    """(row label, direction, fraction key) -> {seed index: accuracy averaged over the trials}."""
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    by = fields_by(records, ("metrics", "label_fraction_accuracy"), DIRECTION)
    for (label, direction), seeds in by.items():
        for seed, curves in seeds.items():
            if not isinstance(curves, dict):
                continue
            for key, trials in curves.items():
                out.setdefault((label, direction, key), {})[seed] = float(np.mean(trials))
    return out


def _threshold_claim(label: str, fraction: float, threshold: float, at_least: bool):
    def one(records, direction):
        vals = fraction_curves(records).get((label, direction, fraction_key(fraction)), {})
        return threshold_verdict(list(vals.values()), threshold, at_least)

    return both_directions(one)


def _close_to_full_claim(label: str, fraction: float, tolerance: float):
    """"accuracy at ``fraction`` within ``tolerance`` of the 100% accuracy", paired per seed."""

    def one(records, direction):
        curves = fraction_curves(records)
        low = curves.get((label, direction, fraction_key(fraction)), {})
        full = curves.get((label, direction, fraction_key(1.0)), {})
        gaps = [full[s] - low[s] for s in sorted(set(low) & set(full))]
        return threshold_verdict(gaps, tolerance, at_least=False)

    return both_directions(one)


@register_experiment
class Fig6(Table1View):
    name = "fig6"
    title = "limited source labels (App. D, Fig. 6)"
    description = __doc__.split("\n\n", 1)[1]
    claim_context = {
        "C2": "regime: fig6 scores table1's records, whose VAUB-family rows do not align the two domains "
              "(table1's regime table: MLP probe balanced accuracy ≥ 0.97 in every row and seed, matching "
              "terms < 1 % of the loss), so target labels added a few at a time train a classifier on a "
              "target cluster structure the source never shaped; table1's own target accuracy stays "
              "near 45-50 % for these rows.",
        "C3": "the same regime as C2, and a substitute: our SP space is the self-trained "
              "contrastive-digits-v1, not CLIP (absent here), so GW-SP preserves that space's geometry, "
              "not the paper's.",
    }
    claims = [
        Claim(
            "C1",
            "without SP: ≈ 40% at 0.04% labels (read as ≤ 45%)",
            _threshold_claim(WITHOUT_SP, 0.0004, 0.45, at_least=False),
        ),
        Claim(
            "C2", "without SP: > 73% at 0.1% labels", _threshold_claim(WITHOUT_SP, 0.001, 0.73, at_least=True)
        ),
        Claim(
            "C3",
            f"with SP: within 2 points of the full-label accuracy at 0.2% labels (our SP: "
            f"{describe_space(SP_SPACE)})",
            _close_to_full_claim(WITH_SP, 0.002, 0.02),
        ),
    ]


    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        curves = fraction_curves(records)
        labels = [row.label for row in self.rows]
        keys = [fraction_key(f) for f in LABEL_FRACTIONS]
        n_labels: dict[str, dict] = {}
        counts_by = first_by(records, ("metrics", "label_fraction_n_labels"), DIRECTION)
        for (_, direction), counts in counts_by.items():
            n_labels.setdefault(direction, counts)
        tables = []
        for direction in DIRECTIONS:
            rows = [
                [row_display(lab)]
                + [summarize(list(curves.get((lab, direction, k), {}).values())).fmt(1, 100) for k in keys]
                for lab in labels
            ]
            counts = n_labels.get(direction, {})
            rows.append(["(labelled source rows)"] + [str(counts.get(k, "—")) for k in keys])
            tables.append(
                Table(
                    f"{ARROW[direction]}: target accuracy (%) vs. labelled source fraction "
                    "(mean over 10 trials, then mean ± std over seeds)",
                    ["method", *keys],
                    rows,
                )
            )
        page = Page(tables=tables)
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        figs = out_dir / "figures"
        page.figures.append(
            ("Target accuracy vs. fraction of labelled source rows", self._plot_curves(curves, labels, figs))
        )
        art = {key: a for key, a in first_by(records, "artifacts", DIRECTION).items() if a.get("latents")}
        if art:
            page.figures.append(
                (
                    "UMAP of the test latents (seed 0): colour = digit, marker = domain (o source, x target)",
                    self._plot_umaps(art, labels, figs),
                )
            )
        if not any(k[0] == WITH_SP for k in curves):
            page.notes.append(
                f"The 'with SP' model ({row_display(WITH_SP)}) has no records for this profile yet; "
                "C3 is inconclusive until it runs."
            )
        else:
            page.notes.append(
                "'With SP' is the GW-SP row of table1, whose semantic space here is "
                f"{describe_space(SP_SPACE)}; the paper's is CLIP ViT-L/14."
            )
        return page

    def _plot_curves(self, curves, labels, figs: Path) -> str:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
        xs = [100 * f for f in LABEL_FRACTIONS]
        for ax, direction in zip(axes, DIRECTIONS):
            for i, lab in enumerate(labels):
                stats = [
                    summarize(list(curves.get((lab, direction, fraction_key(f)), {}).values()))
                    for f in LABEL_FRACTIONS
                ]
                if not any(s.n for s in stats):
                    continue
                ax.errorbar(
                    xs,
                    [100 * s.mean for s in stats],
                    yerr=[0 if s.n < 2 else 100 * s.std for s in stats],
                    label=row_display(lab),
                    color=PALETTE[i % len(PALETTE)],
                    marker="o",
                    capsize=3,
                )
            ax.set(xscale="log", xlabel="labelled source rows (%)", title=ARROW[direction])
        axes[0].set_ylabel("target accuracy (%)")
        axes[1].legend(loc="lower right", fontsize=8)
        savefig(fig, figs / "fig6_fractions.png")
        return "figures/fig6_fractions.png"

    def _plot_umaps(self, art, labels, figs: Path) -> str:
        present = [lab for lab in labels if any((lab, d) in art for d in DIRECTIONS)]
        fig, axes = plt.subplots(
            len(DIRECTIONS), len(present), figsize=(2.6 * len(present), 5.2), squeeze=False
        )
        cmap = plt.get_cmap("tab10")
        for i, direction in enumerate(DIRECTIONS):
            for j, lab in enumerate(present):
                ax = axes[i, j]
                a = art.get((lab, direction))
                if a:
                    pts = umap_2d(np.asarray(a["latents"], dtype=np.float32))
                    d, y = np.asarray(a["latents_d"]), np.asarray(a["latents_y"])
                    for dom, marker in ((0, "o"), (1, "x")):
                        m = d == dom
                        ax.scatter(
                            pts[m, 0], pts[m, 1], c=cmap(y[m] % 10), s=3, marker=marker, linewidths=0.5
                        )
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(lab, fontsize=9)
                if j == 0:
                    ax.set_ylabel(ARROW[direction])
        fig.tight_layout()
        savefig(fig, figs / "fig6_umap.png")
        return "figures/fig6_umap.png"
