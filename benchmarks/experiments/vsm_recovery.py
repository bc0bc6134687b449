"""vsm-recovery: parameter recovery by the joint FD vs the joint KL (seed 002, §3.1, Fig. 1).

Seed 002 (Wenliang, "On the failure of variational score matching for VAE models"), §3.1: the VAE
p(z) = N(0, 1), p_θ(x|z) = N(θ z, γ), q_φ(z|x) = N(φ x, α v*), v* = (1 + θ²/γ)⁻¹ the exact posterior
variance, γ = 0.5, α = 0.6 (posterior mismatch; α = 1 is the exact-posterior control the text
mentions). Data π = p_θ* for a range of θ*; (φ, θ) minimise the joint FD (the Fisher autoencoder's
objective, eq. 6-8) or the joint KL (−ELBO, eq. 2). The seed gives no optimiser, data size or
initialisation for Fig. 1; ours: Adam (lr 0.05, quick) on the library's FAE loss or −ELBO, each
step on a fresh minibatch of π (1,024 draws, quick) with S = 2 reparameterised samples per datum,
so that the population objective is what is minimised; init (φ, θ) = (0, 1); 3,000 steps (quick);
the solution = the average of the last 10 % of iterates. The closed-form optimum of each objective
(the population answer) is printed beside it (:mod:`benchmarks.vsm_toys.recovery`). The marginal
depends on θ², so θ̂ := |θ| of the solution is reported.
"""

from __future__ import annotations

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
from benchmarks.vsm_toys.recovery import (
    ALPHA,
    GAMMA,
    OBJECTIVES,
    fit_recovery,
    joint_covariances,
    population_optimum,
)

THETA_KEY, ALPHA_KEY = "task.theta_star", "task.alpha"
LABELS = {"jkl": "joint KL", "jfd": "joint FD"}
#: Relative error θ̂/θ* − 1 (θ̂ = |θ| of the solution) within which θ* counts as recovered
#: (our threshold; the seed gives none).
RECOVERED = 0.05
#: θ̂/θ* at or below which the JFD estimate counts as substantially biased (our threshold).
BIASED = 0.9
#: θ* of Fig. 1 (middle, right).
THETA_SHOWN = 2.0


def _at_alpha(records: list[dict], alpha: float) -> list[dict]:
    return [r for r in records if r["cell"]["sweep"][ALPHA_KEY] == alpha]


def _by(records: list[dict], metric: str, alpha: float) -> dict[tuple[str, float], dict[int, float]]:
    """(row label, θ*) -> {seed: metric} at α."""
    return values_by(_at_alpha(records, alpha), metric, THETA_KEY)


def _ratio_by(records: list[dict], label: str, alpha: float) -> dict[float, dict[int, float]]:
    """θ* -> {seed: |θ̂|/θ*} of row ``label`` at α."""
    by = _by(records, "theta_ratio", alpha)
    return {theta: seeds for (lab, theta), seeds in by.items() if lab == label}


def _recovered(label: str, alpha: float):
    def check(records):
        ratios = _ratio_by(records, label, alpha)
        if not ratios:
            return "inconclusive", "no runs"
        parts = []
        for theta, seeds in sorted(ratios.items()):
            errors = [abs(r - 1) for r in seeds.values()]
            parts.append((theta, *threshold_verdict(errors, RECOVERED, at_least=False)))
        evidence = "; ".join(f"θ*={t}: {v} (mean abs(θ̂/θ* − 1) {mean_error(ratios[t]):.3f})"
                             for t, v, _ in parts)
        return combine_verdicts([v for _, v, _ in parts]), evidence
    return check


def mean_error(ratios: dict[int, float]) -> float:
    """Mean over seeds of abs(θ̂/θ* − 1)."""
    return summarize([abs(r - 1) for r in ratios.values()]).mean


