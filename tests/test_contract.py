"""Contract test: every registered method trains a few steps on a toy two-domain task."""

import pytest
import torch

from benchmarks.contracts import Budget, Unsupported
from benchmarks.registry import METHODS, TASKS
from saub.seeding import seed_everything


@pytest.fixture(scope="module")
def toy_task():
    return TASKS.get("nested-d")(seed=3, n_per_domain=16, n_test_per_domain=8)


@pytest.mark.parametrize("name", METHODS.names())
def test_method_contract(name, toy_task):
    seed_everything(0)
    entry = METHODS.get(name)
    config = entry.resolve()
    method = entry.build(config, toy_task)
    curves = method.fit(toy_task.train.without_labels(), Budget(steps=3, batch_size=16), seed=0)
    assert curves and all(len(v) == 3 for v in curves.values())
    assert all(torch.isfinite(torch.tensor(v)).all() for v in curves.values())
    z = method.encode(toy_task.test.x, toy_task.test.d)
    assert z.shape[0] == len(toy_task.test) and torch.isfinite(z).all()
    # Deterministic representation: encoding twice gives the same numbers.
    assert torch.equal(z, method.encode(toy_task.test.x, toy_task.test.d))
    for capability, args in [("reconstruct", (toy_task.test.x, toy_task.test.d)),
                             ("translate", (toy_task.test.x[:4], 0, 1)),
                             ("predict", (toy_task.test.x, toy_task.test.d))]:
        try:
            out = getattr(method, capability)(*args)
        except Unsupported:
            continue
        assert torch.isfinite(out).all()
        assert out.shape[0] == args[0].shape[0]


def test_training_does_not_see_labels(toy_task):
    """The harness hands methods a label-free training split."""
    assert toy_task.train.without_labels().y is None
