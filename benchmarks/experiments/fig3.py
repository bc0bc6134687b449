"""fig3: latent label separation vs. sample size on the nested-D data (§5.1, Fig. 2-3, 9-13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks.contracts import Budget, TaskData, Unsupported
from benchmarks.experiment import Claim, Experiment, Profile, Row, register_experiment, rounded
from benchmarks.metrics.separation import svc_auroc
from benchmarks.plotting import GROUP_COLOURS, PALETTE, plt, savefig
from benchmarks.registry import TASKS
from benchmarks.report import Page, Table
from benchmarks.results_table import fields_by, first_by, values_by
from benchmarks.search import Search, selection_note
from benchmarks.stats import combine_verdicts, paired_difference_verdict, summarize, threshold_verdict

N_VALUES = (20, 50, 100, 200, 500)
SWEEP = "task.n_per_domain"
DISPLAY = {"vae-gaussian": "Gaussian", "vaub": "MoG", "vae-vamp": "VampPrior", "vae-ebm": "EBM",
           "lsgm": "LSGM", "saub": "SFS (ours)", "gwae": "GWAE (NP)"}
#: What the paper's text (§5.1) says of AUROC ≥ 0.9 per prior; Fig. 3 itself gives no numbers.
PAPER_FROM_N = {"saub": 20, "lsgm": 20, "vaub": 100, "vae-vamp": 100, "vae-gaussian": 20}
THRESHOLD = 0.9
RAW_INPUT_MAX_N = 50
#: Shared by every prior: GW-EP with λ_GW = 1, β = 1, Gaussian likelihood with std 0.1 (the paper
#: gives no synthetic-data settings; 0.1 lies between the data noise 0.04 and the size of a D).
SHARED_SETTINGS = {"gw": "ep", "lambda_gw": 1.0, "beta": 1.0, "obs_std": 0.1}
#: The latent EBM row (not in the paper): its sampler shortened from Pang et al.'s 60 Langevin steps
#: and 200-wide energy MLP to 20 steps (same ε = 0.16) and the autoencoder's width 64, so that a
#: cell costs about what the score priors' do (measured on the 2-core machine: 60 steps of a
#: 200-wide MLP take 50 ms per prior update, 5x this setting; the quick row would take ~3 h).
EBM_SETTINGS = SHARED_SETTINGS | {"langevin_steps": 20, "ebm_hidden": 64}
#: The extra GWAE row (seed 001, not in the paper's Fig. 3): both domains pooled into one model, NP
#: prior, λ_D = λ_H = 1 and λ_W = 1 / 0.1² = 100, so that L_W = ½ λ_W ‖x - x̂‖² weighs the
#: reconstruction exactly as the other rows' Gaussian likelihood with std 0.1 does (the paper has no
#: 2-D setting; its figures use λ_W from 1 to 10 on images, whose L_W sums over thousands of pixels).
#: With λ_W = 1 the entropy reward -λ_H R_H outweighs a reconstruction error of these small 2-D
#: shapes: σ(x) grows (R_H 2.9 -> 6.3 nats), every reconstruction collapses onto its domain's mean
#: and the critic gap rises (seed 0, n = 500, quick budget: test reconstruction MSE 0.198, AUROC
#: 0.896; with λ_W = 100: 0.0053 and 1.000; n = 20: 0.185 / 0.802 against 0.113 / 0.920).
#: lr 1e-3 for main and critic and 2 critic steps (the paper's 1e-4 / 5e-5 / 5 are for 64x64 images
#: and far longer runs). It takes none of the VAUB family's profile options.
GWAE_SETTINGS = {"prior": "np", "latent_dim": 2, "lambda_w": 100.0,
                 "lr": 1e-3, "critic_lr": 1e-3, "critic_steps": 2}


def _auroc_by(records: list[dict]) -> dict[tuple[str, int], dict[int, float]]:
    """(row label, n) -> {seed index: AUROC}."""
    return values_by(records, "auroc", SWEEP)


def _claim_score_priors(label: str):
    def check(records):
        by = _auroc_by(records)
        ns = sorted(n for (lab, n) in by if lab == label)
        parts = [(n, threshold_verdict(list(by[(label, n)].values()), THRESHOLD)) for n in ns]
        evidence = "; ".join(f"n={n}: {v} ({e})" for n, (v, e) in parts)
        return combine_verdicts([v for _, (v, _) in parts]), evidence or "no runs"
    return check


def _check_need_more_samples(records):
    by = _auroc_by(records)
    verdicts, ev = [], []
    for label in ("vaub", "vae-vamp"):
        if (label, 20) in by:
            v, e = threshold_verdict(list(by[(label, 20)].values()), THRESHOLD, at_least=False)
            verdicts.append(v)
            ev.append(f"{DISPLAY[label]} n=20 below: {v} ({e})")
        if (label, 100) in by:
            v, e = threshold_verdict(list(by[(label, 100)].values()), THRESHOLD)
            verdicts.append(v)
            ev.append(f"{DISPLAY[label]} n=100 above: {v} ({e})")
    return combine_verdicts(verdicts), "; ".join(ev) or "no runs"


def _check_sfs_beats_simple_at_20(records):
    by = _auroc_by(records)
    verdicts, ev = [], []
    for label in ("vae-gaussian", "vaub", "vae-vamp"):
        if ("saub", 20) in by and (label, 20) in by:
            v, e = paired_difference_verdict(by[("saub", 20)], by[(label, 20)])
            verdicts.append(v)
            ev.append(f"vs {DISPLAY[label]}: {v} ({e})")
    return combine_verdicts(verdicts), "; ".join(ev) or "no runs"


@register_experiment
class Fig3(Experiment):
    name = "fig3"
    title = "latent label separation vs. sample size (nested D's, §5.1)"
    description = """
