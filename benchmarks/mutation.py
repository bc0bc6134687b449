"""Mutation check of the CI regression: does ``make regression`` fail when a method is broken?

Each :class:`Mutation` is a deliberate one-line breakage of a method, an objective or a metric (a
sign flipped, a term dropped, an update skipped). ``python -m benchmarks.mutation`` (``make
mutation``) applies each, alone, to a fresh copy of the code, runs the smoke regression
(:mod:`benchmarks.regression`, seed 0 against the committed golden values) of the experiments that
use the broken code, and reports whether the regression flagged it. A control run of the same
experiments on the unchanged copy comes first: a mutation counts as caught only when the control
passes, so a regression that fails anyway proves nothing.

A mutation whose line is not found (exactly once) in its file is an error, not a pass: the check
then no longer tests what it names, and must be updated with the code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.runner import REPO_ROOT

#: What a copy needs to run the regression: the code and the committed golden values / selections.
COPIED = ("baselines", "benchmarks", "saub", "results/golden", "results/selected")


@dataclass(frozen=True)
class Mutation:
    """Replace ``line`` (a unique line of ``path``, stripped comparison) by ``replacement``."""

    name: str
    path: str
    line: str
    replacement: str
    experiments: tuple[str, ...]
    what: str


MUTATIONS = (
    Mutation("vaub-prior-term-dropped", "saub/objective.py",
             "cross_entropy=per_domain_sum(prior.cross_entropy(z), d),",
             "cross_entropy=0.0 * per_domain_sum(prior.cross_entropy(z), d),", ("fig3",),
             "the VAUB objective's cross-entropy to the prior (eq. 6) multiplied by 0"),
    Mutation("reconstruction-dropped", "saub/objective.py",
             "return 0.5 * sq / obs_std**2 + 0.5 * d * math.log(2 * math.pi * obs_std**2)",
             "return 0.0 * sq + 0.5 * d * math.log(2 * math.pi * obs_std**2)", ("fig3",),
             "the Gaussian reconstruction term of every VAE-family model multiplied by 0"),
    Mutation("sfs-score-sign", "saub/priors/score.py", "s = score_fn(z_star, sigma)",
             "s = -score_fn(z_star, sigma)", ("fig3",),
             "the SFS encoder gradient uses the negated score (Alg. 1)"),
    Mutation("gw-term-off", "benchmarks/methods/vaub_family.py",
             "self.model, self.prior, beta=c.beta, gw=c.gw, lambda_gw=c.lambda_gw,",
             "self.model, self.prior, beta=c.beta, gw=c.gw, lambda_gw=0.0,", ("table1",),
             "λ_GW ignored: the structural (GW) term of eq. 12-13 never reaches the loss"),
    Mutation("dann-no-gradient-reversal", "baselines/dann.py", "return -ctx.lam * grad, None",
             "return ctx.lam * grad, None", ("table1", "table1-lenet"),
             "DANN's gradient reversal layer passes the gradient unreversed"),
    Mutation("adda-target-encoder-frozen", "baselines/adda.py", "opt_m.step()", "pass", ("table1",),
             "ADDA's adversarial stage never updates the target encoder"),
    Mutation("fcrl-mi-term-dropped", "baselines/fcrl.py",
             'loss = parts["pred"] + c.effective_beta * parts["kl"] - c.lambda_ * parts["mi"]',
             'loss = parts["pred"] + c.effective_beta * parts["kl"]', ("fig4",),
             "FCRL's contrastive I(z; y | s) term left out of the loss"),
    Mutation("delta-dp-one-group", "benchmarks/metrics/fairness.py",
             'return abs(_group_rate(y_pred, s == 0, "s=0") - _group_rate(y_pred, s == 1, "s=1"))',
             'return abs(_group_rate(y_pred, s == 0, "s=0") - _group_rate(y_pred, s == 0, "s=0"))', ("fig4",),
             "Δ_DP compares group s=0 with itself (always 0)"),
    Mutation("lsgm-terminal-term-dropped", "saub/priors/score.py", "return diffusion + terminal",
             "return diffusion", ("fig1",),
             "LSGM's cross-entropy (eq. 23-24) loses its terminal Gaussian term"),
    Mutation("translation-decodes-into-the-source", "saub/networks.py",
             "return self.decode_domain(mean, d_to)",
             "return self.decode_domain(mean, d_from)", ("fig8", "table2"),
             "translation decodes with the source domain's decoder (a reconstruction, not a translation)"),
    Mutation("gwae-gw-term-dropped", "baselines/gwae.py",
             'terms["loss"] = (terms["gw"] + c.lambda_w * terms["w"] + c.lambda_d * terms["d"]',
             'terms["loss"] = (0.0 * terms["gw"] + c.lambda_w * terms["w"] + c.lambda_d * terms["d"]',
             ("gwae-mnist",),
             "GWAE's Gromov-Wasserstein term (eq. 13) weighted 0"),
    Mutation("knn-votes-for-itself", "benchmarks/metrics/pair_separation.py",
             'dist.fill_diagonal_(float("inf"))', "pass", ("fig7",),
             "leave-one-out k-NN keeps each point among its own neighbours"),
    Mutation("structured-dependence-dropped", "baselines/structured_fair.py",
             "loss = sum(weights[k] * v for k, v in parts.items())",
             'loss = sum(weights[k] * v for k, v in parts.items() if k != "dependence")', ("thesis-fair",),
             "the thesis' model loses its λ₂ Î_q(z; u) term (eq. 4.5.1)"),
    Mutation("ferm-projection-off", "baselines/linear_fair.py", "return project_out(z, self.u, self.j)",
             "return z", ("thesis-fair",),
             "FERM classifies the raw features: the fairness constraint's projection is skipped"),
    Mutation("fd-norepar-reparameterised", "saub/score_matching/scores.py",
             "if not reparameterize or not z.requires_grad:", "if not z.requires_grad:",
             ("vsm-toy-posteriors",),
             "reparameterize=False ignored: FD's biased gradient (A.5.1) becomes the reparameterised one"),
    Mutation("posterior-score-prior-dropped", "saub/score_matching/scores.py",
             "score_p = grad_of_sum(log_prior(ps.z) + ps.log_lik, ps.z)",
             "score_p = grad_of_sum(ps.log_lik, ps.z)", ("vsm-toy-posteriors", "vsm-recovery"),
             "∇_z log p_θ(z|x) loses the prior's score (eq. 26), in the posterior FD and the FAE loss"),
    Mutation("fae-q-score-term-dropped", "saub/score_matching/objectives.py",
             "m1 = 0.5 * (s_p**2).sum(-1) + likelihood_x_divergence(ps, s_p, divergence)"
             " + 0.5 * (s_q**2).sum(-1)",
             "m1 = 0.5 * (s_p**2).sum(-1) + likelihood_x_divergence(ps, s_p, divergence)", ("vsm-recovery",),
             "the FAE loss's M1 loses ½ E_q||s^q(z|x)||² (eq. 8), the term through which φ enters J^π"),
)


def make_copy(root: Path, into: Path) -> Path:
    """A copy of what the regression runs (:data:`COPIED`), without caches."""
    for part in COPIED:
        src = root / part
        if src.exists():
            shutil.copytree(src, into / part, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def apply(mutation: Mutation, copy: Path) -> None:
    """Replace the mutation's line in ``copy``; refuse when it is not there exactly once."""
    path = copy / mutation.path
    lines = path.read_text().splitlines(keepends=True)
    hits = [i for i, text in enumerate(lines) if text.strip() == mutation.line]
    if len(hits) != 1:
        raise ValueError(f"mutation {mutation.name}: expected the line {mutation.line!r} once in "
                         f"{mutation.path}, found it {len(hits)} times; update MUTATIONS with the code")
    i = hits[0]
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    lines[i] = indent + mutation.replacement + "\n"
    path.write_text("".join(lines))


