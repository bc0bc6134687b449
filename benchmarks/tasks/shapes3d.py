"""3D Shapes as one domain (task ``shapes3d``): the data of GWAE's disentanglement results (seed 001,
§4.3, Table 1, Fig. 2).

Loading, split and factors are those of :mod:`benchmarks.data.shapes3d`: images ``[N, 3, 64, 64]``
in [0, 1]; App. C.1's fixed random split 384,000 / 48,000 / 48,000; from the train and test parts,
``n_train`` / ``n_test`` seeded subsamples without replacement in file order (``None`` keeps all;
the validation part is not used, see below). One domain (``d = 0``).

``y`` holds the 9-dimensional factors of variation (``float32 [N, 9]``: three hues, scale, four
dummies of shape, orientation, every column in [0, 1]; column names in ``protocol["factors"]``),
not class labels: :class:`~benchmarks.contracts.Split` allows any tensor there, rows aligned with
``x``. The harness hides ``y`` from training (``source_labels_visible`` is not set), so only metrics
(DCI, :mod:`benchmarks.metrics.dci`) read it; ``n_classes`` is ``None``.

Deviation from the paper: GWAE tuned λ on the validation part's DCI-C and stopped early on it
(patience 10); the suite fixes λ and keeps the last iterate, so it reads no validation images.
"""

from __future__ import annotations

import torch

from benchmarks.contracts import Split, TaskData
from benchmarks.data.shapes3d import FACTOR_COLUMNS, SPLIT_SHARES, load_shapes3d
from benchmarks.registry import register_task
from benchmarks.sampling import subsample
from saub.seeding import derive_seed


@register_task("shapes3d")
def shapes3d_task(seed: int, n_train: int | None = None, n_test: int | None = None, root=None) -> TaskData:
    """3D Shapes as one domain; see the module docstring for the protocol."""
    data = load_shapes3d(root)
    parts, full = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        rows = data.rows(split)
        full[split] = len(rows)
        rows = rows[subsample(len(rows), n, derive_seed(seed, "shapes3d", split)).numpy()]
        parts[split] = Split(torch.from_numpy(data.images(rows)), torch.zeros(len(rows), dtype=torch.int64),
                             torch.from_numpy(data.factors(rows)))
    protocol = {
        "n_train": len(parts["train"]), "n_test": len(parts["test"]), "full_sizes": full,
        "split": f"fixed random split of all {len(data)} images, shares {SPLIT_SHARES} (App. C.1)",
        "subsample": {"n_train": n_train, "n_test": n_test,
                      "rule": "seeded choice without replacement per split, file order kept"},
        "image_size": "3x64x64",
        "normalisation": "pixels in [0, 1], k/255 of the uint8 RGB values",
        "factors": list(FACTOR_COLUMNS),
        "factor_scaling": "hues as stored; (scale - 0.75) / 0.5; shape as 4 dummies; orientation / 60 + 0.5",
        "labels": "y = the 9 factors, hidden during training; test.y for metrics only",
        "model_selection": "last iterate, fixed λ (the paper: λ tuned on validation DCI-C, early stopping, "
                           "patience 10)",
    }
    return TaskData(name="shapes3d", train=parts["train"], test=parts["test"], input_shape=(3, 64, 64),
                    n_domains=1, n_classes=None, protocol=protocol, checksums=dict(data.checksums))
