"""The mutation check's breakages still apply to the code (one line each) and refuse stale lines."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.mutation import MUTATIONS, apply, make_copy
from benchmarks.runner import REPO_ROOT


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_changes_exactly_one_line_of_its_file(mutation, tmp_path):
    copy = make_copy(REPO_ROOT, tmp_path)
    before = (copy / mutation.path).read_text().splitlines()
    apply(mutation, copy)
    after = (copy / mutation.path).read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1
    assert changed[0][0].strip() == mutation.line and changed[0][1].strip() == mutation.replacement
    assert (REPO_ROOT / mutation.path).read_text().splitlines() == before  # the checkout is untouched


def test_a_mutation_whose_line_is_gone_is_an_error(tmp_path):
    stale = dataclasses.replace(MUTATIONS[0], line="this line is not in the file")
    with pytest.raises(ValueError, match="found it 0 times; update MUTATIONS"):
        apply(stale, make_copy(REPO_ROOT, tmp_path))
