"""Domain-adaptation metrics: the App. H.3 post-hoc classifier and the method's own classifier."""

from __future__ import annotations

import pytest
import torch

from benchmarks.contracts import Budget, Method, Split, TaskData, Unsupported
from benchmarks.metrics.domain_adaptation import choose_labelled, posthoc_accuracy
from benchmarks.registry import METRICS

pytestmark = pytest.mark.usefixtures("single_thread")


def blobs(n_per_class: int, seed: int, dim: int = 8, n_classes: int = 10):
    """Linearly separable Gaussian blobs: class k centred at 6 e_k (dims >= classes) or a fixed draw."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=torch.Generator().manual_seed(0)) * 6
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    z = centres[y] + 0.5 * torch.randn(len(y), dim, generator=gen)
    return z, y


def test_posthoc_separable_blobs_reach_full_accuracy():
    zs, ys = blobs(40, seed=1)
    zt, yt = blobs(30, seed=2)
    out = posthoc_accuracy(zs, ys, zt, yt, seed=0)
    assert out["accuracy"] >= 0.99 and out["source_accuracy"] >= 0.99
    assert out["n_labels"] == 400


def test_posthoc_shuffled_target_labels_are_at_chance():
    zs, ys = blobs(40, seed=1)
    zt, yt = blobs(100, seed=2)
    shuffled = yt[torch.randperm(len(yt), generator=torch.Generator().manual_seed(9))]
    acc = posthoc_accuracy(zs, ys, zt, shuffled, seed=0)["accuracy"]
    assert 0.05 <= acc <= 0.16  # chance is 0.1 (1,000 target rows: std 0.0095)


def test_posthoc_is_seeded_and_label_fraction_subsamples():
    zs, ys = blobs(40, seed=1)
    zt, yt = blobs(10, seed=2)
    a = posthoc_accuracy(zs, ys, zt, yt, seed=3, label_fraction=0.1, epochs=2, min_steps=20)
    b = posthoc_accuracy(zs, ys, zt, yt, seed=3, label_fraction=0.1, epochs=2, min_steps=20)
    assert a == b and a["n_labels"] == 40
    assert posthoc_accuracy(zs, ys, zt, yt, seed=3, label_fraction=1e-6, min_steps=5)["n_labels"] == 1
    assert len(choose_labelled(1000, 0.0004, seed=0)) == 1  # Fig. 6's 0.04 % of 1,000 rows
    assert len(choose_labelled(60000, 0.0004, seed=0)) == 24  # ... of MNIST's 60,000
    assert torch.equal(choose_labelled(100, 0.2, 5), choose_labelled(100, 0.2, 5))
    with pytest.raises(ValueError):
        choose_labelled(10, 0.0, seed=0)


class IdentityMethod(Method):
    """Encodes x as itself (the blobs are already a good representation); no classifier."""

    config_class = dict

    def fit(self, train: Split, budget: Budget, seed: int):
        return {}

    def encode(self, x, d):
        return x.clone()


class NearestCentreMethod(IdentityMethod):
    """Its own classifier: nearest class centre of the blobs, as logits."""

    def predict(self, x, d):
        centres = torch.randn(10, 8, generator=torch.Generator().manual_seed(0)) * 6
        return -torch.cdist(x, centres)


def blob_task() -> TaskData:
    zs, ys = blobs(30, seed=1)
    zt, _ = blobs(30, seed=2)
    zs_test, ys_test = blobs(5, seed=3)
    zt_test, yt_test = blobs(20, seed=4)
    train = Split(torch.cat([zs, zt]), torch.cat([torch.zeros(300), torch.ones(300)]).long(),
                  torch.cat([ys, torch.full((300,), -1)]))
    test = Split(torch.cat([zs_test, zt_test]), torch.cat([torch.zeros(50), torch.ones(200)]).long(),
                 torch.cat([ys_test, yt_test]))
    return TaskData("blobs", train, test, (8,), 2, 10, protocol={"source_labels_visible": True})


def test_registered_metrics_on_a_blob_task():
    task = blob_task()
    out = METRICS.get("target-accuracy")(IdentityMethod({}, (8,), 2, 10), task, 0)
    assert out["target_accuracy"] >= 0.99 and out["posthoc_n_labels"] == 300
    with pytest.raises(Unsupported):
        METRICS.get("own-classifier-accuracy")(IdentityMethod({}, (8,), 2, 10), task, 0)
    own = METRICS.get("own-classifier-accuracy")(NearestCentreMethod({}, (8,), 2, 10), task, 0)
    assert own["own_target_accuracy"] >= 0.99


def test_target_accuracy_uses_target_test_rows_only():
    """Corrupting the source test rows or the target training rows leaves the target score unchanged;
    the source-validation accuracy (model selection without target labels) reads the source test rows
    and only those, so corrupting them moves it and corrupting target rows does not."""
    task = blob_task()
    base = METRICS.get("target-accuracy")(IdentityMethod({}, (8,), 2, 10), task, 0)
    task.train.x[task.train.d == 1] = 0.0
    target_only = METRICS.get("target-accuracy")(IdentityMethod({}, (8,), 2, 10), task, 0)
    assert target_only == base
    task.test.x[task.test.d == 0] = 0.0
    again = METRICS.get("target-accuracy")(IdentityMethod({}, (8,), 2, 10), task, 0)
    assert {k: v for k, v in again.items() if k != "source_val_accuracy"} == {
        k: v for k, v in base.items() if k != "source_val_accuracy"}
    assert base["source_val_accuracy"] == 1.0 and again["source_val_accuracy"] < 0.5
