"""The joint critic f_ψ(x, z) of GWAE's merged condition L_D (seed 001, eq. 11, App. B.3, Table 7).

Architecture (Table 7, "Y-shaped"): an x-branch and a z-branch whose feature vectors are
concatenated and multiplied by 0.5, then a stem down to one scalar. Every linear and
convolutional layer is spectrally normalised (Miyato et al. 2018) and the activations are
LeakyReLU(0.2), so f_ψ is (at most) 1-Lipschitz up to the power iteration's estimate. The
branches reuse the suite's bodies (:class:`saub.networks.ConvBody` for ``(C, S, S)`` images,
:class:`saub.networks.MLPBody` for vectors) with those two substitutions; widths are ours (the
authors' 64x64 critic has six stride-2 convolutions and 256-wide z-branch and stem).

Gradient penalty (App. B.3, Gulrajani et al. 2017): on joint interpolates
x̂ = t x + (1 - t) x', ẑ = t z + (1 - t) z' of an inference pair (x, z ~ q_ϕ(z|x)) and a generative
pair (x' = D(z'), z' ~ π_θ), one t ~ U(0, 1) per row,
``GP = E (‖∇_(x̂, ẑ) f_ψ(x̂, ẑ)‖₂ - 1)²`` with the gradient over the concatenation of x̂ and ẑ.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from saub.networks import ConvBody, MLPBody, mlp

LEAKY_SLOPE = 0.2


def lipschitz(module: nn.Module) -> nn.Module:
    """In place: spectral norm on every Linear/Conv2d, every ReLU replaced by LeakyReLU(0.2)."""
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, nn.LeakyReLU(LEAKY_SLOPE))
        elif isinstance(child, (nn.Linear, nn.Conv2d)):
            setattr(module, name, spectral_norm(child))
        else:
            lipschitz(child)
    return module


class JointCritic(nn.Module):
    """f_ψ(x, z) -> ``[B]``: Y-shaped, spectrally normalised (Table 7)."""

    def __init__(self, input_shape: Sequence[int], latent_dim: int, features: int = 64, hidden: int = 256):
        super().__init__()
        shape = tuple(input_shape)
        if len(shape) == 3:
            x_net: nn.Module = ConvBody(shape[0], shape[1], hidden=features)
        elif len(shape) == 1:
            x_net = MLPBody(shape[0], features, n_layers=2)
        else:
            raise ValueError(f"input_shape must be (D,) or (C, S, S), got {shape}")
        self.x_net = lipschitz(x_net)
        self.z_net = lipschitz(MLPBody(latent_dim, features, n_layers=3))
        self.stem = lipschitz(mlp(2 * features, hidden, 1, 3))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        h = 0.5 * torch.cat([self.x_net(x), self.z_net(z)], dim=1)
        return self.stem(h).squeeze(1)


def interpolate(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Row-wise ``t a + (1 - t) b`` with ``t`` ``[B]`` broadcast over the remaining dimensions."""
    t = t.view(-1, *([1] * (a.dim() - 1)))
    return t * a + (1.0 - t) * b


def gradient_penalty(critic: nn.Module, x_q: Tensor, z_q: Tensor, x_p: Tensor, z_p: Tensor,
                     t: Tensor | None = None) -> Tensor:
    """App. B.3: mean over rows of (‖∇_(x̂, ẑ) f(x̂, ẑ)‖ - 1)² on joint interpolates.

    ``(x_q, z_q)`` are inference pairs, ``(x_p, z_p)`` generative pairs, all without gradient
    history; ``t`` ``[B]`` are the interpolation weights (U(0, 1) draws when omitted). The
    result keeps the graph (``create_graph``) so that it can be minimised over ψ.
    """
    if t is None:
        t = torch.rand(x_q.shape[0], device=x_q.device, dtype=x_q.dtype)
    x_hat = interpolate(x_q, x_p, t).requires_grad_(True)
    z_hat = interpolate(z_q, z_p, t).requires_grad_(True)
    f = critic(x_hat, z_hat)
    gx, gz = torch.autograd.grad(f.sum(), [x_hat, z_hat], create_graph=True)
    norm = torch.sqrt(gx.flatten(1).pow(2).sum(1) + gz.pow(2).sum(1))
    return (norm - 1.0).pow(2).mean()
