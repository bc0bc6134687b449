"""priors-objectives: every VAUB-family prior × every objective of the axis (issue 15, item 4).

Rows are (prior, objective) pairs: every registered method of the VAUB family (Gaussian, MoG,
VampPrior, the latent EBM, LSGM and SFS score priors, and any later one) with every objective of
:mod:`saub.objective_axis` (seed 000's VAUB objective and seed 002's Alg. 1 objectives and Fisher
autoencoder). A pair for which the objective is undefined is no cell: the page draws it hatched with
its reason (:func:`saub.objective_axis.undefined_reason`). Tasks: the nested D's (fig3's synthetic
2-D task) and MNIST as two domains, upright and rotated by 90° (``rotated-mnist``; its rows are left
out, and listed under "Not run", where MNIST is absent). The smoke profile runs the nested D's only.

Every cell has one budget and fig3's matching settings (GW-EP with λ_GW = 1, β = 1, a Gaussian
likelihood of std 0.1; the EBM with fig3's 20-step sampler and 64-wide energy), with the posterior
mean *not* batch-normalised (App. C of seed 000 is off everywhere): M3 and the FAE need the per-row
x-score of q, which batch normalisation couples across the rows of a batch, so every row drops it
alike. Metrics: label separation (svc-auroc, nested D's only: binary labels), held-out
reconstruction MSE, the test ELBO of seed 002's eq. (1) (only where log Q_ψ is known: "n/a" for
the score and energy priors), and the domain alignment of the diagnostics (held-out domain probe's
balanced accuracy on the test latents; 0.5 = aligned).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from benchmarks.contracts import Budget
from benchmarks.diagnostics import ALIGNED_MAX_BALANCED_ACCURACY
from benchmarks.experiment import Cell, Claim, Experiment, Profile, Row, register_experiment
from benchmarks.experiments.fig3 import DISPLAY, EBM_SETTINGS, SHARED_SETTINGS
from benchmarks.experiments.priors_objectives_report import (
    METRICS,
    heatmap_figure,
    matrix_table,
    metric_values,
)
from benchmarks.methods.vaub_family import VAUBFamily
from benchmarks.registry import METHODS
from benchmarks.report import Page, Table
from benchmarks.search import Search, selected_overrides, selection_note
from benchmarks.stats import combine_verdicts, paired_rows_verdict
from saub.objective_axis import OBJECTIVES, minimum_samples, undefined_reason

NESTED, MNIST = "nested-d", "rotated-mnist"
TASK_TITLES = {NESTED: "nested D's", MNIST: "MNIST 0° / 90°"}
#: Not batch-normalised (module docstring), otherwise fig3's settings.
COMMON = {"batchnorm_mean": False}
SETTINGS = {
    NESTED: SHARED_SETTINGS | COMMON,
    # The digits: an 8-D latent space, fig3's matching weights; GW-EP on pixel distances.
    MNIST: SHARED_SETTINGS | COMMON | {"latent_dim": 8, "hidden": 128},
}
#: The EBM's cheaper sampler and energy (fig3's EBM row, same reason: its cost).
EBM_EXTRA = {k: v for k, v in EBM_SETTINGS.items() if k not in SHARED_SETTINGS}
#: Task arguments per profile; a task absent from a profile has no cells there.
TASK_ARGUMENTS = {
    "smoke": {NESTED: {"n_per_domain": 20}},
    "quick": {NESTED: {"n_per_domain": 100},
              MNIST: {"angles": (0, 90), "n_per_domain": 1000, "n_test": 200}},
    "paper": {NESTED: {"n_per_domain": 100},
              MNIST: {"angles": (0, 90), "n_per_domain": None, "n_test": None}},
}


def vaub_family_methods() -> list[str]:
    """The registered methods of the VAUB family, fig3's order first, then any later one by name."""
    names = [name for name in METHODS.names() if METHODS.get(name).cls is VAUBFamily]
    order = list(DISPLAY)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def row_label(method: str, objective: str, task: str) -> str:
    """``method+objective@task`` (characters a file name can hold)."""
    return f"{method}+{objective}@{task}"


def prior_display(method: str) -> str:
    return DISPLAY.get(method, method)


@functools.lru_cache(maxsize=1)
def _matrix() -> tuple[tuple[Row, ...], tuple[tuple[str, str, str, str], ...]]:
    """(rows, undefined) where undefined holds (task, method, objective, reason)."""
    rows, undefined = [], []
    for task, settings in SETTINGS.items():
        for method in vaub_family_methods():
            entry = METHODS.get(method)
            overrides = settings | (EBM_EXTRA if entry.defaults.get("prior") == "ebm" else {})
            config = entry.resolve(overrides)
            for objective in OBJECTIVES:
                why = undefined_reason(objective, config.prior, config.encoder_gradient, config.likelihood,
                                       config.batchnorm_mean)
                if why is None:
                    rows.append(Row(row_label(method, objective, task), method,
                                    overrides | {"objective": objective} | samples_for(objective), task=task))
                else:
                    undefined.append((task, method, objective, why))
    return tuple(rows), tuple(undefined)


