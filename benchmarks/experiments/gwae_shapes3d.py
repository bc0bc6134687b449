"""gwae-shapes3d: GWAE's disentanglement on 3D Shapes, DCI scores (seed 001, §4.3, Table 1).

Two models on 3D Shapes (task ``shapes3d``: 3x64x64 images in [0, 1], App. C.1's random split,
factors unseen in training), latent size L = 16 as in Table 1:

* **VAE**: ``vae-gaussian`` as a plain VAE (Kingma & Welling), the gwae-mnist row: N(0, I) prior,
  Bernoulli likelihood, β = 1, no GW term, no batch-normalised mean, Adam lr 1e-4 (App. C.2);
* **GWAE (FNP)**: ``gwae`` with the factorised neural prior (§3.2.3, the prior of Table 1), RMSProp
  lr 1e-4, critic 5e-5, batch 64 (App. C.2), sigmoid decoder mean, (λ_W, λ_D, λ_H) = (1, 1, 1).
  The seed's text keeps no λ for Table 1: the paper picked them in λ_W, λ_D ∈ [1, 10],
  λ_H ∈ [1e-4, 1] by validation DCI-C (§4); (1, 1, 1), the paper's only stated setting (MNIST, Fig. 1
  and 4), lies in those ranges. ``critic_steps`` per main step: 5 in the paper profile (the
  authors' code), fewer in the CPU profiles.

Both use the suite's CNN (four 4x4 stride-2 convolutions, 256 features), not the paper's Tables 3-4.
Metric: DCI (Eastwood & Williams 2018; :mod:`benchmarks.metrics.dci`) of the posterior means of the
test images against the 9 factors (shape as four dummies): D (disentanglement), C (completeness),
I = 1 - 6 MSE (informativeness, eq. 58). 3D Shapes is not in the shared data of this machine:
without ``3dshapes.h5`` the experiment has no cells and its page says "data absent".
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.contracts import Budget
from benchmarks.data.shapes3d import shapes3d_missing
from benchmarks.experiment import Claim, DataBoundExperiment, Profile, Row, register_experiment
from benchmarks.experiments.gwae_mnist import GWAE, VAE
from benchmarks.report import Page, Table
from benchmarks.stats import metric_by_label, paired_rows_verdict, summarize

SCORES = {"D": "dci_d", "C": "dci_c", "I": "dci_i"}
#: Table 1 of the seed: row -> (mean, standard error of the mean) of D, C, I. The rows above
#: FactorVAE are lost in the seed's text (its caption breaks off mid-sentence), and so is the name
#: "FactorVAE" itself: only its citation (Kim & Mnih, 2018) precedes the first surviving numbers.
PAPER = {
    "FactorVAE": ((0.7963, 0.0004), (0.7390, 0.0004), (0.9961, 0.0002)),
    "DIP-VAE-I": ((0.8609, 0.0003), (0.6984, 0.0003), (0.9961, 0.0001)),
    "DIP-VAE-II": ((0.8236, 0.0001), (0.7498, 0.0003), (0.9957, 0.0002)),
    "GWAE (FNP)": ((0.9080, 0.0002), (0.7024, 0.0002), (0.9966, 0.0002)),
}
ROWS = [
    Row("VAE", "vae-gaussian", VAE),
    Row("GWAE (FNP)", "gwae", {**GWAE, "prior": "fnp"}),
]
LABELS = [r.label for r in ROWS]


def dci_by(records: list[dict]) -> dict[str, dict[str, dict[int, float]]]:
    """score D | C | I -> {row label: {seed index: value}}."""
    return {score: metric_by_label(records, key) for score, key in SCORES.items()}


def _table_row(label: str, by, absent: bool) -> list[str]:
    """One row of the page's table: per score the paper's number, ours and their difference."""
    paper, cells = PAPER.get(label), [label]
    for j, score in enumerate(SCORES):
        ours = summarize(list(by[score].get(label, {}).values()))
        if label not in LABELS:
            shown = "not in the suite"
        else:
            shown = "data absent" if absent else (ours.fmt(4) if ours.n else "not run")
        cells += [f"{paper[j][0]:.4f} ± {paper[j][1]:.4f}" if paper else "lost in the seed's text", shown,
                  f"{ours.mean - paper[j][0]:+.4f}" if paper and ours.n else "—"]
    return cells


def _check_d(records: list[dict]) -> tuple[str, str]:
    return paired_rows_verdict(records, SCORES["D"], "GWAE (FNP)", "VAE")


@register_experiment
class GWAEShapes3D(DataBoundExperiment):
    name = "gwae-shapes3d"
    data = "3D Shapes"
    title = "GWAE's disentanglement on 3D Shapes: DCI of VAE and GWAE (FNP) (seed 001, Table 1)"
    description = __doc__.split("\n\n", 1)[1]
    task = "shapes3d"
    rows = ROWS
    metrics = ["dci"]
    profiles = {
        "smoke": Profile(Budget(steps=10, batch_size=32), seeds=1,
                         task_kwargs={"n_train": 256, "n_test": 128}, method_overrides={"critic_steps": 1}),
        # not measured (no 3D Shapes here): one GWAE (FNP) step at 3x64x64, batch 64, 2 critic steps
        # took 2.1 s on this 2-core machine under load (VAE 0.3 s), i.e. ~35 min per GWAE cell
        "quick": Profile(Budget(steps=1000, batch_size=64), seeds=3,
                         task_kwargs={"n_train": 10000, "n_test": 5000},
                         method_overrides={"critic_steps": 2}),
        # every train / test image (384,000 / 48,000: 19 GB + 2.4 GB as float32), 10 epochs
        "paper": Profile(Budget(steps=60000, batch_size=64), seeds=5,
                         task_kwargs={"n_train": None, "n_test": None}, method_overrides={"critic_steps": 5}),
    }
    paper = PAPER
    claims = [Claim("C1", "GWAE (FNP) disentangles 3D Shapes better than a VAE: higher DCI-D (Table 1)",
                    _check_d)]

    def missing_data(self) -> Exception | None:
        return shapes3d_missing()

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        by, absent = dci_by(records), bool(self.absent(profile))
        rows = [_table_row(label, by, absent) for label in LABELS + [k for k in PAPER if k not in LABELS]]
        heads = [h for s in SCORES for h in (f"{s} paper", f"{s} ours", f"{s} ours − paper")]
        table = Table("DCI on 3D Shapes test images, L = 16 (ours: mean ± std over seeds; paper: mean ± "
                      "standard error of the mean)", ["model", *heads], rows,
                      note="D: disentanglement, C: completeness, I = 1 - 6 MSE: informativeness (higher "
                           "is better). The rows of Table 1 above FactorVAE are lost in the seed's text, so "
                           "whether it had a VAE row is unknown; FactorVAE's own name is lost too (its "
                           "citation, Kim & Mnih 2018, stands before its numbers).")
        page = Page(tables=[table])
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        page.notes += [
            "The paper's ± is a standard error of the mean over measurements whose number the text does "
            "not give; ours is the std over training seeds.",
            "Model selection: the paper tuned λ on validation DCI-C and stopped early (patience 10); the "
            "suite fixes λ = (1, 1, 1) and keeps the last iterate. FactorVAE and DIP-VAE are not in the "
            "suite.",
            "DCI protocol (the paper: 10 trees, depth by cross-validation): forests fit on a random 2/3 of "
            "the encoded test images and scored on the other 1/3; one depth in {2, 4, 8, 12} by 5-fold CV "
            "(the authors' toolkit, vaetc).",
        ]
        return page
