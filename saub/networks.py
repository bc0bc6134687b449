"""Encoders and decoders for the VAUB family (eq. 6) and the Gaussian posterior of App. C.

Shapes: a vector input is ``[B, D]``; an image input is ``[B, C, H, W]`` with ``H = W`` in
{16, 28, 32, 64}. Every encoder returns the posterior parameters ``(mean, logvar)`` of shape
``[B, latent_dim]``; every decoder maps ``[B, latent_dim]`` back to the input shape.

App. C: the posterior *mean* passes through ``BatchNorm1d(affine=False)``, which centres and
scales the latent codes of each batch and keeps them inside the region where the score model
is trained. The log-variance head is left unnormalised.

In eval mode BatchNorm normalises by its running averages. A batch of the multi-domain model holds
one domain at a time, so a *shared* encoder's running averages mix the domains' statistics and lag
behind the weights, while training normalised every batch by its own domain's statistics.
:meth:`MultiDomainAutoencoder.calibrate_domain_norm` stores each domain's population statistics
(precise BatchNorm, per domain) and eval mode then uses them instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from saub.domains import domain_rows

__all__ = [
    "mlp",
    "MLPBody",
    "ConvBody",
    "GaussianEncoder",
    "MLPDecoder",
    "ConvDecoder",
    "make_encoder",
    "make_decoder",
    "MultiDomainAutoencoder",
]

IMAGE_SIZES = (16, 28, 32, 64)


def mlp(in_dim: int, hidden: int, out_dim: int, n_layers: int, act: type[nn.Module] = nn.ReLU):
    """An MLP with ``n_layers`` linear layers (``n_layers - 1`` hidden layers of width ``hidden``)."""
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    dims = [in_dim] + [hidden] * (n_layers - 1) + [out_dim]
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < n_layers - 1:
            layers.append(act())
    return nn.Sequential(*layers)


class MLPBody(nn.Module):
    """Feature extractor for vectors (2-D points, tabular rows): ``[B, D] -> [B, hidden]``."""

    def __init__(self, in_dim: int, hidden: int = 64, n_layers: int = 2):
        super().__init__()
        self.net = mlp(in_dim, hidden, hidden, n_layers)
        self.act = nn.ReLU()
        self.out_dim = hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.net(x.flatten(1)))


def _conv_plan(size: int) -> list[int]:
    """The widths of the stride-2 stages for a square image side, ending at 4x4 (or 7x7 for 28)."""
    if size not in IMAGE_SIZES:
        raise ValueError(f"image side must be one of {IMAGE_SIZES}, got {size}")
    return {16: [32, 64], 28: [32, 64], 32: [32, 64, 128], 64: [32, 64, 128, 256]}[size]


class ConvBody(nn.Module):
    """Convolutional feature extractor for ``[B, C, S, S]`` images, S in {16, 28, 32, 64}.

    Each stage is a 4x4 stride-2 convolution with padding 1 (halving the side) and a ReLU:
    16 -> 8 -> 4, 28 -> 14 -> 7, 32 -> 16 -> 8 -> 4, 64 -> 32 -> 16 -> 8 -> 4. The last feature map
    is flattened and projected to ``hidden`` features.
    """

    def __init__(self, channels: int, size: int, hidden: int = 256):
        super().__init__()
        widths = _conv_plan(size)
        layers: list[nn.Module] = []
        c_in = channels
        for w in widths:
            layers += [nn.Conv2d(c_in, w, 4, stride=2, padding=1), nn.ReLU()]
            c_in = w
        side = size // 2 ** len(widths)
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(c_in * side * side, hidden), nn.ReLU())
        self.out_dim = hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x).flatten(1))


class LeNetBody(nn.Module):
    """LeNet-5 feature extractor of ADDA's digit experiments (Tzeng et al. 2017, §4.1) for 1x28x28:
    conv 5x5 (20) -> max-pool 2 -> ReLU -> conv 5x5 (50) -> dropout 0.5 -> max-pool 2 -> ReLU ->
    fully connected 800 -> ``hidden`` (500 in ADDA) -> ReLU."""

    def __init__(self, channels: int = 1, size: int = 28, hidden: int = 500):
        super().__init__()
        if size != 28:
            raise ValueError(f"LeNetBody expects 28x28 inputs, got {size}x{size}")
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(20, 50, 5), nn.Dropout2d(0.5), nn.MaxPool2d(2), nn.ReLU(),
        )
        self.fc = nn.Sequential(nn.Linear(50 * 4 * 4, hidden), nn.ReLU())
        self.out_dim = hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x).flatten(1))


#: Image feature extractors by name (``make_encoder(..., arch=...)``).
IMAGE_BODIES = {"cnn": ConvBody, "lenet": LeNetBody}


class GaussianEncoder(nn.Module):
    """q(z|x) = N(mean(x), diag(exp(logvar(x)))) with the App. C batch-normalised mean.

    ``condition_dim > 0`` lets a shared encoder take a domain embedding: it is concatenated to
    the body's features and mixed by one more hidden layer before the two heads. (Feeding it to
    the mean head directly would only shift each domain's batch by a constant, which the
    batch normalisation of the mean removes.)
    """

    def __init__(
        self,
        body: nn.Module,
        latent_dim: int,
        batchnorm_mean: bool = True,
        condition_dim: int = 0,
    ):
        super().__init__()
        self.body = body
        feat = body.out_dim
        self.mix = (
            nn.Sequential(nn.Linear(feat + condition_dim, feat), nn.ReLU()) if condition_dim else None
        )
        self.mean_head = nn.Linear(feat, latent_dim)
        self.logvar_head = nn.Linear(feat, latent_dim)
        self.mean_norm = nn.BatchNorm1d(latent_dim, affine=False) if batchnorm_mean else None
        self.latent_dim = latent_dim

    def features(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """The features ``h`` both heads read."""
        h = self.body(x)
        if self.mix is not None:
            if condition is None:
                raise ValueError("this encoder is shared across domains and needs a domain condition")
            h = self.mix(torch.cat([h, condition], dim=1))
        return h

    def forward(
        self, x: Tensor, condition: Tensor | None = None, norm_stats: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(mean, logvar)``; ``norm_stats = (mu, var)`` normalises the mean by these statistics
        instead of the BatchNorm layer (``(m - mu) / sqrt(var + eps)``, its eval-mode formula)."""
        h = self.features(x, condition)
        mean = self.mean_head(h)
        if self.mean_norm is not None:
            if norm_stats is None:
                mean = self.mean_norm(mean)
            else:
                mean = (mean - norm_stats[0]) / torch.sqrt(norm_stats[1] + self.mean_norm.eps)
        return mean, self.logvar_head(h)