def _jfd_biased(records):
    ratios = _ratio_by(records, LABELS["jfd"], ALPHA)
    if not ratios:
        return "inconclusive", "no runs"
    parts = [(theta, *threshold_verdict(list(seeds.values()), BIASED, at_least=False))
             for theta, seeds in sorted(ratios.items())]
    evidence = "; ".join(f"θ*={t}: {v} (θ̂/θ* {summarize(list(ratios[t].values())).fmt(3)})"
                         for t, v, _ in parts)
    return combine_verdicts([v for _, v, _ in parts]), evidence


def _joints_close_in_jfd_only(records):
    """At θ* = 2, α = 0.6, paired by seed: JKL(JFD solution) − JKL(JKL solution) > 0 and
    JFD(JKL solution) − JFD(JFD solution) > 0 (closed-form divergences at the learned (φ̂, θ̂))."""
    kl, fd = ({lab: seeds for (lab, theta), seeds in _by(records, metric, ALPHA).items()
               if theta == THETA_SHOWN} for metric in ("jkl_value", "jfd_value"))
    if not all(lab in kl for lab in LABELS.values()):
        return "inconclusive", "no runs at θ* = 2"
    v1, e1 = paired_difference_verdict(kl[LABELS["jfd"]], kl[LABELS["jkl"]])
    v2, e2 = paired_difference_verdict(fd[LABELS["jkl"]], fd[LABELS["jfd"]])
    evidence = f"JKL(JFD sol.) − JKL(JKL sol.): {e1}; JFD(JKL sol.) − JFD(JFD sol.): {e2}"
    return combine_verdicts([v1, v2]), evidence