def run_regression(copy: Path, experiments: tuple[str, ...]) -> tuple[bool, str]:
    """``python -m benchmarks.regression EXP...`` in ``copy``: (every experiment OK, its output)."""
    env = {**os.environ, "PYTHONPATH": str(copy), "SAUB_PLUGINS": ""}
    out = subprocess.run([sys.executable, "-m", "benchmarks.regression", *experiments], cwd=copy, env=env,
                         capture_output=True, text=True)
    text = out.stdout + (out.stderr[-2000:] if out.returncode else "")
    ok = out.returncode == 0 and all(line.endswith(": OK") for line in out.stdout.splitlines()
                                     if line.split(":")[0] in experiments)
    return ok, text


def check(mutations: tuple[Mutation, ...] = MUTATIONS, root: Path = REPO_ROOT) -> list[dict]:
    """Control run, then every mutation; one result row per run (``caught`` is None for the control)."""
    results = []
    experiments = tuple(sorted({e for m in mutations for e in m.experiments}))
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        ok, text = run_regression(make_copy(root, Path(tmp) / "control"), experiments)
        results.append({"name": "control (no mutation)", "experiments": experiments, "passed": ok,
                        "caught": None, "seconds": time.perf_counter() - tic, "output": text})
        if not ok:
            raise RuntimeError("the regression fails on the unchanged code; fix it before checking "
                               f"mutations:\n{text}")
        for m in mutations:
            copy = make_copy(root, Path(tmp) / m.name)
            apply(m, copy)
            tic = time.perf_counter()
            ok, text = run_regression(copy, m.experiments)
            results.append({"name": m.name, "experiments": m.experiments, "passed": ok, "caught": not ok,
                            "seconds": time.perf_counter() - tic, "output": text, "what": m.what})
    return results


def flagged_lines(output: str) -> list[str]:
    """The regression's lines naming a metric out of tolerance."""
    return [line for line in output.splitlines() if "vs golden" in line or "missing" in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to check (default: all)")
    args = parser.parse_args()
    known = {m.name: m for m in MUTATIONS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown mutation(s) {', '.join(unknown)}; valid: {', '.join(known)}")
    chosen = tuple(known[n] for n in args.names) if args.names else MUTATIONS
    results = check(chosen)
    print("| mutation | experiments | caught | flagged metrics | seconds |\n|---|---|---|---|---|")
    for r in results:
        caught = "control: passes" if r["caught"] is None else ("yes" if r["caught"] else "**NO**")
        flagged = len(flagged_lines(r["output"]))
        print(f"| {r['name']} | {', '.join(r['experiments'])} | {caught} | {flagged} | {r['seconds']:.0f} |")
    missed = [r["name"] for r in results if r["caught"] is False]
    print(f"{len(results) - 1 - len(missed)} of {len(results) - 1} mutations caught"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
