"""thesis-fair: fair representations under the thesis' protocol (seed 003, §4.5, App. B.2.2, Table 3).

The thesis follows Song et al. 2019: the target label is unseen while the representation is
learned, a *linear* classifier is trained on the frozen representation to predict it, and the test
split's accuracy (ACC) and equal-opportunity gap (DEO, Hardt et al. 2016) are reported, mean ± std
over 10 seeds, on UCI Adult and UCI German credit. This experiment runs that protocol and fig4's
(the method sees the labels when its paper trains on them; a 3-layer MLP probe; Δ_DP and DEO) on
the same methods, so a reader sees whether a ranking depends on the protocol.

Rows and what each protocol means for them:

* **Label-free representation learners** (``ours-mmd``, ``ours-tc``, ``ours-mine``: the thesis'
  structured model, :mod:`baselines.structured_fair`; ``saub`` and ``vaub``): one training run per
  seed (they never see labels), scored by both probes.
* **Label-supervised representation learners** (``fcrl``, ``cvib``, ``laftr-dp``): two runs per seed,
  labels hidden (the thesis' protocol; their label terms vanish and their invariance and
  reconstruction terms remain) and labels seen (fig4's protocol).
* **Classifiers** (``unfair-mlp``, Table 3's NN; ``linear-svm``; ``ferm``): trained on the labels
  by definition, as Table 3's baseline rows are (the thesis copies them from Mary et al. 2019 and
  Donini et al. 2018); the thesis-protocol columns give their own predictions.

Every method runs at one fairness setting (Table 3 shows one point per method): the thesis'
variants with dim U 10, dim Z 5, λ₁ = 10, −log p(a|z) weighted 100 within the likelihood, and λ₂
selected per estimator and dataset without labels by ``thesis-fair-search`` (the suite's rule: among
the trials whose U is not collapsed and whose A a held-out probe cannot tell (aligned), the lowest
held-out reconstruction error of x); the
others at the middle of fig4's quick grids (SAUB and VAUB β = 0.05, FCRL λ = 0.5, CVIB λ = 0.1,
LAFTR-DP γ = 1). fig4 sweeps the knobs.
German's protected attribute is age (> 33, Song et al.), Adult's is sex. Seeds: 10 per dataset in
``paper``; ``quick`` runs German's 10 and Adult's first 5 (:data:`SEED_CAP`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.contracts import Budget
from benchmarks.experiment import (
    Cell,
    Claim,
    Experiment,
    Profile,
    Row,
    check_task_arguments,
    register_experiment,
)
from benchmarks.experiments.fig4 import ENCODER, VAUB_TABULAR
from benchmarks.registry import METHODS, TASKS
from benchmarks.report import Page, Table
from benchmarks.results_table import values_by
from benchmarks.search import LogUniform, Search, selected_overrides, selection_note
from benchmarks.stats import combine_verdicts, paired_difference_verdict, summarize, threshold_verdict

DATASETS = ("adult", "german")
DATASET_NAMES = {"adult": "Adult", "german": "German"}


@dataclass(frozen=True)
class FairRow:
    """A row of this experiment: ``trains_on_labels`` (its paper uses y in training) and ``classifier``
    (a classifier, not a representation: scored by its own predictions under the thesis' protocol)."""

    label: str
    method: str
    overrides: dict = field(default_factory=dict)
    trains_on_labels: bool = False
    classifier: bool = False

    def label_settings(self) -> tuple[bool, ...]:
        """The ``labels_in_training`` values this row runs with."""
        if self.classifier:
            return (True,)
        return (False, True) if self.trains_on_labels else (False,)


#: λ₁ = 10 keeps Z succinct (its KL weighted 11), so that x's information goes to U and Z holds A
#: (weighted 100 within the likelihood); at λ₁ = 0 Z takes x as well and the penalty empties U.
#: λ₂ = 10 is each variant's own configuration (trial 0 of the search); the thesis gives no value, and
#: thesis-fair-search selects one per estimator and dataset without labels (:data:`LAMBDA_2_SPACE`).
STRUCTURED = {"hidden": 64, "enc_layers": 2, "lambda_1": 10.0, "lambda_2": 10.0}
#: λ₂'s search space, the same for the three estimators and both datasets (their scales differ: the
#: MMD² of a batch is of order 10⁻², the TC and MINE's bound of order 1 nat).
LAMBDA_2_SPACE = {"lambda_2": LogUniform(1.0, 1000.0)}
ROWS = [FairRow(f"ours-{kind}", "structured-fair", {**STRUCTURED, "dependence": kind})
        for kind in ("mmd", "tc", "mine")] + [
    FairRow("saub", "saub", {**VAUB_TABULAR, "gw": "ep", "lambda_gw": 1.0, "beta": 0.05}),
    FairRow("vaub", "vaub", {**VAUB_TABULAR, "gw": "none", "beta": 0.05}),
    FairRow("fcrl", "fcrl", {**ENCODER, "lambda_": 0.5}, trains_on_labels=True),
    FairRow("cvib", "cvib", {**ENCODER, "lambda_": 0.1}, trains_on_labels=True),
    FairRow("laftr-dp", "laftr-dp", {**ENCODER, "gamma": 1.0}, trains_on_labels=True),
    FairRow("unfair-mlp", "unfair-mlp", {"hidden": 64, "enc_layers": 2}, classifier=True),
    FairRow("linear-svm", "linear-svm", classifier=True),
    FairRow("ferm", "ferm", classifier=True),
]
BY_LABEL = {r.label: r for r in ROWS}
DISPLAY = {"ours-mmd": "Ours-MMD (thesis)", "ours-tc": "Ours-TC (thesis)", "ours-mine": "Ours-MINE (thesis)",
           "saub": "SAUB (GW-EP)", "vaub": "VAUB", "fcrl": "FCRL", "cvib": "CVIB", "laftr-dp": "LAFTR-DP",
           "unfair-mlp": "NN (unconstrained MLP)", "linear-svm": "Linear SVM", "ferm": "FERM (linear)"}
THESIS_VARIANTS = ("ours-mmd", "ours-tc", "ours-mine")
#: Table 3 (seed 003, p. 3368-3381 of its text): (Adult ACC, Adult DEO, German ACC, German DEO);
#: German as (mean, std). Baseline rows are the thesis' copies of Mary et al. 2019 / Donini et al. 2018.
TABLE3 = {
    "Naive SVM": (0.80, 0.09, (0.74, 0.05), (0.12, 0.05)),
    "SVM": (0.79, 0.08, (0.74, 0.03), (0.10, 0.06)),
    "NN": (0.84, 0.14, (0.74, 0.04), (0.47, 0.19)),
    "NN + χ²": (0.83, 0.03, (0.73, 0.03), (0.25, 0.14)),
    "FERM": (0.77, 0.01, (0.73, 0.04), (0.05, 0.03)),
    "Ours-MMD": (0.83, 0.02, (0.72, 0.07), (0.07, 0.09)),
    "Ours-TC": (0.81, 0.02, (0.74, 0.08), (0.08, 0.14)),
    "Ours-MINE": (0.79, 0.01, (0.70, 0.11), (0.05, 0.11)),
}
#: Which of our rows stands beside each Table 3 row (None: not built here, with the reason).
OURS_FOR = {"Naive SVM": "linear-svm", "SVM": "linear-svm", "NN": "unfair-mlp", "NN + χ²": None,
            "FERM": "ferm", "Ours-MMD": "ours-mmd", "Ours-TC": "ours-tc", "Ours-MINE": "ours-mine"}
NOT_BUILT = {"NN + χ²": "Mary et al. 2019's HGR/χ² penalty is not in this suite"}
#: Task arguments per profile and dataset (smoke: small Adult subsamples; German is 1,000 rows).
TASK_KWARGS = {"smoke": {"adult": {"n_train": 1000, "n_test": 1000}, "german": {}},
               "quick": {"adult": {}, "german": {}}, "paper": {"adult": {}, "german": {}}}
#: Seeds run per dataset where a profile runs fewer than its count (quick: an Adult cell costs ~30 s
#: of training and ~20 s of checkpoints and probes on 30,162 rows, a German cell a few seconds).
SEED_CAP = {"quick": {"adult": 5}}
#: Alg. 1's inner score-model steps of SAUB / VAUB per profile (fig4's).
PRIOR_STEPS = {"smoke": 1, "quick": 2}
ACCURACY_MARGIN = 0.05


def cell_label(row: str, dataset: str, labels_seen: bool) -> str:
    return f"{row}@{dataset}{'+y' if labels_seen else ''}"


def thesis_source(row: FairRow) -> tuple[bool, str]:
    """(labels seen?, metric prefix) of a row's thesis-protocol scores."""
    return (True, "own_") if row.classifier else (False, "linear_")


def fig4_source(row: FairRow) -> tuple[bool, str]:
    """(labels seen?, metric prefix) of a row's fig4-protocol scores (the 3-layer MLP probe)."""
    return (row.trains_on_labels or row.classifier), ""


def scores(records: list[dict], row: str, dataset: str, protocol: str, metric: str) -> dict[int, float]:
    """seed -> value of ``metric`` ("accuracy", "deo", "delta_dp") for ``row`` on ``dataset`` under
    ``protocol`` ("thesis" or "fig4")."""
    seen, prefix = (thesis_source if protocol == "thesis" else fig4_source)(BY_LABEL[row])
    return values_by(records, prefix + metric).get(cell_label(row, dataset, seen), {})


def _claim_lower_deo_than_nn(records):
    parts, ev = [], []
    for dataset in DATASETS:
        nn = scores(records, "unfair-mlp", dataset, "thesis", "deo")
        for row in THESIS_VARIANTS:
            v, e = paired_difference_verdict(nn, scores(records, row, dataset, "thesis", "deo"))
            parts.append(v)
            ev.append(f"{DATASET_NAMES[dataset]} {DISPLAY[row]}: {v} (NN − ours {e})")
    return combine_verdicts(parts), "; ".join(ev)


def _claim_accuracy_near_nn(records):
    parts, ev = [], []
    nn = scores(records, "unfair-mlp", "adult", "thesis", "accuracy")
    for row in THESIS_VARIANTS:
        ours = scores(records, row, "adult", "thesis", "accuracy")
        diffs = [ours[s] - nn[s] for s in sorted(set(ours) & set(nn))]
        v, e = threshold_verdict(diffs, -ACCURACY_MARGIN)
        parts.append(v)
        ev.append(f"{DISPLAY[row]} − NN: {v} ({e})")
    return combine_verdicts(parts), "; ".join(ev)


def _claim_ferm_below_svm(records):
    parts, ev = [], []
    for dataset in DATASETS:
        v, e = paired_difference_verdict(scores(records, "linear-svm", dataset, "thesis", "deo"),
                                         scores(records, "ferm", dataset, "thesis", "deo"))
        parts.append(v)
        ev.append(f"{DATASET_NAMES[dataset]}: {v} (SVM − FERM {e})")
    return combine_verdicts(parts), "; ".join(ev)


@register_experiment
class ThesisFair(Experiment):
    name = "thesis-fair"
    title = "fair representations under the thesis' protocol: Adult and German, linear probe, DEO (seed 003)"
    description = __doc__.split("\n\n", 1)[1]
    task = "adult"
    rows: list = []  # built by cells() from ROWS (two datasets, per-row label settings)
    metrics = ["linear-fair-classification", "fair-classification", "own-fair-classification"]
    diagnostics = True
    checkpoint_metrics = ["linear-fair-classification"]
    headline = "linear_accuracy"
    profiles = {
        "smoke": Profile(Budget(steps=200, batch_size=128), seeds=1),
        # Adult: ~6.4 epochs of its 30,162 training rows; German: ~210 epochs of its 900.
        "quick": Profile(Budget(steps=1500, batch_size=128), seeds=10),
        "paper": Profile(Budget(steps=20000, batch_size=128), seeds=10),
    }
    paper = {"table": "Table 3 (Adult ACC/DEO; German ACC/DEO mean ± std over 10 seeds)", "rows": TABLE3}
    claim_context = {
        "C1": "configuration searched, result stands: λ₂ was searched per estimator and dataset (8 trials, "
              "label-free rule; thesis-fair-search page). On Adult Ours-MINE is aligned and not collapsed "
              "(A-probe on U 0.72) and its DEO is above the NN's, so its contradiction stands in its "
              "working regime; Ours-TC is aligned (0.66) and inconclusive; for Ours-MMD only the largest "
              "λ₂ drawn (718) was aligned on seed 0, and 3 of 5 seeds are still 'not aligned' at it (A-probe "
              "0.75 on average): its penalty does not remove A from U at any λ₂ that keeps U. German: 100 "
              "test rows, DEO std ≈ 0.1, every pair inconclusive.",
        "C2": "Ours-TC loses 0.050 accuracy against the NN on Adult, at the margin itself (MMD 0.024 and "
              "MINE 0.034 within it).",
        "C3": "Adult supported (0.03 vs 0.08 on every seed); German's 100-row test splits leave FERM vs SVM "
              "inconclusive (0.15 vs 0.13 ± 0.07).",
    }
    claims = [
        Claim("C1", "Each of the thesis' three variants has a lower DEO than the unconstrained NN, on Adult "
                    "and on German (Table 3: 0.01–0.02 vs 0.14; 0.05–0.08 vs 0.47), paired over seeds",
              _claim_lower_deo_than_nn),
        Claim("C2", f"On Adult their accuracy stays within {ACCURACY_MARGIN} of the NN's (Table 3: 0.79–0.83 "
                    "vs 0.84)", _claim_accuracy_near_nn),
        Claim("C3", "FERM has a lower DEO than the linear SVM on both datasets (Table 3: 0.01 vs 0.08; "
                    "0.05 vs 0.10)", _claim_ferm_below_svm),
    ]

    #: λ₂ of the three variants, per dataset, on the seed-0 split with labels hidden; the other rows
    #: run fig4's middle settings (fig4 sweeps them), the classifiers their papers' own grids.
    search = Search(
        trials={"smoke": 2, "quick": 8, "paper": 20},
        profiles={
            "smoke": Profile(Budget(steps=100, batch_size=128), seeds=1),
            "quick": Profile(Budget(steps=1500, batch_size=128), seeds=1),
            "paper": Profile(Budget(steps=20000, batch_size=128), seeds=1),
        },
        spaces={cell_label(row, dataset, False): LAMBDA_2_SPACE
                for row in THESIS_VARIANTS for dataset in DATASETS},
        metrics=("reconstruction-mse", "linear-fair-classification"),
        validation="test_recon_mse", higher_is_better=False,
        validation_text="lowest held-out reconstruction MSE of x", validation_label="recon MSE",
        oracle_text="linear-probe accuracy of y (labels never seen in training)", oracle_label="linear acc",
    )

    def search_rows(self) -> list[Row]:
        return [Row(cell_label(label, dataset, False), BY_LABEL[label].method, BY_LABEL[label].overrides,
                    task=dataset, task_kwargs={"labels_in_training": False})
                for label in THESIS_VARIANTS for dataset in DATASETS]

    def _overrides(self, row: FairRow, profile: str) -> dict:
        vaub_family = row.method in ("saub", "vaub") and profile in PRIOR_STEPS
        return {**row.overrides, **({"prior_steps": PRIOR_STEPS[profile]} if vaub_family else {})}

    def cells(self, profile: str, seeds: list[int] | None = None) -> list[Cell]:
        prof = self.profile(profile)
        seeds = list(range(prof.seeds)) if seeds is None else seeds
        selected = selected_overrides(self.name, profile)
        return [Cell(self.name, profile, cell_label(row.label, dataset, seen), row.method,
                     {**self._overrides(row, profile),
                      **selected.get((cell_label(row.label, dataset, seen), "{}"), {})}, dataset,
                     {**TASK_KWARGS[profile][dataset], "labels_in_training": seen}, s, {}, prof.budget,
                     prof.threads)
                for dataset in DATASETS for row in ROWS for seen in row.label_settings() for s in seeds
                if s < SEED_CAP.get(profile, {}).get(dataset, prof.seeds)]

    def validate(self) -> None:
        super().validate()
        for profile in self.profiles:
            for cell in self.cells(profile, seeds=[0]):
                METHODS.get(cell.method).resolve(cell.overrides)
                check_task_arguments(TASKS.get(cell.task), cell.task_kwargs,
                                     f"profile {profile!r}: {cell.task}")

    # ----------------------------------------------------------------- report
    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        page = Page(tables=[table3_table(records), protocols_table(records), ranking_table(records)])
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        page.notes += [
            selection_note(self, profile) + " Only the thesis' three variants are searched (λ₂, per "
            "dataset); the other rows run the settings named in the description.",
            "DEO = |P(ŷ=1 | y=1, s=0) − P(ŷ=1 | y=1, s=1)|. German's y = 1 is bad credit (Song et al.'s "
            "label > median); its test split has 100 rows (about 30 with y = 1), so its DEO moves by "
            "several hundredths between seeds, as Table 3's German stds do.",
            "The linear probe is a logistic regression (C = 1) on the standardised representation: the "
            "thesis names no classifier type or regularisation.",
            "Linear SVM and FERM are scored by their own predictions; their fig4-protocol columns are the "
            "MLP probe on the features they classify (FERM's projected x̂).",
            "Table 3's baseline rows are copied by the thesis from Mary et al. 2019 and Donini et al. 2018, "
            "with their own preprocessing: they are context, not targets.",
        ]
        return page


def _acc_deo(records, row, dataset, protocol) -> tuple[str, str]:
    return tuple(summarize(list(scores(records, row, dataset, protocol, m).values())).fmt(2)
                 for m in ("accuracy", "deo"))


def table3_table(records: list[dict]) -> Table:
    rows = []
    for name, (a_acc, a_deo, g_acc, g_deo) in TABLE3.items():
        ours = OURS_FOR[name]
        adult, german = ((_acc_deo(records, ours, d, "thesis") if ours else ("—", "—")) for d in DATASETS)
        rows.append([name, f"{a_acc:.2f}", f"{a_deo:.2f}", *adult, f"{g_acc[0]:.2f} ± {g_acc[1]:.2f}",
                     f"{g_deo[0]:.2f} ± {g_deo[1]:.2f}", *german,
                     DISPLAY[ours] if ours else NOT_BUILT[name]])
    return Table("Table 3 beside ours, thesis protocol (labels unseen by representation learners; linear "
                 "probe; mean ± std over seeds)",
                 ["Table 3 row", "Adult ACC (paper)", "Adult DEO (paper)", "Adult ACC (ours)",
                  "Adult DEO (ours)", "German ACC (paper)", "German DEO (paper)", "German ACC (ours)",
                  "German DEO (ours)", "our row"], rows,
                 note="Naive SVM and SVM differ in Donini et al.'s model selection; ours is one linear SVM "
                      "with C by cross-validated accuracy (the authors' public code), beside both.")


def protocols_table(records: list[dict]) -> Table:
    rows = []
    for dataset in DATASETS:
        for row in ROWS:
            thesis = _acc_deo(records, row.label, dataset, "thesis")
            fig4 = [summarize(list(scores(records, row.label, dataset, "fig4", m).values())).fmt(3)
                    for m in ("accuracy", "delta_dp", "deo")]
            seen = "seen" if row.classifier else ("hidden / seen" if row.trains_on_labels else "never")
            rows.append([DATASET_NAMES[dataset], DISPLAY[row.label], seen, *thesis, *fig4])
    return Table("Every method under both protocols (mean ± std over seeds)",
                 ["data", "method", "labels in training (thesis / fig4)", "ACC (thesis: linear)",
                  "DEO (thesis)", "ACC (fig4: MLP)", "Δ_DP (fig4)", "DEO (fig4)"], rows)


def _ranks(means: dict[str, float]) -> dict[str, int]:
    order = sorted(means, key=lambda k: means[k])
    return {k: i + 1 for i, k in enumerate(order)}


def ranking_table(records: list[dict]) -> Table:
    """Each method's rank by mean DEO (1 = fairest) and by mean accuracy (1 = most accurate) under each
    protocol, and Kendall's τ between the protocols' rankings."""
    from scipy.stats import kendalltau

    rows, taus = [], []
    for dataset in DATASETS:
        ranks = {}
        for protocol in ("thesis", "fig4"):
            for metric, sign in (("deo", 1), ("accuracy", -1)):
                means = {r.label: sign * summarize(list(scores(records, r.label, dataset, protocol, metric)
                                                        .values())).mean for r in ROWS}
                ranks[(protocol, metric)] = _ranks({k: v for k, v in means.items() if v == v})
        for metric in ("deo", "accuracy"):
            a, b = ranks[("thesis", metric)], ranks[("fig4", metric)]
            common = sorted(set(a) & set(b))
            tau = kendalltau([a[k] for k in common], [b[k] for k in common]).statistic if len(common) > 2 \
                else float("nan")
            taus.append(f"{DATASET_NAMES[dataset]} {metric}: τ = {tau:.2f} over {len(common)} methods")
        for r in ROWS:
            keys = (("thesis", "deo"), ("fig4", "deo"), ("thesis", "accuracy"), ("fig4", "accuracy"))
            rows.append([DATASET_NAMES[dataset], DISPLAY[r.label], *(ranks[k].get(r.label, "—")
                                                                     for k in keys)])
    return Table("Does a method's rank depend on the protocol? (rank of the mean; DEO: 1 = lowest, accuracy: "
                 "1 = highest)", ["data", "method", "DEO rank (thesis)", "DEO rank (fig4)",
                                  "ACC rank (thesis)", "ACC rank (fig4)"], rows,
                 note="Kendall's τ between the two protocols' rankings: " + "; ".join(taus) + ".")
