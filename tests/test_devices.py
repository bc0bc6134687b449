"""Devices (issue 17): ``--device`` resolution, records naming the device, and a contract over the
registry that every method keeps its tensors on the device it was given and makes none on torch's
default device behind its caller's back (checked on the CPU by :class:`EmulatedAccelerator`)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.cli import main
from benchmarks.config import ConfigError
from benchmarks.contracts import Budget, Unsupported
from benchmarks.device_check import DeviceMismatch, EmulatedAccelerator
from benchmarks.devices import profile_device, resolve_device
from benchmarks.executors import ray_gpus_per_cell
from benchmarks.registry import METHODS, METRICS, TASKS
from saub.objective_axis import OBJECTIVES, minimum_samples
from saub.seeding import seed_everything
from tests.test_contract import DOMAIN_ADAPTATION, UNSUPERVISED, _binary

CPU = torch.device("cpu")


# ----------------------------------------------------------------- the emulation itself
def test_emulation_flags_what_would_fail_on_a_gpu():
    cached = torch.randn(4, 3)  # made before the block: on the host, like a cache or loaded data
    with EmulatedAccelerator():
        x, layer = torch.randn(4, 3).to(CPU), nn.Linear(3, 2).to(CPU)
        for made_on_the_host in (lambda: x + torch.randn(4, 3),
                                 lambda: x + torch.from_numpy(np.ones((4, 3), dtype=np.float32)),
                                 lambda: torch.cat([x, torch.zeros(1, 3)]),
                                 lambda: x + torch.distributions.Normal(0.0, 1.0).sample((4, 3)),
                                 lambda: nn.Linear(3, 2)(x),  # a module built inside and never moved
                                 lambda: layer(cached),
                                 lambda: layer(x).numpy(),
                                 lambda: x + x.cpu()):
            with pytest.raises(DeviceMismatch):
                made_on_the_host()


def test_emulation_passes_what_runs_on_a_gpu():
    with EmulatedAccelerator():
        x, layer = torch.randn(4, 3).to(CPU), nn.Linear(3, 2).to(CPU)
        y = x + torch.randn(4, 3, device=x.device) + torch.zeros_like(x) + torch.tensor(2.0)
        y = y + torch.from_numpy(np.ones((4, 3), dtype=np.float32)).to(x.device)
        picked = y[torch.randperm(4, generator=torch.Generator().manual_seed(0))]
        out = nn.Linear(3, 2).to(x.device)(picked) + layer(picked)
        optimizer = torch.optim.Adam(layer.parameters())
        out.sum().backward()
        optimizer.step()
        assert out.detach().cpu().numpy().shape == (4, 2)
        host_only = torch.randn(4, 3) @ torch.randn(3, 2)  # the host computing on its own
        assert host_only.numpy().shape == (4, 2)
    assert isinstance(nn.Parameter(torch.zeros(1)), nn.Parameter)


# ----------------------------------------------------------------- resolution and bad input
def test_device_resolution_and_its_errors():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto") == (torch.device("cuda", 0) if torch.cuda.is_available() else CPU)
    with pytest.raises(ConfigError, match="valid devices: auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    assert profile_device("paper") == "auto" and profile_device("quick") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_cuda_without_cuda_is_an_error_before_anything_runs(tmp_path, capsys):
    assert main(["run", "fig3", "--profile", "smoke", "--device", "cuda", "--results", str(tmp_path)]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*.json"))


def test_ray_requests_one_gpu_per_cell_on_cuda():
    assert ray_gpus_per_cell("cuda", {"CPU": 8, "GPU": 4}) == 1
    assert ray_gpus_per_cell("auto", {"CPU": 8, "GPU": 4}) == 1
    assert ray_gpus_per_cell("auto", {"CPU": 8}) == 0 and ray_gpus_per_cell("cpu", {"GPU": 4}) == 0
    with pytest.raises(RuntimeError, match="has no GPU"):
        ray_gpus_per_cell("cuda:0", {"CPU": 8})


def test_records_name_the_device_they_ran_on(tmp_path):
    assert main(["train", "vae-gaussian", "nested-d", "--set", "budget.steps=2", "--set",
                 "task.n_per_domain=16", "--device", "cpu", "--results", str(tmp_path), "--quiet"]) == 0
    (record,) = [p for p in tmp_path.rglob("*.json") if p.name != "adhoc.json"]
    provenance = json.loads(record.read_text())["provenance"]
    assert provenance["device"] == "cpu" and provenance["device_name"]


# ----------------------------------------------------------------- the contract over the registry
def _tensors_of(method) -> list[torch.Tensor]:
    """Every tensor the method holds: its networks' parameters and buffers, its tensors, its
    optimisers' states (the parts a checkpoint of its training holds)."""
    found = []
    for part in method.training_parts().values():
        if isinstance(part, nn.Module):
            found += [*part.parameters(), *part.buffers()]
        elif isinstance(part, torch.Tensor):
            found.append(part)
        else:  # an optimiser
            found += [t for state in part.state.values() for t in state.values()
                      if isinstance(t, torch.Tensor)]
    return found


