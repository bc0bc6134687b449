"""``make bench``: one encoder update with SFS vs. LSGM on the same score network, two sizes.

Time (pytest-benchmark), saved-for-backward bytes and peak-RSS rise side by side; the summary
with the LSGM/SFS ratios goes to ``results/perf/encoder_update.json``.
"""

from __future__ import annotations

import json
import platform
import time

import pytest
import torch

from benchmarks.runner import REPO_ROOT
from tests.perf.encoder_update import SIZES, build, encoder_update, peak_rss_delta_mb, saved_tensor_bytes

OUT = REPO_ROOT / "results" / "perf" / "encoder_update.json"
RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def write_summary():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if not RESULTS:
        return
    summary = {"machine": {"torch": torch.__version__, "threads": 1, "processor": platform.processor()
                           or platform.machine(), "date": time.strftime("%Y-%m-%d")}, "sizes": {}}
    for size in SIZES:
        sfs, lsgm = RESULTS.get(f"{size}-sfs"), RESULTS.get(f"{size}-lsgm")
        if not (sfs and lsgm):
            continue
        summary["sizes"][size] = {
            "score_net_params": sfs["score_net_params"], "sfs": sfs, "lsgm": lsgm,
            "ratio_time_lsgm_over_sfs": lsgm["median_s"] / sfs["median_s"],
            "ratio_saved_bytes_lsgm_over_sfs": lsgm["saved_mb_total"] / sfs["saved_mb_total"],
            "ratio_peak_rss_lsgm_over_sfs": lsgm["peak_rss_delta_mb"] / max(sfs["peak_rss_delta_mb"], 1e-9),
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("gradient", ["sfs", "lsgm"])
@pytest.mark.parametrize("size", list(SIZES))
def test_encoder_update(benchmark, size, gradient):
    encoder, opt, prior, x = build(size, gradient)
    benchmark.pedantic(encoder_update, args=(encoder, opt, prior, x), rounds=15, warmup_rounds=3)
    saved = saved_tensor_bytes(encoder, prior, x)
    info = {
        "median_s": benchmark.stats.stats.median,
        "score_net_params": sum(p.numel() for p in prior.score_net.parameters()),
        "saved_mb_encoder": saved["encoder"] / 2**20,
        "saved_mb_prior": saved["prior"] / 2**20,
        "saved_mb_total": (saved["encoder"] + saved["prior"]) / 2**20,
        "peak_rss_delta_mb": peak_rss_delta_mb(size, gradient, str(REPO_ROOT)),
    }
    benchmark.extra_info.update(info)
    RESULTS[f"{size}-{gradient}"] = info
