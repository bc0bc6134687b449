"""How well a metric space separates classes (App. F, Fig. 7).

For every unordered pair {i, j} of a labelled set, the distance d(e_i, e_j) is a score for "the
pair is between classes". :func:`within_between_auroc` is the AUROC of that score against the
truth (y_i != y_j): the probability that a random between-class pair is farther apart than a
random within-class pair (ties count 1/2) — the separation of Fig. 7's two histograms.
:func:`knn_accuracy` is a second, local view: leave-one-out k-nearest-neighbour accuracy.
Distances are Euclidean for pixel space (EP) and 1 - cosine similarity for semantic spaces.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import Tensor

from saub.structural import pairwise_distances


def pair_distances(emb: Tensor, y: Tensor, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(d, between)`` over the N(N-1)/2 pairs i < j: distances and the between-class flag."""
    dist = pairwise_distances(emb.double(), emb.double(), metric)
    i, j = torch.triu_indices(len(emb), len(emb), offset=1)
    y = torch.as_tensor(y)
    return dist[i, j].cpu().numpy(), (y[i] != y[j]).cpu().numpy()


def within_between_auroc(emb: Tensor, y: Tensor, metric: str) -> float:
    """AUROC of the pair distance as a score for "between classes" (0.5 = no separation)."""
    d, between = pair_distances(emb, y, metric)
    if between.all() or not between.any():
        raise ValueError("need pairs both within and between classes (at least two classes, one with 2 rows)")
    return float(roc_auc_score(between, d))


def knn_accuracy(emb: Tensor, y: Tensor, metric: str, k: int = 5) -> float:
    """Leave-one-out k-NN accuracy (majority vote, ties to the smallest label)."""
    dist = pairwise_distances(emb.double(), emb.double(), metric)
    dist.fill_diagonal_(float("inf"))
    nearest = dist.topk(k, largest=False).indices
    y = torch.as_tensor(y)
    votes = torch.nn.functional.one_hot(y[nearest], int(y.max()) + 1).sum(1)
    return float((votes.argmax(1) == y).double().mean())


def distance_histograms(emb: Tensor, y: Tensor, metric: str, bins: int = 50) -> dict:
    """Fig. 7's two histograms as densities on shared bins (compact enough for a record)."""
    d, between = pair_distances(emb, y, metric)
    edges = np.linspace(float(d.min()), float(d.max()), bins + 1)
    within_h, _ = np.histogram(d[~between], edges, density=True)
    between_h, _ = np.histogram(d[between], edges, density=True)
    return {
        "edges": edges.tolist(),
        "within": within_h.tolist(),
        "between": between_h.tolist(),
        "n_within": int((~between).sum()),
        "n_between": int(between.sum()),
    }
