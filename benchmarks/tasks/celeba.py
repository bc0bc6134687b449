"""Single-domain CelebA (task ``celeba``): the data of GWAE's generation / reconstruction study
(seed 001, §4.4, Table 2, the ablation of Table 9, App. C.1).

The official partition (``list_eval_partition.txt``, or its file-number rule; see
:mod:`benchmarks.data.celeba`) gives the splits: the 162,770 training faces and the 19,962 test
faces, the latter Table 2's evaluation set ("an equal number of 19,962 samples"). ``n_train`` /
``n_test`` are seeded subsamples without replacement, file order kept (``None`` keeps the whole
split). Images, as App. C.1: the centre ``crop`` x ``crop`` of the 178 x 218 aligned face (144, the
paper's "we cropped 144 × 144 pixels in the center"; the loader's own default is 148), resized to
``size`` x ``size`` (64: "resized them to 64 × 64 pixels with three channels"), ``[N, 3, 64, 64]``
in [0, 1]. One domain (``d = 0``); the 40 attributes are not attached (Table 2 uses none).

Deviations: the resize filter is Pillow's antialiased bicubic (the authors' torchvision
``Resize`` is bilinear); the validation partition is not loaded (the paper selects by early
stopping on it; the suite keeps the last iterate). Memory: the whole training split is
162,770 x 12,288 float32 values, 8 GB.
"""

from __future__ import annotations

import torch

from benchmarks.contracts import Split, TaskData
from benchmarks.registry import register_task
from benchmarks.sampling import subsample
from saub.seeding import derive_seed

#: App. C.1: the centre crop of the aligned 178 x 218 faces.
CROP = 144
SIZE = 64


@register_task("celeba")
def celeba_task(seed: int, n_train: int | None = None, n_test: int | None = None, crop: int = CROP,
                size: int = SIZE, root=None) -> TaskData:
    """CelebA's official train / test partitions as one domain; see the module docstring."""
    from benchmarks.data.celeba import load_celeba_images, load_celeba_index

    index = load_celeba_index(root=root)
    parts, sizes = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        rows = index.rows(split)
        if len(rows) == 0:
            raise ValueError(f"CelebA folder {index.folder} has no {split} faces in its partition "
                             f"({index.partition_source})")
        chosen = rows[subsample(len(rows), n, derive_seed(seed, "celeba", split)).numpy()]
        x = load_celeba_images(index, chosen, size=size, crop=crop)
        parts[split] = Split(x, torch.zeros(len(x), dtype=torch.int64))
        sizes[split] = len(rows)
    protocol = {
        "n_train": len(parts["train"]), "n_test": len(parts["test"]), "full_sizes": sizes,
        "subsample": {"n_train": n_train, "n_test": n_test,
                      "rule": "seeded choice without replacement per split, file order kept"},
        "partition": index.partition_source,
        "image_size": f"3x{size}x{size}",
        "preprocessing": f"centre crop {crop}x{crop} of the 178x218 aligned face (App. C.1: 144), "
                         "bicubic resize, [0, 1]",
        "labels": "none (the 40 attributes are not used)",
        "model_selection": "last iterate (the paper: early stopping, patience 10, on the validation "
                           "partition)",
    }
    return TaskData(name="celeba", train=parts["train"], test=parts["test"], input_shape=(3, size, size),
                    n_domains=1, protocol=protocol, checksums=dict(index.checksums))
