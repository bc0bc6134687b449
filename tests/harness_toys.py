"""Toy registrations and helpers for the ``tests/test_harness_*.py`` tests.

Importable by the test process and by every process a test starts (the SIGKILL driver, the
``processes`` and ``ray`` workers, which find it through ``$SAUB_PLUGINS``). Every name
registered here starts with ``toy-harness`` and is registered once, however often the module
is imported; experiments with deliberately broken rows are *not* registered here (tests add
them to the registry only for their own duration, see :func:`temporary_experiment`).

* method ``toy-harness``: a random linear encoder drawn from the global torch RNG at ``fit``
  (so it depends on the cell's model seed only); ``mode`` makes it raise, sleep or make the
  score metric non-finite.
* method ``toy-harness-diverge``: the real ``saub`` method whose training inputs are poisoned
  with ``inf`` when ``poison=true``, so :class:`saub.training.AlternatingTrainer` itself
  raises :class:`saub.training.DivergenceError` on a NaN loss.
* metric ``toy-harness-score``: the latents' mean plus one draw of the global RNG.
* experiments ``toy-harness-grid`` (ok / raising / diverging / NaN-metric rows over a task
  sweep), ``toy-harness-slow`` (sleeping cells for the SIGKILL test) and ``toy-harness-vaub``
  (real ``saub`` and ``vaub`` on nested-d, n = 20 per domain, 5 steps).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from benchmarks.contracts import Budget, Method, Split, register_method
from benchmarks.experiment import Experiment, Profile, Row, register_experiment
from benchmarks.methods.vaub_family import VAUBConfig, VAUBFamily
from benchmarks.registry import EXPERIMENTS, METHODS, METRICS

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "tests.harness_toys"
#: Record fields that must not depend on the executor, an interruption or a rerun.
COMPARED = ("cell", "cell_id", "seed", "data_seed", "status", "error", "config", "metrics", "curves",
            "artifacts", "protocol")


@dataclass
class ToyConfig:
    """Hyper-parameters of the toy method."""

    mode: str = field(default="ok", metadata={"choices": ("ok", "raise", "nan-metric")})
    sleep_s: float = 0.0
    scale: float = 1.0
    flag: bool = False


class ToyMethod(Method):
    """A random linear map ``z = scale * x W`` with ``W`` drawn at fit time."""

    config_class = ToyConfig

    def fit(self, train: Split, budget: Budget, seed: int) -> dict[str, list[float]]:
        time.sleep(self.config.sleep_s)
        if self.config.mode == "raise":
            raise RuntimeError("toy-harness method failed on purpose")
        dim = self.input_shape[0]
        self.weight = torch.randn(dim, dim, dtype=train.x.dtype, device=train.x.device) * self.config.scale
        return {"loss": torch.rand(budget.steps).tolist(), "other": torch.randn(budget.steps).tolist()}

    def encode(self, x, d):
        return x @ self.weight


@dataclass
class PoisonableConfig(VAUBConfig):
    """``saub``'s configuration plus a switch that poisons the training inputs."""

    poison: bool = False


class PoisonableSAUB(VAUBFamily):
    """``saub`` whose inputs contain ``inf`` when ``poison``: the loss becomes NaN at step 0."""

    config_class = PoisonableConfig

    def fit(self, train: Split, budget: Budget, seed: int) -> dict[str, list[float]]:
        if self.config.poison:
            x = train.x.clone()
            x[0] = float("inf")
            train = dataclasses.replace(train, x=x)
        return super().fit(train, budget, seed)


def toy_score(method, task, seed: int) -> dict:
    """Mean latent of the test split plus one draw of the (seeded) global RNG."""
    z = method.encode(task.test.x, task.test.d)
    if getattr(method.config, "mode", "ok") == "nan-metric":
        return {"toy_score": float("nan")}
    return {"toy_score": float(z.mean()) + float(torch.rand(()))}


class ToyExperiment(Experiment):
    """Base of the toy experiments (no report page)."""

    task = "nested-d"
    title = "toy experiment for harness tests"
    description = "toy"
    metrics = ["toy-harness-score"]

    def report(self, records, out_dir, profile):  # pragma: no cover - never reported
        raise NotImplementedError


