"""Registered metrics: ``fn(method, task, seed) -> {name: value}`` over the harness contract."""

from __future__ import annotations

from benchmarks.contracts import TaskData, Unsupported
from benchmarks.metrics.separation import svc_auroc
from benchmarks.registry import register_metric


@register_metric("svc-auroc")
def latent_svc_auroc(method, task: TaskData, seed: int) -> dict:
    """App. H.2: label separation in the shared latent space of the training points (binary labels;
    "n/a" on a task with more classes)."""
    if task.n_classes != 2:
        raise Unsupported(f"svc-auroc needs binary labels; task {task.name!r} has {task.n_classes} classes")
    z = method.encode(task.train.x, task.train.d).cpu().numpy()
    out = svc_auroc(z, task.train.y.cpu().numpy(), seed=seed)
    return {"auroc": out["auroc_mean"], "auroc_run_std": out["auroc_std"]}


@register_metric("reconstruction-mse")
def reconstruction_mse(method, task: TaskData, seed: int) -> dict:
    """Mean squared reconstruction error on the test split (per coordinate)."""
    x = task.test.x
    recon = method.reconstruct(x, task.test.d)
    return {"test_recon_mse": float(((recon - x) ** 2).mean())}
