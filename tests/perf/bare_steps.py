"""Bare PyTorch training steps: the reference each harness method's step is timed against.

Each function is one training step of a method family written plainly with torch: it uses the
method's own networks (modules) and the prior's own ``cross_entropy`` / ``prior_loss`` (library
math), but none of the harness around them (trainer objects, per-domain routing by masks, logged
``.item()`` values, divergence checks, batch samplers: batches come pre-drawn). The loss arithmetic
is written out, in the same order of operations as the method, so that one bare step and one
method step from the same seed and batch give the same loss and parameters
(``tests/perf/test_step_equality.py``). Every step returns its loss, detached.

Batches are tuples of tensors, rows grouped by domain (domain 0's rows first, as
:func:`benchmarks.sampling.balanced_batches` yields them); ``per`` is the rows per domain.

:class:`Sections` times named parts of a step (``time.perf_counter`` around each part): the
breakdown table of ``make bench``. Disabled (the default), it costs one attribute lookup per part.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


class Sections:
    """Accumulated wall time per named part of a step (``with sections("encoder"): ...``)."""

    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def _timed(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def __call__(self, name: str):
        return self._timed(name) if self.enabled else contextlib.nullcontext()


OFF = Sections()


# --- VAUB family (Alg. 1: a VAE step, then L prior steps on fresh batches) --------------------

def _encode(model, xs: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Each domain's rows through its own encoder; ``(mean, logvar)`` of the whole batch."""
    parts = [model.encoders[k](x) for k, x in enumerate(xs)]
    mean = torch.cat([m for m, _ in parts])
    logvar = torch.cat([v for _, v in parts])
    if model.logvar_bound is not None:
        logvar = logvar.clamp(-model.logvar_bound, model.logvar_bound)
    return mean, logvar


def _domain_sum(values: Tensor, per: int) -> Tensor:
    """Σ_d of each domain's mean (eq. 6's Σ_d E_q[·])."""
    return sum(v.mean() for v in values.split(per))


def vaub_step(model, prior, opt, prior_opt, c, batches, per: int, sections: Sections = OFF) -> Tensor:
    """Alg. 1 with the VAUB objective (eq. 6-7), GW-EP within domains (eq. 12-13) when ``c.gw == "ep"``,
    a Gaussian likelihood; ``c`` is the method's :class:`~benchmarks.methods.vaub_family.VAUBConfig`."""
    x, _ = next(batches)
    model.train()
    xs = list(x.split(per))
    with sections("encoder"):
        mean, logvar = _encode(model, xs)
    with sections("decoder"):
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        recon = torch.cat([model.decoders[k](zk) for k, zk in enumerate(z.split(per))])
    with sections("vaub terms"):
        dim = x[0].numel()
        rec = 0.5 * ((x.flatten(1) - recon.flatten(1)) ** 2).sum(1) / c.obs_std**2 \
            + 0.5 * dim * math.log(2 * math.pi * c.obs_std**2)
        entropy = 0.5 * (1.0 + LOG_2PI + logvar).sum(1)
    with sections("prior"):
        ce = prior.cross_entropy(z)
    loss = _domain_sum(rec, per) / c.beta - _domain_sum(entropy, per) + _domain_sum(ce, per)
    if c.gw == "ep":
        with sections("gw"):
            gw = 0.0
            for xk, zk in zip(xs, z.split(per)):
                dx = torch.cdist(xk.flatten(1), xk.flatten(1), compute_mode="donot_use_mm_for_euclid_dist")
                dz = torch.cdist(zk, zk, compute_mode="donot_use_mm_for_euclid_dist")
                gw = gw + ((dx - dz) ** 2).sum() / len(zk) ** 2
            loss = loss + c.lambda_gw * gw
    with sections("backward"):
        opt.zero_grad(set_to_none=True)
        loss.backward()
    with sections("optimizer"):
        opt.step()
    for _ in range(c.prior_steps if prior_opt is not None else 0):
        x, _ = next(batches)
        with sections("L prior steps: re-encode"), torch.no_grad():
            mean, logvar = _encode(model, list(x.split(per)))
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        with sections("L prior steps: prior loss, backward, step"):
            prior_loss = prior.prior_loss(z)
            prior_opt.zero_grad(set_to_none=True)
            prior_loss.backward()
            prior_opt.step()
    return loss.detach()


