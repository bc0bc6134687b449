"""The throughput figures of issue 17 side by side: ``results/perf/throughput.json`` and a table.

``python -m tests.perf.throughput [BENCHMARK_JSON] [OUT_JSON]`` (defaults:
``results/perf/benchmark.json``, ``results/perf/throughput.json``; ``make bench`` runs it after
pytest and :mod:`tests.perf.summary`). From pytest-benchmark's JSON it collects

* ``steps``: per method family, the harness training step against its bare PyTorch step
  (``test_step_throughput``): steps/s of each and the paired speed ratio, goal >= 0.9;
* ``breakdown``: where a VAUB-family step's time goes (bare step, timed parts);
* ``executors``: ``processes`` with 2 workers against ``serial`` on the same fig3 smoke cells
  (``test_harness_throughput``), goal >= 1.8 on an idle 2-core machine;
* ``sfs_vs_lsgm``: the SFS and LSGM encoder updates at the authors' score-network size
  (``test_encoder_update``, size ``authors``): SFS's paired time and saved-for-backward memory as
  shares of LSGM's, goals <= 0.6 and <= 0.5.

Every figure carries the 1-minute load average before and after its run and the CPU count; a
figure measured while the load exceeded the CPU count is marked ``loaded``. Goals are compared
here and printed (met / missed); no test fails on speed. The Markdown table also goes to
``results/perf/throughput.md`` (the README's "Performance" section shows it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from tests.perf.encoder_update import REPO_ROOT
from tests.perf.summary import cpu_model, summarise

DEFAULT_IN = REPO_ROOT / "results" / "perf" / "benchmark.json"
DEFAULT_OUT = REPO_ROOT / "results" / "perf" / "throughput.json"
SFS_TIME_GOAL, SFS_MEMORY_GOAL = 0.6, 0.5
SFS_SIZE = "authors"


def _load(before: float, after: float) -> dict:
    """1-min load averages around a figure's run; ``loaded``: above the CPU count."""
    cpus = os.cpu_count() or 1
    return {"loadavg_1min_before": before, "loadavg_1min_after": after, "cpu_count": cpus,
            "loaded": max(before, after) > cpus}


def _load_of(info: dict) -> dict:
    return _load(info["load_before"]["loadavg_1min"], info["load_after"]["loadavg_1min"])


def _suite(bench: dict, name: str) -> list[dict]:
    return [b for b in bench["benchmarks"] if b.get("extra_info", {}).get("suite") == name]


def steps(bench: dict) -> tuple[list[dict], dict]:
    rows, parts = [], {}
    for b in _suite(bench, "step_throughput"):
        i = b["extra_info"]
        rows.append({
            "case": i["case"], "family": i["family"], "method": i["method"], "overrides": i["overrides"],
            "batch": i["batch"], "threads": i["threads"], "pairs": i["pairs"],
            "bare_steps_per_s": i["bare_steps_per_s"], "method_steps_per_s": i["method_steps_per_s"],
            "speed_ratio": i["speed_ratio_paired"], "speed_ratio_fastest": i["speed_ratio_min"],
            "goal": i["goal"],
            "met": i["speed_ratio_paired"] >= i["goal"], **_load_of(i),
        })
        if "breakdown" in i:
            parts[i["case"]] = i["breakdown"]
    return rows, parts


def executors(bench: dict) -> dict | None:
    found = _suite(bench, "executors")
    if not found:
        return None
    i = found[0]["extra_info"]
    return {"experiment": i["experiment"], "cells": i["cells"], "serial_s": i["serial_s"],
            "processes2_s": i["processes2_s"], "speedup": i["speedup_processes2_vs_serial"],
            "goal": i["goal_speedup"], "met": i["speedup_processes2_vs_serial"] >= i["goal_speedup"],
            **_load_of(i)}


def sfs_vs_lsgm(bench: dict) -> dict | None:
    cases = {b["extra_info"]["gradient"]: b["extra_info"] for b in _suite(bench, "encoder_update")
             if b["extra_info"]["size"] == SFS_SIZE}
    if not {"sfs", "lsgm"} <= cases.keys():
        return None
    row = summarise({"benchmarks": _suite(bench, "encoder_update")})["sizes"][SFS_SIZE]
    lsgm = cases["lsgm"]
    time_share = 1.0 / lsgm["paired_ratio_over_sfs"]
    memory_share = row["sfs"]["saved_mb"] / row["lsgm"]["saved_mb"]
    loads = [_load(cases[g]["loadavg_1min_before"], cases[g]["loadavg_1min_after"]) for g in ("sfs", "lsgm")]
    return {
        "size": SFS_SIZE, "score_net": row["score_net"], "batch": lsgm["batch"],
        "sfs_ms_paired": 1e3 * lsgm["paired_sfs_median_s"], "lsgm_ms_paired": 1e3 * lsgm["paired_median_s"],
        "sfs_saved_mb": row["sfs"]["saved_mb"], "lsgm_saved_mb": row["lsgm"]["saved_mb"],
        "time_sfs_over_lsgm": time_share, "time_goal": SFS_TIME_GOAL, "time_met": time_share <= SFS_TIME_GOAL,
        "memory_sfs_over_lsgm": memory_share, "memory_goal": SFS_MEMORY_GOAL,
        "memory_met": memory_share <= SFS_MEMORY_GOAL,
        "loadavg_1min_before": min(x["loadavg_1min_before"] for x in loads),
        "loadavg_1min_after": max(x["loadavg_1min_after"] for x in loads),
        "cpu_count": loads[0]["cpu_count"], "loaded": any(x["loaded"] for x in loads),
    }


