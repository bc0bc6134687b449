"""The bare reference steps of ``make bench`` compute what the harness methods compute.

For every case of :mod:`tests.perf.step_cases`: from one RNG seed, two steps of the harness copy
and two of the bare copy give the same losses and the same parameters and buffers afterwards, so
the throughput comparison is between two implementations of one computation. Equality is exact
for most cases (the same operations in the same order); the tolerance covers reductions that
PyTorch may order differently for a concatenated batch than for the routed one.
"""

from __future__ import annotations

import pytest
import torch

from tests.perf.step_cases import CASES, build_case

RTOL, ATOL = 1e-6, 1e-7


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _states(modules) -> dict[str, torch.Tensor]:
    return {f"{i}.{k}": v for i, m in enumerate(modules) for k, v in m.state_dict().items()}


@pytest.mark.parametrize("name", CASES)
def test_bare_step_matches_the_method_step(name):
    case = build_case(name)
    before = {k: v.clone() for k, v in _states(case.method_modules).items()}
    assert before.keys() == _states(case.bare_modules).keys()
    for step in range(2):
        torch.manual_seed(100 + step)
        method_loss = float(case.method_step())
        torch.manual_seed(100 + step)
        bare_loss = float(case.bare_step())
        assert bare_loss == pytest.approx(method_loss, rel=RTOL, abs=ATOL), (step, method_loss, bare_loss)
    after_method, after_bare = _states(case.method_modules), _states(case.bare_modules)
    changed = [k for k, v in after_method.items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "the steps changed no parameter"
    for k, v in after_method.items():
        torch.testing.assert_close(after_bare[k], v, rtol=RTOL, atol=ATOL, msg=k)
