"""Seed 002's image study (benchmarks/vsm_toys/images, experiment vsm-images): the metrics against brute
force, numpy and the closed forms of a linear-Gaussian model; the data absent handling; determinism;
the claims' predicates on crafted records."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks.experiments import vsm_images
from benchmarks.experiments.vsm_images import DATA_KEY, LABELS, _still_moving
from benchmarks.registry import EXPERIMENTS
from benchmarks.vsm_toys.images import (
    SD_BINS,
    DCGANDecoder,
    DCGANEncoder,
    ImageVAE,
    add_noise,
    evaluate_test_set,
    minibatches,
    posterior_sds,
    sd_extreme_fraction,
    sd_histograms,
    to_model_images,
)
from benchmarks.vsm_toys.synthetic import linear_gaussian_posterior


def test_to_model_images_pads_with_the_background_and_maps_to_minus_one_one():
    x = np.full((2, 28, 28), 0.25, dtype=np.float32)
    x[1, 0, 0] = 1.0
    t = to_model_images(x)
    assert t.shape == (2, 1, 32, 32)
    assert torch.all(t[:, :, :2] == -1) and torch.all(t[:, :, :, -2:] == -1)
    assert float(t[0, 0, 2, 2]) == -0.5 and float(t[1, 0, 2, 2]) == 1.0
    colour = np.zeros((1, 3, 32, 32), dtype=np.float32)
    assert torch.all(to_model_images(colour) == -1)
    with pytest.raises(ValueError, match="square images"):
        to_model_images(np.zeros((1, 27, 27), dtype=np.float32))


def test_sd_shares_match_numpy():
    gen = torch.Generator().manual_seed(2)
    sd = torch.rand(50, 3, generator=gen) * 1.5
    want = ((sd.numpy() < 0.2) | (sd.numpy() > 0.8)).mean()
    assert sd_extreme_fraction(sd) == pytest.approx(float(want))
    hists = sd_histograms(sd)
    for j, h in enumerate(hists):
        col = np.minimum(sd[:, j].numpy(), SD_BINS[-1])
        assert h == pytest.approx(np.histogram(col, SD_BINS)[0] / 50, abs=1e-4)
        assert sum(h) == pytest.approx(1.0, abs=1e-3)


class _LinearDecoder(torch.nn.Module):
    def __init__(self, weight, bias):
        super().__init__()
        self.weight, self.bias = weight, bias

    def forward(self, z):
        return (z @ self.weight.T + self.bias).reshape(-1, 1, 32, 32)


def _linear_model(gamma=0.05):
    """g(z) = W z + b into 32×32 images, WᵀW diagonal, and its exact posterior as the encoder."""
    gen = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(1024, 3, generator=gen, dtype=torch.float64))
    weight, bias = (
        q * torch.tensor([2.0, 1.0, 0.3], dtype=torch.float64),
        0.1 * torch.randn(1024, generator=gen, dtype=torch.float64),
    )
    exact = linear_gaussian_posterior(weight, bias, gamma)
    encoder = lambda x: exact(x.flatten(1))  # noqa: E731
    model = ImageVAE(
        encoder, _LinearDecoder(weight, bias), torch.tensor(math.log(gamma), dtype=torch.float64)
    )
    z = torch.randn(200, 3, generator=gen, dtype=torch.float64)
    x = model.decoder(z) + math.sqrt(gamma) * torch.randn(200, 1, 32, 32, generator=gen, dtype=torch.float64)
    return model, weight, bias, gamma, x


def test_test_metrics_of_a_linear_gaussian_model_with_its_exact_posterior():
    """With q the exact posterior: posterior FD = 0; negative ELBO = −log p(x) = −log N(x; b, WWᵀ + γI)
    in expectation; MSE = ‖x − g(μ(x))‖²/d; the SDs are Σ's diagonal."""
    model, weight, bias, gamma, x = _linear_model()
    got = evaluate_test_set(model, x, n_samples=5, chunk=64, gen=torch.Generator().manual_seed(0))
    flat = x.flatten(1)
    cov = weight @ weight.T + gamma * torch.eye(1024, dtype=torch.float64)
    nll = -torch.distributions.MultivariateNormal(bias, cov).log_prob(flat).mean()
    mean, _ = model.encoder(x)
    mse = ((flat - mean @ weight.T - bias) ** 2).mean()
    assert got["posterior_fd"] == pytest.approx(0.0, abs=1e-8)
    assert got["neg_elbo"] == pytest.approx(float(nll), abs=0.05)
    assert got["mse"] == pytest.approx(float(mse), rel=1e-9)
    assert got["gamma"] == pytest.approx(gamma)
    sigma = torch.linalg.inv(torch.eye(3, dtype=torch.float64) + weight.T @ weight / gamma).diagonal().sqrt()
    assert torch.allclose(posterior_sds(model, x), sigma.expand(200, 3))