def samples_for(objective: str) -> dict[str, int]:
    """S = 2 draws of q for M2 (with one, M2 is M̃1: :func:`saub.objective_axis.minimum_samples`); the
    other objectives keep the default S = 1 (no override, so their cells keep their hashes)."""
    samples = minimum_samples(objective)
    return {"objective_samples": samples} if samples > 1 else {}


#: Knobs the search keeps fixed: seed 002's objectives are defined for the β = 1 likelihood (1),
#: and its scale is the task's model (fig3's std 0.1), so only how it is optimised and matched is tuned.
FIXED_MODEL = ("beta", "obs_std")


def search_profile(profile: str, budget: Budget) -> Profile:
    """One seed at the base profile's ``budget``, on the nested D's at the base profile's size."""
    return Profile(budget, seeds=1, task_kwargs=TASK_ARGUMENTS[profile][NESTED])


def mnist_missing() -> Exception | None:
    """The missing-data error of MNIST's files, or None when they are here."""
    from benchmarks.data import mnist_source
    from benchmarks.data.errors import DatasetMissingError

    try:
        for split in ("train", "test"):
            mnist_source(split)
    except DatasetMissingError as exc:
        return exc
    return None


#: The tasks whose pairs every claim is judged on: those where each pair had the label-free search
#: (the nested D's). MNIST's pairs run at the shared settings only (their search is a GPU job), so their
#: numbers are shown with their regime diagnostics, not judged (:func:`unsearched_note`).
JUDGED_TASKS = (NESTED,)


def _claim(key: str, better: str, worse: str, what: str):
    """Paired over seeds on the Gaussian prior (seed 002's model) on each judged task that ran."""
    def check(records):
        tasks = sorted({r["cell"]["task"] for r in records
                        if r.get("status") == "done" and r["cell"]["task"] in JUDGED_TASKS})
        parts = [(t, *paired_rows_verdict(records, key, row_label("vae-gaussian", better, t),
                                          row_label("vae-gaussian", worse, t))) for t in tasks]
        evidence = "; ".join(f"{TASK_TITLES.get(t, t)}: {v} ({e})" for t, v, e in parts)
        return combine_verdicts([v for _, v, _ in parts]), f"{what}: {evidence or 'no runs'}"
    return check


