"""Metrics of translated images: Table 2's retrieval (§5.4) and Fig. 8's rotations (App. G).

A translation encodes with the source domain's encoder (posterior mean) and decodes with the
target domain's decoder (``method.translate``). The VAUB family's decoder returns the mean of a
Gaussian likelihood, which can leave [0, 1] slightly; :func:`translate_images` clips it to the
image range before anything embeds or compares it.

``translation-retrieval`` (Table 2): on the task's test images, for each direction a -> b, embed
every original of domain a and every translation in the task's semantic space
(``task.protocol["semantic_space"]``) and score top-k retrieval (:mod:`benchmarks.metrics.retrieval`,
k in {1, 5, 10, 20}). Keys ``retrieval_<a>to<b>_top<k>``.

``rotated-translation`` (Fig. 8, on ``rotated-mnist``): each test image of domain 0 (0°) is
translated to every other domain k (angle a_k), and two questions are scored per target:

* *is the digit kept?* ``digit_acc_to<k>``: accuracy on the translations of a pixel classifier
  trained on domain k's labelled training images (labels used by this metric only; the post-hoc
  MLP of :func:`benchmarks.metrics.domain_adaptation.train_classifier`), beside
  ``digit_acc_real<k>``, the same classifier on domain k's real test images (its ceiling);
* *is the rotation right?* ``rotation_acc_to<k>``: share of translations whose nearest
  (pixel MSE) among the rotations of their own source image by every angle of the task is the
  rotation by a_k (chance 1 / number of angles); ``rotation_mse_to<k>``: MSE to that rotation;
  ``rotation_nearest<a>_to<k>``: share whose nearest is the rotation by angle a (every angle of
  the task, so a failed translation shows which rotation it stayed at).
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchmarks.contracts import TaskData
from benchmarks.metrics.domain_adaptation import train_classifier
from benchmarks.metrics.retrieval import KS, topk_accuracy
from benchmarks.registry import register_metric
from saub.seeding import derive_seed


def translate_images(method, x: Tensor, d_from: int, d_to: int) -> Tensor:
    """``method.translate`` clipped to the image range [0, 1]."""
    return method.translate(x, d_from, d_to).clamp(0.0, 1.0)


def domain_rows(split, dom: int) -> Tensor:
    return torch.nonzero(split.d == dom).flatten()


def retrieval_scores(originals: Tensor, translations: Tensor, embedder, ks=KS) -> dict[str, float]:
    """Top-k retrieval of ``translations`` by ``originals``, both embedded by ``embedder``."""
    from saub.semantic import embed_batches

    return topk_accuracy(embed_batches(embedder, originals), embed_batches(embedder, translations), ks)


@register_metric("translation-retrieval")
def translation_retrieval(method, task: TaskData, seed: int) -> dict:
    """§5.4: top-k retrieval of each domain's translations, both directions of a two-domain task."""
    from benchmarks.semantic import build_embedder

    embedder = build_embedder(task.protocol["semantic_space"])
    out = {}
    for a, b in ((0, 1), (1, 0)):
        x = task.test.x[domain_rows(task.test, a)]
        scores = retrieval_scores(x, translate_images(method, x, a, b), embedder)
        out.update({f"retrieval_{a}to{b}_{k}": v for k, v in scores.items()})
    return out


@register_metric("rotated-translation")
def rotated_translation(method, task: TaskData, seed: int) -> dict:
    """App. G / Fig. 8: digit kept and rotation right for translations from 0° to every other angle."""
    from benchmarks.tasks.rotated_mnist import rotate

    angles = task.protocol["angles"]
    src = domain_rows(task.test, 0)
    x0, y0 = task.test.x[src], task.test.y[src]
    candidates = torch.stack([rotate(x0, a) for a in angles])  # [A, n, 1, H, W]
    out = {}
    for k in range(1, len(angles)):
        t = translate_images(method, x0, 0, k)
        train_k, test_k = domain_rows(task.train, k), domain_rows(task.test, k)
        clf = train_classifier(task.train.x[train_k].flatten(1), task.train.y[train_k], 10,
                               seed=derive_seed(seed, "digit-classifier", k))
        with torch.no_grad():
            out[f"digit_acc_to{k}"] = float((clf(t.flatten(1)).argmax(1) == y0).double().mean())
            real = clf(task.test.x[test_k].flatten(1)).argmax(1)
            out[f"digit_acc_real{k}"] = float((real == task.test.y[test_k]).double().mean())
        mse = ((candidates - t.unsqueeze(0)) ** 2).flatten(2).mean(2)  # [A, n]
        nearest = mse.argmin(0)
        out[f"rotation_acc_to{k}"] = float((nearest == k).double().mean())
        for j, angle in enumerate(angles):
            out[f"rotation_nearest{angle:g}_to{k}"] = float((nearest == j).double().mean())
        out[f"rotation_mse_to{k}"] = float(mse[k].mean())
    return out
