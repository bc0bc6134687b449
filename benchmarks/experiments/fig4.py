"""fig4: the parity–accuracy trade-off of fair representations on UCI Adult (§5.2, Fig. 4, App. H.1).

Every method sweeps its own fairness knob; a cell is (method, knob value, seed). The knob enters
the cell as a ``method.<knob>`` sweep entry, so cell ids, seeds and records name it; the grid of
knob values depends on the profile (:data:`KNOBS`), which is why this experiment builds its cells
itself. The unconstrained MLP has no knob (one point per seed).

Knobs (each method's own, as its paper / public code sweeps it):

* ``saub`` (score prior, SFS, GW-EP) and ``vaub`` (MoG prior, no GW): β, the weight of the prior
  (KL / cross-entropy) term of the VAUB objective, the strength of the distribution matching;
* ``fcrl``: λ, with β = λ / 2 (their Adult script); ``cvib``: λ; ``laftr-dp``: γ.

All representations come from App. H.1's encoder (3-layer MLP, hidden 64, latent 8) and are
scored by the same downstream 3-layer MLP (``fair-classification``,
:mod:`benchmarks.metrics.fairness`): test accuracy and Δ_DP. The VAUB family trains label-free;
the baselines use the training labels as in their papers (protocol in :mod:`benchmarks.tasks.adult`).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from benchmarks.contracts import Budget
from benchmarks.experiment import Cell, Claim, Experiment, Profile, Row, register_experiment
from benchmarks.metrics.fairness import area_over_curve, front_accuracy_at
from benchmarks.registry import METHODS
from benchmarks.report import Page
from benchmarks.results_table import ONLY_SWEEP, protocol_value, values_by
from benchmarks.stats import combine_verdicts, paired_difference_verdict, threshold_verdict

ENCODER = {"latent_dim": 8, "hidden": 64, "enc_layers": 2}
VAUB_TABULAR = {**ENCODER, "dec_layers": 3, "likelihood": "gaussian", "obs_std": 1.0}
ROWS = [
    Row("saub", "saub", {**VAUB_TABULAR, "gw": "ep", "lambda_gw": 1.0}),
    Row("vaub", "vaub", {**VAUB_TABULAR, "gw": "none"}),
    Row("fcrl", "fcrl", ENCODER),
    Row("cvib", "cvib", ENCODER),
    Row("laftr-dp", "laftr-dp", ENCODER),
    Row("unfair-mlp", "unfair-mlp", {"hidden": 64, "enc_layers": 2}),
]
KNOB = {"saub": "beta", "vaub": "beta", "fcrl": "lambda_", "cvib": "lambda_", "laftr-dp": "gamma"}
DISPLAY = {"saub": "SAUB (ours, GW-EP)", "vaub": "VAUB", "fcrl": "FCRL", "cvib": "CVIB",
           "laftr-dp": "LAFTR-DP", "unfair-mlp": "Unfair MLP"}
#: Beyond the public grids (issue 18): each knob continues past its paper's largest value until Δ_DP
#: nears zero or accuracy nears the majority rate; at the quick budget the public grids stop at
#: Δ_DP ≈ 0.09-0.14 for the baselines (measured, reports/fig4.md before this extension).
#: The VAUB family's β already spans its whole range, (0, 1] (``VAUBConfig.validate``).
EXTENSION = {"fcrl": (4.0, 8.0), "cvib": (2.0, 5.0), "laftr-dp": (8.0, 16.0)}
#: Knob values per profile. ``paper``: the authors' Adult grids (FCRL's public scripts,
#: ``umgupta/fairness-via-contrastive-estimation``: ``src/shell/adult/run_fcrl_adult.sh`` λ ∈ [0.01, 2],
#: ``run_cvib_adult.sh`` λ ∈ [0.01, 1], ``laftr/adult_experiments.sh`` γ ∈ [0.1, 4]) followed by
#: :data:`EXTENSION`; the VAUB family's β grid is ours (the paper does not give it).
KNOBS = {
    "smoke": {"saub": (0.1, 1.0), "vaub": (0.1, 1.0), "fcrl": (0.1, 1.0), "cvib": (0.1, 1.0),
              "laftr-dp": (0.5, 2.0)},
    "quick": {lab: grid + EXTENSION.get(lab, ()) for lab, grid in {
        "saub": (0.005, 0.02, 0.05, 0.2, 1.0), "vaub": (0.005, 0.02, 0.05, 0.2, 1.0),
        "fcrl": (0.01, 0.1, 0.5, 1.0, 2.0), "cvib": (0.01, 0.05, 0.1, 0.5, 1.0),
        "laftr-dp": (0.1, 0.5, 1.0, 2.0, 4.0)}.items()},
    "paper": {lab: grid + EXTENSION.get(lab, ()) for lab, grid in {
        "saub": (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
        "vaub": (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
        "fcrl": (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0),
        "cvib": (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                 0.7, 0.8, 0.9, 1.0),
        "laftr-dp": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
    }.items()},
}
#: External reference for an unconstrained MLP on Adult/sex (REPRODUCTION.md).
REFERENCE = {"accuracy": (0.845, 0.853), "delta_dp": (0.17, 0.185)}
#: Baseline strength on Adult: what each baseline's own paper and public code give, as far as this
#: suite could read them (the papers' texts are not in its reference store; the code was read at the
#: commits named), and the check made instead of a comparison with a printed number.
OWN_ADULT_SOURCES = {
    "fcrl": "Gupta et al. 2021 give Adult as parity–accuracy curves and AOC (their Table 2), not readable "
            "here; public code (umgupta/fairness-via-contrastive-estimation @ c0b5044, "
            "src/shell/adult/run_fcrl_adult.sh): λ ∈ [0.01, 2] (29 values), β = λ/2, 200 epochs, "
            "MLP(50) downstream, Δ_DP max over 5 runs; its only printed Adult number is the unfair "
            "MLP's (reference table)",
    "cvib": "Moyer et al. 2018's Adult table (accuracy on y, adversary accuracy on s) not readable here; "
            "public code (dcmoyer/inv-rep): dim z 30, β 0.01, λ 1e-4, 501 epochs, MLP(64) adversary",
    "laftr-dp": "Madras et al. 2018 show Adult as curves only (Fig. 2), not readable here; public code "
                "(VectorInstitute/laftr, sweeps/full_sweep_adult): fair_coeff 0.1–4, z dim 8, one hidden "
                "layer of 8, seeds 1–7",
}
#: A baseline at its unconstrained end (smallest knob) must be as accurate as the unconstrained MLP
#: within this much: an implementation that loses accuracy before any fairness pressure is weak.
UNCONSTRAINED_TOLERANCE = 0.01
#: "Near-zero" Δ_DP (C1) and the parity levels at which accuracies are compared (C2).
NEAR_ZERO = 0.02
PARITY_LEVELS = (0.02, 0.05, 0.10)
OURS = "saub"


def tradeoff_points(records: list[dict]) -> dict[str, dict[int, list[tuple[float, float, float]]]]:
    """label -> seed -> [(knob value, Δ_DP, accuracy)] of the post-hoc classifier."""
    out: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    accuracy = values_by(records, "accuracy", ONLY_SWEEP)
    for (label, knob), parities in values_by(records, "delta_dp", ONLY_SWEEP).items():
        for seed, parity in parities.items():
            if seed in accuracy[(label, knob)]:
                out[label][seed].append((knob, parity, accuracy[(label, knob)][seed]))
    return out


def majority_floor(records: list[dict]) -> float:
    """The test split's majority-class accuracy (the AOC's floor); equal for every record (ValueError
    where records disagree)."""
    return protocol_value(records, "majority_test_accuracy")


def label_parity(records: list[dict]) -> float:
    """Δ_DP of the true test labels, |P(y=1|female) − P(y=1|male)| (the records' protocol): the right
    end of FCRL's area (their ``src/scripts/plot.py``, ``area_over_curve``: points above it dropped,
    normalised by ``(1 − majority) · max_dp``); ValueError where records disagree on the test rates."""
    rates = protocol_value(records, "test_rates")
    return round(abs(rates["P(y=1|female)"] - rates["P(y=1|male)"]), 6)


def _per_seed(records: list[dict], fn) -> dict[str, dict[int, float]]:
    """label -> seed -> fn(parities, accuracies, floor) over that seed's sweep."""
    floor = majority_floor(records)
    return {lab: {s: fn([p for _, p, _ in pts], [a for _, _, a in pts], floor) for s, pts in seeds.items()}
            for lab, seeds in tradeoff_points(records).items()}