def _exercise(method, task, budget):
    """fit, encode and every capability the method has, on the device it was given."""
    labelled = getattr(type(method), "needs_source_labels", False)
    method.fit(task.train if labelled else task.train.without_labels(), budget, seed=0)
    method.encode(task.test.x, task.test.d)
    for capability, args in [("reconstruct", (task.test.x, task.test.d)),
                             ("translate", (task.test.x[:4], 0, 1)),
                             ("predict", (task.test.x, task.test.d)),
                             ("posterior_moments", (task.test.x, task.test.d))]:
        try:
            getattr(method, capability)(*args)
        except Unsupported:
            pass


@pytest.fixture(scope="module")
def toy_task():
    return TASKS.get("nested-d")(seed=3, n_per_domain=16, n_test_per_domain=8)


@pytest.mark.parametrize("name", UNSUPERVISED + DOMAIN_ADAPTATION)
def test_every_method_stays_on_its_device(name, toy_task, digits_like_task):
    entry = METHODS.get(name)
    task = digits_like_task if name in DOMAIN_ADAPTATION else toy_task
    if getattr(entry.cls, "binary_labels_only", False):
        task = _binary(task)
    seed_everything(0)
    method = entry.build(entry.resolve(), task)
    with EmulatedAccelerator():
        assert method.to(CPU).device == CPU
        _exercise(method, task.to(CPU), Budget(steps=2, batch_size=16))
    assert all(t.device == CPU for t in _tensors_of(method))


@pytest.mark.parametrize("metric", ["svc-auroc", "reconstruction-mse"])
def test_metrics_take_the_device_of_their_inputs(metric, toy_task):
    entry = METHODS.get("saub")
    seed_everything(0)
    method = entry.build(entry.resolve(), toy_task)
    method.fit(toy_task.train.without_labels(), Budget(steps=2, batch_size=16), seed=0)
    with EmulatedAccelerator():
        assert METRICS.get(metric)(method.to(CPU), toy_task.to(CPU), 0)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_every_objective_stays_on_its_device(objective, toy_task):
    """The objectives axis (seed 002's objectives) with the score prior (SFS), the mean not batch-normalised
    (M3 and the FAE need per-row posterior scores)."""
    entry = METHODS.get("saub")
    config = entry.resolve({"objective": objective, "batchnorm_mean": False,
                            "objective_samples": minimum_samples(objective)})
    seed_everything(0)
    method = entry.build(config, toy_task)
    with EmulatedAccelerator():
        method.to(CPU)
        _exercise(method, toy_task.to(CPU), Budget(steps=2, batch_size=16))


@pytest.mark.parametrize("name", ["gwae", "vae-gaussian"])
def test_ood_and_isometry_metrics_take_the_device_of_their_inputs(name, digits_like_task):
    """gwae-mnist's metrics: OoD sets made from the test images, anomaly scores, generated pairs."""
    from benchmarks.metrics.ood_isometry import (
        OOD_SETS,
        anomaly_scores,
        distance_agreement,
        generated_pairs,
        ood_inputs,
    )

    entry = METHODS.get(name)
    seed_everything(0)
    method = entry.build(entry.resolve({"latent_dim": 4, "hidden": 32}), digits_like_task)
    method.fit(digits_like_task.train.without_labels(), Budget(steps=2, batch_size=16), seed=0)
    with EmulatedAccelerator():
        task = digits_like_task.to(CPU)
        method.to(CPU)
        for ood in (s for s in OOD_SETS if s != "usps"):  # USPS is data on disk: the data tests load it
            anomaly_scores(method, ood_inputs(ood, task.test.x))
        x, z = generated_pairs(method, 8)
        assert distance_agreement(x.flatten(1), z)
