"""GW-SP in the VAUB family: semantic=pixel is GW-EP, cross-domain pairs, attaching embeddings."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmarks.contracts import Budget, Split, TaskData
from benchmarks.registry import METHODS, TASKS
from benchmarks.semantic import attach_embeddings, build_embedder, embed_split
from saub.networks import MultiDomainAutoencoder
from saub.priors import StandardGaussianPrior
from saub.semantic import PixelEmbedder
from saub.structural import pairwise_distances
from saub.training import AlternatingTrainer, Batch


def _fit_curves(overrides: dict, task: TaskData, seed: int = 3) -> dict:
    entry = METHODS.get("saub")
    config = entry.resolve({"prior_steps": 2, "latent_dim": 2, **overrides})
    torch.manual_seed(seed)
    method = entry.build(config, task)
    return method.fit(task.train.without_labels(), Budget(steps=5, batch_size=32), seed)


def test_sp_with_the_pixel_space_is_exactly_ep(single_thread, tmp_path, monkeypatch):
    monkeypatch.setenv("SAUB_EMBEDDINGS", str(tmp_path))
    task = TASKS.get("nested-d")(seed=0, n_per_domain=40)
    ep = _fit_curves({"gw": "ep", "gw_metric": "euclidean"}, task)
    sp = _fit_curves({"gw": "sp", "semantic": "pixel", "gw_metric": "euclidean"}, task)
    assert ep["gw"] == sp["gw"] and ep["total"] == sp["total"]
    assert any(v > 0 for v in sp["gw"])


def _brute_force_all_pairs(x_repr, z, metric):
    n = len(z)
    total = 0.0
    for i in range(n):
        for j in range(n):
            dx = pairwise_distances(x_repr[i : i + 1], x_repr[j : j + 1], metric)[0, 0]
            dz = torch.linalg.vector_norm(z[i] - z[j])
            total += float((dx - dz).detach() ** 2)
    return total / n**2


@pytest.mark.parametrize("pairs", ["within", "all"])
def test_gw_pairs_against_a_brute_force_loop(pairs):
    torch.manual_seed(0)
    model = MultiDomainAutoencoder((3,), 2, latent_dim=2, hidden=8).double()
    trainer = AlternatingTrainer(
        model, StandardGaussianPrior(2).double(), gw="sp", lambda_gw=1.0, gw_metric="cosine", gw_pairs=pairs
    )
    x = torch.randn(10, 3, dtype=torch.float64)
    d = torch.tensor([0] * 6 + [1] * 4)
    emb = torch.randn(10, 5, dtype=torch.float64)
    torch.manual_seed(1)
    _, logs = trainer.vae_loss(Batch(x, d, emb))
    torch.manual_seed(1)  # the same reparameterisation noise
    mean, logvar = model.encode(x, d)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    if pairs == "all":
        expected = _brute_force_all_pairs(emb, z, "cosine")
    else:
        expected = sum(_brute_force_all_pairs(emb[d == k], z[d == k], "cosine") for k in (0, 1))
    assert logs["gw"] == pytest.approx(expected, rel=1e-9)


def test_all_pairs_differ_from_within_pairs_when_domains_share_a_space():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    emb = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [6.0, 5.0]])  # cross-domain pairs are far in emb
    from saub.structural import gw_per_domain, gw_structural_loss

    d = torch.tensor([0, 0, 1, 1])
    assert float(gw_per_domain(emb, z, d)) == 0.0  # each domain alone is isometric
    assert float(gw_structural_loss(emb, z)) > 1.0


def test_attach_embeddings_fills_both_splits_and_names_the_space(tmp_path, monkeypatch):
    monkeypatch.setenv("SAUB_EMBEDDINGS", str(tmp_path))
    x = torch.rand(6, 1, 4, 4)
    split = Split(x, torch.tensor([0, 0, 0, 1, 1, 1]))
    task = TaskData("toy", split, split.subset(torch.arange(3)), (1, 4, 4), 2, checksums={"f": "sha256:0"})
    out = attach_embeddings(task, PixelEmbedder())
    assert torch.equal(out.train.emb, x.flatten(1)) and torch.equal(out.test.emb, x[:3].flatten(1))
    assert out.protocol["semantic_space"] == "pixel" and task.train.emb is None
    assert torch.equal(embed_split(split, PixelEmbedder()).emb, x.flatten(1))


def test_sp_without_a_space_says_what_to_set():
    task = TASKS.get("nested-d")(seed=0, n_per_domain=10)
    with pytest.raises(ValueError, match="semantic"):
        _fit_curves({"gw": "sp"}, task)


def test_unknown_semantic_names_are_rejected_before_training():
    with pytest.raises(ValueError, match="unknown semantic space 'clip'"):
        METHODS.get("saub").resolve({"gw": "sp", "semantic": "clip"})
    with pytest.raises(ValueError, match="unknown semantic space"):
        build_embedder("word2vec")
    assert dataclasses.is_dataclass(METHODS.get("saub").resolve({"semantic": "precomputed:a.npy"}))


def test_semantic_spaces_demand_their_cosine_distance():
    with pytest.raises(ValueError, match="gw_metric='cosine'"):
        METHODS.get("saub").resolve({"gw": "sp", "semantic": "contrastive-digits-v1"})
    ok = METHODS.get("saub").resolve({"gw": "sp", "semantic": "contrastive-digits-v1", "gw_metric": "cosine"})
    assert ok.semantic == "contrastive-digits-v1"