def collect(bench: dict) -> dict:
    step_rows, parts = steps(bench)
    return {
        "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "date": bench.get("datetime")},
        "steps": step_rows, "breakdown": parts, "executors": executors(bench),
        "sfs_vs_lsgm": sfs_vs_lsgm(bench),
    }


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _load_text(r: dict) -> str:
    return f"{r['loadavg_1min_before']:.1f} → {r['loadavg_1min_after']:.1f}"


def table(t: dict) -> str:
    cpus = t["machine"]["cpu_count"]
    out = [f"Training step, harness vs bare PyTorch loop (same networks, losses, batch; 1 thread; goal "
           "≥ 0.9× on the median of paired ratios; 'fastest steps': the ratio of each side's fastest step); "
           f"load = 1-min load average before → after, {cpus} CPUs:", "",
           "| method | family | bare steps/s | harness steps/s | harness / bare | fastest steps | goal "
           "| load |",
           "|---|---|---:|---:|---:|---:|---|---|"]
    for r in t["steps"]:
        out.append(f"| {r['case']} | {r['family']} | {r['bare_steps_per_s']:.1f} |"
                   f" {r['method_steps_per_s']:.1f} | {r['speed_ratio']:.3f} |"
                   f" {r['speed_ratio_fastest']:.3f} |"
                   f" {_verdict(r['met'])} |"
                   f" {_load_text(r)} |")
    if t["breakdown"]:
        names = list(dict.fromkeys(n for b in t["breakdown"].values() for n in b["parts_ms"]))
        out += ["", "Where a VAUB-family step's time goes (bare step, ms per step; forward parts, then one "
                "backward and the optimiser; L prior steps each re-encode a fresh batch):", "",
                "| method | step | " + " | ".join(names) + " | other |",
                "|---|---:|" + "---:|" * (len(names) + 1)]
        for case, b in t["breakdown"].items():
            cells = [f"{b['parts_ms'].get(n, 0.0):.2f}" for n in names]
            out.append(f"| {case} | {b['step_ms']:.2f} | " + " | ".join(cells) + f" | {b['other_ms']:.2f} |")
    e = t["executors"]
    if e:
        out += ["", f"Executors on {e['experiment']}: serial {e['serial_s']:.1f} s, processes (2 workers) "
                f"{e['processes2_s']:.1f} s, speed-up {e['speedup']:.2f}× (goal ≥ {e['goal']}× on an idle "
                f"machine: {_verdict(e['met'])}); load {_load_text(e)}."]
    s = t["sfs_vs_lsgm"]
    if s:
        net = s["score_net"]
        out += ["", f"SFS vs LSGM encoder update at the authors' score-network size ({net['hidden']}-wide "
                f"LayerNorm MLP, {net['n_layers']} layers, latent {net['latent_dim']}, batch {s['batch']}): "
                f"time {s['sfs_ms_paired']:.1f} vs {s['lsgm_ms_paired']:.1f} ms, SFS/LSGM "
                f"{s['time_sfs_over_lsgm']:.2f} (goal ≤ {s['time_goal']}: {_verdict(s['time_met'])}); "
                f"saved for "
                f"backward {s['sfs_saved_mb']:.2f} vs {s['lsgm_saved_mb']:.2f} MB, SFS/LSGM "
                f"{s['memory_sfs_over_lsgm']:.2f} (goal ≤ {s['memory_goal']}: {_verdict(s['memory_met'])}); "
                f"load {_load_text(s)}."]
    loaded = [r for r in [*t["steps"], e or {}, s or {}] if r.get("loaded")]
    if loaded:
        out += ["", f"Warning: {len(loaded)} figure(s) measured with a load average above the CPU count "
                "(other processes competed for the cores)."]
    return "\n".join(out)


def main(argv: list[str]) -> None:
    src = Path(argv[0]) if argv else DEFAULT_IN
    dst = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    t = collect(json.loads(src.read_text()))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(t, indent=1) + "\n")
    text = table(t)
    dst.with_suffix(".md").write_text(text + "\n")
    print(text)
    print(f"wrote {dst} and {dst.with_suffix('.md')}")


if __name__ == "__main__":
    main(sys.argv[1:])
