"""Sampling shared by methods and tasks: balanced mini-batches (every method) and the seeded row
subsample of a split (every task with ``n_train`` / ``n_test``-style sizes)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from benchmarks.contracts import Split


def balanced_batches(split: Split, batch_size: int, generator: torch.Generator) -> Iterator[Split]:
    """Endless batches with ``batch_size // D`` rows of each of the D domains.

    Each domain's rows are drawn without replacement within a batch (all of them when the
    domain has fewer rows), so small synthetic sets are used whole and BatchNorm always sees a
    single domain's statistics per encoder. A batch needs at least 2 rows per domain (BatchNorm of a
    single row is undefined): a smaller ``batch_size`` is an error, not silently enlarged.
    """
    domains = torch.unique(split.d).tolist()
    if batch_size < 2 * len(domains):
        raise ValueError(f"batch_size {batch_size} is too small for {len(domains)} domains: need at least "
                         f"2 rows per domain, i.e. batch_size >= {2 * len(domains)}")
    per = batch_size // len(domains)
    rows = {dom: torch.nonzero(split.d == dom).squeeze(1) for dom in domains}
    while True:
        picks = []
        for dom in domains:
            idx = rows[dom]
            take = min(per, idx.numel())
            picks.append(idx[torch.randperm(idx.numel(), generator=generator)[:take]])
        yield split.subset(torch.cat(picks))


def subsample(n_total: int, n: int | None, seed: int) -> Tensor:
    """Sorted indices of ``n`` of ``n_total`` rows drawn without replacement with ``seed`` (all rows,
    in order, when ``n`` is None or at least ``n_total``): file order kept, so a subsample is the same
    rows whatever else the task builds."""
    if n is None or n >= n_total:
        return torch.arange(n_total)
    if n < 1:
        raise ValueError(f"subsample size must be >= 1 or None, got {n}")
    gen = torch.Generator().manual_seed(seed)
    return torch.sort(torch.randperm(n_total, generator=gen)[:n]).values
