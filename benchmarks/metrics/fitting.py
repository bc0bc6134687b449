"""Fitting a scoring classifier: the one training loop every post-hoc metric's classifier shares.

:func:`fit_cross_entropy` trains a given network by Adam on the cross-entropy of ``(inputs, labels)``
over shuffled epochs: each epoch is one permutation from the caller's generator, cut into minibatches
of ``batch_size`` rows, the last one shorter when ``batch_size`` does not divide N. The post-hoc
latent classifiers (:func:`benchmarks.metrics.domain_adaptation.train_classifier`) and the
substitute sample-quality feature network
(:class:`benchmarks.metrics.sample_quality.ClassifierFeatures`) both train through it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def fit_cross_entropy(
    model: nn.Module,
    inputs: Tensor,
    labels: Tensor,
    *,
    steps: int,
    generator: torch.Generator,
    lr: float = 1e-3,
    batch_size: int = 256,
) -> nn.Module:
    """``steps`` Adam steps (learning rate ``lr``) on the mean cross-entropy of ``model(inputs[idx])``
    against ``labels[idx]``, ``idx`` the successive minibatches of fresh permutations of the rows drawn
    from ``generator`` (module docstring); returns ``model``, its last iterate, in ``eval`` mode. The
    global random state is not read (the caller initialises ``model``)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.randperm(len(inputs), generator=generator)
    pos = 0
    model.train()
    for _ in range(steps):
        if pos >= len(order):
            order, pos = torch.randperm(len(inputs), generator=generator), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        loss = F.cross_entropy(model(inputs[idx]), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()