def aoc_by(records: list[dict]) -> dict[str, dict[int, float]]:
    """label -> seed -> AOC over Δ_DP ∈ [0, Δ_DP of the true labels] (FCRL's range, :func:`label_parity`)."""
    parity_max = label_parity(records)
    return _per_seed(records, lambda p, a, floor: area_over_curve(p, a, floor, parity_max))


def _check_near_zero(records):
    pts = tradeoff_points(records).get(OURS, {})
    lowest = [min(p for _, p, _ in v) for v in pts.values()]
    return threshold_verdict(lowest, NEAR_ZERO, at_least=False) if lowest else ("inconclusive", "no runs")


def _check_accuracy_at_equal_parity(records):
    verdicts, ev = [], []
    for delta in PARITY_LEVELS:
        acc = _per_seed(records, lambda p, a, f, delta=delta: front_accuracy_at(p, a, delta, f))
        if OURS not in acc:
            return "inconclusive", "no runs of saub"
        for lab in (lab for lab in acc if lab not in (OURS, "unfair-mlp")):
            v, e = paired_difference_verdict(acc[OURS], acc[lab])
            verdicts.append(v)
            ev.append(f"Δ≤{delta:g} vs {DISPLAY[lab]}: {v} ({e})")
    return combine_verdicts(verdicts), "; ".join(ev) or "no runs"


