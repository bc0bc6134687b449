"""Seeds derived from names, and deterministic execution on CPU."""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch


def derive_seed(*names: object) -> int:
    """A 31-bit seed from a hash of the names: adding a name elsewhere never moves this seed."""
    key = "\x1f".join(str(n) for n in names).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (every device); optionally force deterministic torch algorithms
    (on a GPU also cuBLAS's deterministic workspace, which must be set before cuBLAS starts, and no
    cuDNN autotuning)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