class MLPDecoder(nn.Module):
    """p(x|z) mean for vectors: ``[B, latent (+cond)] -> [B, *out_shape]``."""

    def __init__(self, in_dim: int, out_shape: Sequence[int], hidden: int = 64, n_layers: int = 3):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = mlp(in_dim, hidden, math.prod(self.out_shape), n_layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.out_shape)


class ConvDecoder(nn.Module):
    """p(x|z) mean (or logits) for ``[C, S, S]`` images; mirrors :class:`ConvBody`."""

    def __init__(self, in_dim: int, channels: int, size: int, hidden: int = 256):
        super().__init__()
        widths = list(reversed(_conv_plan(size)))
        self.side = size // 2 ** len(widths)
        self.c0 = widths[0]
        self.fc = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, self.c0 * self.side**2), nn.ReLU()
        )
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:] + [channels]):
            layers.append(nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1))
            layers.append(nn.ReLU())
        layers.pop()  # no activation on the output: it is a mean or a logit
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.deconv(self.fc(z).view(-1, self.c0, self.side, self.side))


def _is_image(shape: Sequence[int]) -> bool:
    return len(shape) == 3


def make_encoder(
    input_shape: Sequence[int],
    latent_dim: int,
    hidden: int = 64,
    n_layers: int = 2,
    batchnorm_mean: bool = True,
    condition_dim: int = 0,
    arch: str = "cnn",
) -> GaussianEncoder:
    """A Gaussian encoder for ``input_shape``: ``(D,)`` gives an MLP, ``(C, S, S)`` the image body
    ``arch`` of :data:`IMAGE_BODIES` (default the CNN of :class:`ConvBody`)."""
    if _is_image(input_shape):
        c, h, w = input_shape
        if h != w:
            raise ValueError(f"images must be square, got {h}x{w}")
        if arch not in IMAGE_BODIES:
            raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(IMAGE_BODIES)}")
        body: nn.Module = IMAGE_BODIES[arch](c, h, hidden=max(hidden, 64))
    elif len(input_shape) == 1:
        body = MLPBody(input_shape[0], hidden, n_layers)
    else:
        raise ValueError(f"input_shape must be (D,) or (C, S, S), got {tuple(input_shape)}")
    return GaussianEncoder(body, latent_dim, batchnorm_mean, condition_dim)


