"""Side-by-side summary of the SFS vs. LSGM encoder-update benchmark.

``python -m tests.perf.summary [BENCHMARK_JSON] [OUT_JSON]`` (defaults:
``results/perf/benchmark.json`` and ``results/perf/encoder_update.json``; ``make bench`` runs it
after pytest). Reads the ``test_encoder_update`` cases of pytest-benchmark's JSON and writes, per
score-network size: parameter count; median time, saved-for-backward MB and peak-RSS rise of
each gradient; the LSGM/SFS ratios; and the machine. Prints the same as a table.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from tests.perf.encoder_update import GRADIENTS, REPO_ROOT, SIZES

DEFAULT_IN = REPO_ROOT / "results" / "perf" / "benchmark.json"
RATIO_KEYS = ("time_median", "time_paired", "saved_mb", "peak_rss_delta_mb")
DEFAULT_OUT = REPO_ROOT / "results" / "perf" / "encoder_update.json"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def summarise(bench: dict) -> dict:
    cases = {}
    for b in bench["benchmarks"]:
        info = b.get("extra_info", {})
        if info.get("suite") == "encoder_update":
            cases[(info["size"], info["gradient"])] = (b["stats"], info)
    if not cases:
        raise SystemExit("no test_encoder_update results in the benchmark JSON (run `make bench`)")
    any_info = next(iter(cases.values()))[1]
    out = {
        "machine": {
            "torch": torch.__version__,
            "threads": any_info["threads"],
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "python": bench.get("machine_info", {}).get("python_version"),
            "date": bench.get("datetime"),
            "loadavg_1min_during_runs": sorted(
                {round(i["loadavg_1min_before"], 2) for _, i in cases.values()}
                | {round(i["loadavg_1min_after"], 2) for _, i in cases.values()}
            ),
        },
        "setup": {
            "update": "encoder forward, reparameterise, prior cross-entropy, backward, "
                      "Adam step on the encoder",
            "batch": any_info["batch"],
            "encoder": f"make_encoder(({any_info['input_dim']},), latent, "
                       f"hidden={any_info['encoder_hidden']})",
            "encoder_params": any_info["encoder_params"],
            "time_paired": "median over interleaved SFS/LSGM update pairs of the per-pair time ratio "
                           "(both halves of a pair see the same machine load)",
            "saved_mb": "activations saved for backward (unique storages, parameters excluded)",
            "peak_rss_delta_mb": any_info["rss_method"],
            "lsgm_frozen": "LSGM with the score net's requires_grad off: no weight gradients for it "
                           "(plain lsgm computes them, as AlternatingTrainer.vae_step does)",
        },
        "sizes": {},
    }
    load = max(out["machine"]["loadavg_1min_during_runs"])
    if load > (os.cpu_count() or 1):
        out["machine"]["warning"] = (
            f"1-min load average up to {load:.1f} on {os.cpu_count()} CPUs during the runs: other "
            "processes competed for the cores, so separately timed medians are unreliable; prefer "
            "ratios.time_paired (interleaved pairs) and the memory columns, which do not depend on load"
        )
    for size in SIZES:
        row: dict = {}
        for gradient in GRADIENTS:
            if (size, gradient) not in cases:
                continue
            stats, info = cases[(size, gradient)]
            row.setdefault("score_net", dict(info["score_net"], params=info["score_net_params"]))
            row[gradient] = {
                "median_s": stats["median"],
                "min_s": stats["min"],
                "iqr_s": stats["iqr"],
                "rounds": stats["rounds"],
                "saved_mb": info["saved_mb_activations"],
                "saved_mb_score_net": info["saved_mb_score_net"],
                "peak_rss_delta_mb": info["peak_rss_delta_mb"],
            }
            if "paired_ratio_over_sfs" in info:
                row[gradient].update({k: info[k] for k in (
                    "paired_pairs", "paired_median_s", "paired_sfs_median_s", "paired_ratio_over_sfs")})
        if "sfs" not in row:
            continue
        sfs = row["sfs"]
        for gradient in GRADIENTS[1:]:
            if gradient in row:
                g = row[gradient]
                row[f"ratio_{gradient}_over_sfs"] = {
                    "time_median": _ratio(g["median_s"], sfs["median_s"]),
                    "time_min": _ratio(g["min_s"], sfs["min_s"]),
                    "time_paired": g.get("paired_ratio_over_sfs"),
                    "saved_mb": _ratio(g["saved_mb"], sfs["saved_mb"]),
                    "peak_rss_delta_mb": _ratio(g["peak_rss_delta_mb"], sfs["peak_rss_delta_mb"]),
                }
        out["sizes"][size] = row
    return out


def table(summary: dict) -> str:
    lines = [
        "| size | params | gradient | median ms | min ms | saved MB | peak RSS +MB |"
        " time / sfs | paired time / sfs | saved / sfs | RSS / sfs |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, row in summary["sizes"].items():
        for gradient in GRADIENTS:
            if gradient not in row:
                continue
            g = row[gradient]
            r = row.get(f"ratio_{gradient}_over_sfs", dict.fromkeys(RATIO_KEYS, 1.0))
            fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            lines.append(
                f"| {size} | {row['score_net']['params']:,} | {gradient} | {1e3 * g['median_s']:.1f} |"
                f" {1e3 * g['min_s']:.1f} | {g['saved_mb']:.2f} | {g['peak_rss_delta_mb']:.2f} |"
                f" {fmt(r['time_median'])} | {fmt(r['time_paired'])} | {fmt(r['saved_mb'])} |"
                f" {fmt(r['peak_rss_delta_mb'])} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    src = Path(argv[0]) if argv else DEFAULT_IN
    dst = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    summary = summarise(json.loads(src.read_text()))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(summary, indent=1) + "\n")
    print(table(summary))
    if "warning" in summary["machine"]:
        print("warning:", summary["machine"]["warning"])
    print(f"wrote {dst}")


if __name__ == "__main__":
    main(sys.argv[1:])
