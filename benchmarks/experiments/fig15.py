"""fig15: FairFace male ↔ female translation, SAUB without SP vs. VAUB (App. K, Fig. 15-16).

Both models train "in a fully unsupervised manner" without any structural loss (App. K): SAUB
with the score-based prior (SFS, eq. 8-11, Alg. 1) and VAUB with its learnable mixture-of-Gaussians
prior, same architecture and settings otherwise (task ``fairface-gender``: 64 x 64 faces, domain
0 male, 1 female). The figure follows Fig. 16's layout per model and direction: held-out
originals, their reconstructions, their translations to the other gender (seed 0, a seeded
random choice, not handpicked as Fig. 15's are).

The paper's comparison is qualitative only (Fig. 15: SAUB "exhibits superior semantic
preservation ... skin color, race, and age"); the page shows the images and the reconstruction
error, and states no verdict. FairFace is not in the shared data of this machine: without it
the experiment has no cells and its page says "data absent".

Settings: table1's VAUB-family settings (β = 0.005, σ ∈ [0.01, 0.4], shared encoder/decoder with a
domain embedding, latent 64, VAE lr 2e-4) with ``gw = none``, including its eval-mode normalisation
by each domain's own statistics (``eval_norm="domain"``); the paper gives none for FairFace.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.contracts import Budget, TaskData
from benchmarks.data.fairface import fairface_missing
from benchmarks.experiment import DataBoundExperiment, Profile, Row, register_experiment, rounded
from benchmarks.experiments.table1 import VAUB_DIGITS
from benchmarks.metrics.translation import domain_rows, translate_images
from benchmarks.plotting import image_grid
from benchmarks.report import Page, Table
from benchmarks.stats import summarize

ROWS = [
    Row("SAUB (no SP)", "saub", {**VAUB_DIGITS, "gw": "none"}),
    Row("VAUB", "vaub", {**VAUB_DIGITS, "gw": "none"}),
]
DOMAINS = ("male", "female")
#: Held-out faces per direction in the figure (Fig. 16 shows 3 per direction).
N_SHOWN = 6


@register_experiment
class Fig15(DataBoundExperiment):
    name = "fig15"
    data = "FairFace"
    title = "FairFace male ↔ female translation, SAUB without SP vs. VAUB (App. K, Fig. 15-16)"
    description = __doc__.split("\n\n", 1)[1]
    task = "fairface-gender"
    rows = ROWS
    metrics = ["reconstruction-mse"]
    #: Alignment, collapse and loss shares; no learning-curve headline (its one metric, the
    #: reconstruction MSE, is lower-is-better and says nothing about the matching).
    diagnostics = True
    profiles = {
        "smoke": Profile(Budget(steps=10, batch_size=32), seeds=1,
                         task_kwargs={"n_per_domain": 64, "n_test": N_SHOWN},
                         method_overrides={"prior_steps": 1}),
        # not measured (no FairFace here); 64 x 64 RGB, 4 conv stages: expect well under an hour
        "quick": Profile(Budget(steps=2000, batch_size=128), seeds=1,
                         task_kwargs={"n_per_domain": 5000, "n_test": N_SHOWN},
                         method_overrides={"prior_steps": 2}),
        # every training face (n_per_domain None)
        "paper": Profile(Budget(steps=30000, batch_size=256), seeds=1,
                         task_kwargs={"n_per_domain": None, "n_test": N_SHOWN},
                         method_overrides={"prior_steps": 10}),
    }
    paper = {"figures": "Fig. 15 (handpicked) and Fig. 16 (random) are images only; no numbers"}

    def missing_data(self) -> Exception | None:
        return fairface_missing("train")

    def artifacts(self, method, task: TaskData) -> dict:
        """Fig. 16's rows per direction: held-out originals, reconstructions, translations."""
        out = {}
        for a, b in ((0, 1), (1, 0)):
            rows = domain_rows(task.test, a)
            x = task.test.x[rows]
            out[f"{DOMAINS[a]}→{DOMAINS[b]}"] = {
                "original": rounded(x, 3),
                "reconstructed": rounded(method.reconstruct(x, task.test.d[rows]).clamp(0, 1), 3),
                "translated": rounded(translate_images(method, x, a, b), 3),
            }
        return out

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        by = {r["cell"]["label"]: r for r in records}
        absent = bool(self.absent(profile))
        rows = []
        for row in self.rows:
            mse = summarize([by[row.label]["metrics"]["test_recon_mse"]] if row.label in by else [])
            shown = "data absent" if absent else (mse.fmt(4) if mse.n else "not run")
            rows.append([row.label, row.method, shown])
        page = Page(tables=[Table("Rows (both without structural loss, App. K)",
                                  ["model", "method", "test reconstruction MSE"], rows)])
        for label, r in by.items():
            if not r.get("artifacts"):
                continue
            grid = [(f"{direction}: {kind}", images) for direction, part in r["artifacts"].items()
                    for kind, images in part.items()]
            path = f"fig15_{r['cell']['method']}.png"
            image_grid(grid, out_dir / "figures" / path, cell=(0.9, 0.95))
            page.figures.append((f"{label}: original, reconstructed, translated, per direction (seed 0, "
                                 "random held-out faces)", f"figures/{path}"))
        page.notes.append("App. K's comparison is qualitative (handpicked images in Fig. 15): no claim is "
                          "decided here.")
        return page
