"""CI regression on metrics: smoke profiles against committed golden values.

``python -m benchmarks.regression --write`` runs each experiment's smoke profile with seeds
0..2 and stores seed 0's metrics as the golden values; beside each, two measured noise scales:

* ``seed_std``: the seed-to-seed standard deviation over the three seeds;
* ``host_drift``: how far seed 0's value moves when the same cell runs with the vector kernels
  of another machine, emulated by capping torch's, oneDNN's and MKL's instruction sets
  (:data:`KERNEL_VARIANTS`): the largest |variant − golden| over the variants.

The same seed on the same machine reproduces a record exactly, but on a CPU with another vector
ISA the kernels round differently, and in the short, chaotic smoke runs (adversarial training,
a self-trained semantic space) that moves metrics by as much as a change of seed. Measured, on
an AVX512 host, table1's ADDA smoke target accuracy (M→U): 0.305 native, 0.235 with torch's
kernels at AVX2, 0.265 with torch, oneDNN and MKL at AVX2, 0.27 on the host that wrote the
earlier golden file, where three seeds spread by a std of only 0.016. The tolerance of a metric
is therefore ``TOL_FACTOR × max(seed_std, host_drift)`` (at least ``ABS_FLOOR``): a code change
that moves a smoke metric by more than twice the larger noise is flagged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.executors import run_cells
from benchmarks.registry import EXPERIMENTS
from benchmarks.runner import REPO_ROOT, sweep_state
from benchmarks.stats import summarize
from saub.semantic.base import CACHE_ENV as EMBEDDINGS_ENV

GOLDEN_DIR = REPO_ROOT / "results" / "golden"
SMOKE_EXPERIMENTS = ("fig3", "fig1", "table1", "table1-lenet", "fig4", "gwae-mnist", "fig7", "table2", "fig8",
                     "thesis-fair", "vsm-recovery", "vsm-toy-posteriors", "priors-objectives",
                     "vsm-synthetic", "vsm-images")
TOL_FACTOR = 2.0
ABS_FLOOR = 1e-6
SPREAD_SEEDS = (0, 1, 2)
#: Emulated other hosts: environment variables read when torch (ATen's CPU dispatch), oneDNN
#: (convolutions) and MKL (BLAS) start, so a variant runs in fresh worker processes. A cap above
#: the host's own ISA has no effect; AVX2 and SSE4.1 are below every x86-64 host this project runs on.
KERNEL_VARIANTS: dict[str, dict[str, str]] = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"},
}


def cell_key(record: dict) -> str:
    c = record["cell"]
    sweep = ",".join(f"{k}={v}" for k, v in sorted(c["sweep"].items()))
    return f"{c['label']}|{sweep}"


def numeric_metrics(record: dict) -> dict[str, float]:
    return {k: float(v) for k, v in record.get("metrics", {}).items() if isinstance(v, (int, float))}


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``env`` applied for the duration (processes started inside inherit it)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def smoke_labels(name: str) -> list[str]:
    """The labels of an experiment's smoke cells, in grid order: its rows', or those of the cells it
    builds itself (thesis-fair: one per row, dataset and label setting)."""
    return list(dict.fromkeys(c.label for c in EXPERIMENTS.get(name).cells("smoke", [0])))


def run_smoke(name: str, results_dir: Path, seeds: list[int], rows: list[str] | None = None,
              env: dict[str, str] | None = None, device: str = "cpu") -> list[dict]:
    """Seed ``seeds`` of the smoke profile, every row or only the rows labelled ``rows``, on
    ``device``; with ``env`` (a :data:`KERNEL_VARIANTS` entry) in fresh worker processes that start
    with it and with an empty embedding cache under ``results_dir``."""
    exp = EXPERIMENTS.get(name)
    labels = smoke_labels(name)
    unknown = sorted(set(rows or ()) - set(labels))
    if unknown:
        raise ValueError(f"{name} has no row {unknown}; its rows: {labels}")
    chosen = set(labels if rows is None else rows)
    cells = [c for c in exp.cells("smoke", seeds) if c.label in chosen]
    if env is None:
        run_cells(cells, results_dir, executor="serial", progress=False, device=device)
    else:  # a fresh semantic-space cache too: a variant retrains the substitute space, as a new host would
        with environment({**env, EMBEDDINGS_ENV: str(Path(results_dir) / "embeddings")}):
            run_cells(cells, results_dir, executor="processes", jobs=min(2, os.cpu_count() or 1),
                      progress=False, device=device)
    state = sweep_state(exp, "smoke", results_dir, seeds)
    incomplete = [c for c in state.missing + state.corrupt + state.failed if c.label in chosen]
    if incomplete:
        raise RuntimeError(f"{name} smoke run incomplete: {[c.cell_id for c in incomplete]} {state.errors}")
    return [r for r in state.records if r["cell"]["label"] in chosen]


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}_smoke.json"


def golden_entry(per_seed: dict[int, float], variants: dict[str, float]) -> dict[str, float]:
    """One metric's golden entry from its values per seed and per kernel variant (seed 0)."""
    value = per_seed[0]
    std = summarize(list(per_seed.values())).std
    std = 0.0 if math.isnan(std) else std
    diffs = [abs(v - value) for v in variants.values()]
    if not all(math.isfinite(d) for d in [value, *diffs]):
        raise ValueError(f"a non-finite value (golden {value}, variants {variants}): no golden entry")
    drift = max(diffs, default=0.0)
    return {"value": value, "seed_std": std, "host_drift": drift,
            "tolerance": max(TOL_FACTOR * std, TOL_FACTOR * drift, ABS_FLOOR)}


