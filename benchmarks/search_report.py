"""The page of a search experiment (``<name>-search``): the space, every trial, the selection, the
oracle beside it, and how sensitive each row is to its configuration (:mod:`benchmarks.search`)."""

from __future__ import annotations

import json
import math

from benchmarks.diagnostics import ALIGNED_MAX_BALANCED_ACCURACY, regime_flags
from benchmarks.search import TRIAL, row_space, select_for, trial_group


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


def _text(v: float | None, key: str) -> str:
    """Accuracies in %, other quantities (AUROC, an error) to 3 significant digits."""
    return _pct(v) if key.endswith("accuracy") else _fmt(v)


def _unit(key: str) -> str:
    return " %" if key.endswith("accuracy") else ""


def _sweep_values(sweep: dict) -> str:
    return "; ".join(f"{k.split('.')[-1]} in {{{', '.join(map(str, v))}}}" for k, v in sorted(sweep.items()))


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
    search = base.search
    val, oracle = search.validation, base.headline or "target_accuracy"
    vlab, olab = search.validation_label, search.oracle_label

    def oracle_of(trials: dict[int, dict], trial: int | None) -> str:
        return f"{_fmt(trial)}: {_text(_metric(trials.get(trial), oracle), oracle)}"

    chosen = select_for(experiment, records)
    by_key: dict[tuple[str, str], dict[int, dict]] = {}
    for r in records:
        by_key.setdefault(trial_group(r), {})[r["cell"]["sweep"][TRIAL]] = r
    summary = []
    for (label, sweep), sel in chosen.items():
        trials = by_key[(label, sweep)]
        accs = [a for a in (_metric(r, oracle) for r in trials.values()) if a is not None]
        pick = trials.get(sel["trial"]) if sel["trial"] is not None else None

        summary.append([
            label, _sweep_text(sweep), f"{sel['n_done']}/{sel['n_trials']}", _fmt(sel["trial"]),
            _text(_metric(pick, val), val), _text(_metric(pick, oracle), oracle),
            ", ".join(regime_flags(pick or {}, base.headline)) or ("—" if pick is None else "ok"),
            oracle_of(trials, sel["source_only_trial"]), oracle_of(trials, sel["least_separable_trial"]),
            oracle_of(trials, sel["oracle_trial"]),
            f"{_text(min(accs), oracle)} – {_text(max(accs), oracle)}" if accs else "—",
            sel["note"] or "",
        ])
    tables.append(Table(
        f"Selection per row ({search.oracle_text}{_unit(oracle)}, one seed per trial, search budget)",
        ["row", "sweep", "done", "selected trial", f"its {vlab}", f"its {olab}", "regime",
         f"{vlab.replace(' ', '-')}-only choice: {olab}", f"least separable choice: {olab} (shown, not used)",
         f"oracle choice: {olab} (upper bound)", f"{olab} range over trials",
         "note"],
        summary,
        note=f"Rule: {search.rule}. The oracle column reads labels the rule never sees: an upper bound, "
             "never a result.",
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
            regime = (", ".join(regime_flags(r, base.headline)) or "ok") if r.get("status") == "done" \
                else f"failed: {r.get('error')}"
            rows.append([
                t, *[_fmt((r.get("config") or r["cell"]["overrides"]).get(k)) for k in knobs],
                _text(_metric(r, val), val), _fmt(align),
                f"{_fmt(collapse.get('active_fraction'))} / {_fmt(collapse.get('effective_rank'))}",
                _text(_metric(r, oracle), oracle),
                regime, mark,
            ])
        tables.append(Table(
            f"{label}, {_sweep_text(sweep)}: trials",
            ["trial", *knobs, f"{vlab}{_unit(val)}", "domain probe (bal. acc.)",
             "active fraction / eff. rank", f"{olab}{_unit(oracle)} (oracle only)", "regime", "selected"],
            rows,
        ))
    notes = [
        f"Budget per trial: {prof.budget.steps} steps of batch {prof.budget.batch_size}, one seed; "
        f"{base.search.trials[profile]} trials per row and sweep value, the same for every row"
        + (f"; searched sweep values: {_sweep_values(prof.sweep)}, the others keep each row's own "
           "configuration" if profile in base.search.sweeps else "") + ".",
        f"Aligned: the held-out domain probe's balanced accuracy (the stronger of a linear and a one-hidden-"
        f"layer MLP probe) ≤ {ALIGNED_MAX_BALANCED_ACCURACY} for two domains (0.5 = indistinguishable); "
        "see benchmarks/diagnostics.py. Least separable choice: the non-collapsed trial with the lowest "
        "probe accuracy, label-free but devised after this search was first read, so shown beside the "
        "rule, not used.",
        f"The selection is written to results/selected/{base.name}_{profile}.json by `saub-bench search "
        f"{base.name} --profile {profile}` once every trial has finished; {base.name}'s grid then uses it.",
    ]
    return Page(tables=tables, notes=notes)
