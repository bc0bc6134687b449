"""Table 2's retrieval accuracy and Fig. 7's within/between-class separation, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.metrics.pair_separation import (
    distance_histograms,
    knn_accuracy,
    pair_distances,
    within_between_auroc,
)
from benchmarks.metrics.retrieval import retrieval_ranks, topk_accuracy


def test_retrieval_ranks_of_a_hand_made_case():
    angles = torch.tensor([0.0, 20.0, 60.0, 90.0]).deg2rad()
    originals = torch.stack([angles.cos(), angles.sin()], 1)
    # translations 0 and 1 swapped: queries 0 and 1 see the other's translation first
    translations = originals[[1, 0, 2, 3]] * torch.tensor([[2.0], [0.5], [3.0], [1.0]])
    assert retrieval_ranks(originals, translations).tolist() == [1, 1, 0, 0]
    assert topk_accuracy(originals, translations, ks=(1, 2)) == {"top1": 0.5, "top2": 1.0}


def test_ties_count_against_the_query():
    originals = torch.randn(5, 3)
    constant = torch.ones(5, 3)
    assert retrieval_ranks(originals, constant).tolist() == [4] * 5
    assert topk_accuracy(originals, constant, ks=(1,)) == {"top1": 0.0}


def test_random_embeddings_retrieve_at_chance_level():
    gen = torch.Generator().manual_seed(0)
    n, reps = 100, 200
    hits = {k: 0.0 for k in (1, 5, 10, 20)}
    for _ in range(reps):
        acc = topk_accuracy(torch.randn(n, 16, generator=gen), torch.randn(n, 16, generator=gen))
        for k in hits:
            hits[k] += acc[f"top{k}"] / reps
    for k, value in hits.items():  # chance is k / N; binomial std over 20,000 queries < 0.003
        assert value == pytest.approx(k / n, abs=0.01)


def test_retrieval_needs_aligned_rows():
    with pytest.raises(ValueError, match="aligned"):
        retrieval_ranks(torch.randn(3, 2), torch.randn(4, 2))


def test_auroc_of_hand_made_pairs():
    emb = torch.tensor([[0.0], [0.1], [5.0], [5.2]])
    y = torch.tensor([0, 0, 1, 1])
    assert within_between_auroc(emb, y, "euclidean") == 1.0
    # interleaved: within {5.0, 5.1}, between {0.1, 5.2, 4.9, 0.2}; only 5.2 beats both -> 2 / 8
    assert within_between_auroc(emb, torch.tensor([0, 1, 0, 1]), "euclidean") == pytest.approx(0.25)
    assert knn_accuracy(emb, y, "euclidean", k=1) == 1.0


def test_auroc_is_the_mann_whitney_probability():
    gen = torch.Generator().manual_seed(1)
    emb, y = torch.randn(30, 4, generator=gen), torch.randint(0, 3, (30,), generator=gen)
    d, between = pair_distances(emb, y, "cosine")
    assert len(d) == 30 * 29 // 2
    pos, neg = d[between], d[~between]
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert within_between_auroc(emb, y, "cosine") == pytest.approx(brute, abs=1e-12)


def test_knn_majority_vote_by_hand():
    emb = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0]])
    y = torch.tensor([0, 0, 1, 1, 1])
    # leave-one-out 3-NN votes: row0 {0,1,1}->1 wrong; row1 {0,1,1}->1 wrong; row2 {0,0,1}->0 wrong;
    # row3 {1,1,0}->1 right; row4 {1,1,0}->1 right
    assert knn_accuracy(emb, y, "euclidean", k=3) == pytest.approx(2 / 5)


def test_histograms_are_densities_on_shared_bins():
    emb, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    h = distance_histograms(emb, y, "euclidean", bins=10)
    widths = np.diff(h["edges"])
    assert np.sum(np.asarray(h["within"]) * widths) == pytest.approx(1.0)
    assert h["n_within"] + h["n_between"] == 40 * 39 // 2