@register_experiment
class PriorsObjectives(Experiment):
    name = "priors-objectives"
    title = "priors × objectives: every VAUB-family prior with every objective of the axis (issue 15)"
    description = __doc__.split("\n\n", 1)[1]
    task = NESTED
    metrics = ["svc-auroc", "reconstruction-mse", "test-elbo"]
    diagnostics = True
    #: fig3's learning-curve judge: the label AUROC at the checkpoints (nested D's; MNIST's ten labels
    #: have no binary AUROC, so its cells are judged on the diagnostics alone).
    checkpoint_metrics = ["svc-auroc"]
    headline = "auroc"
    profiles = {
        "smoke": Profile(Budget(steps=40, batch_size=64), seeds=1, method_overrides={"prior_steps": 1}),
        "quick": Profile(Budget(steps=1000, batch_size=128), seeds=3, method_overrides={"prior_steps": 5}),
        "paper": Profile(Budget(steps=5000, batch_size=256), seeds=5, method_overrides={"prior_steps": 10}),
    }
    #: Every nested-D pair gets the same label-free search (fig3's rule and trial count): trials of its
    #: optimisation knobs (:meth:`row_search_space`), the one ranked best by held-out reconstruction MSE
    #: among the aligned, non-collapsed trials; the label AUROC is the oracle only. MNIST's pairs keep
    #: the shared settings (a search there is a GPU job).
    search = Search(
        trials={"smoke": 2, "quick": 8, "paper": 20},
        profiles={"smoke": search_profile("smoke", profiles["smoke"].budget),
                  "quick": search_profile("quick", profiles["quick"].budget),
                  "paper": search_profile("paper", profiles["paper"].budget)},
        metrics=("svc-auroc", "reconstruction-mse"),
        validation="test_recon_mse", higher_is_better=False,
        validation_text="lowest held-out reconstruction MSE", validation_label="recon MSE",
        oracle_text="label AUROC (labels never seen in training)", oracle_label="AUROC",
    )
    paper = {"note": "no paper reports this matrix; the claims are seed 002's (§5) on its model, the "
                     "Gaussian prior"}
    claims = [
        Claim("C1", "M2 and M3 learning fit worse than the ELBO: test ELBO of vaub above kl-m2's and kl-m3's "
                    "(seed 002 §5)",
              lambda records: _combined(records, [("vaub", "kl-m2"), ("vaub", "kl-m3")])),
        Claim("C2", "FD inference fares worse than KL inference: test ELBO of kl-m1 above fd-m1's "
                    "(seed 002 §5, §6)",
              _claim("test_elbo", "kl-m1", "fd-m1", "kl-m1 − fd-m1 > 0")),
        Claim("C3", "The Fisher autoencoder is far worse than maximum likelihood: test ELBO of vaub above "
                    "fae's (seed 002 §3.1, §5)",
              _claim("test_elbo", "vaub", "fae", "vaub − fae > 0")),
    ]

    claim_context = {
        "C1": "result after the per-pair search (quick: 1,000 steps, 3 seeds; every nested-D pair's settings "
              "chosen by fig3's label-free rule among 8 trials), mixed: kl-m3 learning fits worse than the "
              "ELBO, as seed 002 says (test ELBO -1.469 against vaub's -1.239), but kl-m2 (S = 2) ends "
              "slightly above vaub (-1.190 against -1.239, every seed) with the same reconstruction MSE "
              "(0.002) and domain probe (0.58 against 0.57, both aligned); for both of these rows the search "
              "kept the shared settings (trial 0 had the lowest held-out reconstruction MSE). Seed 002's M2 "
              "deficit is on 2-D data without a GW term, trained to convergence (vsm-synthetic checks it "
              "there); here the matrix adds GW-EP and two domains.",
        "C2": "seeds, after the search: fd-m1 at its selected λ_GW ≈ 22, lr ≈ 8e-4 ends at -1.311 against "
              "kl-m1's -1.346 (shared settings kept), a difference of -0.035 nats with an interval across "
              "0. At the shared settings, before the search, kl-m1 led by +0.724 nats while fd-m1's domains "
              "were not aligned (probe 0.85); once each is tuned, the gap seed 002 reports is not seen at "
              "this budget.",
        "C3": "seeds: the FAE's test ELBO is below vaub's in all three seeds (-8.41, -9.53, -4.58 against "
              "-1.28, -1.21, -1.23), the seed's direction, but its spread across seeds puts the lower end "
              "of the n = 3 interval of the difference at -0.19. Its domains stay apart (probe 0.99 in "
              "every seed) although its selected trial (λ_GW ≈ 1.7, lr ≈ 3e-4) was aligned on the search's "
              "seed.",
    }
    #: Not a claim: the SFS row of the quick records after the per-pair search.
    regime_note = ("SFS: at the matrix's shared settings (β = 1, std 0.1, λ_GW = 1, before the search) its "
                   "KL inference with M1 / M2 / M3 learning diverged in 8 of 9 runs (NaN or a loss past "
                   "1e10); in the search 6 of its 72 trials diverged (kl-m1 2, kl-m2 3, kl-m3 1, recorded "
                   "as failed), and at the selected settings all 27 SFS runs finish. Its FD-ELBO and FD-M1 "
                   "rows still keep the domains apart (probe 1.00 in every seed; fd-m1's search found no "
                   "aligned trial, fd-elbo's selected trial, the shared settings, was aligned on the "
                   "search's seed only), and fd-m3's are apart in 2 of 3 seeds: under SFS, FD inference "
                   "with these learning objectives is outside its working regime at this budget, which "
                   "the search (lr, λ_GW, the prior's lr and steps) does not reach. β and obs_std stay "
                   "fixed (the β = 1 likelihood of seed 002's objectives); fig3-search found SFS's own "
                   "regime at β ≈ 0.001, a different model.")

    @property
    def rows(self) -> list[Row]:
        return list(_matrix()[0])

    def search_rows(self) -> list[Row]:
        """The nested-D rows (no search for MNIST's rows)."""
        return [row for row in self.rows if row.task == NESTED]

    def row_search_space(self, row: Row) -> dict:
        """The row's method's declared space (:meth:`VAUBFamily.search_space`) less :data:`FIXED_MODEL`:
        learning rate, λ_GW, and a separate prior's learning rate and updates per step."""
        space = super().row_search_space(row)
        return {knob: dist for knob, dist in space.items() if knob not in FIXED_MODEL}

    def undefined(self) -> list[tuple[str, str, str, str]]:
        """(task, method, objective, reason) of every pair that is no cell."""
        return list(_matrix()[1])

    def absent(self, profile: str) -> dict[str, str]:
        self.profile(profile)  # a wrong name lists the valid ones
        if MNIST not in TASK_ARGUMENTS[profile]:
            return {}
        why = mnist_missing()
        return {f"{TASK_TITLES[MNIST]} (all its cells)": str(why)} if why is not None else {}

    def cells(self, profile: str, seeds: list[int] | None = None) -> list[Cell]:
        """Every row whose task this profile runs (and whose data is here), every seed; no sweep. With a
        committed selection (``saub-bench search priors-objectives``) a searched row takes its choice."""
        prof = self.profile(profile)
        seeds = list(range(prof.seeds)) if seeds is None else seeds
        tasks = dict(TASK_ARGUMENTS[profile])
        if self.absent(profile):
            tasks.pop(MNIST, None)
        selected = selected_overrides(self.name, profile)
        no_sweep = json.dumps({}, sort_keys=True)  # the key Experiment.cells gives a cell without a sweep
        return [Cell(self.name, profile, row.label, row.method,
                     {**row.resolved_overrides(prof.method_overrides),
                      **selected.get((row.label, no_sweep), {})},
                     row.task, tasks[row.task], s, {}, prof.budget, prof.threads)
                for row in self.rows if row.task in tasks for s in seeds]

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        page = Page()
        figs = out_dir / "figures"
        figs.mkdir(parents=True, exist_ok=True)
        methods = vaub_family_methods()
        undefined = self.undefined()
        for task in TASK_ARGUMENTS[profile]:
            task_records = [r for r in records if r["cell"]["task"] == task]
            for key, title in METRICS.items():
                path = heatmap_figure(task_records, task, key, title, methods, undefined, figs,
                                      f"{self.name}_{task}_{key}.png", label=row_label,
                                      prior_name=prior_display)
                page.figures.append((f"{TASK_TITLES[task]}: {title} (mean and 95% CI over seeds)",
                                     f"figures/{path.name}"))
            page.tables.append(matrix_table(task_records, task, TASK_TITLES[task], methods, row_label,
                                            prior_display))
        page.tables.append(Table(
            "Undefined combinations (no cell; hatched on the heat maps)", ["prior", "objective", "why"],
            [[prior_display(m), o, why] for t, m, o, why in undefined if t == NESTED],
            note="The same pairs are undefined on both tasks (same likelihood and normalisation)."))
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        page.notes.append("Metrics that a combination cannot give are 'n/a' (the test ELBO of a score or "
                          "energy prior: log Q_ψ is unknown), drawn hatched as well; a cell not run reads "
                          "'not run'.")
        page.notes.append("The score priors' FD objectives use S_ψ(z, σ_min) as ∇ log Q; the KL objectives "
                          "and the ELBO learning step read the prior through its VAUB cross-entropy (the "
                          "SFS / LSGM surrogates for score priors), whose value is not a log-density: their "
                          "logged inference losses are not comparable across priors.")
        page.notes.append(selection_note(self, profile))
        page.notes.extend(note for task in TASK_ARGUMENTS[profile] if task not in JUDGED_TASKS
                          if (note := unsearched_note(records, task)) is not None)
        if profile == "quick":
            page.notes.append(self.regime_note)
        return page


