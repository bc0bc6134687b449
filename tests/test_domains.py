"""saub.domains.domain_rows selects exactly the rows a ``d == dom`` mask selects, domains ascending."""

from __future__ import annotations

import pytest
import torch

from saub.domains import domain_rows


@pytest.mark.parametrize("d, kind", [
    ([0, 0, 0, 1, 1], slice),        # balanced batches: one block per domain
    ([2, 2, 0, 0, 0, 1], slice),     # blocks out of order: still slices, listed ascending
    ([0, 1, 0, 1, 1], torch.Tensor),  # interleaved: masks
    ([3], slice),
])
def test_rows_are_the_masked_rows(d, kind):
    d = torch.tensor(d)
    x = torch.arange(len(d) * 3.0).reshape(len(d), 3)
    rows = domain_rows(d)
    assert [dom for dom, _ in rows] == sorted(set(d.tolist()))
    for dom, r in rows:
        assert isinstance(r, kind)
        assert torch.equal(x[r], x[d == dom])


def test_a_blocked_batch_gives_slices_of_the_block_bounds():
    assert domain_rows(torch.tensor([1, 1, 0, 0, 0])) == [(0, slice(2, 5)), (1, slice(0, 2))]
    assert domain_rows(torch.tensor([], dtype=torch.long)) == []
