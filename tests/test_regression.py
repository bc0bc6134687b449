"""CI regression: rerun each smoke profile (seed 0) and compare with results/golden/."""

import pytest

from benchmarks.regression import SMOKE_EXPERIMENTS, compare, golden_path, run_smoke


@pytest.mark.regression
@pytest.mark.parametrize("name", SMOKE_EXPERIMENTS)
def test_smoke_metrics_match_golden(name, tmp_path):
    assert golden_path(name).exists(), f"no golden file for {name}; run `make golden`"
    problems = compare(name, run_smoke(name, tmp_path, [0]))
    assert not problems, "\n".join(problems)
