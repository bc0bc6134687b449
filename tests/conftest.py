"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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
