"""table2: semantic preservation in translation, top-k retrieval (§5.4, Table 2, Fig. 5, 17, 18).

Protocol (REPRODUCTION.md, table2): a draw of 100 images per domain (seed index = draw, 5 draws);
a SAUB model trained on the draw translates every image with the source encoder and the target
decoder; each original and every translation are embedded in the pair's semantic space; for each
original all translations are ranked by cosine similarity, and top-k accuracy (k in {1, 5, 10,
20}) is the share of originals whose own translation ranks within the first k
(:mod:`benchmarks.metrics.retrieval`; chance k%). Rows No GW / GW-EP / GW-SP (eq. 12-13), mean ±
std over the draws, both directions.

Pairs (:mod:`benchmarks.tasks.translation`): the paper's CelebA black ↔ blond-haired females,
retrieval and GW-SP in CLIP ViT-L/14, run only when both CelebA and CLIP's weights are on the
machine; and, clearly labelled as a stand-in, MNIST ↔ USPS with the label-free substitute space
``contrastive-digits-v1`` (not CLIP) for both GW-SP and retrieval. Each number is printed with
its pair and its space; the paper's numbers are CelebA/CLIP numbers and sit beside the CelebA
rows only.

Settings: table1's VAUB-family settings (β = 0.005, σ ∈ [0.01, 0.4], 100 levels, one shared
encoder/decoder with a domain embedding, VAE lr 2e-4, latent 64) and its λ_GW = 10 for both
GW-EP and GW-SP, including its eval mode (:data:`benchmarks.experiments.table1.EVAL_NORM`): the
batch-normalised posterior mean (App. C) is normalised by each domain's population statistics over
its training images (``eval_norm="domain"``) rather than BatchNorm's running averages, which mix
the two domains in the shared encoder. Measured on draw 0 of MNIST ↔ USPS after 400 steps: with the
running averages every GW-SP translation decoded to the same blob (top-1 4% / 1%), and the No GW
model's eval reconstruction MSE was 0.099 against 0.003 with batch statistics; with the domains'
statistics the GW-SP translations are digits in the target's style (top-1 9% / 11%, top-20
62% / 72%). Batches hold all 100 images of
each domain, so a step is an epoch; the paper trains 1,500 epochs (the paper profile).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

from benchmarks.contracts import Budget, TaskData
from benchmarks.experiment import Cell, Claim, Experiment, Profile, Row, register_experiment, rounded
from benchmarks.experiments.table1 import LAMBDA_GW_EP, VAUB_DIGITS
from benchmarks.metrics.retrieval import KS
from benchmarks.metrics.translation import domain_rows, translate_images
from benchmarks.plotting import image_grid
from benchmarks.registry import METHODS
from benchmarks.report import Page, Table
from benchmarks.results_table import fields_by, first_by, values_by
from benchmarks.semantic import describe_space
from benchmarks.stats import combine_verdicts, paired_difference_verdict, summarize
from benchmarks.tasks.translation import N_PER_DOMAIN, PAIRS

PAIR = "task.pair"
PAIR_ORDER = ("celeba-hair", "mnist-usps")
DIRECTIONS = ("0to1", "1to0")
ROWS = [
    Row("No GW", "saub", {**VAUB_DIGITS, "gw": "none"}),
    Row("GW-EP", "saub", {**VAUB_DIGITS, "gw": "ep", "lambda_gw": LAMBDA_GW_EP}),
    # the semantic space is the pair's (set per cell by Table2.cells)
    Row("GW-SP", "saub", {**VAUB_DIGITS, "gw": "sp", "gw_metric": "cosine", "lambda_gw": LAMBDA_GW_EP}),
]
LABELS = [r.label for r in ROWS]
#: Table 2 of the paper (%), CelebA with CLIP: (direction, row) -> ((mean, std) at k = 1, 5, 10, 20).
PAPER = {
    ("0to1", "No GW"): ((5.0, 1.4), (14.6, 2.4), (24.4, 4.0), (40.0, 3.5)),
    ("0to1", "GW-EP"): ((4.0, 1.0), (11.6, 2.2), (22.0, 2.9), (35.0, 2.6)),
    ("0to1", "GW-SP"): ((9.0, 1.6), (27.8, 3.1), (39.2, 4.2), (59.0, 2.9)),
    ("1to0", "No GW"): ((3.4, 1.7), (10.8, 3.3), (19.0, 2.9), (33.4, 3.9)),
    ("1to0", "GW-EP"): ((2.0, 0.7), (9.2, 1.8), (15.8, 2.6), (30.4, 3.1)),
    ("1to0", "GW-SP"): ((4.8, 2.3), (18.8, 3.4), (28.6, 4.1), (46.2, 2.5)),
}
#: Images per direction kept (seed 0) for the translation figures (Fig. 5, 17, 18).
N_SHOWN = 8


def metric_key(direction: str, k: int) -> str:
    return f"retrieval_{direction}_top{k}"


def retrieval_by(records: list[dict]) -> dict[tuple[str, str, str, int], dict[int, float]]:
    """(pair, direction, row label, k) -> {draw (seed index): top-k accuracy}."""
    out: dict[tuple[str, str, str, int], dict[int, float]] = defaultdict(dict)
    for direction in DIRECTIONS:
        for k in KS:
            for (label, pair), seeds in values_by(records, metric_key(direction, k), PAIR).items():
                out[(pair, direction, label, k)] = seeds
    return out


def _ordering(better: str, worse: str):
    """"better > worse" at every k, both directions, on every pair with runs of either row; each of
    the 8 parts is the paired-over-draws verdict of :func:`benchmarks.stats.paired_difference_verdict`."""

    def check(records):
        by = retrieval_by(records)
        parts, evidence = [], []
        for pair in PAIR_ORDER:
            if not any(key[0] == pair and key[2] in (better, worse) for key in by):
                continue
            spec = PAIRS[pair]
            for arrow, direction in zip(spec.arrows, DIRECTIONS):
                shown = []
                for k in KS:
                    a, b = by.get((pair, direction, better, k), {}), by.get((pair, direction, worse, k), {})
                    verdict = paired_difference_verdict(a, b)[0]
                    diff = summarize([a[s] - b[s] for s in set(a) & set(b)])
                    parts.append(verdict)
                    shown.append(f"top-{k} {diff.mean * 100:+.1f} pts (n={diff.n}) {verdict}" if diff.n
                                 else f"top-{k} no paired draws")
                evidence.append(f"{arrow}: " + ", ".join(shown))
            evidence[-1] += f" [{spec.title}; space: {describe_space(spec.space)}]"
        if not parts:
            return "inconclusive", "no runs of both rows"
        return combine_verdicts(parts), "; ".join(evidence)

    return check


def _sp_best(records):
    parts = [_ordering("GW-SP", other)(records) for other in ("No GW", "GW-EP")]
    evidence = " || ".join(f"vs {o}: {e}" for o, (_, e) in zip(("No GW", "GW-EP"), parts))
    return combine_verdicts([v for v, _ in parts]), evidence


@register_experiment
class Table2(Experiment):
    name = "table2"
    title = "semantic preservation in translation: top-k retrieval (§5.4, Table 2)"
    description = __doc__.split("\n\n", 1)[1]
    task = "translation-pair"
    rows = ROWS
    metrics = ["translation-retrieval"]
    diagnostics = True
    checkpoint_metrics = ["translation-retrieval"]
    headline = "retrieval_0to1_top10"
    profiles = {
        # 150 steps: top-10 retrieval well above chance (quick's curves: 0.29-0.56 at step 150 against
        # 0.10), so the regression can tell a working translation from a broken one (issue 19).
        "smoke": Profile(
            Budget(steps=150, batch_size=2 * N_PER_DOMAIN), seeds=2, sweep={PAIR: PAIR_ORDER},
            task_kwargs={"n_per_domain": N_PER_DOMAIN}, method_overrides={"prior_steps": 1},
        ),
        # Measured on the shared 2-core machine: 400 steps of a GW-SP cell took 155 s of CPU (0.39 s a
        # step, prior_steps 2); 300 steps ≈ 2 min a cell, the 15 stand-in cells ≈ 15 min with 2 jobs.
        "quick": Profile(
            Budget(steps=300, batch_size=2 * N_PER_DOMAIN), seeds=5, sweep={PAIR: PAIR_ORDER},
            task_kwargs={"n_per_domain": N_PER_DOMAIN}, method_overrides={"prior_steps": 2},
        ),
        # §5.4: "trained for 1,500 epochs"; one step sees every image of both domains.
        "paper": Profile(
            Budget(steps=1500, batch_size=2 * N_PER_DOMAIN), seeds=5, sweep={PAIR: PAIR_ORDER},
            task_kwargs={"n_per_domain": N_PER_DOMAIN}, method_overrides={"prior_steps": 10},
        ),
    }
    paper = {"top_k_percent_celeba_clip": {f"{d}/{r}": v for (d, r), v in PAPER.items()}}
    claim_context = {
        "C1": "budget ruled out, ordering unchanged: every row's top-10 retrieval is still rising at the "
              "quick budget's last checkpoint (regime table), but at 4x the budget (ad-hoc run, 1,200 "
              "steps, seeds 0-1: `saub-bench run table2 --seeds 0,1 --set budget.steps=1200`) the curves "
              "flatten after 600 steps and the ordering stays GW-EP > No GW > GW-SP (M→U top-10 0.66 / "
              "0.615 / 0.48); substitute: MNIST ↔ USPS and the contrastive-digits-v1 space stand in for "
              "CelebA and CLIP (absent here), so GW-SP preserves a self-trained space, not the paper's.",
        "C2": "the same 4x-budget runs put GW-EP above No GW (M→U top-10 0.66 vs 0.615, U→M 0.69 vs "
              "0.59, 2 seeds), the opposite of §5.4's sentence; at the quick budget the paired "
              "differences are inside their intervals.",
    }
    claims = [
        Claim("C1", "GW-SP is best at every k (beats No GW and GW-EP), both directions", _sp_best),
        Claim("C2", "GW-EP is worse than No GW (§5.4: 'GW-EP performs worse than no GW loss'), every k, "
                    "both directions", _ordering("No GW", "GW-EP")),
    ]

    def absent_pairs(self, profile: str) -> dict[str, str]:
        """``{pair: why}`` for the pairs whose data or semantic space is not here (CelebA, CLIP)."""
        found = {pair: PAIRS[pair].missing() for pair in self.profile(profile).sweep[PAIR]}
        return {pair: why for pair, why in found.items() if why}

    def absent(self, profile: str) -> dict[str, str]:
        absent = self.absent_pairs(profile)
        return {f"{PAIRS[pair].title} ({PAIR} = {pair})": why for pair, why in absent.items()}

    def cells(self, profile: str, seeds: list[int] | None = None) -> list[Cell]:
        """The grid without absent pairs; GW-SP cells get their pair's semantic space."""
        skipped = self.absent_pairs(profile)
        out = []
        for cell in super().cells(profile, seeds):
            pair = cell.sweep[PAIR]
            if pair in skipped:
                continue
            if cell.overrides.get("gw") == "sp":
                cell = dataclasses.replace(cell, overrides={**cell.overrides, "semantic": PAIRS[pair].space})
            out.append(cell)
        return out

    def validate(self) -> None:
        super().validate()
        for profile in self.profiles:
            for cell in self.cells(profile, seeds=[0]):
                METHODS.get(cell.method).resolve(cell.overrides)

    def artifacts(self, method, task: TaskData) -> dict:
        """The first :data:`N_SHOWN` images of each domain and their translations (Fig. 5, 17, 18)."""
        out = {}
        for a, b in ((0, 1), (1, 0)):
            x = task.test.x[domain_rows(task.test, a)[:N_SHOWN]]
            t = translate_images(method, x, a, b)
            out[f"{a}to{b}"] = {"input": rounded(x, 3), "translation": rounded(t, 3)}
        return out

    # ----------------------------------------------------------------- report
    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        by = retrieval_by(records)
        absent = self.absent_pairs(profile)
        page = Page()
        for pair in self.profile(profile).sweep[PAIR]:
            page.tables.append(self._pair_table(pair, by, pair in absent))
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        spaces = set(fields_by(records, ("config", "semantic"))["GW-SP"].values())
        page.notes += [
            "The MNIST ↔ USPS numbers are a stand-in for CelebA (absent here): same protocol, other data, "
            "and the semantic space is the label-free contrastive-digits-v1 substitute, not CLIP. They test "
            "the claims on digits; they are not comparable with the paper's CelebA numbers.",
            "GW-SP trains with the same semantic space that retrieval measures in (as the paper uses CLIP "
            f"for both); GW-SP spaces in these records: {', '.join(sorted(spaces)) or '—'}.",
            "Retrieval is scored on the very images the model was trained on (a draw of 100 per domain), as "
            "§5.4 describes; chance level is k% for k of 100.",
        ]
        figs = out_dir / "figures"
        arts = first_by(records, "artifacts", PAIR)
        for pair in PAIR_ORDER:
            art = {label: a for (label, pair_), a in arts.items() if pair_ == pair}
            if art:
                page.figures.append(self._plot(pair, art, figs))
        return page

    def _pair_table(self, pair: str, by, is_absent: bool) -> Table:
        spec = PAIRS[pair]
        rows = []
        for i, direction in enumerate(DIRECTIONS):
            for label in LABELS:
                cells = [spec.arrows[i], label]
                for j, k in enumerate(KS):
                    s = summarize(list(by.get((pair, direction, label, k), {}).values()))
                    ours = "data absent" if is_absent else (s.fmt(1, 100) if s.n else "not run")
                    if spec.stand_in:
                        cells.append(ours)
                    else:
                        mean, std = PAPER[(direction, label)][j]
                        cells += [f"{mean:.1f} ± {std:.1f}", ours]
                rows.append(cells)
        rows.append(["", "chance"] + sum(([f"{k:.1f}"] if spec.stand_in else [f"{k:.1f}", f"{k:.1f}"]
                                          for k in KS), []))
        heads = [f"top-{k} ours" for k in KS] if spec.stand_in else \
            [h for k in KS for h in (f"top-{k} paper", f"top-{k} ours")]
        return Table(
            f"{spec.title}: top-k retrieval accuracy (%), space: {describe_space(spec.space)}, "
            "mean ± std over draws",
            ["direction", "row", *heads],
            rows,
            note="" if not spec.stand_in else "Stand-in pair: the paper reports CelebA only (its numbers are "
            "in the CelebA table).",
        )

    def _plot(self, pair: str, art: dict, figs: Path) -> tuple[str, str]:
        spec = PAIRS[pair]
        grid = []
        for i, direction in enumerate(DIRECTIONS):
            first = next(a[direction] for a in art.values())
            grid.append((f"{spec.arrows[i]}: source", first["input"]))
            grid += [(f"{label}", art[label][direction]["translation"]) for label in LABELS if label in art]
        path = f"table2_{pair}.png"
        image_grid(grid, figs / path, cell=(0.8, 0.85))
        caption = (f"{spec.title}: sources and their translations per row, both directions (draw 0; "
                   f"GW-SP in {describe_space(spec.space)})")
        return caption, f"figures/{path}"
