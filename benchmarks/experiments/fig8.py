"""fig8: multi-domain distribution matching on rotated MNIST (App. G, Fig. 8).

One SAUB model with GW-SP (eq. 8-13, Alg. 1) matches three domains at once: MNIST rotated 0°, 30°
and 60° (task ``rotated-mnist``: unpaired, disjoint digits per domain). The figure has App. G's
rows: ground truth (0° test digits), their reconstruction, their translation to 30° and to 60°.

App. G's claim is qualitative ("most of the stylistic and semantic features are preserved with
the correct rotation"); the suite reads it as two measurable statements
(:mod:`benchmarks.metrics.translation`, ``rotated-translation``): a pixel classifier trained on
the target domain's labelled images recognises the source digit in its translation, and the
translation is nearest (pixel MSE) to its own source rotated by the target angle rather than by
another angle of the task. "Most" is read as ≥ 50% (our threshold; chance is 10% and 33%).

Settings: table1's GW-SP row (β = 0.005, σ ∈ [0.01, 0.4], shared encoder/decoder with a domain
embedding, latent 64, λ_GW = 10, cosine distances in the label-free ``contrastive-digits-v1``
space, not CLIP: its weights are absent), including its eval-mode normalisation by each domain's own
statistics (``eval_norm="domain"``, :data:`benchmarks.experiments.table1.EVAL_NORM`).
GW pairs are within-domain (the default), so SP compares rotated digits with rotated digits
only. The substitute space was trained on upright digits with rotations up to 15°; at 60° its
distances are a weaker guide than CLIP's might be.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.contracts import Budget, TaskData
from benchmarks.experiment import Claim, Experiment, Profile, Row, register_experiment, rounded
from benchmarks.experiments.table1 import LAMBDA_GW_EP, SP_SPACE, VAUB_DIGITS
from benchmarks.metrics.translation import domain_rows, translate_images
from benchmarks.plotting import image_grid
from benchmarks.report import Page, Table
from benchmarks.results_table import first_by
from benchmarks.semantic import describe_space
from benchmarks.stats import combine_verdicts, metric_by_label, summarize, threshold_verdict

ANGLES = (0, 30, 60)
ROWS = [
    Row("SAUB GW-SP", "saub",
        {**VAUB_DIGITS, "gw": "sp", "semantic": SP_SPACE, "gw_metric": "cosine",
         "lambda_gw": LAMBDA_GW_EP}),
]
#: "Most ... preserved": our reading, not a number of the paper.
MOST = 0.5
#: Test digits (0°) shown in the figure.
N_SHOWN = 10
#: Report columns: metric key prefix (+ target domain index) -> header.
COLUMNS = {
    "digit_acc_to": "digit kept (classifier acc.)",
    "digit_acc_real": "classifier on real target images",
    "rotation_acc_to": "right rotation (share)",
    "rotation_mse_to": "MSE to the true rotation",
}


NEAREST_HEADER = "nearest rotation: share at " + " / ".join(f"{a}°" for a in ANGLES)


def nearest_rotation_shares(records: list[dict], label: str, k: int) -> str:
    """Mean over seeds of the share of translations to domain ``k`` nearest to each angle's rotation."""
    means = []
    for angle in ANGLES:
        values = list(metric_by_label(records, f"rotation_nearest{angle}_to{k}").get(label, {}).values())
        if not values:
            return "–"
        means.append(f"{sum(values) / len(values):.2f}")
    return " / ".join(means)


def _most(key: str):
    """"≥ MOST for every target angle", from the seeds' 95% interval."""

    def check(records):
        parts = []
        for k, angle in enumerate(ANGLES[1:], 1):
            values = [v for by in metric_by_label(records, f"{key}_to{k}").values() for v in by.values()]
            parts.append((angle, *threshold_verdict(values, MOST)))
        evidence = "; ".join(f"to {a}°: {v} ({e})" for a, v, e in parts)
        return combine_verdicts([v for _, v, _ in parts]), evidence

    return check


