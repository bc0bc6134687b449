"""Regime diagnostics (benchmarks.diagnostics) on cases with known answers, and the guarantee that
checkpoint evaluations leave a training run untouched."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import diagnostics as dg
from benchmarks.registry import EXPERIMENTS
from tests.harness_toys import ToyExperiment, temporary_experiment  # noqa: F401  (registers the toys)


def _two_domains(n0: int, n1: int, shift: float, dim: int = 8, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n0 + n1, dim, generator=gen)
    d = torch.cat([torch.zeros(n0, dtype=torch.int64), torch.ones(n1, dtype=torch.int64)])
    z[d == 1, 0] += shift
    return z, d


def test_domain_probe_is_at_chance_on_identical_domains_and_perfect_on_disjoint_ones():
    same = dg.domain_probe(*_two_domains(2000, 2000, 0.0), seed=0)
    assert abs(same["balanced_accuracy"] - 0.5) < 0.04
    assert same["majority"] == 0.5
    disjoint = dg.domain_probe(*_two_domains(2000, 2000, 20.0), seed=0)
    assert disjoint["balanced_accuracy"] == 1.0 and disjoint["accuracy"] == 1.0
    assert disjoint["proxy_a_distance"] == 2.0


def test_domain_probe_balanced_accuracy_ignores_domain_sizes():
    """5:1 domains from one distribution: plain accuracy sits at the majority rate (5/6), the balanced
    accuracy at 0.5, and the proxy A-distance near 0."""
    out = dg.domain_probe(*_two_domains(3000, 600, 0.0), seed=1, max_per_domain=5000)
    assert out["majority"] == pytest.approx(1500 / 1800)
    assert abs(out["accuracy"] - out["majority"]) < 0.03
    assert abs(out["balanced_accuracy"] - 0.5) < 0.05
    assert out["proxy_a_distance"] == pytest.approx(2 * (1 - 2 * (1 - out["balanced_accuracy"])))


def test_domain_probe_is_seeded_and_validates_its_input():
    z, d = _two_domains(300, 300, 1.0)
    assert dg.domain_probe(z, d, seed=3) == dg.domain_probe(z, d, seed=3)
    with pytest.raises(ValueError, match="same rows"):
        dg.domain_probe(z[:10], d, seed=0)
    with pytest.raises(ValueError, match="two domains"):
        dg.domain_probe(z, torch.zeros(len(z), dtype=torch.int64), seed=0)


def test_active_units_counts_informative_dimensions_whatever_the_scale():
    gen = torch.Generator().manual_seed(0)
    n = 5000
    mean = torch.cat([torch.randn(n, 3, generator=gen), 1e-3 * torch.randn(n, 5, generator=gen)], 1)
    logvar = torch.zeros(n, 8)
    out = dg.active_units(mean, logvar)
    assert out["active_units"] == 3 and out["latent_dim"] == 8 and out["active_fraction"] == 3 / 8
    scaled = dg.active_units(100 * mean, logvar + 2 * math.log(100))  # same SNR, latent 100x larger
    assert scaled["active_units"] == 3
    # Burda et al.'s criterion on a unit-variance posterior: Var(mu) = 0.02 > 0.01 is active, 0.005 is not
    two = torch.stack([math.sqrt(0.02) * torch.randn(n, generator=gen),
                       math.sqrt(0.005) * torch.randn(n, generator=gen)], 1)
    assert dg.active_units(two, torch.zeros(n, 2))["active_units"] == 1


def test_information_bound_is_exact_for_a_linear_gaussian_channel():
    """μ = a x with x ~ N(0, 1) and a constant posterior std s: I(x; z_u) = ½ ln(1 + a²/s²) exactly, and
    the bound sums over units; a heteroscedastic posterior only raises it above ½ ln(1 + SNR)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(200_000, 2, generator=gen, dtype=torch.float64)
    a, s = torch.tensor([2.0, 0.1], dtype=torch.float64), torch.tensor([0.5, 1.0], dtype=torch.float64)
    out = dg.active_units(a * x, torch.log(s**2).expand(len(x), 2))
    exact = float(0.5 * torch.log1p(a**2 / s**2).sum())
    assert out["information_bound_nats"] == pytest.approx(exact, rel=2e-3)
    logvar = torch.log(torch.rand(len(x), 2, generator=gen, dtype=torch.float64) + 0.1)
    mixed = dg.active_units(a * x, logvar)
    snr = (a * x).var(0) / logvar.exp().mean(0)
    assert mixed["information_bound_nats"] > float(0.5 * torch.log1p(snr).sum())


def test_entropy_per_dim_matches_torch_distributions():
    logvar = torch.tensor([[0.0, -2.0], [1.0, -1.0]], dtype=torch.float64)
    want = torch.distributions.Normal(0, (0.5 * logvar).exp()).entropy().mean()
    got = dg.active_units(torch.zeros(2, 2), logvar)["entropy_per_dim"]
    assert got == pytest.approx(float(want), rel=1e-12)


def test_effective_rank_of_isotropic_and_degenerate_clouds():
    gen = torch.Generator().manual_seed(0)
    assert dg.effective_rank(torch.randn(100000, 5, generator=gen)) == pytest.approx(5.0, rel=0.01)
    line = torch.randn(1000, 1, generator=gen) * torch.tensor([[1.0, 2.0, -1.0]])
    assert dg.effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert dg.effective_rank(torch.ones(10, 3)) == 0.0


