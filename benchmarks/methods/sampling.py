"""Mini-batch sampling shared by every method."""

from __future__ import annotations

from collections.abc import Iterator

import torch

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
