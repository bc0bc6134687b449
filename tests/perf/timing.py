"""Paired wall-clock timing and the machine's load, shared by the ``make bench`` benchmarks.

Two workloads timed in interleaved pairs (order alternating per pair) see the same machine load,
so the median of their per-pair ratios is a steadier estimate of their cost ratio than two
separately timed runs on a shared, busy machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def paired_call_times(
    reference: Callable[[], object], other: Callable[[], object], pairs: int, warmup: int = 2
) -> tuple[list[float], list[float]]:
    """Wall times of ``pairs`` interleaved calls of ``reference`` and ``other`` (order alternating
    per pair), after ``warmup`` untimed calls of each."""
    for _ in range(warmup):
        reference()
        other()
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(pairs):
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter()
            (reference, other)[k]()
            times[k].append(time.perf_counter() - start)
    return times


def paired_ratio(reference_times: list[float], other_times: list[float]) -> float:
    """Median over pairs of ``other / reference``."""
    return median([o / r for r, o in zip(reference_times, other_times)])


def machine_load() -> dict:
    """The 1-, 5- and 15-minute load averages and the CPU count, now."""
    one, five, fifteen = os.getloadavg()
    return {"loadavg_1min": one, "loadavg_5min": five, "loadavg_15min": fifteen, "cpu_count": os.cpu_count()}
