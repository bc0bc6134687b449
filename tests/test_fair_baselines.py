"""Fair-representation baselines (FCRL, CVIB, LAFTR-DP, unconstrained MLP): every loss term against
torch.distributions or a brute-force loop, and each objective's composition from its terms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from baselines.cvib import pairwise_gaussian_kl
from baselines.fair_common import labelled_cross_entropy, shuffled_batches
from baselines.fcrl import ConditionalCritic, conditional_infonce
from baselines.laftr import dp_adversary_objective
from benchmarks.contracts import Budget, Split
from benchmarks.registry import METHODS
from saub.objective import kl_to_standard_normal

pytestmark = pytest.mark.usefixtures("single_thread")


def _gaussians(n: int = 5, k: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, k, generator=gen, dtype=torch.float64),
            torch.randn(n, k, generator=gen, dtype=torch.float64) * 0.5)


def test_kl_to_standard_normal_matches_torch():
    mean, logvar = _gaussians()
    ref = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(kl_to_standard_normal(mean, logvar), ref)


def test_pairwise_kl_matches_torch_loops():
    mean, logvar = _gaussians(n=4)
    out = pairwise_gaussian_kl(mean, logvar)
    std = (0.5 * logvar).exp()
    for i in range(4):
        for j in range(4):
            ref = kl_divergence(Normal(mean[i], std[i]), Normal(mean[j], std[j])).sum()
            torch.testing.assert_close(out[i, j], ref)
    assert torch.allclose(out.diagonal(), torch.zeros(4, dtype=torch.float64))


def test_conditional_critic_and_infonce_by_loops():
    torch.manual_seed(0)
    critic = ConditionalCritic(in_dim=4, latent_dim=3, n_groups=2, hidden=5).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    z = torch.randn(6, 3, dtype=torch.float64)
    c = torch.tensor([0, 1, 0, 0, 1, 1])
    scores = critic.scores(x, z, c)
    fx, fz = critic.f_x(x), critic.f_z(z)
    for i in range(6):
        for j in range(6):
            torch.testing.assert_close(scores[i, j], F.softplus(fx[i] @ critic.w[c[i]] @ fz[j]))
    mi = conditional_infonce(scores, c)
    for i in range(6):
        same = [j for j in range(6) if c[j] == c[i]]
        neg = sum(scores[i, j] for j in same) / len(same)
        torch.testing.assert_close(mi[i], torch.log(scores[i, i] + 1e-8) - torch.log(neg + 1e-8))


def test_dp_adversary_objective_by_hand():
    a = torch.tensor([0, 0, 0, 1])
    assert float(dp_adversary_objective(a.double(), a)) == pytest.approx(1.0)  # perfect adversary
    assert float(dp_adversary_objective(torch.full((4,), 0.5), a)) == pytest.approx(0.0)  # chance
    h = torch.tensor([0.2, 0.4, 0.0, 0.7])
    # 1 - (mean(|0.2|, |0.4|, |0|) + |0.7 - 1|) = 1 - (0.2 + 0.3)
    assert float(dp_adversary_objective(h, a)) == pytest.approx(0.5)
    # Group normalisation: duplicating the majority group's rows changes nothing.
    h2, a2 = torch.cat([h[:3], h[:3], h[3:]]), torch.cat([a[:3], a[:3], a[3:]])
    assert float(dp_adversary_objective(h2, a2)) == pytest.approx(0.5)


def test_labelled_cross_entropy_ignores_unlabelled_rows():
    logits = torch.randn(4, 3)
    y = torch.tensor([2, -1, 0, -1])
    torch.testing.assert_close(labelled_cross_entropy(logits, y), F.cross_entropy(logits[[0, 2]], y[[0, 2]]))
    assert float(labelled_cross_entropy(logits, torch.full((4,), -1))) == 0.0


def test_shuffled_batches_cover_each_epoch_once():
    gen = torch.Generator().manual_seed(0)
    it = shuffled_batches(10, 4, gen)
    epoch = [next(it) for _ in range(3)]
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(torch.cat(epoch).tolist()) == list(range(10))


def _toy(n: int = 64, seed: int = 0) -> Split:
    """x in R^5; s = sign of x_1 (correlated with y = sign of x_0 + x_1)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen)
    return Split(x, (x[:, 1] > 0).long(), (x[:, 0] + x[:, 1] > 0).long())


def _build(name: str, **overrides):
    entry = METHODS.get(name)
    return entry.cls(entry.resolve(overrides), (5,), 2, 2)


@pytest.mark.parametrize("name, knobs", [("fcrl", {"lambda_": 0.4}), ("fcrl", {"lambda_": 0.4, "beta": 0.7}),
                                         ("cvib", {"lambda_": 0.3, "beta": 0.05, "alpha": 2.0})])
