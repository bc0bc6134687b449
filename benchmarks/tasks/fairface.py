"""FairFace male <-> female (App. K, Fig. 15-16): task ``fairface-gender``.

Domain 0 = FairFace faces labelled ``Male``, domain 1 = ``Female`` (the official training
split's label file, :mod:`benchmarks.data.fairface`). Per domain a seeded permutation gives
``n_per_domain`` training images and, disjoint from them, ``n_test`` held-out images for the
translation figures. Images: the whole 224 x 224 face crop, bicubic resize to ``size`` (64: the
suite's choice; App. K gives no resolution), [0, 1]. The paper trains "in a fully unsupervised
manner": no label of any kind reaches training, and the task carries none.
"""

from __future__ import annotations

import torch

from benchmarks.contracts import Split, TaskData
from benchmarks.registry import register_task
from saub.seeding import derive_seed

DOMAINS = ("male", "female")


@register_task("fairface-gender")
def fairface_gender(seed: int, n_per_domain: int | None = 2000, n_test: int = 8, size: int = 64,
                    root=None) -> TaskData:
    """Male (0) and female (1) faces; see the module docstring."""
    from benchmarks.data.fairface import load_fairface_images, load_fairface_index

    index = load_fairface_index("train", root=root)
    rows = index.gender_domains()
    parts = {"train": [], "test": []}
    for k, name in enumerate(DOMAINS):
        available = len(rows[name])
        n_train = available - n_test if n_per_domain is None else n_per_domain
        if n_train < 1 or n_train + n_test > available:
            raise ValueError(f"FairFace {name}: {n_train} training + {n_test} test images requested, "
                             f"{available} available")
        perm = torch.randperm(available, generator=torch.Generator().manual_seed(derive_seed(seed, name)))
        chosen = {"train": perm[:n_train], "test": perm[n_train : n_train + n_test]}
        for split, pick in chosen.items():
            picked = rows[name][torch.sort(pick).values.numpy()]
            parts[split].append((load_fairface_images(index, picked, size), k))
    splits = {
        split: Split(torch.cat([x for x, _ in p]), torch.cat([torch.full((len(x),), k) for x, k in p]))
        for split, p in parts.items()
    }
    protocol = {
        "domains": {"0": "FairFace Male", "1": "FairFace Female"},
        "n_per_domain": {"train": n_per_domain, "test": n_test},
        "split": "official training split; per domain a seeded permutation, train and test disjoint",
        "image_size": f"3x{size}x{size}",
        "preprocessing": "whole 224x224 face crop, bicubic resize, [0, 1]",
        "labels": "none (App. K: fully unsupervised)",
        "model_selection": "last iterate",
    }
    return TaskData(name="fairface-gender", train=splits["train"], test=splits["test"],
                    input_shape=(3, size, size), n_domains=2, protocol=protocol,
                    checksums=dict(index.checksums))