def test_posterior_fd_is_positive_for_a_wrong_posterior():
    model, weight, bias, gamma, x = _linear_model()
    exact = model.encoder
    model.encoder = lambda v: (exact(v)[0] + 0.3, exact(v)[1])
    # shifted mean: ∇ log q − ∇ log p(z|x) = −Σ⁻¹ (0.3·1), so FD = ½ ‖Σ⁻¹ 0.3·1‖² exactly
    prec = torch.eye(3, dtype=torch.float64) + weight.T @ weight / gamma
    want = 0.5 * float(((prec @ torch.full((3,), 0.3, dtype=torch.float64)) ** 2).sum())
    got = evaluate_test_set(model, x, gen=torch.Generator().manual_seed(0))["posterior_fd"]
    assert got == pytest.approx(want, rel=1e-6)


def test_evaluation_is_reproducible_and_leaves_the_global_stream_alone():
    model, *_, x = _linear_model()
    torch.manual_seed(7)
    before = torch.randn(3)
    torch.manual_seed(7)
    a = evaluate_test_set(model, x, gen=torch.Generator().manual_seed(5))
    after = torch.randn(3)
    b = evaluate_test_set(model, x, gen=torch.Generator().manual_seed(5))
    assert a == b
    assert torch.equal(before, after)


def test_networks_map_32x32_images_to_the_latent_and_back():
    enc, dec = DCGANEncoder(10, 1, 4), DCGANDecoder(10, 1, 4)
    mean, logvar = enc(torch.zeros(2, 1, 32, 32))
    assert mean.shape == logvar.shape == (2, 10)
    out = dec(mean)
    assert out.shape == (2, 1, 32, 32) and bool((out.abs() < 1).all())


