"""``make bench``: each method family's harness training step against its bare PyTorch step.

Skipped in the default test run (``--benchmark-skip``). Per case of :mod:`tests.perf.step_cases`:
interleaved pairs of one bare step and one harness step (the same networks, losses and batch
sizes; ``test_step_equality.py`` checks that they compute the same numbers), the median time of
each, the median per-pair speed ratio (harness steps/s over bare steps/s; goal >= 0.9, issue 17)
and the ratio of the two sides' fastest steps (least disturbed by a loaded machine). For the VAUB
family, the breakdown of the bare step's wall time into its parts
(:class:`tests.perf.bare_steps.Sections`). Everything lands in ``benchmark.extra_info`` with the
machine's load before and after; ``python -m tests.perf.throughput`` writes
``results/perf/throughput.json`` from it.
"""

from __future__ import annotations

import math
import time

import pytest
import torch

from tests.perf.bare_steps import Sections
from tests.perf.step_cases import BATCH, CASES, build_case
from tests.perf.timing import machine_load, median, paired_call_times, paired_ratio

#: Harness steps/s over bare steps/s that the harness should reach (issue 17).
GOAL = 0.9
#: Seconds of paired timing per case (at least MIN_PAIRS pairs, at most MAX_PAIRS).
SECONDS_PER_CASE = 6.0
MIN_PAIRS, MAX_PAIRS = 8, 200
#: Profiled bare steps per VAUB case for the breakdown.
PROFILED_STEPS = 10


def _n_pairs(case) -> int:
    start = time.perf_counter()
    for _ in range(2):
        case.bare_step()
        case.method_step()
    per_pair = (time.perf_counter() - start) / 2
    return int(min(MAX_PAIRS, max(MIN_PAIRS, SECONDS_PER_CASE / per_pair)))


def breakdown(case, steps: int = PROFILED_STEPS) -> dict:
    """Mean milliseconds per step of each timed part of the bare step, and the whole step's."""
    sections = Sections(enabled=True)
    start = time.perf_counter()
    for _ in range(steps):
        case.profiled_step(sections)
    total = (time.perf_counter() - start) / steps
    parts = {name: 1e3 * s / steps for name, s in sections.seconds.items()}
    return {"step_ms": 1e3 * total, "parts_ms": parts, "other_ms": 1e3 * total - sum(parts.values()),
            "steps": steps}


@pytest.mark.parametrize("name", CASES)
def test_step_throughput(benchmark, bench_threads, name):
    case = build_case(name)
    torch.manual_seed(0)
    pairs = _n_pairs(case)
    load_before = machine_load()
    timings: dict[str, list[float]] = {}

    def run():
        timings["bare"], timings["method"] = paired_call_times(case.bare_step, case.method_step, pairs, 0)

    benchmark.pedantic(run, rounds=1, iterations=1)
    load_after = machine_load()
    bare_s, method_s = median(timings["bare"]), median(timings["method"])
    ratio = 1.0 / paired_ratio(timings["bare"], timings["method"])
    benchmark.extra_info.update({
        "suite": "step_throughput",
        "case": name,
        "family": case.family,
        "method": case.registry_name,
        "overrides": case.overrides,
        "batch": BATCH,
        "threads": torch.get_num_threads(),
        "pairs": pairs,
        "bare_median_s": bare_s,
        "method_median_s": method_s,
        "bare_steps_per_s": 1.0 / bare_s,
        "method_steps_per_s": 1.0 / method_s,
        "speed_ratio_paired": ratio,
        #: best-case ratio (fastest step of each): the least disturbed by other processes' load
        "speed_ratio_min": min(timings["bare"]) / min(timings["method"]),
        "goal": GOAL,
        "load_before": load_before,
        "load_after": load_after,
        **case.info,
    })
    if case.profiled_step is not None:
        benchmark.extra_info["breakdown"] = breakdown(case)
    assert math.isfinite(ratio) and ratio > 0