def test_loss_shares_by_hand():
    curves = {"rec": [100.0] * 10 + [4.0] * 10, "kl": [float("nan")] * 18 + [3.0, 5.0], "unused": [1.0]}
    out = dg.loss_shares(curves, {"rec": 0.5, "kl": -2.0, "missing": 1.0}, window=0.1)
    assert out["rec"]["value"] == 4.0 and out["rec"]["weighted"] == 2.0
    assert out["kl"]["value"] == 4.0 and out["kl"]["weighted"] == -8.0
    assert out["rec"]["share"] == pytest.approx(0.2) and out["kl"]["share"] == pytest.approx(0.8)
    assert set(out) == {"rec", "kl"}


def test_checkpoint_steps_and_still_improving():
    assert dg.checkpoint_steps(1000) == [125, 250, 500]
    assert dg.checkpoint_steps(40) == [5, 10, 20]
    assert dg.checkpoint_steps(2) == [1] and dg.checkpoint_steps(1) == []
    assert dg.still_improving([(5, 0.1), (10, 0.5), (20, 0.53)])
    assert not dg.still_improving([(5, 0.1), (10, 0.5), (20, 0.51)])
    assert not dg.still_improving([(20, 0.9)])


def test_regime_flags_in_words():
    record = {"diagnostics": {
        "final": {"alignment": {"balanced_accuracy": 0.99}, "collapse": {"active_fraction": 0.0}},
        "learning_curve": {"10": {"acc": 0.2}, "5": {"acc": 0.1}, "20": {"acc": 0.4}}}}
    assert dg.regime_flags(record, "acc") == ["not aligned", "collapsed", "still improving"]
    healthy = {"diagnostics": {"final": {"alignment": {"balanced_accuracy": 0.6},
                                         "collapse": {"effective_rank": 5.0}}}}
    assert dg.regime_flags(healthy, "acc") == [] and dg.regime_flags({}, "acc") == []


def _diagnosed(base: type) -> ToyExperiment:
    exp = base()
    exp.name = f"{base.name}-diagnosed"
    exp.diagnostics = True
    exp.checkpoint_metrics = ["reconstruction-mse"]
    exp.headline = "test_recon_mse"
    return exp


def test_checkpoint_evaluations_leave_training_untouched(single_thread, restore_determinism):
    """Same cell with and without diagnostics: identical metrics and curves (the evaluations run on a
    deep copy under a forked RNG); the diagnosed record holds the checkpoints and the final point."""
    plain = EXPERIMENTS.get("toy-harness-vaub")
    diagnosed = _diagnosed(type(plain))
    for cell in plain.cells("smoke", [0]):
        a = plain.run_cell(cell)
        b = diagnosed.run_cell(cell)  # the same cell (so the same seeds), evaluated with diagnostics
        assert a["metrics"] == b["metrics"] and a["curves"] == b["curves"]
        assert "diagnostics" not in a
        diag = b["diagnostics"]
        assert sorted(diag["learning_curve"], key=int) == ["1", "2", "5"]  # 1/8, 1/4 -> 1; 1/2 -> 2; final 5
        assert diag["learning_curve"]["5"]["test_recon_mse"] == a["metrics"]["test_recon_mse"]
        assert set(diag["final"]["collapse"]) >= {"active_units", "effective_rank"}
        assert 0 <= diag["final"]["alignment"]["balanced_accuracy"] <= 1
        assert set(diag["loss_terms"]) >= {"reconstruction", "entropy", "cross_entropy"}
        assert sum(t["share"] for t in diag["loss_terms"].values()) == pytest.approx(1.0)


def test_only_the_nonlinear_probe_sees_domains_with_equal_means_and_variances():
    """Domain 0 ~ N(0, 1) per coordinate, domain 1 = ±1 with equal probability: same mean and variance
    in every coordinate (what per-domain normalisation produces), different distributions."""
    gen = torch.Generator().manual_seed(0)
    n = 2000
    z0 = torch.randn(n, 2, generator=gen)
    z1 = torch.randint(0, 2, (n, 2), generator=gen).double() * 2 - 1
    z = torch.cat([z0.double(), z1])
    d = torch.cat([torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.int64)])
    out = dg.domain_probe(z, d, seed=0)
    assert abs(out["linear_balanced_accuracy"] - 0.5) < 0.05
    assert out["mlp_balanced_accuracy"] > 0.8
    assert out["balanced_accuracy"] == out["mlp_balanced_accuracy"] and out["strongest_probe"] == "mlp"


def test_the_alignment_threshold_sits_halfway_from_chance_for_any_number_of_domains():
    assert dg.aligned_threshold(2) == 0.75
    assert dg.aligned_threshold(3) == pytest.approx(2 / 3)
    three = {"alignment": {"balanced_accuracy": 0.6, "n_domains": 3}}
    assert dg.is_aligned(three)
    assert not dg.is_aligned({"alignment": {"balanced_accuracy": 0.7, "n_domains": 3}})
    assert dg.is_aligned({}) is None


#: Every experiment whose methods match distributions (issue 14): its records carry the diagnostics.
MATCHING_EXPERIMENTS = ("table1", "fig6", "fig14", "fig3", "fig4", "fig8", "table2", "fig15")


@pytest.mark.parametrize("name", MATCHING_EXPERIMENTS)
def test_every_distribution_matching_experiment_records_its_regime(name):
    exp = EXPERIMENTS.get(name)
    assert exp.diagnostics, f"{name} records no regime diagnostics"
    assert set(exp.checkpoint_metrics) <= set(exp.metrics)
    assert (exp.headline is None) == (not exp.checkpoint_metrics)
