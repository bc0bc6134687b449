"""Test ELBO of a Gaussian VAE (seed 002, eq. 1; its App. B.2 reports the negative ELBO).

``test_elbo`` is the mean over the test rows of F(x) = E_q[log p(x|z)] − D_KL[q(z|x)||Q_ψ(z)] with
the fitted prior Q_ψ, estimated with :data:`N_SAMPLES` draws z ~ q(z|x) per row (the KL by Monte
Carlo, :func:`saub.score_matching.elbo` with ``kl="mc"``), in nats per datum (summed over the input's
coordinates). Defined only where log Q_ψ(z) is known: a score prior (only ∇ log Q) or an energy prior
(log Z_ψ unknown) gives "n/a", as does a method without the capability (:meth:`elbo`).
"""

from __future__ import annotations

import torch

from benchmarks.contracts import TaskData, Unsupported
from benchmarks.registry import register_metric

#: Posterior samples per test row.
N_SAMPLES = 16


@register_metric("test-elbo")
def test_elbo(method, task: TaskData, seed: int) -> dict:
    """Seed 002 eq. (1) on the test split, mean over rows (module docstring)."""
    elbo = getattr(method, "elbo", None)
    if elbo is None:
        raise Unsupported(f"{type(method).__name__} has no ELBO")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        values = elbo(task.test.x, task.test.d, N_SAMPLES)
    return {"test_elbo": float(values.mean())}
