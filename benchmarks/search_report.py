"""The page of a search experiment (``<name>-search``): the space, every trial, the selection, the
oracle beside it, and how sensitive each row is to its configuration (:mod:`benchmarks.search`)."""

from __future__ import annotations

import json
import math

from benchmarks.diagnostics import ALIGNED_MAX_BALANCED_ACCURACY, regime_flags
from benchmarks.search import RULE, TRIAL, base_sweep, row_space, select


def _fmt(v, digits: int = 3) -> str:
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, float):
        if abs(v) < 1e-2 or abs(v) >= 1e3:
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return str(v)


def _metric(record: dict | None, key: str) -> float | None:
    v = (record or {}).get("metrics", {}).get(key)
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _target_of(trials: dict[int, dict], trial: int | None) -> str:
    return f"{_fmt(trial)}: {_pct(_metric(trials.get(trial), 'target_accuracy'))}"


def _sweep_text(sweep_json: str) -> str:
    sweep = json.loads(sweep_json)
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(sweep.items())) or "—"


def search_page(experiment, records: list[dict], profile: str):
    from benchmarks.report import Page, Table

    base = experiment.base_experiment
    prof = experiment.profile(profile)
    spaces = {row.label: row_space(base, row) for row in experiment.rows}
    space_rows = [[label, row.method, knob, dist.describe()]
                  for row in experiment.rows for label in [row.label]
                  for knob, dist in sorted(spaces[label].items())]
    tables = [Table("Search space (trial 0 is each row's own configuration)",
                    ["row", "method", "knob", "distribution"], space_rows)]
    chosen = select(records)
    by_key: dict[tuple[str, str], dict[int, dict]] = {}
    for r in records:
        by_key.setdefault((r["cell"]["label"], base_sweep(r["cell"])), {})[r["cell"]["sweep"][TRIAL]] = r
    summary = []
    for (label, sweep), sel in chosen.items():
        trials = by_key[(label, sweep)]
        accs = [a for a in (_metric(r, "target_accuracy") for r in trials.values()) if a is not None]
        pick = trials.get(sel["trial"]) if sel["trial"] is not None else None

        summary.append([
            label, _sweep_text(sweep), f"{sel['n_done']}/{sel['n_trials']}", _fmt(sel["trial"]),
            _pct(_metric(pick, "source_val_accuracy")), _pct(_metric(pick, "target_accuracy")),
            ", ".join(regime_flags(pick or {}, base.headline)) or ("—" if pick is None else "ok"),
            _target_of(trials, sel["source_only_trial"]), _target_of(trials, sel["least_separable_trial"]),
            _target_of(trials, sel["oracle_trial"]),
            f"{_pct(min(accs))} – {_pct(max(accs))}" if accs else "—",
            sel["note"] or "",
        ])
    tables.append(Table(
        "Selection per row (target accuracy %, one seed per trial, search budget)",
        ["row", "sweep", "done", "selected trial", "its source val", "its target", "regime",
         "source-val-only choice: target", "least separable choice: target (shown, not used)",
         "oracle choice: target (upper bound)", "target range over trials",
         "note"],
        summary,
        note=f"Rule: {RULE}. The oracle column reads target test labels: an upper bound, never a result.",
    ))
    for (label, sweep), trials in sorted(by_key.items()):
        sel = chosen[(label, sweep)]
        knobs = sorted(spaces.get(label, {}))
        rows = []
        for t, r in sorted(trials.items()):
            final = (r.get("diagnostics") or {}).get("final") or {}
            align = (final.get("alignment") or {}).get("balanced_accuracy")
            collapse = final.get("collapse") or {}
            mark = "selected" if t == sel["trial"] else ""
            regime = ", ".join(regime_flags(r, base.headline)) if r.get("status") == "done" \
                else f"failed: {r.get('error')}"
            rows.append([
                t, *[_fmt((r.get("config") or r["cell"]["overrides"]).get(k)) for k in knobs],
                _pct(_metric(r, "source_val_accuracy")), _fmt(align),
                f"{_fmt(collapse.get('active_fraction'))} / {_fmt(collapse.get('effective_rank'))}",
                _pct(_metric(r, "target_accuracy")),
                regime, mark,
            ])
        tables.append(Table(
            f"{label}, {_sweep_text(sweep)}: trials",
            ["trial", *knobs, "source val %", "domain probe (bal. acc.)", "active fraction / eff. rank",
             "target % (oracle only)", "regime", "selected"],
            rows,
        ))
    notes = [
        f"Budget per trial: {prof.budget.steps} steps of batch {prof.budget.batch_size}, one seed; "
        f"{base.search.trials[profile]} trials per row and sweep value, the same for every row.",
        f"Aligned: the held-out domain probe's balanced accuracy (the stronger of a linear and a one-hidden-"
        f"layer MLP probe) ≤ {ALIGNED_MAX_BALANCED_ACCURACY} for two domains (0.5 = indistinguishable); "
        "see benchmarks/diagnostics.py. Least separable choice: the non-collapsed trial with the lowest "
        "probe accuracy, label-free but devised after this search was first read, so shown beside the "
        "rule, not used.",
        f"The selection is written to results/selected/{base.name}_{profile}.json by `saub-bench search "
        f"{base.name} --profile {profile}` once every trial has finished; {base.name}'s grid then uses it.",
    ]
    return Page(tables=tables, notes=notes)
