"""CI regression on metrics: smoke profiles against committed golden values.

``python -m benchmarks.regression --write`` runs each experiment's smoke profile with seeds
0..2, stores seed 0's metrics as the golden values and, beside each, the seed-to-seed standard
deviation over the three seeds. The tolerance of a metric is ``TOL_FACTOR × seed std`` (at
least ``ABS_FLOOR``): a code change that moves a smoke metric by more than twice the noise a
change of seed causes is flagged; the same seed on the same machine reproduces it exactly.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from benchmarks.executors import run_cells
from benchmarks.registry import EXPERIMENTS
from benchmarks.runner import REPO_ROOT, sweep_state
from benchmarks.stats import summarize

GOLDEN_DIR = REPO_ROOT / "results" / "golden"
SMOKE_EXPERIMENTS = ("fig3", "fig1", "table1", "table1-lenet", "fig4", "gwae-mnist", "fig7", "table2", "fig8")
TOL_FACTOR = 2.0
ABS_FLOOR = 1e-6
SPREAD_SEEDS = (0, 1, 2)


def cell_key(record: dict) -> str:
    c = record["cell"]
    sweep = ",".join(f"{k}={v}" for k, v in sorted(c["sweep"].items()))
    return f"{c['label']}|{sweep}"


def numeric_metrics(record: dict) -> dict[str, float]:
    return {k: float(v) for k, v in record.get("metrics", {}).items() if isinstance(v, (int, float))}


def run_smoke(name: str, results_dir: Path, seeds: list[int], rows: list[str] | None = None) -> list[dict]:
    """Seed ``seeds`` of the smoke profile, every row or only the rows labelled ``rows``."""
    exp = EXPERIMENTS.get(name)
    labels = [row.label for row in exp.rows]
    unknown = sorted(set(rows or ()) - set(labels))
    if unknown:
        raise ValueError(f"{name} has no row {unknown}; its rows: {labels}")
    chosen = set(labels if rows is None else rows)
    run_cells([c for c in exp.cells("smoke", seeds) if c.label in chosen], results_dir,
              executor="serial", progress=False)
    state = sweep_state(exp, "smoke", results_dir, seeds)
    incomplete = [c for c in state.missing + state.corrupt + state.failed if c.label in chosen]
    if incomplete:
        raise RuntimeError(f"{name} smoke run incomplete: {[c.cell_id for c in incomplete]} {state.errors}")
    return [r for r in state.records if r["cell"]["label"] in chosen]


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}_smoke.json"


def write_golden(name: str, rows: list[str] | None = None) -> Path:
    """Measure and write the golden file of ``name``; with ``rows``, measure only those rows and
    replace their entries in the existing file (adding a row does not re-measure the others)."""
    with tempfile.TemporaryDirectory() as tmp:
        records = run_smoke(name, Path(tmp), list(SPREAD_SEEDS), rows)
    by_key: dict[str, dict[int, dict[str, float]]] = {}
    for r in records:
        by_key.setdefault(cell_key(r), {})[r["cell"]["seed_index"]] = numeric_metrics(r)
    cells = {}
    for key, per_seed in sorted(by_key.items()):
        entry = {}
        for metric, value in per_seed[0].items():
            std = summarize([m[metric] for m in per_seed.values() if metric in m]).std
            std = 0.0 if math.isnan(std) else std
            entry[metric] = {"value": value, "seed_std": std, "tolerance": max(TOL_FACTOR * std, ABS_FLOOR)}
        cells[key] = entry
    if rows is not None:
        kept = json.loads(golden_path(name).read_text())["cells"]
        cells = {**{k: v for k, v in kept.items() if k.split("|")[0] not in rows}, **cells}
    out = {
        "experiment": name, "profile": "smoke", "golden_seed": 0, "spread_seeds": list(SPREAD_SEEDS),
        "rule": f"tolerance = max({TOL_FACTOR} x seed-to-seed std over seeds {list(SPREAD_SEEDS)}, "
                f"{ABS_FLOOR})",
        "cells": dict(sorted(cells.items())),
    }
    path = golden_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return path


def compare(name: str, records: list[dict]) -> list[str]:
    """Differences beyond tolerance between ``records`` (seed 0) and the golden file."""
    golden = json.loads(golden_path(name).read_text())["cells"]
    got = {cell_key(r): numeric_metrics(r) for r in records if r["cell"]["seed_index"] == 0}
    problems = [f"{key}: missing from the run" for key in golden if key not in got]
    for key, metrics in golden.items():
        for metric, g in metrics.items():
            value = got.get(key, {}).get(metric)
            if value is None:
                if key in got:
                    problems.append(f"{key} {metric}: missing")
                continue
            if not abs(value - g["value"]) <= g["tolerance"]:
                problems.append(f"{key} {metric}: {value:.6g} vs golden {g['value']:.6g} "
                                f"(tolerance {g['tolerance']:.3g}, seed std {g['seed_std']:.3g})")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="re-measure and rewrite the golden files")
    parser.add_argument("--rows", nargs="+", metavar="LABEL",
                        help="with --write: measure only these rows and merge them into the golden file")
    parser.add_argument("experiments", nargs="*", default=list(SMOKE_EXPERIMENTS))
    args = parser.parse_args()
    if args.rows and not args.write:
        parser.error("--rows goes with --write")
    for name in args.experiments:
        if args.write:
            print(f"wrote {write_golden(name, args.rows)}")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                problems = compare(name, run_smoke(name, Path(tmp), [0]))
            print(f"{name}: {'OK' if not problems else chr(10).join(problems)}")


if __name__ == "__main__":
    main()
