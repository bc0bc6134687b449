"""Registered tasks built from the generators and loaders of this package."""

from __future__ import annotations

import torch

from benchmarks.contracts import Split, TaskData
from benchmarks.registry import register_task
from benchmarks.tasks.synthetic import nested_d
from saub.seeding import derive_seed


def _split(arrays: dict) -> Split:
    return Split(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["d"]), torch.from_numpy(arrays["y"]))


@register_task("nested-d")
def nested_d_task(seed: int, n_per_domain: int = 100, n_test_per_domain: int = 200,
                  noise: float = 0.04, offset: float = 1.5) -> TaskData:
    """Fig. 2's nested D's: ``n_per_domain`` training points per domain, raw coordinates.

    The test split is a fresh draw (its own seed) used for figures; the separation metric of
    fig3 is computed on the training points' latents, as the paper plots them.
    """
    train = nested_d(n_per_domain, seed, noise=noise, offset=offset)
    test = nested_d(n_test_per_domain, derive_seed(seed, "test"), noise=noise, offset=offset)
    return TaskData(
        name="nested-d", train=_split(train), test=_split(test), input_shape=(2,), n_domains=2,
        n_classes=2,
        protocol={"n_per_domain": n_per_domain, "n_test_per_domain": n_test_per_domain,
                  "noise": noise, "offset": offset, "normalisation": "none (raw 2-D coordinates)",
                  "labels": "hidden during training; used only by the separation metric"},
    )
