"""The regime section of a page: the diagnostics of :mod:`benchmarks.diagnostics` per row and sweep
value, averaged over seeds, with the flags ("not aligned", "collapsed", "still improving") in words."""

from __future__ import annotations

import json
import math
from collections import defaultdict

from benchmarks.diagnostics import ALIGNED_MAX_BALANCED_ACCURACY, COLLAPSE_MAX_ACTIVE_FRACTION, regime_flags
from benchmarks.results_table import cell_group, field_values

NOT_RECORDED = "not recorded (records predate the diagnostics)"


def _mean(values) -> float | None:
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def _f(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def sweep_text(sweep_json: str) -> str:
    sweep = json.loads(sweep_json)
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(sweep.items())) or "—"


def flags_text(records: list[dict], headline: str | None) -> str:
    """The flags of a group of seeds in words, with how many seeds carry each; "ok" when none does,
    :data:`NOT_RECORDED` when no record has diagnostics."""
    diagnosed = [r for r in records if r.get("diagnostics")]
    if not diagnosed:
        return NOT_RECORDED
    counts: dict[str, int] = defaultdict(int)
    for r in diagnosed:
        for flag in regime_flags(r, headline):
            counts[flag] += 1
    if not counts:
        return "ok"
    return ", ".join(f"{flag} ({n}/{len(diagnosed)} seeds)" for flag, n in counts.items())


def flags_by_group(records: list[dict], headline: str | None) -> dict[tuple[str, str], str]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        if r.get("status") == "done":
            groups[cell_group(r)].append(r)
    return {key: flags_text(recs, headline) for key, recs in groups.items()}


def _loss_share_text(records: list[dict]) -> str:
    shares: dict[str, list[float]] = defaultdict(list)
    for terms in field_values(records, ("diagnostics", "loss_terms")):
        for term, t in terms.items():
            shares[term].append(t["share"])
    means = {term: _mean(v) for term, v in shares.items()}
    ranked = sorted(((term, m) for term, m in means.items() if m is not None), key=lambda kv: -kv[1])
    return ", ".join(f"{term} {100 * m:.0f}%" for term, m in ranked) or "—"


def _curve_text(records: list[dict], headline: str | None) -> str:
    """The headline metric at each checkpoint, mean over seeds (checkpoints as fractions of the budget)."""
    if not headline:
        return "—"
    by_step: dict[int, list[float]] = defaultdict(list)
    for curve in field_values(records, ("diagnostics", "learning_curve")):
        for step, point in curve.items():
            if headline in point:
                by_step[int(step)].append(point[headline])
    if not by_step:
        return "—"
    last = max(by_step)
    return " → ".join(f"{_f(_mean(v), 3)} ({step / last:.3g})" for step, v in sorted(by_step.items()))


def regime_table(records: list[dict], headline: str | None, source_val: str = "source_val_accuracy",
                 source_val_label: str = "source val acc."):
    """A :class:`benchmarks.report.Table` of the diagnostics per (row, sweep value), mean over seeds;
    ``source_val`` names the record's label-free validation metric, ``source_val_label`` its column
    ("—" where records lack it)."""
    from benchmarks.report import Table

    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        if r.get("status") == "done":
            groups[cell_group(r)].append(r)
    rows = []
    for (label, sweep), recs in groups.items():
        diagnosed = [r for r in recs if r.get("diagnostics")]
        if not diagnosed:
            rows.append([label, sweep_text(sweep), f"0/{len(recs)}", *["—"] * 6, NOT_RECORDED])
            continue
        finals = field_values(diagnosed, ("diagnostics", "final"))
        align = [f.get("alignment") or {} for f in finals]
        collapse = [f.get("collapse") or {} for f in finals]
        active = _mean(c.get("active_fraction") for c in collapse)
        rank = _mean(c.get("effective_rank") for c in collapse)
        info = _mean(c.get("information_bound_nats") for c in collapse)
        probe = (f"{_f(_mean(a.get('balanced_accuracy') for a in align))} "
                 f"({_f(_mean(a.get('linear_balanced_accuracy') for a in align))} / "
                 f"{_f(_mean(a.get('mlp_balanced_accuracy') for a in align))})")
        rows.append([
            label, sweep_text(sweep), f"{len(diagnosed)}/{len(recs)}", probe,
            f"{_f(_mean(a.get('accuracy') for a in align))} vs {_f(_mean(a.get('majority') for a in align))}",
            (f"{100 * active:.0f}% active, " if active is not None else "")
            + (f"I(x; z) ≤ {_f(info, 1)} nats, " if info is not None else "") + f"eff. rank {_f(rank, 1)}",
            _loss_share_text(diagnosed),
            _f(_mean(field_values(diagnosed, ("metrics", source_val))), 3),
            _curve_text(diagnosed, headline),
            flags_text(recs, headline),
        ])
    return Table(
        "Regime diagnostics (mean over seeds; benchmarks/diagnostics.py)",
        ["row", "sweep", "seeds", "domain probe bal. acc.: max (linear / MLP)", "probe acc. vs majority",
         "latent units", "loss-term shares (weighted)", source_val_label,
         f"{headline or 'headline'} at checkpoints (fraction of budget)", "regime"],
        rows,
        note=(f"Held-out domain probes on the test split's representations; 'not aligned' above a balanced "
              f"accuracy of {ALIGNED_MAX_BALANCED_ACCURACY} (0.5: indistinguishable). A unit is active when "
              f"Var_x(μ) / E_x[σ²] > 0.01; 'collapsed' below {100 * COLLAPSE_MAX_ACTIVE_FRACTION:.0f}% "
              "active units (or an effective rank below 1.5 without a posterior); I(x; z) ≤ …: a Gaussian "
              "upper bound on the information the posterior carries (tiny when units are 'active' by the "
              "SNR test yet nearly empty). 'still improving': the "
              "headline gained more than 0.02 between the last two checkpoints."),
    )