class ToyGrid(ToyExperiment):
    name = "toy-harness-grid"
    rows = [
        Row("ok", "toy-harness"),
        Row("raise", "toy-harness", {"mode": "raise"}),
        Row("diverge", "toy-harness-diverge", {"poison": True, "prior_steps": 1, "hidden": 8,
                                                "score_hidden": 8}),
        Row("nanmetric", "toy-harness", {"mode": "nan-metric"}),
    ]
    profiles = {"smoke": Profile(Budget(steps=3, batch_size=8), seeds=2, sweep={"task.n_per_domain": (6, 8)},
                                 task_kwargs={"n_test_per_domain": 4})}


class ToySlow(ToyExperiment):
    name = "toy-harness-slow"
    rows = [Row("slow", "toy-harness", {"sleep_s": 0.3})]
    profiles = {"smoke": Profile(Budget(steps=3, batch_size=8), seeds=10,
                                 task_kwargs={"n_per_domain": 6, "n_test_per_domain": 4})}


class ToyVAUB(ToyExperiment):
    name = "toy-harness-vaub"
    rows = [Row("saub", "saub", {"prior_steps": 2}), Row("vaub", "vaub")]
    metrics = ["reconstruction-mse", "toy-harness-score"]
    profiles = {"smoke": Profile(Budget(steps=5, batch_size=16), seeds=2,
                                 task_kwargs={"n_per_domain": 20, "n_test_per_domain": 10})}


class ToyResumable(ToyExperiment):
    """One long-ish SAUB cell (200 steps of tiny networks): kill it mid-training, resume it."""

    name = "toy-harness-resumable"
    rows = [Row("saub", "saub", {"prior_steps": 1, "hidden": 16, "score_hidden": 16})]
    metrics = ["reconstruction-mse", "toy-harness-score"]
    profiles = {"smoke": Profile(Budget(steps=200, batch_size=16), seeds=1,
                                 task_kwargs={"n_per_domain": 20, "n_test_per_domain": 10})}


if "toy-harness" not in METHODS._entries:
    register_method("toy-harness", ToyMethod, "toy method for harness tests")
    register_method("toy-harness-diverge", PoisonableSAUB, "saub with optionally poisoned inputs",
                    prior="score", encoder_gradient="sfs")
    METRICS.add("toy-harness-score", toy_score)
    for _cls in (ToyGrid, ToySlow, ToyVAUB, ToyResumable):
        register_experiment(_cls)


# ------------------------------------------------------------------------------------ helpers
def comparable(record: dict) -> dict:
    """The fields of a record that must be identical across executors and reruns."""
    return {k: record.get(k) for k in COMPARED}


def plugin_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default ``os.environ``) with this module in ``$SAUB_PLUGINS`` and the repo on the path."""
    env = dict(os.environ if env is None else env)
    plugins = [p for p in env.get("SAUB_PLUGINS", "").split(",") if p.strip()]
    env["SAUB_PLUGINS"] = ",".join(plugins + ([PLUGIN] if PLUGIN not in plugins else []))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@contextlib.contextmanager
def temporary_experiment(exp: Experiment):
    """Register ``exp`` for the duration of a ``with`` block only."""
    EXPERIMENTS.names()  # load the registrations first, so it cannot collide later
    EXPERIMENTS._entries[exp.name] = exp
    try:
        yield exp
    finally:
        EXPERIMENTS._entries.pop(exp.name, None)


@pytest.fixture(autouse=True)
def harness_isolation(monkeypatch):
    """Make worker processes see these toys; restore torch's global thread and determinism state."""
    for key, value in plugin_env().items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    threads = torch.get_num_threads()
    determinism = _determinism()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if _determinism() != determinism:  # the first call costs seconds (it imports much of torch)
            torch.use_deterministic_algorithms(determinism[0], warn_only=determinism[1])


def _determinism() -> tuple[bool, bool]:
    return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