def test_objective_is_the_documented_combination(name, knobs):
    """The loss of one step equals the docstring's combination of the terms ``losses`` returns
    (same RNG state, so the same reparameterised samples)."""
    split = _toy()
    torch.manual_seed(0)
    method = _build(name, **knobs)
    torch.manual_seed(1)
    parts = {k: v.item() for k, v in method.losses(split.x, split.d, split.y).items()}
    torch.manual_seed(1)
    out = method.train_step(split.x, split.d, split.y)
    c = method.config
    if name == "fcrl":
        beta = knobs.get("beta", knobs["lambda_"] / 2)
        expected = parts["pred"] + beta * parts["kl"] - c.lambda_ * parts["mi"]
    else:
        expected = ((1 + c.lambda_) * parts["recon_nll"] + c.beta * parts["kl_prior"]
                    + c.lambda_ * parts["kl_pairwise"] + c.alpha * parts["pred"])
    assert out["loss"] == pytest.approx(expected, rel=1e-5)
    assert {k: out[k] for k in parts} == pytest.approx(parts, rel=1e-5)


def test_laftr_step_composition_and_adversary_ascent():
    split = _toy(n=128)
    torch.manual_seed(0)
    method = _build("laftr-dp", gamma=2.0, alpha=0.5)
    out = method.train_step(split.x, split.d, split.y)
    assert out["loss"] == pytest.approx(out["cls"] + 0.5 * out["recon"] + 2.0 * out["adv"], rel=1e-5)
    # The adversary alone, on a fixed encoder, climbs L_Adv^DP (s is recoverable from x_1).
    with torch.no_grad():
        z = method.representation(split.x, split.d)
    start = dp_adversary_objective(method.adversary(z).squeeze(1), split.d).item()
    for _ in range(200):
        loss = -dp_adversary_objective(method.adversary(z).squeeze(1), split.d)
        method.adv_optimizer.zero_grad()
        loss.backward()
        method.adv_optimizer.step()
    assert -loss.item() > start + 0.1


def test_the_unconstrained_mlp_refuses_a_label_free_protocol():
    method = _build("unfair-mlp")
    with pytest.raises(ValueError, match="train.y is None"):
        method.fit(_toy(64, seed=0).without_labels(), Budget(steps=2, batch_size=32), seed=0)


@pytest.mark.parametrize("name", ["fcrl", "cvib", "laftr-dp"])
def test_label_free_training_drops_only_the_label_term(name):
    """Under the thesis' protocol (train.y hidden) the label loss is exactly 0 at every step and the
    other terms still train: the encoder's weights move."""
    torch.manual_seed(0)
    method = _build(name)
    before = [p.detach().clone() for p in method.encoder.parameters()]
    curves = method.fit(_toy(128, seed=0).without_labels(), Budget(steps=5, batch_size=32), seed=0)
    label_term = "pred" if "pred" in curves else "cls"
    assert curves[label_term] == [0.0] * 5
    assert any(not torch.equal(b, p) for b, p in zip(before, method.encoder.parameters()))


@pytest.mark.parametrize("name", ["fcrl", "cvib", "laftr-dp", "unfair-mlp"])
def test_fit_learns_the_label(name):
    train, test = _toy(256, seed=0), _toy(256, seed=1)
    torch.manual_seed(0)
    method = _build(name)
    curves = method.fit(train, Budget(steps=300, batch_size=64), seed=0)
    assert all(len(v) == 300 for v in curves.values())
    acc = float((method.predict(test.x, test.d).argmax(1) == test.y).double().mean())
    assert acc > 0.85
    z = method.encode(test.x, test.d)
    assert z.shape == (256, 64 if name == "unfair-mlp" else 8)
    assert torch.equal(z, method.encode(test.x, test.d))


@pytest.mark.slow
def test_laftr_gamma_lowers_parity():
    """The fairness knob works: on data where s is readable from x, a large γ gives a representation
    whose post-hoc classifier has a smaller Δ_DP than γ = 0."""
    from benchmarks.metrics.fairness import demographic_parity_gap, posthoc_predictions

    train, test = _toy(512, seed=0), _toy(512, seed=1)
    gaps = {}
    for gamma in (0.0, 4.0):
        torch.manual_seed(0)
        method = _build("laftr-dp", gamma=gamma)
        method.fit(train, Budget(steps=400, batch_size=128), seed=0)
        pred = posthoc_predictions(method.encode(train.x, train.d), train.y, method.encode(test.x, test.d),
                                   seed=0, epochs=20)
        gaps[gamma] = demographic_parity_gap(pred, test.d)
    assert gaps[4.0] < gaps[0.0]
