"""The contrastive substitute space: NT-Xent, augmentations, and training + caching end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch

import saub.semantic.contrastive as contrastive
from benchmarks.metrics.pair_separation import within_between_auroc
from saub.semantic import ContrastiveSettings, cached_contrastive_embedder
from saub.semantic.augment import DigitAugment
from saub.semantic.contrastive import NAME, nt_xent


def test_nt_xent_matches_the_formula_by_a_loop():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    tau, n = 0.3, 3
    un = u / u.norm(dim=1, keepdim=True)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denom = sum(math.exp(float(un[i] @ un[k]) / tau) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(float(un[i] @ un[j]) / tau) / denom)
    assert float(nt_xent(u, tau)) == pytest.approx(total / (2 * n), rel=1e-12)


def test_identity_augmentation_returns_the_input():
    off = DigitAugment(rotate=0, scale=(1, 1), shear=0, translate=0, elastic=0, p_dilate=0, p_blur=0, noise=0)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(off(x, torch.Generator().manual_seed(0)), x, atol=1e-5, rtol=0)


def test_affine_scale_and_rotation_by_hand():
    zoom = DigitAugment(rotate=0, scale=(2, 2), shear=0, translate=0)
    theta = zoom.affine(2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(theta, torch.tensor([[[0.5, 0, 0], [0, 0.5, 0]]] * 2))
    turn = DigitAugment(rotate=30, scale=(1, 1), shear=0, translate=0)
    theta = turn.affine(100, torch.Generator().manual_seed(0))
    angles = torch.rad2deg(torch.atan2(theta[:, 1, 0], theta[:, 0, 0]))
    assert angles.abs().max() <= 30 and angles.abs().max() > 25
    torch.testing.assert_close(torch.linalg.det(theta[:, :, :2]), torch.ones(100))


def bars(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiny 'digits': class 0 a vertical bar, class 1 a horizontal bar, each at a random offset."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    y = torch.arange(n) % 2
    for i, pos in enumerate(torch.randint(6, 22, (n,), generator=gen).tolist()):
        if y[i] == 0:
            x[i, 0, 4:24, pos - 1 : pos + 2] = 1.0
        else:
            x[i, 0, pos - 1 : pos + 2, 4:24] = 1.0
    return x, y


def test_contrastive_space_trains_separates_and_is_cached(tmp_path, monkeypatch, single_thread):
    train, _ = bars(64, 0)
    settings = ContrastiveSettings(steps=40, batch_size=32, width=8, embed_dim=16, proj_dim=8, lr=3e-3)
    torch.manual_seed(123)
    emb = cached_contrastive_embedder(train, settings, context={"data": "bars"}, folder=tmp_path)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))  # training left the caller's random stream untouched
    assert emb.name == NAME == "contrastive-digits-v1" and emb.metric == "cosine"
    x, y = bars(60, 1)
    e = emb.embed(x)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(60))
    learned = within_between_auroc(e, y, "cosine")
    pixels = within_between_auroc(x.flatten(1), y, "euclidean")
    assert learned > 0.8 > pixels  # shifted bars are far apart in pixels, close in the learned space
    meta = json.loads(next((tmp_path / NAME).glob("model-*.json")).read_text())
    assert meta["settings"]["steps"] == 40 and meta["n_images"] == 64 and meta["context"] == {"data": "bars"}

    def no_training(*args):
        raise AssertionError("the cached model should have been loaded")

    monkeypatch.setattr(contrastive, "_train", no_training)
    again = cached_contrastive_embedder(train, settings, context={"data": "bars"}, folder=tmp_path)
    assert torch.equal(again.embed(x), e) and again.identity() == emb.identity()
    with pytest.raises(AssertionError, match="cached"):  # other settings: another model
        cached_contrastive_embedder(train, ContrastiveSettings(steps=41), folder=tmp_path)
    with pytest.raises(ValueError, match="28 x 28"):
        emb.embed(torch.rand(2, 1, 16, 16))