# --- domain adaptation -------------------------------------------------------------------------

def dann_step(method, batches, p: float) -> Tensor:
    """DANN (Ganin et al. 2016): label CE on the source half + domain BCE behind a gradient
    reversal, written as ``f.detach() - λ (f - f.detach())`` (value f, gradient -λ)."""
    c = method.config
    xs, ys, xt = next(batches)
    lam = c.grl_scale * (2.0 / (1.0 + math.exp(-c.grl_gamma * p)) - 1.0)
    for group in method.optimizer.param_groups:
        group["lr"] = c.lr / (1.0 + c.lr_alpha * p) ** c.lr_beta
    method.nets.train()
    f = method.encoder(torch.cat([xs, xt]))[0]
    cls_loss = F.cross_entropy(method.label_predictor(f[: len(xs)]), ys)
    reversed_f = f.detach() - lam * (f - f.detach())
    target = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))])
    dom_loss = F.binary_cross_entropy_with_logits(method.domain_classifier(reversed_f).squeeze(1), target)
    loss = cls_loss + dom_loss
    method.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    method.optimizer.step()
    return loss.detach()


def adda_adapt_step(method, opt_d, opt_m, batches) -> Tensor:
    """ADDA's stage 2 (Tzeng et al. 2017, eq. 9-10): L_D for the discriminator, L_M for M_t, one
    forward pass; returns L_D + L_M."""
    xs, _, xt = next(batches)
    method.target_encoder.train()
    method.discriminator.train()
    with torch.no_grad():
        s = method.source_encoder(xs)[0]
    d_s = method.discriminator(s).squeeze(1)
    d_t = method.discriminator(method.target_encoder(xt)[0]).squeeze(1)
    loss_d = F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s)) \
        + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t))
    loss_m = F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t))
    opt_d.zero_grad(set_to_none=True)
    opt_m.zero_grad(set_to_none=True)
    loss_d.backward(inputs=list(method.discriminator.parameters()), retain_graph=True)
    loss_m.backward(inputs=list(method.target_encoder.parameters()))
    opt_d.step()
    opt_m.step()
    return (loss_d + loss_m).detach()


# --- fair representations (every row labelled) ------------------------------------------------

def _gaussian_sample(encoder, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    mean, logvar = encoder(x)
    return mean, logvar, mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def _kl_standard_normal(mean: Tensor, logvar: Tensor) -> Tensor:
    return (0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0).sum(-1)).mean()


def _optimizer_step(opt, loss: Tensor) -> Tensor:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def fcrl_step(method, batches) -> Tensor:
    """FCRL (Gupta et al. 2021): CE of g([z, c]) + β KL − λ Î_NCE(z; x | c)."""
    c = method.config
    x, d, y = next(batches)
    mean, logvar, z = _gaussian_sample(method.encoder, x)
    groups = F.one_hot(d, method.n_domains).float()
    pred = F.cross_entropy(method.predictor(torch.cat([z, groups], 1)), y)
    critic = method.critic
    fx = torch.einsum("nk,nkl->nl", critic.f_x(x), critic.w[d])
    scores = F.softplus(fx @ critic.f_z(z).T)
    same = (d[:, None] == d[None, :]).float()
    mi = (torch.log(scores.diagonal() + 1e-8) - torch.log((scores * same).sum(1) / same.sum(1) + 1e-8)).mean()
    loss = pred + c.effective_beta * _kl_standard_normal(mean, logvar) - c.lambda_ * mi
    return _optimizer_step(method.optimizer, loss)


def cvib_step(method, batches) -> Tensor:
    """CVIB (Moyer et al. 2018): (1 + λ) Rec + β KL(q‖N(0, I)) + λ mean pairwise KL + α CE."""
    c = method.config
    x, d, y = next(batches)
    mean, logvar, z = _gaussian_sample(method.encoder, x)
    recon = method.decoder(torch.cat([z, F.one_hot(d, method.n_domains).float()], 1))
    rec = (0.5 * ((x - recon) ** 2).sum(1) + 0.5 * x.shape[1] * LOG_2PI).mean()
    var = logvar.exp()
    ratio = (var[:, None, :] + (mean[:, None, :] - mean[None, :, :]).pow(2)) / var[None, :, :]
    pairwise = (0.5 * (logvar[None, :, :] - logvar[:, None, :] + ratio - 1.0).sum(-1)).mean()
    loss = ((1 + c.lambda_) * rec + c.beta * _kl_standard_normal(mean, logvar)
            + c.lambda_ * pairwise + c.alpha * F.cross_entropy(method.predictor(z), y))
    return _optimizer_step(method.optimizer, loss)