def unsearched_note(records: list[dict], task: str) -> str | None:
    """What the finished records of an unsearched task show of its regime: pairs and seeds run, and
    pairs whose mean held-out domain probe is at most :data:`ALIGNED_MAX_BALANCED_ACCURACY` (failed runs
    are listed under "Failed cells")."""
    done = [r for r in records if r["cell"]["task"] == task and r.get("status") == "done"]
    if not done:
        return None
    probes = metric_values(done, "domain_probe")
    aligned = sum(sum(v.values()) / len(v) <= ALIGNED_MAX_BALANCED_ACCURACY for v in probes.values() if v)
    pairs = {r["cell"]["label"] for r in done}
    seeds = sorted({r["cell"]["seed_index"] for r in done})
    return (f"{TASK_TITLES.get(task, task)}: not judged by the claims (``JUDGED_TASKS``): its pairs run at "
            f"the shared settings, without the nested D's per-pair search. So far {len(pairs)} of its "
            f"{sum(row.task == task for row in _matrix()[0])} pairs have finished records (seeds {seeds}), "
            f"and {aligned} of them are aligned (mean held-out domain probe ≤ "
            f"{ALIGNED_MAX_BALANCED_ACCURACY}): outside the working regime until it is searched, so its "
            "numbers are no evidence for or against a claim.")


def _combined(records, pairs: list[tuple[str, str]]) -> tuple[str, str]:
    parts = [_claim("test_elbo", a, b, f"{a} − {b} > 0")(records) for a, b in pairs]
    return combine_verdicts([v for v, _ in parts]), "; ".join(e for _, e in parts)
