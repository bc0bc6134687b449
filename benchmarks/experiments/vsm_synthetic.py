"""vsm-synthetic: Gaussian VAEs on 2-D synthetic data by Alg. 1's objectives (seed 002, §5.1, Fig. 3, Fig. 7).

Seed 002 (Wenliang, "On the failure of variational score matching for VAE models"), §5.1 and App.
B.1: Gaussian VAEs with fully connected encoder and decoder (two hidden layers of 30 units), latent
R², trained on 2-D synthetic datasets by each combined objective, inference by D_KL
(reparameterised) or D_F (not), learning by ELBO, M1, M2 or M3, with J ≥ 1 encoder updates per
decoder update and, for M2 and M3, K ≥ 0 bi-level updates that keep φ's dependence on θ; minibatches
of 1,000; repeated over initialisations (10 in the paper); evaluated by the test NLL and the score
matching loss (FD minus a constant), both by importance sampling (100,000 samples in the paper). The
paper names none of its five datasets; the authors' bi-level script has two, "sparse" and "mixture",
which we use (quick runs these two), and we add three standard 2-D toys of our choice (moons,
circles, ring8; paper profile). Not given by the seed for Fig. 3, ours: Adam for the encoder and for
(g_θ, log γ), lr 3e-3 (quick; paper profile 1e-4 for 10,000 steps and 5,000 test points, the
authors' script's), log γ learned from log 0.01, S = 2 draws of q per datum (with S = 1, M2 (13)
equals M̃1 (8) without its q-only term, since ||E_q s||² is the sample mean's), bi-level step η =
0.01 for both inferences (the authors' script's KL step; its FD step is 1e-3), each decoder step on
a fresh minibatch shared by its J encoder steps, the proposal of the importance sampler q(z|x)
(:mod:`benchmarks.vsm_toys.synthetic`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from benchmarks.contracts import Budget
from benchmarks.experiment import Cell, Claim, Experiment, Profile, Row, register_experiment, thin_curves
from benchmarks.plotting import PALETTE, plt, savefig
from benchmarks.report import Page, Table
from benchmarks.results_table import first_by, values_by
from benchmarks.stats import combine_verdicts, paired_difference_verdict, summarize, threshold_verdict
from benchmarks.vsm_toys import validate_rows_and_sweeps
from benchmarks.vsm_toys.synthetic import (
    BILEVEL,
    DATASETS,
    OBJECTIVES,
    importance_estimates,
    sample_dataset,
    train_vae,
)

DATA_KEY, J_KEY, K_KEY = "task.dataset", "method.J", "method.K"
LABELS = {f"{i}-{lrn}": f"{i.upper()}-{lrn.upper()}" for i, lrn in OBJECTIVES}
ELBO, KL_M1, FD_M1 = LABELS["kl-elbo"], LABELS["kl-m1"], LABELS["fd-m1"]
BAD_LABELS = [LABELS[f"{i}-{lrn}"] for i, lrn in OBJECTIVES if lrn in BILEVEL]
#: |NLL(KL-ELBO) − NLL(KL-M1)| (nats) within which the two count as "almost equally good" (ours).
CLOSE = 0.1
#: NLL above KL-ELBO's (nats) from which a fit counts as bad (ours).
BAD = 0.5
#: NLL improvement by bi-level steps (nats) from which the effect counts as strong (ours).
STRONG = 0.5
TEST_SEED = 12345
N_MODEL_SAMPLES = 500


def _at(records: list[dict], dataset: str, j: int | None = None, k: int | None = None) -> list[dict]:
    sw = lambda r: r["cell"]["sweep"]  # noqa: E731
    return [r for r in records if sw(r)[DATA_KEY] == dataset and (j is None or sw(r)[J_KEY] == j)
            and (k is None or sw(r)[K_KEY] == k)]


def _metric(records, metric: str, label: str, dataset: str, j: int, k: int = 0) -> dict[int, float]:
    """{seed: metric} of row ``label`` at (dataset, J, K)."""
    return values_by(_at(records, dataset, j, k), metric).get(label, {})


def _grid(records: list[dict], key: str) -> list:
    return sorted({r["cell"]["sweep"][key] for r in records})


def _close(records):
    parts = []
    for ds in _grid(records, DATA_KEY):
        for j in _grid(records, J_KEY):
            a, b = (_metric(records, "nll", lab, ds, j) for lab in (ELBO, KL_M1))
            gaps = [abs(a[s] - b[s]) for s in sorted(set(a) & set(b))]
            parts.append((f"{ds}/J={j}", *threshold_verdict(gaps, CLOSE, at_least=False)))
    return _joined(parts)


def _joined(parts):
    if not parts:
        return "inconclusive", "no runs"
    return combine_verdicts([v for _, v, _ in parts]), "; ".join(f"{k}: {v} ({e})" for k, v, e in parts)


def _improve_with_j(records):
    js = _grid(records, J_KEY)
    if len(js) < 2:
        return "inconclusive", "one J only"
    parts = [(f"{ds}/{lab}/{m}", *paired_difference_verdict(_metric(records, m, lab, ds, js[0]),
                                                           _metric(records, m, lab, ds, js[-1])))
             for ds in _grid(records, DATA_KEY) for lab in (ELBO, KL_M1) for m in ("nll", "sm")]
    return _joined(parts)


def _fd_m1_worse(records):
    parts = [(f"{ds}/J={j}", *paired_difference_verdict(_metric(records, "nll", FD_M1, ds, j),
                                                       _metric(records, "nll", KL_M1, ds, j)))
             for ds in _grid(records, DATA_KEY) for j in _grid(records, J_KEY)]
    return _joined(parts)


def _m23_bad(records):
    parts = []
    for ds in _grid(records, DATA_KEY):
        for lab in BAD_LABELS:
            for j in _grid(records, J_KEY):
                a, b = _metric(records, "nll", lab, ds, j), _metric(records, "nll", ELBO, ds, j)
                gaps = [a[s] - b[s] for s in sorted(set(a) & set(b))]
                parts.append((f"{ds}/{lab}/J={j}", *threshold_verdict(gaps, BAD)))
    return _joined(parts)


def _no_strong_bilevel(records):
    ks = [k for k in _grid(records, K_KEY) if k > 0]
    parts = []
    for ds in _grid(records, DATA_KEY):
        for lab in BAD_LABELS:
            for j in _grid(records, J_KEY):
                for k in ks:
                    a, b = _metric(records, "nll", lab, ds, j, 0), _metric(records, "nll", lab, ds, j, k)
                    gain = [a[s] - b[s] for s in sorted(set(a) & set(b))]
                    verdict = threshold_verdict(gain, STRONG, at_least=False)
                    parts.append((f"{ds}/{lab}/J={j}/K={k}", *verdict))
    return _joined(parts)


@register_experiment
class VsmSynthetic(Experiment):
    name = "vsm-synthetic"
    title = "Gaussian VAEs on 2-D synthetic data by Alg. 1's objectives (seed 002, §5.1, Fig. 3 / Fig. 7)"
    description = __doc__.split("\n", 2)[2]
    rows = [Row(label, "none", {"objective": key}) for key, label in LABELS.items()]
    profiles = {
        "smoke": Profile(Budget(steps=20, batch_size=200), seeds=1,
                         sweep={DATA_KEY: ("mixture",), J_KEY: (1, 2), K_KEY: (0, 1)},
                         task_kwargs={"lr": 1e-3, "n_samples": 2, "n_test": 200, "n_is": 200}),
        "quick": Profile(Budget(steps=800, batch_size=1000), seeds=3,
                         sweep={DATA_KEY: ("sparse", "mixture"), J_KEY: (1, 3), K_KEY: (0, 1)},
                         task_kwargs={"lr": 3e-3, "n_samples": 2, "n_test": 1000, "n_is": 1000}),
        "paper": Profile(Budget(steps=10000, batch_size=1000), seeds=10,
                         sweep={DATA_KEY: DATASETS, J_KEY: (1, 2, 5, 10), K_KEY: (0, 1, 5, 10)},
                         task_kwargs={"lr": 1e-4, "n_samples": 2, "n_test": 5000, "n_is": 100_000}),
    }
    paper = {"numbers": "Fig. 3 and Fig. 7 are plots; the text gives no number, only the qualitative "
                        "statements checked"}
    claim_context = {
        "C2": "budget: on sparse both NLL and SM loss fall from J = 1 to J = 3 for both objectives (every "
              "CI above 0); on mixture the J = 1 and J = 3 NLLs differ by less than 0.03 nats (KL-M1's "
              "+0.023 just excludes 0, KL-ELBO's −0.005 does not), the SM loss likewise; mixture's NLL "
              "(0.41) is already near its entropy (about 0.31 nats) after 800 steps, leaving J little to "
              "improve. More steps or larger J (paper profile) are not run here.",
        "C3": "seeds: FD-M1 − KL-M1 is positive in all four (dataset, J) cells (+0.05 to +0.31 nats); two "
              "of the four 95% intervals (3 seeds) include 0.",
        "C4": "none found at this configuration (800 steps, lr 3e-3, S = 2, learned γ): with K = 0, M2 and "
              "M3 end within 0.01-0.29 nats of KL-ELBO's NLL at the same J, below our 0.5-nat threshold "
              "(the paper gives no number; its M3 curves leave the plotted axes). They do fit badly on "
              "mixture once K = 1 (table: NLL 1.6 to 3·10⁴ nats). Their learned γ is 1.3-2.5 times "
              "ELBO's. Whether the K = 0 gap widens with longer training (the paper profile's 10,000 "
              "steps) is not measured.",
        "C5": "seeds: no bi-level cell improves the NLL by more than 0.5 nats on average; on sparse the "
              "gain is within ±0.14 nats in 7 of 8 cells (supported; the eighth −0.40), on mixture K = 1 "
              "makes M2/M3 worse (mean gain −1.2 to −3·10⁴ nats), so spread that wide leaves the ≤ 0.5 "
              "predicate inconclusive there. The effect seen is negative, not absent.",
    }
    claims = [
        Claim("C1", f"D_KL-ELBO and D_KL-M1 produce almost equally good results (ours: |ΔNLL| ≤ {CLOSE} "
                    "nats, paired by seed, each dataset and J)", _close),
        Claim("C2", "For D_KL-ELBO and D_KL-M1 both the NLL and the FD decrease as J increases (smallest − "
                    "largest J > 0, each dataset)", _improve_with_j),
        Claim("C3", "D_F-M1 is slightly worse than D_KL-M1 (NLL, FD-M1 − KL-M1 > 0, each dataset and J)",
              _fd_m1_worse),
        Claim("C4", f"Objectives with M2 and M3 could not fit the model well (ours: NLL above KL-ELBO's at "
                    f"the same J by ≥ {BAD} nats, K = 0)", _m23_bad),
        Claim("C5", f"No strong positive effect of bi-level optimisation at this size (ours: NLL gain of "
                    f"K > 0 over K = 0 ≤ {STRONG} nats, M2/M3 objectives)", _no_strong_bilevel),
    ]

    def validate(self) -> None:
        """Rows name an objective of :data:`LABELS`; sweeps set the dataset, J and K only."""
        validate_rows_and_sweeps(self, "objective", tuple(LABELS),
                                 {DATA_KEY: DATASETS, J_KEY: None, K_KEY: None})

    def cells(self, profile: str, seeds: list[int] | None = None) -> list[Cell]:
        """The grid less the bi-level cells (K > 0) of objectives without bi-level steps (ELBO, M1)."""
        return [c for c in super().cells(profile, seeds)
                if c.sweep[K_KEY] == 0 or c.overrides["objective"].split("-")[1] in BILEVEL]

    def run_cell(self, cell: Cell) -> dict:
        inference, learning = cell.overrides["objective"].split("-")
        dataset, j, k = cell.sweep[DATA_KEY], cell.sweep[J_KEY], cell.sweep[K_KEY]
        kw = cell.task_kwargs
        run = train_vae(dataset, inference, learning, encoder_steps=j, bilevel_steps=k,
                        steps=cell.budget.steps, batch_size=cell.budget.batch_size, lr=kw["lr"],
                        bilevel_lr=0.01, n_samples=kw["n_samples"], log_gamma0=math.log(0.01),
                        seed=cell.model_seed)
        metrics: dict[str, float | str] = {"diverged": float(not run["finite"]),
                                           "steps_done": run["steps_done"]}
        artifacts = {}
        if run["finite"]:
            gen = torch.Generator().manual_seed(TEST_SEED)
            x = sample_dataset(dataset, kw["n_test"], gen)
            est = importance_estimates(x, run["encoder"], run["decoder"], run["log_gamma"], kw["n_is"],
                                       gen=torch.Generator().manual_seed(cell.model_seed))
            metrics |= {m: float(v.mean()) if torch.isfinite(v).all() else "n/a" for m, v in est.items()}
            metrics["gamma"] = float(run["log_gamma"].exp())
            if cell.seed_index in self.artifact_seeds:
                with torch.no_grad():
                    g = torch.Generator().manual_seed(cell.model_seed)
                    z = torch.randn(N_MODEL_SAMPLES, 2, generator=g)
                    noise = torch.randn(z.shape, generator=g)
                    xs = run["decoder"](z) + run["log_gamma"].mul(0.5).exp() * noise
                artifacts["model_samples"] = np.round(xs.numpy().astype(float), 3).tolist()
        else:
            metrics |= {"nll": "n/a", "sm": "n/a", "gamma": "n/a"}
        return {
            "config": {"inference": inference, "learning": learning, "dataset": dataset, "J": j, "K": k,
                       "steps": cell.budget.steps, "batch_size": cell.budget.batch_size, "bilevel_lr": 0.01,
                       "gamma0": 0.01, "optimizer": "adam", **kw},
            "metrics": metrics,
            "curves": thin_curves({"learning_loss": run["curve"]}),
            "artifacts": artifacts,
            "protocol": {"model": "p(z)=N(0,I2), p(x|z)=N(g(z), gamma I2), MLPs 2-30-30-(2|4) ReLU",
                         "evaluation": "importance sampling with proposal q(z|x); fixed test set",
                         "data": "a fresh minibatch every decoder step, shared by its J encoder steps"},
        }

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        rows = []
        for ds in _grid(records, DATA_KEY):
            for label in LABELS.values():
                for j in _grid(records, J_KEY):
                    for k in _grid(records, K_KEY):
                        at = [r for r in _at(records, ds, j, k) if r["cell"]["label"] == label]
                        if not at:
                            continue
                        s = {m: summarize(list(_metric(records, m, label, ds, j, k).values()))
                             for m in ("nll", "sm", "gamma", "diverged")}
                        div = summarize([r["metrics"]["diverged"] for r in at])
                        rows.append([ds, label, j, k, s["nll"].fmt(3), s["sm"].fmt(2), s["gamma"].fmt(4),
                                     f"{div.mean * div.n:.0f}/{div.n}"])
        table = Table("Test NLL and score matching loss (FD − const) by importance sampling (mean ± std over "
                      "seeds; finished runs)", ["dataset", "objective", "J", "K", "NLL (nats)", "SM loss",
                                                "γ", "diverged"], rows,
                      note="The paper shows Fig. 3 / Fig. 7 as plots; its text gives no number. ELBO, M1 "
                           "have no bi-level steps (K = 0 only). Lower is better for both metrics.")
        page = Page(tables=[table])
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        page.figures.append(("(top) test NLL and (middle) SM loss vs J (K = 0 solid, K > 0 dashed), mean ± "
                             "sem over seeds; (bottom) data (grey) and samples of each dataset's lowest-NLL "
                             "model (seed 0, orange)", self._plot(records, out_dir)))
        page.notes.append("With S = 1 draw of q, M2 (eq. 13) is identically M̃1 (eq. 8) without its q-only "
                          "term (||E_q s||² is the sample mean's), so S = 2 is used.")
        return page

    def _plot(self, records: list[dict], out_dir: Path) -> str:
        datasets = _grid(records, DATA_KEY)
        n_col = max(1, len(datasets))
        fig, axes = plt.subplots(3, n_col, figsize=(4.5 * n_col, 11), squeeze=False)
        js = _grid(records, J_KEY)
        for c, ds in enumerate(datasets):
            for i, label in enumerate(LABELS.values()):
                for k in _grid(records, K_KEY):
                    for r, m in enumerate(("nll", "sm")):
                        pts = [(j, summarize(list(_metric(records, m, label, ds, j, k).values())))
                               for j in js]
                        pts = [(j, s) for j, s in pts if s.n]
                        if pts:
                            axes[r, c].errorbar([j for j, _ in pts], [s.mean for _, s in pts],
                                                [s.std / math.sqrt(s.n) for _, s in pts],
                                                color=PALETTE[i % len(PALETTE)],
                                                ls="-" if k == 0 else "--", marker="o", ms=3,
                                                label=label if k == 0 and c == 0 and r == 0 else None)
            axes[0, c].set(title=f"{ds}: NLL", xlabel="J", ylabel="NLL (symlog)", yscale="symlog")
            axes[1, c].set(title=f"{ds}: SM loss", xlabel="J", ylabel="SM loss", yscale="symlog")
            nll = values_by(_at(records, ds), "nll")
            best = min(((v, lab) for lab, seeds in nll.items() for s, v in seeds.items() if s == 0),
                       default=None)
            data = sample_dataset(ds, N_MODEL_SAMPLES, torch.Generator().manual_seed(TEST_SEED)).numpy()
            ax = axes[2, c]
            ax.plot(data[:, 0], data[:, 1], ".", color="grey", ms=2)
            if best is not None:
                with_samples = [r for r in _at(records, ds) if r["cell"]["label"] == best[1]
                                and "model_samples" in r["artifacts"] and r["metrics"].get("nll") == best[0]]
                samples = list(first_by(with_samples, ("artifacts", "model_samples")).values())
                if samples:
                    xs = np.array(samples[0])
                    ax.plot(xs[:, 0], xs[:, 1], ".", color="tab:orange", ms=2)
                ax.set(title=f"{ds}: samples of {best[1]} (NLL {best[0]:.2f})")
        axes[0, 0].legend(fontsize=7)
        fig.tight_layout()
        savefig(fig, out_dir / "figures" / "vsm-synthetic.png")
        return "figures/vsm-synthetic.png"
