"""Retrieval accuracy of translations (§5.4, Table 2).

Embed each original image (query i, ``e_i``) and every translated image (gallery, ``t_j``, the
translation of original j). For each query, rank the whole gallery by cosine similarity
``cos(e_i, t_j)``; the query is a hit at k when its own translation t_i is among the first k.
Top-k accuracy is the share of hits. Ties are counted against the query: the rank of t_i is the
number of other gallery items at least as similar, so a constant embedding scores 0, not 1.
Chance level for a gallery of N is k / N (k% for the paper's N = 100).
"""

from __future__ import annotations

from torch import Tensor

from saub.semantic import l2_normalise

KS = (1, 5, 10, 20)


def retrieval_ranks(originals: Tensor, translations: Tensor) -> Tensor:
    """``[N]`` 0-based rank of each query's own translation among all N translations."""
    if originals.shape != translations.shape:
        raise ValueError(
            f"originals {tuple(originals.shape)} and translations {tuple(translations.shape)} "
            "must be aligned row by row"
        )
    sim = l2_normalise(originals.double()) @ l2_normalise(translations.double()).T
    own = sim.diagonal().unsqueeze(1)
    return (sim >= own).sum(1) - 1  # other gallery items at least as similar


def topk_accuracy(originals: Tensor, translations: Tensor, ks=KS) -> dict[str, float]:
    """``{"top1": ..., "top5": ...}``: share of queries whose own translation ranks within k."""
    ranks = retrieval_ranks(originals, translations)
    return {f"top{k}": float((ranks < k).double().mean()) for k in ks}
