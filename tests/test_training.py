"""The alternating optimiser of Alg. 1: reproducibility, logging, who updates what, errors."""

from __future__ import annotations

import math

import pytest
import torch

from saub.networks import MultiDomainAutoencoder
from saub.objective import reparameterize
from saub.priors import MixtureOfGaussiansPrior, ScorePrior
from saub.seeding import seed_everything
from saub.structural import gw_per_domain
from saub.training import GW_MODES, AlternatingTrainer, Batch, DivergenceError

pytestmark = pytest.mark.usefixtures("single_thread", "restore_determinism")

PRIOR_KINDS = ("sfs", "lsgm", "mog")
N_STEPS = 5
BETA, LAMBDA_GW = 0.5, 0.3


def make_prior(kind: str):
    if kind == "mog":
        return MixtureOfGaussiansPrior(2, n_components=4)
    return ScorePrior(2, encoder_gradient=kind, sigma_min=0.05, sigma_max=1.0, n_levels=10, hidden=32)


def batches(n: int = 32, emb_dim: int = 0):
    """Endless two-domain batches drawn from the global torch RNG (seeded by the caller)."""
    d = torch.arange(n) % 2
    while True:
        x = torch.randn(n, 2) + torch.stack([3.0 * d - 1.5, torch.zeros(n)], 1)
        emb = torch.randn(n, emb_dim) if emb_dim else None
        yield Batch(x, d, emb)


def make_trainer(kind: str, gw: str = "ep", **kw) -> AlternatingTrainer:
    model = MultiDomainAutoencoder((2,), 2, 2, hidden=16)
    return AlternatingTrainer(model, make_prior(kind), beta=BETA, gw=gw, lambda_gw=LAMBDA_GW,
                              prior_steps=2, lr=1e-2, prior_lr=1e-2, **kw)


def run(kind: str, seed: int) -> list[dict[str, float]]:
    seed_everything(seed)
    trainer = make_trainer(kind)
    it = batches()
    for _ in range(N_STEPS):
        trainer.train_step(it)
    return trainer.history


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> dict[str, bool]:
    return {n: not torch.equal(before[n], p) for n, p in module.named_parameters()}


@pytest.mark.parametrize("kind", PRIOR_KINDS)
def test_same_seed_same_trajectory_different_seed_different(kind):
    h1 = run(kind, 123)
    h2 = run(kind, 123)
    assert len(h1) == N_STEPS
    assert h1 == h2  # bit-identical floats, every term, every step
    h3 = run(kind, 124)
    assert h3 != h1
    assert h3[0]["total"] != h1[0]["total"]
    assert torch.are_deterministic_algorithms_enabled()  # seed_everything's switch (restored after)


@pytest.mark.parametrize("kind", PRIOR_KINDS)
def test_every_term_is_logged_and_consistent(kind):
    hist = run(kind, 7)
    expected = {"reconstruction", "entropy", "cross_entropy", "vaub", "gw", "total"}
    if kind != "mog":
        expected.add("dsm")
    for logs in hist:
        assert set(logs) == expected
        assert all(math.isfinite(v) for v in logs.values())
        vaub = logs["reconstruction"] / BETA - logs["entropy"] + logs["cross_entropy"]
        assert logs["vaub"] == pytest.approx(vaub, rel=1e-5, abs=1e-5)
        assert logs["total"] == pytest.approx(logs["vaub"] + LAMBDA_GW * logs["gw"], rel=1e-5, abs=1e-5)
        assert logs["gw"] > 0
    # the trajectory moves (the optimisers act)
    assert hist[0]["total"] != hist[-1]["total"]


def test_without_gw_no_gw_term_is_logged():
    torch.manual_seed(0)
    trainer = AlternatingTrainer(MultiDomainAutoencoder((2,), 2, 2, hidden=16), make_prior("mog"))
    logs = trainer.train_step(batches())
    assert "gw" not in logs and logs["total"] == logs["vaub"]