def _check_aoc(records):
    aoc = aoc_by(records)
    if OURS not in aoc:
        return "inconclusive", "no runs of saub"
    parts = [(lab, *paired_difference_verdict(aoc[OURS], aoc[lab])) for lab in aoc
             if lab not in (OURS, "unfair-mlp")]
    return (combine_verdicts([v for _, v, _ in parts]),
            "; ".join(f"vs {DISPLAY[lab]}: {v} ({e})" for lab, v, e in parts) or "no runs")


@register_experiment
class Fig4(Experiment):
    name = "fig4"
    title = "parity–accuracy trade-off of fair representations on UCI Adult (§5.2, Fig. 4)"
    description = """
UCI Adult (CFair preprocessing: standard split, rows with missing values dropped, one-hot
categoricals, standardised continuous columns; sex is the protected attribute and the domain,
income > 50K the label). Every method learns an 8-dimensional representation with App. H.1's
encoder (3-layer MLP, hidden 64) and sweeps its own fairness knob; a 3-layer MLP (hidden 64)
trained on the frozen training representations is scored on the test set: accuracy and
Δ_DP = |P(ŷ=1|s=0) − P(ŷ=1|s=1)|. The unconstrained MLP is trained on the inputs directly.
The area over the parity–accuracy curve (AOC) is computed per seed on that seed's Pareto front
(formula in `benchmarks.metrics.fairness.area_over_curve`).
"""
    task = "adult"
    rows = ROWS
    metrics = ["fair-classification", "own-fair-classification"]
    #: The domain probe asks whether the representation still tells the protected attribute (sex);
    #: the learning curve follows the post-hoc classifier's accuracy (Δ_DP beside it in the record).
    diagnostics = True
    checkpoint_metrics = ["fair-classification"]
    headline = "accuracy"
    profiles = {
        # 200 steps, not fewer: at 30 FCRL's own predictor still predicts one class, so a broken FCRL
        # objective (make mutation: fcrl-mi-term-dropped) moved no smoke metric past its tolerance.
        "smoke": Profile(Budget(steps=200, batch_size=128), seeds=1,
                         task_kwargs={"n_train": 1000, "n_test": 1000}, method_overrides={}),
        # ~10.6 epochs of Adult's training rows; measured cost in the README's table.
        "quick": Profile(Budget(steps=2500, batch_size=128), seeds=5),
        # 47,000 steps of 128 rows: FCRL's 200 epochs over Adult's 30,162 training rows.
        "paper": Profile(Budget(steps=47000, batch_size=128), seeds=5),
    }
    #: Row overrides that apply under one profile only (the score model's inner steps, Alg. 1's L).
    profile_row_overrides = {"smoke": {"saub": {"prior_steps": 1}, "vaub": {"prior_steps": 1}},
                             "quick": {"saub": {"prior_steps": 2}, "vaub": {"prior_steps": 2}}}
    paper = {"figure": "Fig. 4 is a plot only; the paper gives no numbers for it",
             "claim": "SAUB keeps near-zero Δ_DP and has higher accuracy than every other method at "
                      "equal Δ_DP",
             "external_reference_unconstrained_mlp": REFERENCE}
    #: Evidence for C2/C3 beyond this page: ad-hoc runs at 8x the quick budget, seed 0
    #: (``saub-bench run fig4 --rows fcrl --set method.lambda_=2.0 --set budget.steps=20000 --seeds 0``,
    #: likewise laftr-dp γ = 2 and cvib λ = 0.5), their Δ_DP at 2.5k / 5k / 10k / 20k steps.
    _BASELINES_RANGE = (
        "baselines' range and budget examined: continuing their knobs past the public grids (FCRL λ 4, 8; "
        "CVIB λ 2, 5; LAFTR γ 8, 16) raises their Δ_DP again instead of nearing 0 (sweep table); at 8x "
        "the quick budget (20,000 steps, seed 0, ad hoc) FCRL λ = 2 stays at Δ_DP 0.10-0.14 over its "
        "checkpoints, CVIB λ = 0.5 rises 0.10 → 0.14 and LAFTR γ = 2 falls 0.10 → 0.04, so only LAFTR "
        "gains from longer training; the baselines' own Adult numbers were not found to compare "
        "(FCRL's public code gives only its unfair MLP's point, accuracy 0.845 / Δ_DP 0.185; ours is in "
        "the reference table), and each baseline at its unconstrained end is as accurate as the "
        "unconstrained MLP within 0.001 (strength table): not a weak implementation at that end."
    )
    claim_context = {"C2": _BASELINES_RANGE, "C3": _BASELINES_RANGE}
    claims = [
        Claim("C1", f"SAUB reaches near-zero Δ_DP (lowest Δ_DP of its sweep ≤ {NEAR_ZERO})",
              _check_near_zero),
        Claim("C2", "At equal Δ_DP SAUB is more accurate than every other method (best accuracy with "
                    f"Δ_DP ≤ δ, δ ∈ {{{', '.join(map(str, PARITY_LEVELS))}}}, paired over seeds)",
              _check_accuracy_at_equal_parity),
        Claim("C3", "SAUB has a larger area over the parity–accuracy curve than every other method",
              _check_aoc),
    ]

    def _row_overrides(self, row: Row, profile: str) -> dict:
        prof = self.profile(profile)
        return {**prof.method_overrides, **row.overrides,
                **self.profile_row_overrides.get(profile, {}).get(row.label, {})}

    def cells(self, profile: str, seeds: list[int] | None = None) -> list[Cell]:
        prof = self.profile(profile)
        seeds = list(range(prof.seeds)) if seeds is None else seeds
        out = []
        for row in self.rows:
            knob = KNOB.get(row.label)
            sweeps = [{f"method.{knob}": v} for v in KNOBS[profile][row.label]] if knob else [{}]
            overrides = self._row_overrides(row, profile)
            out += [Cell(self.name, profile, row.label, row.method, overrides, self.task,
                         dict(prof.task_kwargs), s, sweep, prof.budget, prof.threads)
                    for sweep in sweeps for s in seeds]
        return out

    def validate(self) -> None:
        super().validate()
        for profile in self.profiles:
            for cell in self.cells(profile, seeds=[0]):
                METHODS.get(cell.method).resolve({**cell.overrides, **cell.split_sweep()[1]})

    # ----------------------------------------------------------------- report
    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        from benchmarks.experiments.fig4_report import build_page

        return build_page(self, records, out_dir)
