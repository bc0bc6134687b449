"""MNIST <-> USPS domain adaptation (§5.3, Table 1, App. H.3): tasks ``mnist-usps`` and ``usps-mnist``.

Domain 0 is the *source* (the first dataset of the name, labelled), domain 1 the *target*
(unlabelled during training). Protocol, written into every record through ``TaskData.protocol``:

* **One size, one scaling.** Both datasets are float32 in [0, 1] (MNIST ``k / 255`` from its gray
  levels; USPS as the loader reads it, see :mod:`benchmarks.data.usps`) and both are 28x28:
  USPS is upsampled 16 -> 28 by bilinear interpolation
  (``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``, no antialiasing).
  Bilinear weights are a convex combination of input pixels, so the range stays [0, 1] (a clamp
  removes float rounding at the ends). MNIST is
  used at its native 28x28. Inputs are ``[N, 1, 28, 28]``. (REPRODUCTION.md's known trap: USPS
  must be scaled exactly like MNIST.)
* **Splits.** Train = each dataset's standard train split (MNIST 60,000, USPS 7,291); test = the
  standard test splits (MNIST 10,000, USPS 2,007), both domains, true labels for both. The
  quick/smoke profiles subsample per domain with ``n_source``, ``n_target`` (train) and
  ``n_test`` (test, per domain); ``None`` keeps everything. Subsamples are a seeded choice
  without replacement (seed derived from the task seed and the role), sorted to keep file order.
* **Labels during training** (``source_labels_visible``). ``train.y`` holds the source labels for
  domain-0 rows and ``-1`` for every target row: target training labels never enter the task.
  Domain-adaptation methods (``needs_source_labels = True``) read ``train.y``; the harness passes
  it to them when ``protocol["source_labels_visible"]`` is true. ``test.y`` holds the true labels
  of both domains and is used by metrics only.
* **Model selection**: the last iterate; no target labels are used for any choice.
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchmarks.contracts import Split, TaskData
from benchmarks.data.digit_images import RESIZE, SIZE, load_domain
from benchmarks.registry import register_task
from benchmarks.sampling import subsample
from saub.seeding import derive_seed

FULL_SIZES = {"mnist": {"train": 60000, "test": 10000}, "usps": {"train": 7291, "test": 2007}}
UNLABELLED = -1


def data_checksums(datasets, root=None) -> dict[str, str]:
    """``{"<dataset>/<file>": "sha256:<hex>"}`` of the cached files of ``datasets`` (provenance)."""
    from benchmarks.data import dataset_checksums

    return {f"{ds}/{name}": digest for ds in sorted(set(datasets))
            for name, digest in dataset_checksums(ds, root).items()}


def _two_domain_split(parts: list[tuple[Tensor, Tensor]]) -> Split:
    x = torch.cat([p[0] for p in parts])
    y = torch.cat([p[1] for p in parts])
    d = torch.cat([torch.full((len(p[0]),), i, dtype=torch.int64) for i, p in enumerate(parts)])
    return Split(x, d, y)


def make_digits_task(source: str, target: str, seed: int, n_source: int | None = None,
                     n_target: int | None = None, n_test: int | None = None, root=None) -> TaskData:
    """The ``source -> target`` task; see the module docstring for the protocol."""
    name = f"{source}-{target}"
    data, choices = {}, {}
    for dom in (source, target):
        for split in ("train", "test"):
            x, y, choice = load_domain(dom, split, root)
            data[dom, split], choices[dom, split] = (x, y), choice
    plan = {"source_train": (source, "train", n_source), "target_train": (target, "train", n_target),
            "source_test": (source, "test", n_test), "target_test": (target, "test", n_test)}
    rows = {role: subsample(len(data[dom, split][0]), n, derive_seed(seed, name, role))
            for role, (dom, split, n) in plan.items()}
    xs, ys = (t[rows["source_train"]] for t in data[source, "train"])
    xt, _ = (t[rows["target_train"]] for t in data[target, "train"])
    train = _two_domain_split([(xs, ys), (xt, torch.full((len(xt),), UNLABELLED, dtype=torch.int64))])
    test = _two_domain_split([tuple(t[rows["source_test"]] for t in data[source, "test"]),
                              tuple(t[rows["target_test"]] for t in data[target, "test"])])

    checksums = data_checksums((c.dataset for c in choices.values()), root)
    fmt = {dom: sorted({choices[dom, s].format for s in ("train", "test")}) for dom in (source, target)}
    protocol = {
        "source_domain": f"0 = {source} (labelled)",
        "target_domain": f"1 = {target} (unlabelled)",
        "n_train": {"source": len(xs), "target": len(xt)},
        "n_test": {"source": len(rows["source_test"]), "target": len(rows["target_test"])},
        "full_sizes": {source: FULL_SIZES[source], target: FULL_SIZES[target]},
        "subsample": {"n_source": n_source, "n_target": n_target, "n_test": n_test,
                      "rule": "seeded choice without replacement per domain and split, file order kept"},
        "image_size": "1x28x28",
        "normalisation": "pixels in [0, 1] for both domains: MNIST k/255 of its uint8 gray levels; "
                         "USPS as read from its file (h5 as is, libsvm (v+1)/2); no mean/std standardisation",
        "resize": {"mnist": "none (native 28x28)", "usps": f"16x16 -> 28x28, {RESIZE}"},
        "mnist_source": ",".join(fmt["mnist"]) if "mnist" in fmt else None,
        "usps_source": ",".join(fmt["usps"]) if "usps" in fmt else None,
        "source_labels_visible": True,
        "labels": "train.y = source labels on domain-0 rows, -1 on target rows (target training labels "
                  "are replaced by -1 when the task is built); test.y = true labels of both domains, "
                  "for metrics only",
        "model_selection": "last iterate, no target labels",
    }
    return TaskData(name=name, train=train, test=test, input_shape=(1, SIZE, SIZE), n_domains=2,
                    n_classes=10, protocol=protocol, checksums=checksums)


@register_task("mnist-usps")
def mnist_usps(seed: int, n_source: int | None = None, n_target: int | None = None,
               n_test: int | None = None, root=None) -> TaskData:
    """MNIST (source, labelled) -> USPS (target); see :func:`make_digits_task`."""
    return make_digits_task("mnist", "usps", seed, n_source, n_target, n_test, root)


@register_task("usps-mnist")
def usps_mnist(seed: int, n_source: int | None = None, n_target: int | None = None,
               n_test: int | None = None, root=None) -> TaskData:
    """USPS (source, labelled) -> MNIST (target); see :func:`make_digits_task`."""
    return make_digits_task("usps", "mnist", seed, n_source, n_target, n_test, root)


DIRECTIONS = {"mnist-usps": ("mnist", "usps"), "usps-mnist": ("usps", "mnist")}


@register_task("digits")
def digits(seed: int, direction: str = "mnist-usps", n_source: int | None = None,
           n_target: int | None = None, n_test: int | None = None, root=None) -> TaskData:
    """Either direction as one task, so an experiment can sweep ``task.direction``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; valid directions: {', '.join(DIRECTIONS)}")
    return make_digits_task(*DIRECTIONS[direction], seed, n_source, n_target, n_test, root)