def make_decoder(
    input_shape: Sequence[int], latent_dim: int, hidden: int = 64, n_layers: int = 3,
    condition_dim: int = 0,
) -> nn.Module:
    """The decoder mirroring :func:`make_encoder` for ``input_shape``."""
    in_dim = latent_dim + condition_dim
    if _is_image(input_shape):
        c, s, _ = input_shape
        return ConvDecoder(in_dim, c, s, hidden=max(hidden, 64))
    return MLPDecoder(in_dim, input_shape, hidden, n_layers)


class MultiDomainAutoencoder(nn.Module):
    """One encoder q_θd(z|x) and one decoder p_φd(x|z) per domain d (eq. 6).

    With ``shared=True`` a single encoder and decoder serve every domain and receive a learned
    domain embedding of size ``embed_dim`` (concatenated to the encoder features and to z).
    Mixed-domain batches are split by ``d`` and each part goes through its own networks, so
    the App. C batch normalisation sees one domain at a time. ``same_init`` starts every domain's
    networks from domain 0's weights (the authors' code gives both VAEs one fixed initialisation);
    ``logvar_bound`` clamps the log-variance to ``[-bound, bound]`` (their code: 3.5).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_domains: int,
        latent_dim: int,
        hidden: int = 64,
        enc_layers: int = 2,
        dec_layers: int = 3,
        shared: bool = False,
        embed_dim: int = 8,
        batchnorm_mean: bool = True,
        same_init: bool = False,
        logvar_bound: float | None = None,
    ):
        super().__init__()
        if logvar_bound is not None and logvar_bound <= 0:
            raise ValueError(f"logvar_bound must be positive or None, got {logvar_bound}")
        self.logvar_bound = logvar_bound
        self.input_shape = tuple(input_shape)
        self.n_domains = n_domains
        self.latent_dim = latent_dim
        self.shared = shared
        n_nets = 1 if shared else n_domains
        cond = embed_dim if shared else 0
        self.encoders = nn.ModuleList(
            make_encoder(input_shape, latent_dim, hidden, enc_layers, batchnorm_mean, cond)
            for _ in range(n_nets)
        )
        self.decoders = nn.ModuleList(
            make_decoder(input_shape, latent_dim, hidden, dec_layers, cond) for _ in range(n_nets)
        )
        if same_init:
            for nets in (self.encoders, self.decoders):
                for net in nets[1:]:
                    net.load_state_dict(nets[0].state_dict())
        self.domain_embedding = nn.Embedding(n_domains, embed_dim) if shared else None
        #: Per-domain population statistics of the pre-normalisation mean, ``[n_domains, 2, latent]``
        #: (mean, biased variance), set by :meth:`calibrate_domain_norm`; eval mode uses them.
        self.register_buffer("domain_norm", None)

    def _route(self, d: Tensor, fn, inputs: Tensor, out_dims: Sequence[int]) -> list[Tensor]:
        """Apply ``fn(domain, part) -> tuple of tensors`` per domain and reassemble by row."""
        outs = [inputs.new_empty((inputs.shape[0], *dims)) for dims in out_dims]
        for dom, rows in domain_rows(d):
            parts = fn(dom, inputs[rows])
            for out, part in zip(outs, parts):
                out[rows] = part
        return outs

    def _encoder_and_condition(self, x: Tensor, domain: int):
        if self.shared:
            return self.encoders[0], self.domain_embedding.weight[domain].expand(x.shape[0], -1)
        return self.encoders[domain], None

    def encode_domain(self, x: Tensor, domain: int) -> tuple[Tensor, Tensor]:
        """Posterior parameters for a batch that comes entirely from ``domain``."""
        encoder, cond = self._encoder_and_condition(x, domain)
        stats = None
        if not self.training and self.domain_norm is not None:
            stats = (self.domain_norm[domain, 0], self.domain_norm[domain, 1])
        mean, logvar = encoder(x, cond, stats)
        if self.logvar_bound is not None:
            logvar = logvar.clamp(-self.logvar_bound, self.logvar_bound)
        return mean, logvar

    @torch.no_grad()
    def calibrate_domain_norm(self, x: Tensor, d: Tensor, batch_size: int = 1024) -> Tensor:
        """Store each domain's population mean and (biased) variance of the pre-normalisation
        posterior mean over the rows ``x`` of that domain (precise BatchNorm per domain); returns them
        ``[n_domains, 2, latent]``. Training is untouched (batch statistics, App. C); eval mode then
        normalises domain k by its own statistics, as training normalised each batch of domain k."""
        if self.encoders[0].mean_norm is None:
            raise ValueError("the encoders have no batch-normalised mean to calibrate")
        was_training = self.training
        self.eval()  # dropout (LeNet body) off, as at evaluation
        stats = torch.zeros(self.n_domains, 2, self.latent_dim, dtype=next(self.parameters()).dtype,
                            device=x.device)
        for dom in range(self.n_domains):
            xs = x[d == dom]
            if len(xs) == 0:
                raise ValueError(f"no rows of domain {dom} to calibrate its statistics")
            parts = []
            for i in range(0, len(xs), batch_size):
                encoder, cond = self._encoder_and_condition(xs[i : i + batch_size], dom)
                parts.append(encoder.mean_head(encoder.features(xs[i : i + batch_size], cond)))
            m = torch.cat(parts).double()
            stats[dom, 0], stats[dom, 1] = m.mean(0), m.var(0, unbiased=False)
        self.domain_norm = stats
        self.train(was_training)
        return stats

    def decode_domain(self, z: Tensor, domain: int) -> Tensor:
        """Decoder output (mean or logits) of ``domain`` for latent codes ``z``."""
        if self.shared:
            cond = self.domain_embedding.weight[domain].expand(z.shape[0], -1)
            return self.decoders[0](torch.cat([z, cond], dim=1))
        return self.decoders[domain](z)

    def encode(self, x: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, logvar)`` for a mixed-domain batch; row i uses domain ``d[i]``."""
        k = self.latent_dim
        mean, logvar = self._route(d, lambda dom, xs: self.encode_domain(xs, dom), x, [(k,), (k,)])
        return mean, logvar

    def decode(self, z: Tensor, d: Tensor) -> Tensor:
        """Decoder outputs for a mixed-domain batch; row i is decoded by domain ``d[i]``."""
        (out,) = self._route(
            d, lambda dom, zs: (self.decode_domain(zs, dom),), z, [self.input_shape]
        )
        return out

    def translate(self, x: Tensor, d_from: int, d_to: int) -> Tensor:
        """Encode with domain ``d_from``'s encoder (posterior mean), decode with ``d_to``'s."""
        mean, _ = self.encode_domain(x, d_from)
        return self.decode_domain(mean, d_to)
