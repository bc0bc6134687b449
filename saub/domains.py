"""The rows of each domain in a mixed-domain batch: a slice where they form one contiguous block.

Balanced batches (:func:`benchmarks.sampling.balanced_batches`) hold each domain's rows as one
block, so a slice selects them: a view, without the index computation, gather and (backward)
scatter of a boolean mask, which cost about 10 % of a small VAUB step on CPU (``make bench``).
Any other layout gets boolean masks. Either way the rows are the same, in the same order, and the
domains come in ascending order, so every result is identical to masking by ``d == dom``.
"""

from __future__ import annotations

from itertools import accumulate

import torch
from torch import Tensor


def domain_rows(d: Tensor) -> list[tuple[int, slice | Tensor]]:
    """``[(domain, rows)]`` for each domain present in ``d`` ``[B]``, ascending; ``rows`` indexes the
    batch's rows of that domain (a ``slice`` when they are contiguous, else a boolean mask)."""
    values, counts = torch.unique_consecutive(d, return_counts=True)
    values, counts = values.tolist(), counts.tolist()
    if len(set(values)) < len(values):  # some domain's rows are split into several blocks
        return [(v, d == v) for v in sorted(set(values))]
    starts = [0, *accumulate(counts)]
    return sorted((v, slice(start, start + n)) for v, start, n in zip(values, starts, counts))
