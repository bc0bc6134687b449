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

Each pair of the nested D's and each MNIST pair of the Gaussian prior (seed 002's model, the claims')
has the same label-free search (``saub-bench search priors-objectives``); the claims are judged on the
Gaussian pairs that have a committed selection. The other priors' MNIST pairs run at the shared
settings, and the page counts how many of them are aligned (:func:`unsearched_note`).
"""

from __future__ import annotations

import functools
from pathlib import Path

from benchmarks.contracts import Budget
from benchmarks.diagnostics import ALIGNED_MAX_BALANCED_ACCURACY
from benchmarks.experiment import Claim, Experiment, Profile, Row, register_experiment
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


def search_profile(budget: Budget) -> Profile:
    """One seed at the base profile's ``budget``; each trial's task and its size are its row's in the base
    profile (:meth:`PriorsObjectives.row_task`)."""
    return Profile(budget, seeds=1)


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


#: The priors whose MNIST pairs are searched: the Gaussian, seed 002's model, on which every claim is
#: judged. The other priors' MNIST pairs keep the shared settings: the same 8-trial search for their 40
#: pairs is 320 trials, about 13 h summed at the Gaussian row's measured 147 s a trial (a GPU or cluster
#: job; add a prior here to search it).
#: Every nested-D pair is searched.
MNIST_SEARCHED_PRIORS = ("vae-gaussian",)


def searched_labels(records: list[dict]) -> set[str]:
    """The rows of the records' profiles that have a committed search selection."""
    profiles = {r["cell"]["profile"] for r in records}
    return {label for p in profiles for label, _ in selected_overrides(PriorsObjectives.name, p)}