def test_minibatches_cover_every_image_once_per_epoch_with_fresh_noise():
    x = torch.arange(10.0).reshape(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    batches = minibatches(x, 5, torch.Generator().manual_seed(0))
    first = [next(batches) for _ in range(2)]
    seen = sorted(int(v) for b in first for v in b[:, 0, 0, 0].round())
    assert seen == list(range(10))
    noise = torch.cat(first) - torch.cat(first).round()
    assert 0.05 < float(noise.std()) < 0.2  # sd 0.1 around the clean pixels
    assert not torch.equal(add_noise(x, torch.Generator().manual_seed(1)), x)


def test_absent_datasets_are_listed_and_their_cells_dropped(monkeypatch, tmp_path):
    exp = EXPERIMENTS.get("vsm-images")
    exp.validate()
    monkeypatch.setenv("SAUB_DATA", str(tmp_path))
    absent = exp.absent("smoke")
    assert sorted(absent) == ["celeba (all cells)", "fashion-mnist (all cells)", "mnist (all cells)"]
    assert "fashion-mnist/" in absent["fashion-mnist (all cells)"]
    assert exp.cells("smoke") == []
    monkeypatch.setattr(vsm_images, "MISSING", {**vsm_images.MISSING, "mnist": lambda: None})
    cells = exp.cells("smoke")
    assert {c.sweep[DATA_KEY] for c in cells} == {"mnist"} and len(cells) == len(LABELS)


def test_a_row_with_an_unknown_objective_is_refused():
    from benchmarks.experiment import Row

    exp = EXPERIMENTS.get("vsm-images")
    bad = type(exp)()
    bad.rows = [*exp.rows, Row("X", "none", {"objective": "kl-m9"})]
    with pytest.raises(ValueError, match="kl-m9|one of"):
        bad.validate()


@pytest.mark.skipif(vsm_images.MISSING["mnist"]() is not None, reason="MNIST not in the data cache")
def test_a_cell_is_deterministic():
    exp = EXPERIMENTS.get("vsm-images")
    cell = next(c for c in exp.cells("smoke") if c.overrides["objective"] == "fd-m1")
    first, second = exp.run_cell(cell), exp.run_cell(cell)
    assert first["metrics"] == second["metrics"] and first["artifacts"] == second["artifacts"]
    assert first["curves"]["step"] == [3, 6]


def _records(m2_mse, m3_mse, kl_m1_shift, sd_share, m23_sample_fd):
    """Three seeds on MNIST; KL-ELBO at (100, 0.05, 0.1, 10) and a sample FD of 5, the others
    relative to it."""
    base = {"neg_elbo": 100.0, "mse": 0.05, "mmd": 0.1, "posterior_fd": 10.0, "feature_fd": 5.0}
    rows = {
        "KL-ELBO": base,
        "KL-M1": {m: v * (1 + kl_m1_shift) for m, v in base.items()},
        "FD-M1": {"neg_elbo": 120.0, "mse": 0.06, "mmd": 0.3, "posterior_fd": 30.0, "feature_fd": 6.0},
    }
    for inf in ("KL", "FD"):
        worse = 2.0 if inf == "FD" else 1.5
        rows[f"{inf}-M2"] = {
            "neg_elbo": 150.0 * worse,
            "mse": m2_mse,
            "mmd": 0.5 * worse,
            "posterior_fd": 20 * worse,
            "feature_fd": m23_sample_fd * worse,
        }
        rows[f"{inf}-M3"] = {
            "neg_elbo": 140.0 * worse,
            "mse": m3_mse,
            "mmd": 0.4 * worse,
            "posterior_fd": 15 * worse,
            "feature_fd": m23_sample_fd * worse,
        }
    out = []
    for seed, jitter in enumerate((0.0, 0.001, 0.002)):
        for label, m in rows.items():
            metrics = {k: v + jitter for k, v in m.items()} | {"sd_extreme_fraction": sd_share + jitter}
            out.append(
                {
                    "cell": {"label": label, "sweep": {DATA_KEY: "mnist"}, "seed_index": seed},
                    "metrics": metrics,
                    "artifacts": {},
                    "status": "done",
                }
            )
    return out


def _verdicts(records):
    return {c.id: c.check(records)[0] for c in EXPERIMENTS.get("vsm-images").claims}


def test_claims_on_crafted_records():
    good = _verdicts(_records(m2_mse=0.2, m3_mse=0.01, kl_m1_shift=0.01, sd_share=0.95, m23_sample_fd=20.0))
    assert good == dict.fromkeys([f"C{i}" for i in range(1, 11)], "supported")
    bad = _verdicts(_records(m2_mse=0.001, m3_mse=0.3, kl_m1_shift=-0.1, sd_share=0.5, m23_sample_fd=1.0))
    assert bad["C1"] == bad["C5"] == bad["C6"] == bad["C8"] == bad["C9"] == bad["C10"] == "contradicted"
    assert bad["C2"] == bad["C3"] == bad["C4"] == bad["C7"] == "supported"


def test_sample_claims_skip_datasets_without_class_labels():
    celeba = [
        r | {"cell": {**r["cell"], "sweep": {DATA_KEY: "celeba"}}}
        for r in _records(m2_mse=0.2, m3_mse=0.01, kl_m1_shift=0.01, sd_share=0.95, m23_sample_fd=20.0)
    ]
    verdict, evidence = next(c for c in EXPERIMENTS.get("vsm-images").claims if c.id == "C9").check(celeba)
    assert (verdict, evidence) == ("inconclusive", "no runs")


def test_still_moving_reads_the_last_evaluation_interval():
    assert _still_moving({"curves": {"neg_elbo": [300.0, 200.0, 150.0]}}) is True
    assert _still_moving({"curves": {"neg_elbo": [300.0, 200.0, 199.5]}}) is False
    assert _still_moving({"curves": {"neg_elbo": [200.0]}}) is None
