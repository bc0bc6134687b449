"""Contract test: every registered method trains a few steps on a toy two-domain task."""

import dataclasses

import pytest
import torch

from benchmarks.contracts import Budget, Split, TaskData, Unsupported
from benchmarks.experiment import Cell
from benchmarks.registry import METHODS, TASKS
from benchmarks.saved_models import load_model, save_model
from saub.seeding import seed_everything


def _saved_and_loaded(method, name: str, folder):
    """The method after a round trip through a saved-model file (:mod:`benchmarks.saved_models`)."""
    cell = Cell("contract", "smoke", name, name, {}, "toy", {}, 0, {}, Budget(steps=3), 1)
    entry = save_model(method, folder / f"{name}.pt", cell, {"name": name})
    loaded, saved = load_model(folder / f"{name}.pt", entry["config_hash"])
    assert saved["cell"] == cell.key()
    return loaded


def _needs_source_labels(name: str) -> bool:
    return bool(getattr(METHODS.get(name).cls, "needs_source_labels", False))


UNSUPERVISED = [n for n in METHODS.names() if not _needs_source_labels(n)]
DOMAIN_ADAPTATION = [n for n in METHODS.names() if _needs_source_labels(n)]


@pytest.fixture(scope="module")
def toy_task():
    return TASKS.get("nested-d")(seed=3, n_per_domain=16, n_test_per_domain=8)


@pytest.mark.parametrize("name", UNSUPERVISED)
def test_method_contract(name, toy_task, tmp_path):
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
    # A saved model encodes exactly as the trained one (--keep-models, then evaluate)
    assert torch.equal(z, _saved_and_loaded(method, name, tmp_path).encode(toy_task.test.x, toy_task.test.d))
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


def _binary(task: TaskData) -> TaskData:
    """The task as a two-class fairness task, every row labelled (alternating 0/1), for the classifiers
    that take two classes and need labels in both groups (linear SVM, FERM)."""
    def two(split: Split) -> Split:
        return dataclasses.replace(split, y=torch.arange(len(split)) % 2)

    return dataclasses.replace(task, train=two(task.train), test=two(task.test), n_classes=2)


@pytest.mark.parametrize("name", DOMAIN_ADAPTATION)
def test_domain_adaptation_method_contract(name, digits_like_task, single_thread, tmp_path):
    """Methods with ``needs_source_labels`` train on source labels (y = -1 on target rows)."""
    task = digits_like_task
    entry = METHODS.get(name)
    if getattr(entry.cls, "binary_labels_only", False):
        task = _binary(task)
    seed_everything(0)
    method = entry.build(entry.resolve(), task)
    if getattr(entry.cls, "learns_without_labels", False):  # a label-free protocol: label terms vanish
        curves = method.fit(task.train.without_labels(), Budget(steps=3, batch_size=16), seed=0)
        assert curves and all(torch.isfinite(torch.tensor(v)).all() for v in curves.values())
    else:
        with pytest.raises(ValueError, match="source labels"):
            method.fit(task.train.without_labels(), Budget(steps=3, batch_size=16), seed=0)
    method = entry.build(entry.resolve(), task)
    curves = method.fit(task.train, Budget(steps=3, batch_size=16), seed=0)
    steps = 3 if getattr(entry.cls, "trains_by_steps", True) else 1  # a convex solver logs one point
    assert curves and all(len(v) == steps for v in curves.values())
    # NaN marks a curve that does not apply to a step (e.g. ADDA's stage-specific losses).
    assert all(not torch.isinf(torch.tensor(v)).any() for v in curves.values())
    assert all(torch.isfinite(torch.tensor(v)).any() for v in curves.values())
    z = method.encode(task.test.x, task.test.d)
    assert z.shape[0] == len(task.test) and z.dim() == 2 and torch.isfinite(z).all()
    assert torch.equal(z, method.encode(task.test.x, task.test.d))
    assert torch.equal(z, _saved_and_loaded(method, name, tmp_path).encode(task.test.x, task.test.d))
    logits = method.predict(task.test.x, task.test.d)
    assert logits.shape == (len(task.test), task.n_classes) and torch.isfinite(logits).all()
    for capability, args in [("reconstruct", (task.test.x, task.test.d)),
                             ("translate", (task.test.x[:4], 0, 1))]:
        try:
            out = getattr(method, capability)(*args)
        except Unsupported:
            continue
        assert torch.isfinite(out).all() and out.shape[0] == args[0].shape[0]


def test_domain_adaptation_methods_registered():
    assert {"dann", "adda"} <= set(DOMAIN_ADAPTATION)


def test_bernoulli_vae_outputs_pixel_means_not_logits(digits_like_task):
    """A Bernoulli decoder's reconstructions and translations are sigmoid(logits), in [0, 1]."""
    task = digits_like_task
    seed_everything(0)
    entry = METHODS.get("vae-gaussian")
    method = entry.build(entry.resolve({"likelihood": "bernoulli", "latent_dim": 4}), task)
    method.fit(task.train.without_labels(), Budget(steps=2, batch_size=8), seed=0)
    x, d = task.test.x[:6], task.test.d[:6]
    with torch.no_grad():
        logits = method.model.decode(method.encode(x, d), d)
        logits_to_1 = method.model.translate(x, 0, 1)
    assert logits.min() < 0  # the raw output is not a probability ...
    torch.testing.assert_close(method.reconstruct(x, d), torch.sigmoid(logits))  # ... its mean is
    torch.testing.assert_close(method.translate(x, 0, 1), torch.sigmoid(logits_to_1))