def _claim(key: str, better: str, worse: str, what: str):
    """Paired over seeds on the Gaussian prior (seed 002's model), on each task where both pairs ran at
    their committed search selection; a pair run without one (its task's search not yet run) is listed,
    not judged."""
    def check(records):
        searched = searched_labels(records)
        tasks = sorted({r["cell"]["task"] for r in records if r.get("status") == "done"})
        parts, waiting = [], []
        for t in tasks:
            pair = row_label("vae-gaussian", better, t), row_label("vae-gaussian", worse, t)
            if all(label in searched for label in pair):
                parts.append((t, *paired_rows_verdict(records, key, *pair)))
            else:
                waiting.append(TASK_TITLES.get(t, t))
        lines = [f"{TASK_TITLES.get(t, t)}: {v} ({e})" for t, v, e in parts]
        if waiting:
            lines.append(f"not judged (no search selection yet): {', '.join(waiting)}")
        evidence = "; ".join(lines)
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
    #: among the aligned, non-collapsed trials; the label AUROC is the oracle only. On MNIST the
    #: Gaussian prior's pairs get the same search (:data:`MNIST_SEARCHED_PRIORS`).
    search = Search(
        trials={"smoke": 2, "quick": 8, "paper": 20},
        profiles={name: search_profile(p.budget) for name, p in profiles.items()},
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

    #: Not a claim: the MNIST regime (the SFS row at the shared settings, the Gaussian vaub pair), measured
    #: by ad hoc runs whose records are committed under results/adhoc/ (their tags are named in the note).
    mnist_regime_note = ("SFS on MNIST 0°/90° (quick): at the shared settings, without App. C's batch "
                         "normalisation of the posterior mean, 21 of its 27 runs diverge, at steps 34 to 979"
                         " of 1,000 (the DSM loss, GW term or inference loss past 1e10, or NaN); every vaub "
                         "run does. Two other settings of seed 0's saub+vaub (nested-D's selection: lr "
                         "2.9e-4, λ_GW 40, prior lr 2.2e-4; lr = prior lr = 1e-4; ad hoc tags d52e712d, "
                         "80e0b1fa) diverge too, the total loss falling past -1e10: the encoder rides the "
                         "SFS surrogate -S(z*, σ_0)ᵀz, whose value is unbounded below where the score model "
                         "lags the latents. With the batch normalisation on (`--rows saub+vaub@rotated-mnist"
                         " --set method.batchnorm_mean=true`, ad hoc tags 700bed16, and 192fbfc8 for "
                         "saub+kl-m1 seed 0), every run finishes: saub+vaub's held-out domain probe ends at "
                         "0.65, 0.73, 0.705 (aligned, ≤ 0.75, and still falling: 0.76-0.84 at step 125), "
                         "reconstruction MSE 0.027, every latent unit active; saub+kl-m1 ends at 0.71. The "
                         "Gaussian prior's vaub pair behaves alike: at its selected settings without the "
                         "normalisation its probe ends at 0.88 (above), with it, at the shared settings, at "
                         "0.685, 0.655, 0.645 (ad hoc tag fc97e65c; test ELBO and MSE 0.027-0.029 as "
                         "before). The normalisation standardises each domain's posterior means by that "
                         "domain's own statistics (one encoder per domain, each batch balanced, evaluated "
                         "with its own running averages), so each coordinate's mean and variance agree "
                         "across the domains by construction: part of this alignment is by construction, and"
                         " the MLP probe measures what is left. So on MNIST the working regime of every "
                         "prior tried needs App. C's normalisation, which the matrix drops for every row (M3"
                         " and the FAE need the per-row x-score): the MNIST cells, searched or not, are "
                         "outside the aligned regime and no evidence for or against a prior; a rerun with "
                         "the normalisation wherever the objective allows it is the next step.")

    @property
    def rows(self) -> list[Row]:
        return list(_matrix()[0])

    def search_rows(self) -> list[Row]:
        """Every nested-D row and the MNIST rows of :data:`MNIST_SEARCHED_PRIORS`."""
        return [row for row in self.rows if row.task == NESTED or row.method in MNIST_SEARCHED_PRIORS]

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

    def row_task(self, row: Row, profile: str, profile_arguments: dict) -> tuple[str, dict] | None:
        """The row's task with this profile's arguments for it (:data:`TASK_ARGUMENTS`), or None where the
        profile does not run it or its data is absent (the search's trials follow)."""
        self.profile(profile)  # a wrong name lists the valid ones
        if row.task not in TASK_ARGUMENTS[profile] or (row.task == MNIST and self.absent(profile)):
            return None
        return row.task, TASK_ARGUMENTS[profile][row.task]

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        page = Page()
        figs = out_dir / "figures"
        figs.mkdir(parents=True, exist_ok=True)
        methods = vaub_family_methods()
        undefined = self.undefined()
        searched = searched_labels(records)
        for task in TASK_ARGUMENTS[profile]:
            task_records = [r for r in records if r["cell"]["task"] == task]
            for key, title in METRICS.items():
                path = heatmap_figure(task_records, task, key, title, methods, undefined, figs,
                                      f"{self.name}_{task}_{key}.png", label=row_label,
                                      prior_name=prior_display)
                page.figures.append((f"{TASK_TITLES[task]}: {title} (mean and 95% CI over seeds)",
                                     f"figures/{path.name}"))
            page.tables.append(matrix_table(task_records, task, TASK_TITLES[task], methods, row_label,
                                            prior_display, searched))
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
        page.notes.extend(note for task in TASK_ARGUMENTS[profile]
                          if (note := unsearched_note(records, task, searched)) is not None)
        if profile == "quick":
            page.notes.append(self.regime_note)
            if any(r["cell"]["task"] == MNIST and r["cell"]["method"] == "saub" for r in records):
                page.notes.append(self.mnist_regime_note)
        return page


def unsearched_note(records: list[dict], task: str, searched: set[str]) -> str | None:
    """What the finished records of a task's pairs without a search selection (labels not in
    ``searched``) show of their regime: how many ran, on which seeds, and how many have a mean held-out
    domain probe of at most :data:`ALIGNED_MAX_BALANCED_ACCURACY` (failed runs are listed under "Failed
    cells"). None when every finished pair of the task was searched."""
    done = [r for r in records if r["cell"]["task"] == task and r.get("status") == "done"
            and r["cell"]["label"] not in searched]
    if not done:
        return None
    probes = metric_values(done, "domain_probe")
    aligned = sum(sum(v.values()) / len(v) <= ALIGNED_MAX_BALANCED_ACCURACY for v in probes.values() if v)
    pairs = {r["cell"]["label"] for r in done}
    seeds = sorted({r["cell"]["seed_index"] for r in done})
    rows = [row.label for row in _matrix()[0] if row.task == task]
    unsearched = sum(label not in searched for label in rows)
    return (f"{TASK_TITLES.get(task, task)}: {unsearched} of its {len(rows)} "
            "pairs run at the shared settings, without the per-pair search, and no claim is judged on them. "
            f"So far {len(pairs)} of them have finished records (seeds {seeds}), and {aligned} of those are "
            f"aligned (mean held-out domain probe ≤ {ALIGNED_MAX_BALANCED_ACCURACY}): outside the working "
            "regime until searched, so their numbers are no evidence for or against a claim.")


def _combined(records, pairs: list[tuple[str, str]]) -> tuple[str, str]:
    parts = [_claim("test_elbo", a, b, f"{a} − {b} > 0")(records) for a, b in pairs]
    return combine_verdicts([v for v, _ in parts]), "; ".join(e for _, e in parts)
