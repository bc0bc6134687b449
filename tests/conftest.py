"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from benchmarks.contracts import Split, TaskData

#: Shared fixtures of the data tests (``cache``: an empty $SAUB_DATA with loopback-only requests).
pytest_plugins = ["tests.fixtures.data.helpers"]


@pytest.fixture
def single_thread():
    """Run a test with one intra-op thread, then restore the previous setting.

    The unit-test networks are tiny; on the shared 2-core machine two intra-op threads were
    measured 5-50x slower than one (the threads wait on each other and on other processes).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture
def restore_determinism():
    """Undo the global ``torch.use_deterministic_algorithms`` switch of ``seed_everything``."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


# Harness tests register toy experiments in tests/harness_toys.py; worker processes (processes,
# ray executors, subprocess drivers) import them through $SAUB_PLUGINS and need the repo on the path.
os.environ.setdefault("SAUB_PLUGINS", "tests.harness_toys")
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")])
)


@pytest.fixture(scope="module")
def digits_like_task():
    """20 random [1, 28, 28] images per domain; source labels 0..9, target rows -1 (unlabelled)."""
    gen = torch.Generator().manual_seed(5)
    n = 20
    x = torch.rand(2 * n, 1, 28, 28, generator=gen)
    d = torch.cat([torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.int64)])
    y = torch.cat([torch.arange(n) % 10, torch.full((n,), -1)])
    test = Split(x[::2].clone(), d[::2].clone(), (torch.arange(n) % 10).long())
    return TaskData("digits-like", Split(x, d, y), test, (1, 28, 28), 2, 10,
                    protocol={"source_labels_visible": True})