Two 2-D domains (a nested D and its mirror image; outer D = label 1, inner D = label 2) are
matched in a shared 2-D latent space by VAUB-family models that differ only in the prior
(Gaussian, MoG, VampPrior, a latent energy-based prior, LSGM and SFS score priors), all with
GW-EP. Labels are never seen in training. Metric (App. H.2): AUROC of an RBF SVC on the training
points' posterior means, C and gamma by 5-fold grid search over C in {0.1, 1, 10, 100}, gamma in
{1, 0.1, 0.01, 0.001}, 5 fold-shuffling runs per model; error bars over seeds. n counts points per
domain.
"""
    task = "nested-d"
    rows = [Row(label, label, EBM_SETTINGS if label == "vae-ebm" else SHARED_SETTINGS)
            for label in DISPLAY if label != "gwae"] + [
        Row("gwae", "gwae", GWAE_SETTINGS)]
    metrics = ["svc-auroc", "reconstruction-mse"]
    profiles = {
        "smoke": Profile(Budget(steps=150, batch_size=128), seeds=1, sweep={SWEEP: (20, 100)},
                         method_overrides={"prior_steps": 2}),
        "quick": Profile(Budget(steps=1000, batch_size=128), seeds=5, sweep={SWEEP: N_VALUES},
                         method_overrides={"prior_steps": 5}),
        "paper": Profile(Budget(steps=5000, batch_size=256), seeds=5, sweep={SWEEP: N_VALUES},
                         method_overrides={"prior_steps": 10}),
    }
    paper = {"auroc_at_least_0.9_from_n": PAPER_FROM_N}
    diagnostics = True
    checkpoint_metrics = ["svc-auroc"]
    headline = "auroc"
    #: Issue 18: every prior gets the same search (its method's declared space: β, λ_GW, the
    #: likelihood's std, learning rates, score updates; GWAE its own) and budget as fig3's own cells,
    #: at the n the claims read (20, 100). The task has no labels to validate on, so the rule ranks
    #: aligned, non-collapsed trials by the held-out reconstruction error; the label AUROC is the
    #: oracle only.
    search = Search(
        trials={"smoke": 2, "quick": 8, "paper": 20},
        profiles={
            "smoke": Profile(Budget(steps=150, batch_size=128), seeds=1),
            "quick": Profile(Budget(steps=1000, batch_size=128), seeds=1),
            "paper": Profile(Budget(steps=5000, batch_size=256), seeds=1),
        },
        metrics=("svc-auroc", "reconstruction-mse"),
        validation="test_recon_mse", higher_is_better=False,
        validation_text="lowest held-out reconstruction MSE", validation_label="recon MSE",
        oracle_text="label AUROC (labels never seen in training)", oracle_label="AUROC",
        sweeps={"smoke": {SWEEP: (20,)}, "quick": {SWEEP: (20, 100)}, "paper": {SWEEP: (20, 100)}},
    )
    claim_context = {
        "C1": "configuration searched, result stands: every prior runs the configuration fig3-search "
              "selected for it at n = 20 and n = 100 (8 trials of β, λ_GW, obs_std, learning rates and "
              "score updates; held-out reconstruction MSE, no labels); SFS then reaches 0.858 at n = 20 "
              "over 5 seeds (0.827 in its own configuration), its learning curve flat (0.851 -> 0.849 "
              "-> 0.880 -> 0.858 over the checkpoints), the domains aligned in 4 of 5 seeds and no "
              "collapse (regime table): not a budget or regime failure at this scale.",
        "C3": "none found, the result stands: in their selected configurations MoG (0.974) and "
              "VampPrior (0.949) already separate the labels at n = 20 over 5 seeds, aligned and not "
              "collapsed (regime table); the nested-D task at this size does not need more samples.",
        "C4": "configuration searched, ordering unchanged: in the selected configurations at n = 20 SFS "
              "(0.858) is below MoG (0.974) and VampPrior (0.949), paired over 5 seeds with intervals "
              "excluding zero, and not distinguishable from Gaussian (0.914); SFS's matching terms carry "
              "7 % of its loss (GW 6 %, λ_GW ≈ 73 selected), the others' 1-2 %.",
    }
    claims = [
        Claim("C1", "SFS prior separates the labels (AUROC ≥ 0.9) at every n from 20",
              _claim_score_priors("saub")),
        Claim("C2", "LSGM prior separates the labels (AUROC ≥ 0.9) at every n from 20",
              _claim_score_priors("lsgm")),
        Claim("C3", "MoG and VampPrior need more samples: AUROC < 0.9 at n = 20, ≥ 0.9 at n = 100",
              _check_need_more_samples),
        Claim("C4", "At n = 20 the SFS prior separates better than Gaussian, MoG and VampPrior",
              _check_sfs_beats_simple_at_20),
    ]

    def artifacts(self, method, task: TaskData) -> dict:
        x, d = task.train.x, task.train.d
        out = {"z": rounded(method.encode(x, d)), "x": rounded(x), "d": d.tolist(),
               "y": task.train.y.tolist(), "recon": rounded(method.reconstruct(x, d))}
        trans = torch.empty_like(x)
        try:
            for dom in (0, 1):
                rows = d == dom
                trans[rows] = method.translate(x[rows], dom, 1 - dom)
        except Unsupported:  # a pooled model (GWAE) has no translation
            return out
        return {**out, "translation": rounded(trans)}

    # ----------------------------------------------------------------- report
    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        by = _auroc_by(records)
        labels = [lab for lab in DISPLAY if any(k[0] == lab for k in by)]
        ns = sorted({n for (_, n) in by})
        rows = []
        for lab in labels:
            for n in ns:
                s = summarize(list(by.get((lab, n), {}).values()))
                paper = "—" if lab not in PAPER_FROM_N else "≥ 0.90" if n >= PAPER_FROM_N[lab] else "< 0.90"
                ours = "≥ 0.90" if s.n and s.mean >= THRESHOLD else "< 0.90"
                rows.append([DISPLAY[lab], n, s.fmt(3), s.fmt_ci(3), paper, ours])
        rows += self._raw_input_rows(records, ns)
        table = Table("AUROC of label separation in the latent space (mean ± std over seeds)",
                      ["prior", "n per domain", "AUROC", "95% CI", "paper (§5.1 text)", "ours (mean)"],
                      rows, note="The paper reports Fig. 3 as a plot only; its text gives the n from "
                                 "which each prior reaches AUROC 0.9, which is what the paper column shows.")
        page = Page(tables=[table])
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        figs = out_dir / "figures"
        page.figures.append(("AUROC vs. n (mean ± std over seeds)", self._plot_auroc(by, labels, ns,
                                                                                     figs)))
        art = first_by(records, "artifacts", SWEEP)
        if art:
            page.figures.append(("Shared latent space (seed 0): rows n, columns prior",
                                 self._plot_latents(art, labels, ns, figs)))
            for n in ns:
                page.figures.append((f"Inputs, reconstructions and translations, n = {n} (seed 0)",
                                     self._plot_translations(art, labels, n, figs)))
        page.notes.append("The 'raw inputs' rows apply the same SVC metric to the 2-D data themselves: at "
                          "small n the metric cannot reach 0.9 even on the inputs, so a latent space "
                          "scoring above them has spread the classes apart, not merely kept them.")
        page.notes.append(selection_note(self, profile))
        page.notes.append("A point in the paper's text is inconsistent: it says the Gaussian prior "
                          "reaches 0.9 from n = 20 while also saying Gaussian needs more samples; "
                          "C3 tests only MoG and VampPrior, C4 compares all three at n = 20.")
        return page

    def _raw_input_rows(self, records: list[dict], ns: list[int]) -> list[list]:
        """The same metric on the raw 2-D inputs (no model), for the small n where it is cheap:
        the reference a latent space is compared against (same data seeds as the models)."""
        data_seeds = {(n, s): seed for (_, n), seeds in fields_by(records, "data_seed", SWEEP).items()
                      for s, seed in seeds.items()}
        rows = []
        for n in (n for n in ns if n <= RAW_INPUT_MAX_N):
            vals = []
            for (n_, _), seed in sorted(data_seeds.items()):
                if n_ == n:
                    task = TASKS.get(self.task)(seed=seed, n_per_domain=n)
                    out = svc_auroc(task.train.x.numpy(), task.train.y.numpy(), seed=seed)
                    vals.append(out["auroc_mean"])
            s = summarize(vals)
            rows.append(["raw inputs (no model)", n, s.fmt(3), s.fmt_ci(3), "—", "—"])
        return rows

    def _plot_auroc(self, by, labels, ns, figs: Path) -> str:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for i, lab in enumerate(labels):
            stats = [summarize(list(by.get((lab, n), {}).values())) for n in ns]
            ax.errorbar(ns, [s.mean for s in stats], yerr=[0 if s.n < 2 else s.std for s in stats],
                        label=DISPLAY[lab], color=PALETTE[i], marker="o", capsize=3)
        ax.axhline(THRESHOLD, color="grey", ls=":", lw=1)
        ax.set(xscale="log", xlabel="n (points per domain)", ylabel="AUROC (SVC, App. H.2)")
        ax.minorticks_off()
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.legend(loc="lower right")
        savefig(fig, figs / "fig3_auroc.png")
        return "figures/fig3_auroc.png"

    def _plot_latents(self, art, labels, ns, figs: Path) -> str:
        fig, axes = plt.subplots(len(ns), len(labels), figsize=(2.3 * len(labels), 2.2 * len(ns)),
                                 squeeze=False)
        for i, n in enumerate(ns):
            for j, lab in enumerate(labels):
                ax = axes[i, j]
                a = art.get((lab, n))
                if a:
                    _scatter_groups(ax, np.asarray(a["z"]), np.asarray(a["d"]), np.asarray(a["y"]))
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(DISPLAY[lab])
                if j == 0:
                    ax.set_ylabel(f"n = {n}")
        handles, names = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.02))
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        savefig(fig, figs / "fig3_latents.png")
        return "figures/fig3_latents.png"

    def _plot_translations(self, art, labels, n, figs: Path) -> str:
        cols = [("x", "input"), ("recon", "reconstruction"), ("translation", "translation")]
        fig, axes = plt.subplots(len(labels), 3, figsize=(7.5, 2.2 * len(labels)), squeeze=False)
        for i, lab in enumerate(labels):
            a = art.get((lab, n))
            for j, (key, title) in enumerate(cols):
                ax = axes[i, j]
                if a and key in a:
                    _scatter_groups(ax, np.asarray(a[key]), np.asarray(a["d"]), np.asarray(a["y"]))
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(title)
                if j == 0:
                    ax.set_ylabel(DISPLAY[lab])
        handles, names = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.02))
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        name = f"fig3_translations_n{n}.png"
        savefig(fig, figs / name)
        return f"figures/{name}"


def _scatter_groups(ax, pts: np.ndarray, d: np.ndarray, y: np.ndarray) -> None:
    """Scatter by (domain, label) with the paper's D{domain}_L{label} legend (1-based)."""
    for (dom, lab), colour in GROUP_COLOURS.items():
        m = (d == dom) & (y == lab)
        ax.scatter(pts[m, 0], pts[m, 1], s=6, color=colour, label=f"D{dom + 1}_L{lab + 1}")