def _metrics_by_key(records: list[dict]) -> dict[str, dict[int, dict[str, float]]]:
    by_key: dict[str, dict[int, dict[str, float]]] = {}
    for r in records:
        by_key.setdefault(cell_key(r), {})[r["cell"]["seed_index"]] = numeric_metrics(r)
    return by_key


def write_golden(name: str, rows: list[str] | None = None,
                 variants: dict[str, dict[str, str]] | None = None) -> Path:
    """Measure and write the golden file of ``name``; with ``rows``, measure only those rows and
    replace their entries in the existing file (adding a row does not re-measure the others).
    ``variants`` (default :data:`KERNEL_VARIANTS`) are the emulated hosts of ``host_drift``."""
    variants = KERNEL_VARIANTS if variants is None else variants
    with tempfile.TemporaryDirectory() as tmp:
        by_key = _metrics_by_key(run_smoke(name, Path(tmp) / "native", list(SPREAD_SEEDS), rows))
        by_variant = {v: _metrics_by_key(run_smoke(name, Path(tmp) / v, [0], rows, env))
                      for v, env in variants.items()}
    if not by_key:
        raise RuntimeError(f"{name}: the smoke run gave no records, so there is nothing to compare against")
    cells = {}
    for key, per_seed in sorted(by_key.items()):
        cells[key] = {
            metric: golden_entry({s: m[metric] for s, m in per_seed.items() if metric in m},
                                 {v: got[key][0][metric] for v, got in by_variant.items()
                                  if metric in got.get(key, {}).get(0, {})})
            for metric in per_seed[0]
        }
    if rows is not None:
        kept = json.loads(golden_path(name).read_text())["cells"]
        cells = {**{k: v for k, v in kept.items() if k.split("|")[0] not in rows}, **cells}
    out = {
        "experiment": name, "profile": "smoke", "golden_seed": 0, "spread_seeds": list(SPREAD_SEEDS),
        "kernel_variants": variants,
        "rule": f"tolerance = max({TOL_FACTOR} x seed-to-seed std over seeds {list(SPREAD_SEEDS)}, "
                f"{TOL_FACTOR} x host drift over the kernel variants, {ABS_FLOOR})",
        "cells": dict(sorted(cells.items())),
    }
    path = golden_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return path


def merge_host(name: str) -> Path:
    """Widen the golden file of ``name`` to this machine: run seed 0 here and take each metric's
    distance from the golden value as host drift too (``host_drift = max(its own, |here - golden|)``,
    the tolerance recomputed by the same rule); the golden values stay. For a second host of the
    project whose CPU (another vendor's BLAS and vector kernels, which the emulated variants do not
    cover) moves smoke metrics that sit at a degenerate value; the file lists the hosts merged."""
    from benchmarks.records import cpu_model

    path = golden_path(name)
    golden = json.loads(path.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        here = _metrics_by_key(run_smoke(name, Path(tmp), [0]))
    for key, metrics in golden["cells"].items():
        for metric, entry in metrics.items():
            value = here.get(key, {}).get(0, {}).get(metric)
            if value is None or not math.isfinite(value):
                raise RuntimeError(f"{name} {key} {metric}: no finite value on this host ({value})")
            entry["host_drift"] = max(entry["host_drift"], abs(value - entry["value"]))
            entry["tolerance"] = max(TOL_FACTOR * entry["seed_std"], TOL_FACTOR * entry["host_drift"],
                                     ABS_FLOOR)
    golden["merged_hosts"] = sorted({*golden.get("merged_hosts", []), cpu_model()})
    golden["rule"] = golden["rule"] + ", host drift also over the merged hosts"
    path.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    return path


def compare(name: str, records: list[dict]) -> list[str]:
    """Differences beyond tolerance between ``records`` (seed 0) and the golden file."""
    golden = json.loads(golden_path(name).read_text())["cells"]
    got = {cell_key(r): numeric_metrics(r) for r in records if r["cell"]["seed_index"] == 0}
    problems = [f"{key}: missing from the run" for key in golden if key not in got]
    if not golden:
        problems.append(f"{golden_path(name).name} has no cells: nothing is checked")
    for key, metrics in golden.items():
        for metric, g in metrics.items():
            value = got.get(key, {}).get(metric)
            if value is None:
                if key in got:
                    problems.append(f"{key} {metric}: missing")
                continue
            if not abs(value - g["value"]) <= g["tolerance"]:
                problems.append(f"{key} {metric}: {value:.6g} vs golden {g['value']:.6g} "
                                f"(tolerance {g['tolerance']:.3g}, seed std {g['seed_std']:.3g}, "
                                f"host drift {g.get('host_drift', 0.0):.3g})")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="re-measure and rewrite the golden files")
    parser.add_argument("--rows", nargs="+", metavar="LABEL",
                        help="with --write: measure only these rows and merge them into the golden file")
    parser.add_argument("--merge-host", action="store_true",
                        help="widen the golden files' host drift to this machine's seed-0 values")
    parser.add_argument("experiments", nargs="*", default=list(SMOKE_EXPERIMENTS))
    args = parser.parse_args()
    if args.rows and not args.write:
        parser.error("--rows goes with --write")
    for name in args.experiments:
        if args.merge_host:
            print(f"merged this host into {merge_host(name)}")
        elif args.write:
            print(f"wrote {write_golden(name, args.rows)}")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                problems = compare(name, run_smoke(name, Path(tmp), [0]))
            print(f"{name}: {'OK' if not problems else chr(10).join(problems)}")


if __name__ == "__main__":
    main()
