"""Fixtures of the performance benchmarks."""

import pytest
import torch

from tests.perf.encoder_update import THREADS


@pytest.fixture
def bench_threads():
    """Time at ``THREADS`` intra-op threads ($SAUB_BENCH_THREADS, default 1: as the harness trains every
    cell; two threads of these small networks on the shared 2-core machine mostly wait for each other)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
