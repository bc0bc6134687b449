"""ADDA (baselines/adda.py): frozen source encoder, target initialised from it, the GAN losses."""

from __future__ import annotations

import copy

import pytest
import torch

from baselines.adda import ADDA, ADDAConfig, discriminator_loss, mapping_loss
from benchmarks.contracts import Budget, Split

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny_adda(**overrides) -> ADDA:
    torch.manual_seed(0)
    config = ADDAConfig(**{"latent_dim": 3, "hidden": 8, "cls_hidden": 8, "disc_hidden": 6, **overrides})
    return ADDA(config, (4,), 2, 3)


def tiny_train() -> Split:
    gen = torch.Generator().manual_seed(2)
    xs, xt = torch.randn(12, 4, generator=gen), torch.randn(12, 4, generator=gen) + 1.0
    ys = torch.randint(0, 3, (12,), generator=gen)
    return Split(torch.cat([xs, xt]), torch.cat([torch.zeros(12), torch.ones(12)]).long(),
                 torch.cat([ys, torch.full((12,), -1)]))


def state(module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_stage_split():
    m = tiny_adda()
    assert m.stage_steps(10) == (5, 5) and m.stage_steps(3) == (2, 1) and m.stage_steps(2) == (1, 1)
    assert tiny_adda(pretrain_fraction=0.9).stage_steps(4) == (3, 1)
    assert tiny_adda(pretrain_fraction=0.1).stage_steps(4) == (1, 3)


def test_source_frozen_and_target_starts_from_source():
    method = tiny_adda()
    snapshots = {}
    original = method.start_adaptation

    def start_and_record(copy_source=True):
        original(copy_source)
        snapshots["source"], snapshots["target"] = state(method.source_encoder), state(method.target_encoder)
        snapshots["classifier"] = state(method.classifier)

    method.start_adaptation = start_and_record
    init_source = state(method.source_encoder)
    curves = method.fit(tiny_train(), Budget(steps=6, batch_size=8), seed=0)
    assert curves["stage"] == [1, 1, 1, 2, 2, 2]
    # Stage 1 trained the source encoder; the target encoder started as an exact copy of it.
    assert any(not torch.equal(init_source[k], snapshots["source"][k]) for k in init_source)
    for k, v in snapshots["source"].items():
        assert torch.equal(snapshots["target"][k], v), k
    # Stage 2 changed neither the source encoder (parameters and BatchNorm buffers) nor C ...
    for k, v in method.source_encoder.state_dict().items():
        assert torch.equal(v, snapshots["source"][k]), k
    for k, v in method.classifier.state_dict().items():
        assert torch.equal(v, snapshots["classifier"][k]), k
    assert not any(p.requires_grad for p in method.source_encoder.parameters())
    # ... but it did train the target encoder.
    assert any(not torch.equal(v, snapshots["source"][k])
               for k, v in method.target_encoder.state_dict().items())


def test_losses_are_the_inverted_label_gan_losses():
    d_s = torch.tensor([0.3, -1.2, 2.0])
    d_t = torch.tensor([-0.5, 0.1, 1.7, -2.2])
    sig = torch.sigmoid
    torch.testing.assert_close(discriminator_loss(d_s, d_t),
                               -torch.log(sig(d_s)).mean() - torch.log(1 - sig(d_t)).mean())
    torch.testing.assert_close(mapping_loss(d_t), -torch.log(sig(d_t)).mean())


def test_adversarial_losses_on_a_batch_and_which_networks_move():
    method = tiny_adda()
    method.start_adaptation()
    gen = torch.Generator().manual_seed(3)
    xs, xt = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    before = {name: state(getattr(method, name)) for name in
              ("source_encoder", "classifier", "target_encoder", "discriminator")}
    loss_d, loss_m = method.adversarial_losses(xs, xt)
    with torch.no_grad():
        method.target_encoder.train()
        s = method.source_encoder(xs)[0]
        t = method.target_encoder(xt)[0]
        p_s, p_t = torch.sigmoid(method.discriminator(s)), torch.sigmoid(method.discriminator(t))
    torch.testing.assert_close(loss_d, -torch.log(p_s).mean() - torch.log(1 - p_t).mean())
    torch.testing.assert_close(loss_m, -torch.log(p_t).mean())
    opt_d = torch.optim.Adam(method.discriminator.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt_m = torch.optim.Adam(method.target_encoder.parameters(), lr=1e-2, betas=(0.5, 0.999))
    method.adapt_step(xs, xt, opt_d, opt_m)
    for name, moved in [("source_encoder", False), ("classifier", False), ("target_encoder", True),
                        ("discriminator", True)]:
        now = getattr(method, name).state_dict()
        changed = any(not torch.equal(now[k], v) for k, v in before[name].items())
        assert changed == moved, name


def test_target_step_uses_only_the_mapping_loss_gradient():
    """D's step follows dL_D/dψ and M_t's step dL_M/dθ_t (not the sum of both losses)."""
    method = tiny_adda()
    method.start_adaptation()
    gen = torch.Generator().manual_seed(4)
    xs, xt = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    ref = copy.deepcopy(method)
    loss_d, loss_m = ref.adversarial_losses(xs, xt)
    g_d = torch.autograd.grad(loss_d, list(ref.discriminator.parameters()), retain_graph=True)
    t_params = [*ref.target_encoder.body.parameters(), *ref.target_encoder.mean_head.parameters()]
    g_m = torch.autograd.grad(loss_m, t_params)
    sgd_d = torch.optim.SGD(method.discriminator.parameters(), lr=0.1)
    sgd_m = torch.optim.SGD(method.target_encoder.parameters(), lr=0.1)
    method.adapt_step(xs, xt, sgd_d, sgd_m)
    for p_new, p_old, g in zip(method.discriminator.parameters(), ref.discriminator.parameters(), g_d):
        torch.testing.assert_close(p_new, p_old - 0.1 * g)
    new_t = [*method.target_encoder.body.parameters(), *method.target_encoder.mean_head.parameters()]
    for p_new, p_old, g in zip(new_t, t_params, g_m):
        torch.testing.assert_close(p_new, p_old - 0.1 * g)


def test_encode_uses_the_domain_encoder_and_predict_the_source_classifier():
    method = tiny_adda()
    method.fit(tiny_train(), Budget(steps=4, batch_size=8), seed=0)
    x = torch.randn(6, 4)
    d = torch.tensor([0, 1, 0, 1, 1, 0])
    z = method.encode(x, d)
    with torch.no_grad():
        torch.testing.assert_close(z[d == 0], method.source_encoder(x[d == 0])[0])
        torch.testing.assert_close(z[d == 1], method.target_encoder(x[d == 1])[0])
        torch.testing.assert_close(method.predict(x, d), method.classifier(z))


def test_fit_needs_source_labels():
    train = tiny_train()
    with pytest.raises(ValueError, match="train.y is None"):
        tiny_adda().fit(train.without_labels(), Budget(steps=2, batch_size=8), seed=0)
