"""Summaries over seeds against scipy/numpy, and the verdict rules of the paper's claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from benchmarks.experiment import VERDICTS
from benchmarks.stats import (
    combine_verdicts,
    metric_by_label,
    paired_difference_verdict,
    paired_rows_verdict,
    summarize,
    threshold_verdict,
)


@pytest.mark.parametrize("values", [[0.1, 0.5], [0.91, 0.93, 0.95, 0.97, 0.92], [3.0, -1.0, 2.5, 7.25],
                                    list(np.random.default_rng(0).normal(5, 2, 30))])
@pytest.mark.parametrize("level", [0.95, 0.9])
def test_summarize_matches_scipy_t_interval(values, level):
    s = summarize(values, level=level)
    a = np.asarray(values, dtype=float)
    low, high = st.t.interval(level, len(a) - 1, loc=a.mean(), scale=st.sem(a))
    assert s.n == len(a)
    assert s.mean == pytest.approx(a.mean(), rel=1e-12, abs=1e-12)
    assert s.std == pytest.approx(a.std(ddof=1), rel=1e-12)
    assert (s.low, s.high) == (pytest.approx(low, rel=1e-10), pytest.approx(high, rel=1e-10))


def test_summarize_drops_missing_and_non_finite_values():
    s = summarize([1.0, None, float("nan"), 3.0, float("inf")])
    ref = summarize([1.0, 3.0])
    assert s == ref and s.n == 2 and s.mean == 2.0


def test_summarize_edge_cases():
    empty = summarize([])
    assert empty.n == 0 and all(math.isnan(v) for v in (empty.mean, empty.std, empty.low, empty.high))
    assert empty.fmt() == "—" and empty.fmt_ci() == "—"
    one = summarize([0.7])
    assert (one.n, one.mean, one.low, one.high) == (1, 0.7, -math.inf, math.inf) and math.isnan(one.std)
    assert one.fmt(2) == "0.70" and one.fmt_ci() == "—"
    same = summarize([0.5, 0.5, 0.5])
    assert (same.std, same.low, same.high) == (0.0, 0.5, 0.5)
    two = summarize([1.0, 2.0])
    assert two.fmt(2) == "1.50 ± 0.71" and two.fmt(1, scale=100) == "150.0 ± 70.7"
    assert two.fmt_ci(1) == f"[{two.low:.1f}, {two.high:.1f}]"


@pytest.mark.parametrize("values,threshold,at_least,expected", [
    ([0.95, 0.96, 0.97, 0.955, 0.965], 0.9, True, "supported"),      # whole CI above
    ([0.80, 0.82, 0.81, 0.79, 0.80], 0.9, True, "contradicted"),     # whole CI below
    ([0.85, 0.95, 0.88, 0.93, 0.90], 0.9, True, "inconclusive"),     # CI straddles
    ([0.99, 0.5], 0.9, True, "inconclusive"),                        # mean above, CI wide
    ([0.99], 0.9, True, "inconclusive"),                             # n = 1: infinite interval
    ([0.01], 0.9, True, "inconclusive"),
    ([], 0.9, True, "inconclusive"),
    ([0.80, 0.82, 0.81, 0.79, 0.80], 0.9, False, "supported"),       # "≤ τ"
    ([0.95, 0.96, 0.97, 0.955, 0.965], 0.9, False, "contradicted"),
    ([0.85, 0.95, 0.88, 0.93, 0.90], 0.9, False, "inconclusive"),
    ([0.9, 0.9, 0.9], 0.9, True, "supported"),                       # lower bound == τ counts
])
def test_threshold_verdict(values, threshold, at_least, expected):
    verdict, evidence = threshold_verdict(values, threshold, at_least=at_least)
    assert verdict == expected and verdict in VERDICTS
    if values:
        assert f"n={len(values)}" in evidence and ("≥" if at_least else "≤") in evidence
    else:
        assert evidence == "no finished runs"


def test_threshold_verdict_uses_the_t_interval_not_the_mean():
    values = [0.91, 0.95, 0.99]  # mean 0.95 above 0.9, but the 95% t interval reaches below it
    low, _ = st.t.interval(0.95, 2, loc=np.mean(values), scale=st.sem(values))
    assert low < 0.9
    assert threshold_verdict(values, 0.9)[0] == "inconclusive"
    assert threshold_verdict(values * 3, 0.9)[0] == "supported"  # more seeds, narrower interval


def test_paired_difference_pairs_by_seed_key_not_by_position():
    a = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}
    b = {3: 3.9, 1: 1.9, 0: 0.9, 2: 2.9, 7: 100.0}  # other order, an unpaired seed 7
    verdict, evidence = paired_difference_verdict(a, b)
    assert verdict == "supported" and "n=4 paired seeds" in evidence and "+0.100" in evidence
    # unpaired, the same numbers would be far from significant
    assert st.ttest_ind(list(a.values()), [b[k] for k in a]).pvalue > 0.5
    assert paired_difference_verdict(b, a)[0] == "contradicted"
    # pairing by position (sorted insertion order) would give mixed signs
    assert {x - y for x, y in zip(a.values(), b.values())} != {a[k] - b[k] for k in a}


@pytest.mark.parametrize("a,b,expected", [
    ({0: 0.9, 1: 0.8, 2: 0.95}, {0: 0.85, 1: 0.85, 2: 0.9}, "inconclusive"),  # mixed signs
    ({0: 0.9}, {0: 0.1}, "inconclusive"),                                    # one pair
    ({0: 0.9, 1: 0.8}, {2: 0.1, 3: 0.2}, "inconclusive"),                    # no common seed
    ({}, {}, "inconclusive"),
    ({0: 0.9, 1: 0.8, 2: 0.7}, {0: 0.9, 1: 0.8, 2: 0.7}, "inconclusive"),    # identical: 0 is not > 0
])
def test_paired_difference_inconclusive_cases(a, b, expected):
    verdict, evidence = paired_difference_verdict(a, b)
    assert verdict == expected
    if not set(a) & set(b):
        assert evidence == "no paired runs"


def test_paired_difference_matches_scipy_paired_interval():
    rng = np.random.default_rng(1)
    base = rng.normal(0.8, 0.05, 8)
    a = {i: float(v + 0.03 + rng.normal(0, 0.01)) for i, v in enumerate(base)}
    b = {i: float(v) for i, v in enumerate(base)}
    diffs = np.array([a[i] - b[i] for i in range(8)])
    low, high = st.t.interval(0.95, 7, loc=diffs.mean(), scale=st.sem(diffs))
    verdict, evidence = paired_difference_verdict(a, b)
    assert verdict == ("supported" if low > 0 else "inconclusive")
    assert f"[{low:.3f}, {high:.3f}]" in evidence


@pytest.mark.parametrize("verdicts,expected", [
    (["supported", "supported"], "supported"),
    (["supported"], "supported"),
    (["supported", "inconclusive"], "inconclusive"),
    (["supported", "contradicted"], "contradicted"),
    (["inconclusive", "contradicted", "supported"], "contradicted"),
    (["inconclusive", "inconclusive"], "inconclusive"),
    ([], "inconclusive"),
])
def test_combine_verdicts(verdicts, expected):
    assert combine_verdicts(verdicts) == expected


def _record(label, seed, **metrics):
    return {"cell": {"label": label, "seed_index": seed}, "metrics": metrics}


def test_metric_by_label_and_paired_rows_verdict():
    records = [_record("a", s, m=1.0 + s, note="n/a") for s in range(3)]
    records += [_record("b", s, m=0.5 + s + 0.01 * s) for s in range(3)] + [_record("c", 0, other=2.0)]
    assert metric_by_label(records, "m") == {"a": {0: 1.0, 1: 2.0, 2: 3.0}, "b": {0: 0.5, 1: 1.51, 2: 2.52}}
    assert metric_by_label(records, "note") == {}  # non-numeric values are left out
    assert paired_rows_verdict(records, "m", "a", "b") == paired_difference_verdict(
        {0: 1.0, 1: 2.0, 2: 3.0}, {0: 0.5, 1: 1.51, 2: 2.52})
    assert paired_rows_verdict(records, "m", "a", "b")[0] == "supported"  # differences 0.5, 0.49, 0.48
    assert paired_rows_verdict(records, "m", "a", "c") == ("inconclusive", "no runs")