@register_experiment
class VsmRecovery(Experiment):
    name = "vsm-recovery"
    title = "parameter recovery by joint FD vs joint KL (seed 002, §3.1, Fig. 1)"
    description = __doc__.split("\n", 2)[2]
    rows = [Row(LABELS[o], "none", {"objective": o}) for o in OBJECTIVES]
    profiles = {
        "smoke": Profile(Budget(steps=300, batch_size=256), seeds=1,
                         sweep={THETA_KEY: (THETA_SHOWN,), ALPHA_KEY: (ALPHA, 1.0)},
                         task_kwargs={"n_samples": 2, "lr": 0.05}),
        "quick": Profile(Budget(steps=3000, batch_size=1024), seeds=3,
                         sweep={THETA_KEY: (0.5, 1.0, 2.0, 3.0), ALPHA_KEY: (ALPHA, 1.0)},
                         task_kwargs={"n_samples": 2, "lr": 0.05}),
        "paper": Profile(Budget(steps=20000, batch_size=4096), seeds=10,
                         sweep={THETA_KEY: tuple(np.round(np.arange(0.25, 4.01, 0.25), 2).tolist()),
                                ALPHA_KEY: (ALPHA, 1.0)},
                         task_kwargs={"n_samples": 4, "lr": 0.01}),
    }
    claim_context = {
        "C3": "budget: at θ* = 3 the JFD estimate at α = 1 is 2.87 ± 0.01, 4 % below the closed-form "
              "optimum, which is exactly θ* at α = 1 (tests/test_vsm_toys.py); its θ curve rises slowly "
              "(about 2.67 at step 1,000, 2.80 at 1,500, 2.85 at 2,500, every seed) and has not settled by "
              "3,000 steps, a slope the drift column (300 steps, Adam's jitter) cannot resolve. Whether it "
              "reaches θ* with more steps is not measured here (the paper profile's 20,000 would decide); "
              "θ* ≤ 2 are recovered.",
    }
    paper = {"alpha": ALPHA, "gamma": GAMMA, "theta_hat": "Fig. 1 (left) is a plot; no number in the text"}
    claims = [
        Claim("C1", f"Minimising the joint KL recovers θ* at α = {ALPHA} (\"robust estimates\"; ours: "
                    f"abs(θ̂/θ* − 1) ≤ {RECOVERED} at every θ*)", _recovered(LABELS["jkl"], ALPHA)),
        Claim("C2", f"Minimising the joint FD at α = {ALPHA} gives θ̂ far from θ* (\"substantial bias\"; "
                    f"ours: θ̂/θ* ≤ {BIASED} at every θ*)", _jfd_biased),
        Claim("C3", f"With α = 1 (exact posterior) the joint FD recovers any θ* (ours: abs(θ̂/θ* − 1) ≤ "
                    f"{RECOVERED} at every θ*)", _recovered(LABELS["jfd"], 1.0)),
        Claim("C4", f"At θ* = {THETA_SHOWN}, the JFD solution's joints are close in JFD but not in JKL: its "
                    "JKL exceeds the JKL solution's, and the JKL solution's JFD exceeds its own",
              _joints_close_in_jfd_only),
    ]

    def validate(self) -> None:
        """Rows name an objective of :data:`OBJECTIVES`; sweeps set θ* and α only."""
        validate_rows_and_sweeps(self, "objective", OBJECTIVES, {THETA_KEY: None, ALPHA_KEY: None})

    def run_cell(self, cell: Cell) -> dict:
        objective = cell.overrides["objective"]
        theta_star, alpha = cell.sweep[THETA_KEY], cell.sweep[ALPHA_KEY]
        kw = cell.task_kwargs
        run = fit_recovery(objective, theta_star, alpha=alpha, batch_size=cell.budget.batch_size,
                           n_samples=kw["n_samples"], steps=cell.budget.steps, lr=kw["lr"],
                           seed=cell.model_seed)
        phi_pop, theta_pop = population_optimum(objective, theta_star, alpha)
        path = torch.tensor(run["theta_path"])
        tenth = max(1, len(path) // 10)
        return {
            "config": {"objective": objective, "theta_star": theta_star, "alpha": alpha, "gamma": GAMMA,
                       "batch_size": cell.budget.batch_size, "steps": cell.budget.steps, "optimizer": "adam",
                       "init": [0.0, 1.0], **kw},
            "metrics": {
                "theta_hat": run["theta"], "phi_hat": run["phi"], "theta_ratio": run["theta"] / theta_star,
                "theta_population": theta_pop, "phi_population": phi_pop,
                "jfd_value": run["jfd"], "jkl_value": run["jkl"],
                # mean θ over the last tenth of training minus over the tenth before it: ~0 once converged
                "theta_drift": float(path[-tenth:].mean() - path[-2 * tenth:-tenth].mean()),
            },
            "curves": thin_curves({"theta": run["theta_path"]}, steps=run["step"]),
            "artifacts": {},
            "protocol": {"model": "p(z)=N(0,1), p(x|z)=N(theta z, gamma), q(z|x)=N(phi x, alpha v*(theta))",
                         "data": "a fresh minibatch of N(0, theta*^2 + gamma) every step",
                         "solution": "mean of last 10% iterates"},
        }

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        rows = []
        for alpha in (ALPHA, 1.0):
            by = {m: _by(records, m, alpha) for m in ("theta_hat", "theta_population", "theta_drift")}
            for (lab, theta), seeds in sorted(by["theta_hat"].items(), key=lambda kv: (kv[0][1], kv[0][0])):
                s = summarize(list(seeds.values()))
                pop = next(iter(by["theta_population"][(lab, theta)].values()))
                paper = ("= θ* (\"any θ* can be recovered\")" if alpha == 1.0 else
                         "≈ θ* (\"robust\")" if lab == LABELS["jkl"] else "< θ* (\"substantial bias\")")
                drift = summarize(list(by["theta_drift"][(lab, theta)].values()))
                rows.append([alpha, theta, lab, paper, s.fmt(3), s.fmt_ci(3), f"{pop:.3f}",
                             f"{s.mean / theta - 1:+.3f}", drift.fmt(3)])
        table = Table("Recovered θ̂ = |θ| vs θ* (mean ± std over seeds)",
                      ["α", "θ*", "objective", "paper (Fig. 1, qualitative)", "ours θ̂", "95% CI",
                       "closed-form optimum", "relative error", "drift (last tenth − tenth before)"], rows,
                      note="The paper shows Fig. 1 as a plot; its text gives no number, only the qualitative "
                           "statements quoted in the paper column. The closed-form optimum minimises the "
                           "population divergence exactly (Nelder-Mead on the Gaussian closed forms).")
        page = Page(tables=[table])
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        page.figures.append(("(left) recovered θ̂ vs θ*, seeds as dots, closed-form optima as lines "
                             f"(solid α = {ALPHA}, dashed α = 1); (middle, right) the joints q(z|x)π(x) "
                             f"(filled) and p_θ̂(z, x) (lines) at θ* = {THETA_SHOWN}, α = {ALPHA}, seed 0",
                             self._plot(records, out_dir)))
        page.notes.append("θ* enters only through π's variance θ*² + γ, and θ only through θ², so the sign "
                          "of θ is not identifiable: θ̂ denotes |θ| of the solution (and φ̂ is signed as if "
                          "θ > 0).")
        page.notes.append("The JFD is minimised through the FAE loss (posterior FD + M1, eq. 6-8), which "
                          "equals the JFD minus the π-only constant E_π C_π (A.1), so it has the JFD's "
                          "minimiser.")
        return page

    def _plot(self, records: list[dict], out_dir: Path) -> str:
        fig, axes = plt.subplots(1, 3, figsize=(13, 4))
        ax = axes[0]
        thetas = sorted({r["cell"]["sweep"][THETA_KEY] for r in records})
        grid = np.linspace(min(thetas), max(thetas), 40) if thetas else np.array([])
        for i, objective in enumerate(OBJECTIVES):
            lab = LABELS[objective]
            for alpha, style in ((ALPHA, "-"), (1.0, "--")):
                pts = [(theta, v) for (ll, theta), seeds in _by(records, "theta_hat", alpha).items()
                       if ll == lab for v in seeds.values()]
                if not pts:
                    continue
                ax.plot(*zip(*pts), "o", ms=3, color=PALETTE[i], alpha=0.7 if alpha == ALPHA else 0.3)
                optimum = [population_optimum(objective, t, alpha)[1] for t in grid]
                ax.plot(grid, optimum, style, color=PALETTE[i], lw=1, label=f"{lab}, α = {alpha}")
        ax.plot(grid, grid, ":", color="grey", lw=1, label="θ̂ = θ*")
        ax.set(xlabel="θ*", ylabel="θ̂ = |θ|", title="recovered θ")
        ax.legend()
        metrics = first_by(_at_alpha(records, ALPHA), "metrics", THETA_KEY)
        for ax, objective in zip(axes[1:], OBJECTIVES):
            m = metrics.get((LABELS[objective], THETA_SHOWN))
            ax.set(title=f"{LABELS[objective]} solution, θ* = {THETA_SHOWN}", xlabel="z", ylabel="x")
            if m is None:
                continue
            cov_q, cov_p = joint_covariances(m["phi_hat"], m["theta_hat"], THETA_SHOWN, ALPHA)
            zz, xx = np.meshgrid(np.linspace(-3, 3, 200), np.linspace(-5, 5, 200))
            ax.contourf(zz, xx, _gaussian_density(cov_q, zz, xx), levels=8, cmap="Blues")
            ax.contour(zz, xx, _gaussian_density(cov_p, zz, xx), levels=8, colors=PALETTE[1], linewidths=0.8)
        fig.tight_layout()
        savefig(fig, out_dir / "figures" / "vsm-recovery.png")
        return "figures/vsm-recovery.png"


def _gaussian_density(cov: np.ndarray, zz: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """N((z, x); 0, cov) on a mesh."""
    pts = np.stack([zz, xx], -1)
    quad = np.einsum("...i,ij,...j->...", pts, np.linalg.inv(cov), pts)
    return np.exp(-0.5 * quad) / (2 * np.pi * np.sqrt(np.linalg.det(cov)))