@register_experiment
class Fig8(Experiment):
    name = "fig8"
    title = "three-domain matching on rotated MNIST: reconstruction and translation (App. G, Fig. 8)"
    description = __doc__.split("\n\n", 1)[1]
    task = "rotated-mnist"
    rows = ROWS
    metrics = ["rotated-translation", "reconstruction-mse"]
    diagnostics = True
    checkpoint_metrics = ["rotated-translation"]
    headline = "digit_acc_to1"
    profiles = {
        "smoke": Profile(Budget(steps=15, batch_size=96), seeds=1,
                         task_kwargs={"angles": ANGLES, "n_per_domain": 300, "n_test": 100},
                         method_overrides={"prior_steps": 1}),
        # ≈ 0.4 s a step (table2's measurement at a similar batch): ≈ 6 min a cell, ≈ 12 min with 2 jobs
        "quick": Profile(Budget(steps=800, batch_size=192), seeds=3,
                         task_kwargs={"angles": ANGLES, "n_per_domain": 4000, "n_test": 500},
                         method_overrides={"prior_steps": 2}),
        "paper": Profile(Budget(steps=20000, batch_size=384), seeds=3,
                         task_kwargs={"angles": ANGLES, "n_per_domain": None, "n_test": None},
                         method_overrides={"prior_steps": 10}),
    }
    paper = {"figure": "Fig. 8 shows images only; App. G's claim is qualitative"}
    claim_context = {
        "C1": "regime: the three rotations are not aligned (held-out MLP probe balanced accuracy 0.89 "
              "against chance 0.33) and the matching terms carry < 1 % of the weighted loss (regime "
              "table), so a translation decodes a latent the target decoder has not seen from its own "
              "domain; budget is not the cause at this setting: digit_acc_to1 moved 0.504 -> 0.513 -> "
              "0.517 over the last three checkpoints. The row runs table1's SAUB GW-SP configuration; "
              "fig8 has no search of its own.",
        "C2": "the same regime as C1 (domains not aligned); the translations stay nearest to their "
              "source's own rotation (share at 0°: 1.00 to 30°, 0.96 to 60°; results table), i.e. the "
              "decoders reproduce the source image instead of rotating it.",
    }
    claims = [
        Claim("C1", f"Translations keep the digit: a target-domain pixel classifier recognises ≥ {MOST:.0%} "
                    "of them (to 30° and to 60°; our reading of 'most')", _most("digit_acc")),
        Claim("C2", f"Translations have the right rotation: ≥ {MOST:.0%} are nearest to their source rotated "
                    "by the target angle (chance 33%)", _most("rotation_acc")),
    ]

    def artifacts(self, method, task: TaskData) -> dict:
        """Fig. 8's rows for the first :data:`N_SHOWN` 0° test digits."""
        rows = domain_rows(task.test, 0)[:N_SHOWN]
        x, d = task.test.x[rows], task.test.d[rows]
        recon = method.reconstruct(x, d).clamp(0, 1)
        out = {"ground truth": rounded(x, 3), "reconstruction": rounded(recon, 3)}
        for k, angle in enumerate(task.protocol["angles"][1:], 1):
            out[f"to {angle:g}°"] = rounded(translate_images(method, x, 0, k), 3)
        return out

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        rows = []
        for row in self.rows:
            for k, angle in enumerate(ANGLES[1:], 1):
                cells = [f"{row.label} ({describe_space(SP_SPACE)})", f"0° → {angle}°"]
                for key in COLUMNS:
                    values = metric_by_label(records, f"{key}{k}").get(row.label, {})
                    cells.append(summarize(list(values.values())).fmt(3))
                cells.append(nearest_rotation_shares(records, row.label, k))
                rows.append(cells)
        recon = metric_by_label(records, "test_recon_mse")
        mse = summarize([v for by in recon.values() for v in by.values()])
        table = Table("Translations of 0° test digits, mean ± std over seeds",
                      ["model", "translation", *COLUMNS.values(), NEAREST_HEADER], rows,
                      note=f"Chance: digit 0.1, rotation 1/{len(ANGLES)}. Reconstruction MSE (all test "
                           f"domains): {mse.fmt(4)}. The paper gives no numbers for Fig. 8.")
        page = Page(tables=[table])
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        art = next(iter(first_by(records, "artifacts").values()), None)
        if art:
            image_grid(list(art.items()), out_dir / "figures" / "fig8.png", label_size=9)
            caption = "Rows: ground truth (0°), reconstruction, translation to 30°, to 60° (seed 0)"
            page.figures.append((caption, "figures/fig8.png"))
        page.notes.append(f"GW-SP's semantic space: {describe_space(SP_SPACE)}; the paper's: CLIP ViT-L/14.")
        return page