def test_explicit_prior_is_updated_with_the_autoencoder():
    torch.manual_seed(0)
    trainer = make_trainer("mog")
    assert trainer.prior_opt is None and trainer.prior_steps == 0
    it = batches()
    prior_before, model_before = snapshot(trainer.prior), snapshot(trainer.model)
    trainer.vae_step(next(it))
    assert all(changed(prior_before, trainer.prior).values())
    assert any(changed(model_before, trainer.model).values())


@pytest.mark.parametrize("kind", ["sfs", "lsgm"])
def test_score_net_is_updated_only_by_the_prior_optimiser(kind):
    torch.manual_seed(0)
    trainer = make_trainer(kind)
    vae_ids = {id(p) for g in trainer.vae_opt.param_groups for p in g["params"]}
    prior_ids = {id(p) for g in trainer.prior_opt.param_groups for p in g["params"]}
    assert not vae_ids & {id(p) for p in trainer.prior.parameters()}
    assert prior_ids == {id(p) for p in trainer.prior.parameters()}
    it = batches()

    score_before, model_before = snapshot(trainer.prior), snapshot(trainer.model)
    trainer.vae_step(next(it))
    assert not any(changed(score_before, trainer.prior).values()), "VAE step moved the score net"
    model_changed = changed(model_before, trainer.model)
    assert model_changed["encoders.0.mean_head.weight"] and model_changed["decoders.1.net.0.weight"]
    if kind == "lsgm":  # LSGM does put gradients on ψ, but the VAE optimiser must not apply them
        assert any(p.grad is not None for p in trainer.prior.parameters())
    else:
        assert all(p.grad is None for p in trainer.prior.parameters())

    score_before, model_before = snapshot(trainer.prior), snapshot(trainer.model)
    trainer.prior_step(next(it))
    assert all(changed(score_before, trainer.prior).values()), "DSM step left a score-net parameter"
    assert not any(changed(model_before, trainer.model).values()), "DSM step moved the autoencoder"


def test_nan_input_raises_divergence_error_before_updating():
    torch.manual_seed(0)
    trainer = make_trainer("sfs")
    batch = next(batches())
    batch.x[3, 0] = float("nan")
    before = snapshot(trainer.model)
    with pytest.raises(DivergenceError, match="total loss"):
        trainer.vae_step(batch)
    assert not any(changed(before, trainer.model).values())
    assert issubclass(DivergenceError, FloatingPointError)


def test_gw_sp_requires_embeddings():
    torch.manual_seed(0)
    trainer = make_trainer("mog", gw="sp", gw_metric="cosine")
    with pytest.raises(ValueError, match="emb"):
        trainer.vae_step(next(batches()))


@pytest.mark.parametrize("gw,metric", [("sp", "cosine"), ("ep", "euclidean")])
def test_gw_term_uses_the_right_representation_and_metric(gw, metric):
    torch.manual_seed(0)
    trainer = make_trainer("mog", gw=gw, gw_metric="cosine")  # EP ignores gw_metric
    batch = next(batches(emb_dim=5))
    torch.manual_seed(42)
    _, logs = trainer.vae_loss(batch)
    torch.manual_seed(42)
    with torch.no_grad():
        mean, logvar = trainer.model.encode(batch.x, batch.d)
        z = reparameterize(mean, logvar)
        x_repr = batch.emb if gw == "sp" else batch.x
        expected = gw_per_domain(x_repr, z, batch.d, metric).item()
        other = gw_per_domain(x_repr, z, batch.d, "euclidean" if metric == "cosine" else "cosine").item()
    assert logs["gw"] == pytest.approx(expected, rel=1e-6)
    assert abs(other - expected) > 1e-3


def test_unknown_gw_mode_lists_choices():
    with pytest.raises(ValueError) as err:
        make_trainer("mog", gw="gromov")
    msg = str(err.value)
    assert "gromov" in msg
    for mode in GW_MODES:
        assert repr(mode) in msg
    assert set(GW_MODES) == {"none", "ep", "sp"}
