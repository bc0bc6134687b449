"""Statistics over seeds and the verdict rules for the paper's claims.

A claim is decided from the 95% t-interval over seeds, never from a point estimate:

* threshold claims ("x ≥ τ"): supported if the lower bound ≥ τ, contradicted if the upper
  bound < τ, otherwise inconclusive at this many seeds;
* ordering claims ("a > b"): the same rule on the per-seed paired differences a − b vs 0.

With a single seed the interval is infinite, so every claim is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _st


@dataclass(frozen=True)
class Summary:
    """Mean, sample std (ddof=1), count and a 95% Student-t interval of the mean."""

    mean: float
    std: float
    n: int
    low: float
    high: float

    def fmt(self, digits: int = 3, scale: float = 1.0) -> str:
        if self.n == 0:
            return "—"
        m, s = self.mean * scale, self.std * scale
        return f"{m:.{digits}f} ± {s:.{digits}f}" if self.n > 1 else f"{m:.{digits}f}"

    def fmt_ci(self, digits: int = 3, scale: float = 1.0) -> str:
        if self.n < 2:
            return "—"
        return f"[{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"


def summarize(values: Sequence[float], level: float = 0.95) -> Summary:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    if n == 0:
        return Summary(math.nan, math.nan, 0, math.nan, math.nan)
    mean = sum(vals) / n
    if n == 1:
        return Summary(mean, math.nan, 1, -math.inf, math.inf)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = _st.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return Summary(mean, std, n, mean - half, mean + half)


def threshold_verdict(values: Sequence[float], threshold: float, at_least: bool = True) -> tuple[str, str]:
    """Verdict on "mean ≥ threshold" (or ≤ with ``at_least=False``) from the 95% interval."""
    s = summarize(values)
    if s.n == 0:
        return "inconclusive", "no finished runs"
    lo, hi = (s.low, s.high) if at_least else (-s.high, -s.low)
    thr = threshold if at_least else -threshold
    rel = "≥" if at_least else "≤"
    evidence = f"mean {s.mean:.3f}, 95% CI {s.fmt_ci()} (n={s.n}) vs {rel} {threshold}"
    if lo >= thr:
        return "supported", evidence
    if hi < thr:
        return "contradicted", evidence
    return "inconclusive", evidence


def paired_difference_verdict(a: dict, b: dict) -> tuple[str, str]:
    """Verdict on "a > b" from per-seed values ``{seed: value}`` paired on common seeds."""
    common = sorted(set(a) & set(b))
    diffs = [a[k] - b[k] for k in common]
    s = summarize(diffs)
    if s.n == 0:
        return "inconclusive", "no paired runs"
    evidence = f"mean difference {s.mean:+.3f}, 95% CI {s.fmt_ci()} (n={s.n} paired seeds)"
    if s.low > 0:
        return "supported", evidence
    if s.high < 0:
        return "contradicted", evidence
    return "inconclusive", evidence


def metric_by_label(records: list[dict], key: str) -> dict[str, dict[int, float]]:
    """Metric ``key`` of each record as ``{row label: {seed index: value}}`` (numeric values only)."""
    from benchmarks.results_table import values_by

    return values_by(records, key)


def paired_rows_verdict(records: list[dict], key: str, better: str, worse: str) -> tuple[str, str]:
    """Verdict on "row ``better`` > row ``worse``" in metric ``key``, paired by seed."""
    by = metric_by_label(records, key)
    if better not in by or worse not in by:
        return "inconclusive", "no runs"
    return paired_difference_verdict(by[better], by[worse])


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """All parts supported -> supported; any contradicted -> contradicted; else inconclusive."""
    if verdicts and all(v == "supported" for v in verdicts):
        return "supported"
    if any(v == "contradicted" for v in verdicts):
        return "contradicted"
    return "inconclusive"
