"""``make gpu-smoke``: every CI experiment's smoke cells (seed 0) on a GPU, their metrics compared
with the CPU goldens (``results/golden/``) within the goldens' tolerances.

It runs unchanged on any CUDA machine (``python -m benchmarks.gpu_smoke [--device cuda:N]
[EXPERIMENT ...]``); without CUDA it stops at once with the error of ``--device cuda``. Each
experiment prints OK or the metrics beyond tolerance; cells of an experiment that runs its own
cells on the CPU (fig1, fig7) are named as such, from their records' device. The summary, with
the GPU's name and every metric's GPU value, golden value and tolerance, is written to
``results/perf/gpu_smoke.json``. The tolerances are the CPU seed spread and host drift
(:mod:`benchmarks.regression`): a GPU's other kernels may move a metric by about as much as a
seed does, so a difference here is a finding to read, not by itself a bug. Exit status 1 when any
metric is beyond its tolerance or any cell failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.config import ConfigError
from benchmarks.devices import device_name, resolve_device
from benchmarks.regression import (
    SMOKE_EXPERIMENTS,
    cell_key,
    compare,
    golden_path,
    numeric_metrics,
    run_smoke,
)
from benchmarks.runner import REPO_ROOT

SUMMARY = REPO_ROOT / "results" / "perf" / "gpu_smoke.json"


def check_experiment(name: str, device: str) -> dict:
    """Run ``name``'s smoke cells (seed 0) on ``device``; its problems against the golden file."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            records = run_smoke(name, Path(tmp), [0], device=device)
        except RuntimeError as exc:  # a failed or missing cell
            return {"problems": [str(exc)], "devices": []}
    golden = json.loads(golden_path(name).read_text())["cells"]
    gpu = {cell_key(r): numeric_metrics(r) for r in records}
    values = {key: {metric: {"gpu": gpu.get(key, {}).get(metric), "golden": g["value"],
                             "tolerance": g["tolerance"]} for metric, g in metrics.items()}
              for key, metrics in golden.items()}
    return {"problems": compare(name, records),
            "devices": sorted({r["provenance"]["device"] for r in records}), "values": values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="a CUDA device (cuda or cuda:N)")
    parser.add_argument("experiments", nargs="*", default=list(SMOKE_EXPERIMENTS))
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        if device.type != "cuda":
            raise ConfigError(f"gpu-smoke compares a GPU with the CPU goldens; --device {args.device} "
                              "is the CPU")
    except ConfigError as exc:
        print(f"gpu-smoke: {exc}", file=sys.stderr)
        return 2
    print(f"gpu-smoke on {device} ({device_name(device)})")
    summary = {"device": str(device), "device_name": device_name(device), "experiments": {}}
    failing = 0
    for name in args.experiments:
        result = check_experiment(name, str(device))
        summary["experiments"][name] = result
        on_cpu = [d for d in result["devices"] if d == "cpu"]
        note = " (its cells run on the CPU: the experiment runs its own cells)" if on_cpu else ""
        print(f"{name}: {'OK' if not result['problems'] else chr(10).join(result['problems'])}{note}")
        failing += bool(result["problems"])
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(summary, indent=1, sort_keys=True, default=str) + "\n")
    print(f"{len(args.experiments) - failing} of {len(args.experiments)} experiments within the CPU goldens' "
          f"tolerances; summary: {SUMMARY}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
