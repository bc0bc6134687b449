"""fig14: MNIST -> USPS translations (App. J), a view of table1's cells.

Translation encodes a source test image with the source encoder and decodes it with the target
decoder (posterior mean, no sampling). Sixteen MNIST test digits (a seeded draw) per VAUB-family
row of table1, seed 0; rows without a decoder (ADDA, DANN) have no translations. The paper shows
the GW-SP model; here the GW-SP row's semantic space is the label-free substitute
``contrastive-digits-v1`` (not CLIP), as table1 states.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.experiment import register_experiment
from benchmarks.experiments.table1 import ARROW, DIRECTION, Table1View
from benchmarks.plotting import image_grid
from benchmarks.report import Page, Table


@register_experiment
class Fig14(Table1View):
    name = "fig14"
    title = "MNIST → USPS translations (App. J)"
    description = __doc__.split("\n\n", 1)[1]


    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        art = {
            (r["cell"]["label"], r["cell"]["sweep"][DIRECTION]): r["artifacts"]
            for r in records
            if r.get("artifacts", {}).get("translation")
        }
        page = Page()
        figs = out_dir / "figures"
        for direction in sorted({d for _, d in art}):
            labels = [row.label for row in self.rows if (row.label, direction) in art]
            extra = [lab for lab, d in art if d == direction and lab not in labels]
            labels += extra
            page.figures.append(
                (
                    f"{ARROW[direction]}: first row the source test images, then each row's "
                    "translation to the target domain (seed 0)",
                    self._plot(art, labels, direction, figs),
                )
            )
        rows = [[lab, ARROW[d]] for lab, d in sorted(art)]
        page.tables.append(Table("Rows with translations", ["method", "direction"], rows))
        if not art:
            page.notes.append("No record has translations (only VAUB-family rows translate).")
        return page

    def _plot(self, art, labels, direction, figs: Path) -> str:
        grid = [("source", art[(labels[0], direction)]["translation_input"])] + [
            (lab, art[(lab, direction)]["translation"]) for lab in labels
        ]
        path = f"fig14_{direction}.png"
        image_grid(grid, figs / path)
        return f"figures/{path}"
