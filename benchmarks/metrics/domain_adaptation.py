"""Domain-adaptation metrics (§5.3, Table 1, App. H.3; App. D / Fig. 6 for limited source labels).

``target-accuracy``: App. H.3's post-hoc protocol. After the method's encoder is learned, a
classifier of 2 linear layers with a ReLU is trained on the latents of the labelled SOURCE
training rows (``method.encode`` with d = 0) and evaluated on the TARGET test split
(``method.encode`` with the target's d). Every method is scored this way, so all Table 1 rows
share one classifier. The classifier trains for a fixed number of epochs and the last iterate is
scored: no target label is used for any choice.

``label-fraction-accuracy``: App. D / Fig. 6's limited-source-label protocol. The same post-hoc
classifier, trained on a random :data:`LABEL_FRACTIONS` share of the labelled source rows
(``max(1, round(f * n))`` rows, a fresh draw per trial), :data:`FRACTION_TRIALS` trials per
fraction; the record keeps every trial's target accuracy.

``own-classifier-accuracy``: the target-test accuracy of a method's own classifier
(``method.predict``; DANN's label predictor, ADDA's source classifier on the target encoder);
methods without one raise :class:`~benchmarks.contracts.Unsupported` and the record says "n/a".

Post-hoc classifier defaults (the paper gives only "2 linear layers and a ReLU"): hidden width 100
(as DANN's small label predictor), Adam lr 1e-3, batch 256, 30 epochs over the labelled rows and
at least 300 steps (so a handful of labels, Fig. 6, still trains to convergence), no input
standardisation (``standardize=True`` centres and scales by the labelled source rows' statistics).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from benchmarks.contracts import TaskData
from benchmarks.metrics.fitting import fit_cross_entropy
from benchmarks.registry import register_metric
from saub.networks import mlp
from saub.seeding import derive_seed

#: Fig. 6's fractions of labelled source rows: {0.04, 0.1, 0.2, 0.5, 1, 5, 10, 100} %.
LABEL_FRACTIONS = (0.0004, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 1.0)
#: Fig. 6: "results averaged over 10 trials".
FRACTION_TRIALS = 10


def choose_labelled(n: int, label_fraction: float, seed: int) -> Tensor:
    """Rows of a seeded random subset of ``max(1, round(label_fraction * n))`` labelled rows."""
    if not 0 < label_fraction <= 1:
        raise ValueError(f"label_fraction must lie in (0, 1], got {label_fraction}")
    k = n if label_fraction == 1 else max(1, round(label_fraction * n))
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=gen)[:k]


def train_classifier(z: Tensor, y: Tensor, n_classes: int, seed: int, n_layers: int = 2, hidden: int = 100,
                     epochs: int = 30, lr: float = 1e-3, batch_size: int = 256, min_steps: int = 300):
    """An MLP classifier (:func:`saub.networks.mlp`, ``n_layers`` linear layers with ReLUs) trained by
    :func:`~benchmarks.metrics.fitting.fit_cross_entropy` on ``(z, y)`` for ``max(epochs * ceil(N /
    batch_size), min_steps)`` steps; returns the last iterate in ``eval`` mode. Initialisation and batch order
    derive from ``seed`` (names ``posthoc-init``, ``posthoc-classifier``); the global RNG is untouched."""
    gen = torch.Generator().manual_seed(derive_seed(seed, "posthoc-classifier"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "posthoc-init"))
        clf = mlp(z.shape[1], hidden, n_classes, n_layers).to(z.device)
    steps = max(epochs * math.ceil(len(z) / batch_size), min_steps)
    return fit_cross_entropy(clf, z, y, steps=steps, generator=gen, lr=lr, batch_size=batch_size)


def posthoc_accuracy(z_src: Tensor, y_src: Tensor, z_tgt: Tensor, y_tgt: Tensor, seed: int,
                     label_fraction: float = 1.0, epochs: int = 30, hidden: int = 100,
                     lr: float = 1e-3, batch_size: int = 256, min_steps: int = 300,
                     standardize: bool = False,
                     also: dict[str, tuple[Tensor, Tensor]] | None = None) -> dict[str, float]:
    """Train a 2-linear-layer ReLU classifier on (a ``label_fraction`` of) the source latents and
    labels; return its accuracy on the target latents, and on the labelled source rows.

    Returns ``{"accuracy", "source_accuracy", "n_labels"}`` and ``"<name>_accuracy"`` on each further
    evaluation set ``also = {name: (z, y)}``; the last iterate is scored.
    """
    z_src, z_tgt = z_src.detach().float(), z_tgt.detach().float()
    y_src, y_tgt = y_src.long(), y_tgt.long()
    if len(z_src) != len(y_src) or len(z_tgt) != len(y_tgt):
        raise ValueError("latents and labels must have the same number of rows")
    rows = choose_labelled(len(z_src), label_fraction, derive_seed(seed, "posthoc-labels"))
    zs, ys = z_src[rows], y_src[rows]
    if standardize:
        mean, std = zs.mean(0), zs.std(0, unbiased=False).clamp_min(1e-6)
        zs, z_tgt = (zs - mean) / std, (z_tgt - mean) / std
    n_classes = int(max(int(y_src.max()), int(y_tgt.max()))) + 1
    clf = train_classifier(zs, ys, n_classes, seed, n_layers=2, hidden=hidden, epochs=epochs, lr=lr,
                           batch_size=batch_size, min_steps=min_steps)
    extra = {}
    with torch.no_grad():
        acc = float((clf(z_tgt).argmax(1) == y_tgt).float().mean())
        src_acc = float((clf(zs).argmax(1) == ys).float().mean())
        for name, (z_eval, y_eval) in (also or {}).items():
            z_eval = z_eval.detach().float()
            if standardize:
                z_eval = (z_eval - mean) / std
            extra[f"{name}_accuracy"] = float((clf(z_eval).argmax(1) == y_eval.long()).float().mean())
    return {"accuracy": acc, "source_accuracy": src_acc, "n_labels": int(len(zs)), **extra}


def _source_train(task: TaskData) -> tuple[Tensor, Tensor, Tensor]:
    train = task.train
    if train.y is None:
        raise ValueError(f"task {task.name!r} has no training labels for the post-hoc classifier")
    rows = (train.d == 0) & (train.y >= 0)
    return train.x[rows], train.d[rows], train.y[rows]


def _test_rows(task: TaskData, source: bool) -> tuple[Tensor, Tensor, Tensor]:
    test = task.test
    if test.y is None:
        raise ValueError(f"task {task.name!r} has no test labels")
    rows = (test.d == 0) if source else (test.d != 0)
    return test.x[rows], test.d[rows], test.y[rows]


def _target_test(task: TaskData) -> tuple[Tensor, Tensor, Tensor]:
    return _test_rows(task, source=False)


@register_metric("target-accuracy")
def target_accuracy(method, task: TaskData, seed: int) -> dict:
    """App. H.3: post-hoc classifier on source training latents, accuracy on the target test split.

    Also ``source_val_accuracy``: the same classifier on the *source* test split, rows never trained
    on, with source labels only: the label-free model-selection signal of
    :mod:`benchmarks.search` (DomainBed's training-domain validation)."""
    xs, ds, ys = _source_train(task)
    xt, dt, yt = _target_test(task)
    xv, dv, yv = _test_rows(task, source=True)
    out = posthoc_accuracy(method.encode(xs, ds), ys, method.encode(xt, dt), yt, seed=seed,
                           also={"source_val": (method.encode(xv, dv), yv)})
    return {"target_accuracy": out["accuracy"], "posthoc_source_train_accuracy": out["source_accuracy"],
            "source_val_accuracy": out["source_val_accuracy"], "posthoc_n_labels": out["n_labels"]}


def fraction_key(fraction: float) -> str:
    """The record key of a label fraction, in percent: ``0.0004 -> "0.04%"``."""
    return f"{100 * fraction:g}%"


@register_metric("label-fraction-accuracy")
def label_fraction_accuracy(method, task: TaskData, seed: int) -> dict:
    """App. D: target accuracy of the post-hoc classifier per labelled-source fraction and trial.

    Returns ``{"label_fraction_accuracy": {"0.04%": [acc per trial], ...},
    "label_fraction_n_labels": {"0.04%": k, ...}}``; trial ``t`` of fraction ``f`` draws its
    labelled rows and its classifier from ``derive_seed(seed, "fraction", f, t)``.
    """
    xs, ds, ys = _source_train(task)
    xt, dt, yt = _target_test(task)
    zs, zt = method.encode(xs, ds), method.encode(xt, dt)
    accuracy, n_labels = {}, {}
    for f in LABEL_FRACTIONS:
        runs = [posthoc_accuracy(zs, ys, zt, yt, seed=derive_seed(seed, "fraction", f, t), label_fraction=f)
                for t in range(FRACTION_TRIALS)]
        accuracy[fraction_key(f)] = [r["accuracy"] for r in runs]
        n_labels[fraction_key(f)] = runs[0]["n_labels"]
    return {"label_fraction_accuracy": accuracy, "label_fraction_n_labels": n_labels}


@register_metric("own-classifier-accuracy")
def own_classifier_accuracy(method, task: TaskData, seed: int) -> dict:
    """Target-test accuracy of the method's own classifier (``predict``); Unsupported without one."""
    xt, dt, yt = _target_test(task)
    logits = method.predict(xt, dt)
    if logits.dim() != 2:
        raise ValueError(f"{type(method).__name__}.predict must return class scores [N, n_classes]")
    return {"own_target_accuracy": float((logits.argmax(1) == yt).float().mean())}
