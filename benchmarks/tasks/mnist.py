"""Single-domain MNIST (task ``mnist``): the in-distribution data of GWAE's MNIST experiments
(seed 001, §4.2-4.3, Fig. 1, 3, 4).

Loading, scaling and subsampling are those of :mod:`benchmarks.tasks.digits`: 28x28 images
``[N, 1, 28, 28]`` in [0, 1] (``k / 255``), the standard 60,000 / 10,000 train / test splits, and
``n_train`` / ``n_test`` seeded subsamples without replacement in file order (``None`` keeps all).
One domain (``d = 0``); ``y`` holds the digit labels, which the harness hides from training
(``source_labels_visible`` is not set) and which only metrics read.

Deviation from the paper (App. C.1): GWAE resized every image to 3x64x64 (gray levels repeated over
three channels) and split the training set 54,000 / 6,000 for validation and early stopping; the
suite keeps MNIST's native 1x28x28 (a CPU budget) and selects the last iterate.
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchmarks.contracts import Split, TaskData
from benchmarks.data.digit_images import SIZE, load_domain
from benchmarks.registry import register_task
from benchmarks.sampling import subsample
from benchmarks.tasks.digits import FULL_SIZES, data_checksums
from saub.seeding import derive_seed


def _split(x: Tensor, y: Tensor, rows: Tensor) -> Split:
    return Split(x[rows], torch.zeros(len(rows), dtype=torch.int64), y[rows])


@register_task("mnist")
def mnist_task(seed: int, n_train: int | None = None, n_test: int | None = None, root=None) -> TaskData:
    """MNIST as one domain; see the module docstring for the protocol."""
    parts, formats, datasets = {}, set(), set()
    for split, n in (("train", n_train), ("test", n_test)):
        x, y, choice = load_domain("mnist", split, root)
        parts[split] = _split(x, y, subsample(len(x), n, derive_seed(seed, "mnist", split)))
        formats.add(choice.format)
        datasets.add(choice.dataset)
    checksums = data_checksums(datasets, root)
    protocol = {
        "n_train": len(parts["train"]), "n_test": len(parts["test"]), "full_sizes": FULL_SIZES["mnist"],
        "subsample": {"n_train": n_train, "n_test": n_test,
                      "rule": "seeded choice without replacement per split, file order kept"},
        "image_size": f"1x{SIZE}x{SIZE} (the paper: 3x64x64)",
        "normalisation": "pixels in [0, 1], k/255 of the uint8 gray levels",
        "mnist_source": ",".join(sorted(formats)),
        "labels": "hidden during training; test.y for metrics only",
        "model_selection": "last iterate (the paper: early stopping, patience 10, on a 6,000-image "
                           "validation split)",
    }
    return TaskData(name="mnist", train=parts["train"], test=parts["test"], input_shape=(1, SIZE, SIZE),
                    n_domains=1, n_classes=10, protocol=protocol, checksums=checksums)