def _dp_objective(h: Tensor, a: Tensor) -> Tensor:
    """1 − Σ_groups mean |h − a| (both groups present in every benchmark batch)."""
    return 1.0 - ((h[a == 0] - 0).abs().mean() + (h[a == 1] - 1).abs().mean())


def laftr_step(method, batches) -> Tensor:
    """LAFTR-DP (Madras et al. 2018): an adversary step on −γ L_Adv, then CE + α Rec + γ L_Adv."""
    c = method.config
    x, d, y = next(batches)
    method.adversary.train()
    with torch.no_grad():
        z = method.encoder(x)[0]
    _optimizer_step(method.adv_optimizer, -c.gamma * _dp_objective(method.adversary(z).squeeze(1), d))
    z = method.encoder(x)[0]
    recon = method.decoder(torch.cat([z, F.one_hot(d, method.n_domains).float()], 1))
    loss = (F.cross_entropy(method.classifier(z), y) + c.alpha * (recon - x).pow(2).sum(1).mean()
            + c.gamma * _dp_objective(method.adversary(z).squeeze(1), d))
    return _optimizer_step(method.optimizer, loss)


# --- GWAE (Nakagawa et al. 2023, eq. 13; App. B.3's critic with gradient penalty) ------------

def _pair_distances(a: Tensor) -> Tensor:
    a = a.flatten(1)
    return torch.cdist(a, a, compute_mode="donot_use_mm_for_euclid_dist") / math.sqrt(2.0)


def _decode(method, z: Tensor) -> Tensor:
    out = method.decoder(z)
    return torch.sigmoid(out) if method.config.decoder_output == "sigmoid" else out


def gwae_step(method, batches) -> Tensor:
    """L_GW + λ_W L_W + λ_D L_D − λ_H R_H (RMSProp), then ``critic_steps`` critic steps on
    −L_D + λ_GP (GP + drift), each on fresh detached pairs of the same batch; returns the main loss."""
    from torch.nn.utils import parametrize

    c = method.config
    (x,) = next(batches)
    method.main.train()
    method.critic.train()
    with parametrize.cached():
        mean, logvar = method.encoder(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        z_s = method.prior.sample(x.shape[0])
        x_s = _decode(method, z_s)
        scale = method.log_c.exp() / z_s.std(dim=0).mean().clamp_min(1e-8)
        gw = (_pair_distances(x_s) - scale * _pair_distances(z_s)).abs().pow(c.rho).mean()
        rec = 0.5 * (x - _decode(method, z)).pow(2).sum(1).mean()
        gap = method.critic(x, z).mean() - method.critic(x_s, z_s).mean()
        entropy = (0.5 * (1.0 + LOG_2PI + logvar).sum(1)).mean()
        loss = gw + c.lambda_w * rec + c.lambda_d * gap - c.lambda_h * entropy
    _optimizer_step(method.main_optimizer, loss)
    for _ in range(c.critic_steps):
        with torch.no_grad():
            mean, logvar = method.encoder(x)
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
            z_s = method.prior.sample(x.shape[0])
            x_s = _decode(method, z_s)
        with parametrize.cached():
            f_q, f_p = method.critic(x, z), method.critic(x_s, z_s)
            t = torch.rand(x.shape[0])[:, None]
            x_hat = (t * x + (1.0 - t) * x_s).requires_grad_(True)
            z_hat = (t * z + (1.0 - t) * z_s).requires_grad_(True)
            gx, gz = torch.autograd.grad(method.critic(x_hat, z_hat).sum(), [x_hat, z_hat], create_graph=True)
            gp = (torch.sqrt(gx.pow(2).sum(1) + gz.pow(2).sum(1)) - 1.0).pow(2).mean()
        gap = f_q.mean() - f_p.mean()
        drift = f_q.pow(2).mean() + f_p.pow(2).mean()
        _optimizer_step(method.critic_optimizer, -gap + c.lambda_gp * (gp + c.critic_drift * drift))
    return loss.detach()
