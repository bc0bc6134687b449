"""DANN (baselines/dann.py): gradient reversal, the paper's schedules, and the adversarial step."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from baselines.dann import DANN, DANNConfig, annealed_lr, grad_reverse, grl_lambda
from benchmarks.contracts import Budget, Split

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny_dann(**overrides) -> DANN:
    torch.manual_seed(0)
    config = DANNConfig(**{"latent_dim": 3, "hidden": 8, "cls_hidden": 8, "domain_hidden": 8,
                           "domain_layers": 1, "batchnorm_mean": False, **overrides})
    return DANN(config, (4,), 2, 3)


def tiny_batch():
    gen = torch.Generator().manual_seed(1)
    xs = torch.randn(8, 4, generator=gen)
    xt = torch.randn(8, 4, generator=gen) + 1.5
    ys = torch.randint(0, 3, (8,), generator=gen)
    return xs, ys, xt


def test_gradient_reversal_is_minus_lambda_times_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    g = torch.randn(5, 3)
    out = grad_reverse(x, 0.37)
    assert torch.equal(out, x)
    out.backward(g)
    assert torch.equal(x.grad, -0.37 * g)
    x.grad = None
    (grad_reverse(x, 0.0) * g).sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(g))


@pytest.mark.parametrize("p", [0.0, 0.05, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_schedules_match_the_paper(p):
    assert grl_lambda(p) == pytest.approx(2 / (1 + math.exp(-10 * p)) - 1, abs=1e-15)
    assert annealed_lr(p) == pytest.approx(0.01 / (1 + 10 * p) ** 0.75, abs=1e-15)


def test_schedule_end_points():
    assert grl_lambda(0.0) == 0.0 and grl_lambda(1.0) == pytest.approx(0.999909, abs=1e-6)
    assert annealed_lr(0.0) == 0.01 and annealed_lr(1.0) == pytest.approx(0.01 / 11**0.75)


def test_fit_follows_the_schedules_and_half_batches():
    method = tiny_dann()
    xs, ys, xt = tiny_batch()
    train = Split(torch.cat([xs, xt]), torch.cat([torch.zeros(8), torch.ones(8)]).long(),
                  torch.cat([ys, torch.full((8,), -1)]))
    seen = []
    original = method.train_step
    method.train_step = lambda a, b, c, p: seen.append((len(a), len(c), p)) or original(a, b, c, p)
    curves = method.fit(train, Budget(steps=4, batch_size=8), seed=0)
    assert [s[:2] for s in seen] == [(4, 4)] * 4
    assert [s[2] for s in seen] == [0.0, 0.25, 0.5, 0.75]
    assert curves["lambda"] == pytest.approx([grl_lambda(p) for p in (0, 0.25, 0.5, 0.75)])
    assert curves["lr"] == pytest.approx([annealed_lr(p) for p in (0, 0.25, 0.5, 0.75)])


def test_feature_gradient_is_label_gradient_minus_lambda_domain_gradient():
    """Exact numbers: d(L_y + L_d through R_λ)/dθ_f = dL_y/dθ_f - λ dL_d/dθ_f; G_d's own gradient
    is not reversed."""
    method = tiny_dann()
    xs, ys, xt = tiny_batch()
    enc = [*method.encoder.body.parameters(), *method.encoder.mean_head.parameters()]  # not logvar
    dom = list(method.domain_classifier.parameters())
    lam = 0.6
    cls, dom_rev = method.losses(xs, ys, xt, lam)
    g_total = torch.autograd.grad(cls + dom_rev, enc + dom)
    cls, dom_plain = method.losses(xs, ys, xt, -1.0)  # R_{-1} is the identity on gradients too
    g_cls = torch.autograd.grad(cls, enc, retain_graph=True)
    g_dom = torch.autograd.grad(dom_plain, enc + dom)
    for a, b, c in zip(g_total[: len(enc)], g_cls, g_dom[: len(enc)]):
        torch.testing.assert_close(a, b - lam * c)
    for a, c in zip(g_total[len(enc):], g_dom[len(enc):]):
        torch.testing.assert_close(a, c)


def domain_loss(method: DANN, domain_classifier, xs, xt) -> float:
    with torch.no_grad():
        f = method.features(torch.cat([xs, xt]))
        target = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))])
        return float(torch.nn.functional.binary_cross_entropy_with_logits(
            domain_classifier(f).squeeze(1), target))


def train_domain_classifier(method: DANN, xs, xt, steps: int = 100) -> None:
    """Fit G_d alone on fixed features, so the domain loss has a clear gradient for the test."""
    opt = torch.optim.Adam(method.domain_classifier.parameters(), lr=0.02)
    with torch.no_grad():
        f = method.features(torch.cat([xs, xt]))
    target = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))])
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            method.domain_classifier(f).squeeze(1), target)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_training_step_moves_features_to_increase_the_domain_loss():
    """One DANN step (reversed gradient) vs. the same step with a normal gradient, from identical
    models: judged by the pre-step domain classifier, the DANN step leaves the features harder to
    tell apart (higher domain loss) than the normal step (to first order the gap is
    2 lr λ |dL_d/dθ_f|^2 > 0, whatever the label loss does). With the domain term alone, a step
    along the reversed gradient raises the domain loss above its value before the step."""
    base = tiny_dann(lr=0.2)
    xs, ys, xt = tiny_batch()
    train_domain_classifier(base, xs, xt)
    frozen = copy.deepcopy(base.domain_classifier)
    before = domain_loss(base, frozen, xs, xt)
    reversed_ = copy.deepcopy(base)
    normal = copy.deepcopy(base)
    normal.config.grl_scale = -1.0  # R_{-λ}: the ordinary gradient of the domain loss
    reversed_.train_step(xs, ys, xt, p=0.5)
    normal.train_step(xs, ys, xt, p=0.5)
    after_reversed = domain_loss(reversed_, frozen, xs, xt)
    after_normal = domain_loss(normal, frozen, xs, xt)
    assert after_reversed > after_normal and after_reversed > before
    # Domain term alone: a plain gradient step on the features along the reversed gradient.
    only = copy.deepcopy(base)
    _, dom = only.losses(xs, ys, xt, grl_lambda(0.5))
    enc = [*only.encoder.body.parameters(), *only.encoder.mean_head.parameters()]
    grads = torch.autograd.grad(dom, enc)
    with torch.no_grad():
        for p, g in zip(enc, grads):
            p -= 0.01 * g
    assert domain_loss(only, frozen, xs, xt) > before


def test_fit_needs_source_labels():
    method = tiny_dann()
    xs, ys, xt = tiny_batch()
    x, d = torch.cat([xs, xt]), torch.cat([torch.zeros(8), torch.ones(8)]).long()
    with pytest.raises(ValueError, match="train.y is None"):
        method.fit(Split(x, d), Budget(steps=1, batch_size=8), seed=0)
    with pytest.raises(ValueError, match="source row"):
        method.fit(Split(x, d, torch.full((16,), -1)), Budget(steps=1, batch_size=8), seed=0)
