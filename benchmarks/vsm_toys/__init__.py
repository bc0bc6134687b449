"""The toy studies of Wenliang, "On the failure of variational score matching for VAE models" (seed 002).

* :mod:`~benchmarks.vsm_toys.recovery` — §3.1, Fig. 1: parameter recovery by joint FD vs joint KL;
* :mod:`~benchmarks.vsm_toys.posteriors` — §3.3.2, Fig. 2: Gaussian q fitted to the posteriors of the
  likelihoods p_I and p_II (eq. 11) by KL or FD, with or without reparameterisation, SGD or Adam.

Both build on :mod:`saub.score_matching` (the objectives, by autograd); the closed forms here are the
references the tests and the reports compare them with.
"""

from __future__ import annotations

import torch
from torch import Tensor


def tail_average(trajectory: Tensor, fraction: float = 0.1) -> Tensor:
    """The mean of the last ``fraction`` of the iterates ``[T, ...]`` (at least one): the reported
    solution of a stochastic-gradient run (Polyak averaging over its tail, so that the Monte Carlo
    jitter of the last step does not enter the solution)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    keep = max(1, round(fraction * trajectory.shape[0]))
    return trajectory[-keep:].mean(0)


def optimizer_for(name: str, params: list[Tensor], lr: float) -> torch.optim.Optimizer:
    """``"sgd"`` (plain, no momentum) or ``"adam"`` (torch defaults, β = (0.9, 0.999))."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](params, lr=lr)


OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
