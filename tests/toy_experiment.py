"""Toy registrations for harness tests (imported by tests and by their subprocesses)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from benchmarks.contracts import Budget, Method, register_method
from benchmarks.experiment import Experiment, Profile, Row, register_experiment
from benchmarks.registry import EXPERIMENTS, METHODS, register_metric
from saub.training import DivergenceError


@dataclass
class ToyConfig:
    sleep_s: float = 0.0
    mode: str = "ok"


class ToyMethod(Method):
    """Identity encoder; ``mode`` makes it raise, diverge, or be slow."""

    config_class = ToyConfig

    def fit(self, train, budget, seed):
        time.sleep(self.config.sleep_s)
        if self.config.mode == "raise":
            raise RuntimeError("toy failure")
        if self.config.mode == "diverge":
            raise DivergenceError("total loss is nan at step 2")
        return {"loss": torch.rand(budget.steps).tolist()}

    def encode(self, x, d):
        return x.clone()


def _mean_latent(method, task, seed):
    z = method.encode(task.test.x, task.test.d)
    value = float("nan") if getattr(method.config, "mode", "") == "nan-metric" else float(z.mean())
    return {"mean_latent": value + float(torch.rand(()))}


class _Toy(Experiment):
    task = "nested-d"
    metrics = ["toy-mean"]
    description = "toy"
    title = "toy"

    def report(self, records, out_dir, profile):  # pragma: no cover - unused
        raise NotImplementedError


if "toy" not in METHODS:
    register_method("toy", ToyMethod, "toy method for harness tests")
    register_metric("toy-mean")(_mean_latent)

    @register_experiment
    class ToyGrid(_Toy):
        name = "toy-grid"
        rows = [Row("a", "toy"), Row("boom", "toy", {"mode": "raise"}),
                Row("nan", "toy", {"mode": "diverge"}), Row("badmetric", "toy", {"mode": "nan-metric"})]
        profiles = {"smoke": Profile(Budget(steps=4, batch_size=8), seeds=2,
                                     sweep={"task.n_per_domain": (6, 8)},
                                     task_kwargs={"n_test_per_domain": 4})}

    @register_experiment
    class ToySlow(_Toy):
        name = "toy-slow"
        rows = [Row("slow", "toy", {"sleep_s": 0.4})]
        profiles = {"smoke": Profile(Budget(steps=3, batch_size=8), seeds=8,
                                     task_kwargs={"n_per_domain": 6, "n_test_per_domain": 4})}

    @register_experiment
    class ToySaub(_Toy):
        name = "toy-saub"
        rows = [Row("saub", "saub", {"prior_steps": 2}), Row("vaub", "vaub")]
        metrics = ["reconstruction-mse"]
        profiles = {"smoke": Profile(Budget(steps=5, batch_size=16), seeds=2,
                                     task_kwargs={"n_per_domain": 12, "n_test_per_domain": 6})}

assert "toy-grid" in EXPERIMENTS
