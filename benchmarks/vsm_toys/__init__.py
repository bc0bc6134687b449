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


def validate_rows_and_sweeps(experiment, option: str, valid: tuple, sweeps: dict[str, tuple | None]) -> None:
    """Refuse, naming the valid choices, an experiment of this package whose rows (which train no
    registered method) do not set ``option`` to one of ``valid``, or whose profiles sweep a key not
    in ``sweeps`` or a value outside ``sweeps[key]`` (``None``: any value)."""
    bad = [r.label for r in experiment.rows if r.overrides.get(option) not in valid]
    if bad:
        raise ValueError(f"{experiment.name} rows must set {option} to one of {valid}, got rows {bad}")
    for pname, prof in experiment.profiles.items():
        stray = sorted(set(prof.sweep) - set(sweeps))
        if stray:
            raise ValueError(f"profile {pname!r}: unknown sweep keys {stray}; valid: {sorted(sweeps)}")
        for key, values in prof.sweep.items():
            unknown = [v for v in values if sweeps[key] is not None and v not in sweeps[key]]
            if unknown:
                raise ValueError(f"profile {pname!r}: {key} values {unknown}; valid: {sweeps[key]}")
