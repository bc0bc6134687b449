"""Semantic embedders: pixel, the on-disk cache, precomputed files, CLIP's code path (tiny random model)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from saub.semantic import PixelEmbedder, PrecomputedEmbedder, cached_embed, cosine_distances, images_digest
from saub.semantic.base import Embedder, embedding_cache_dir


class CountingPixels(PixelEmbedder):
    calls = 0

    def embed(self, images):
        CountingPixels.calls += 1
        return super().embed(images)


def test_pixel_embedder_is_the_flattened_image():
    x = torch.rand(4, 1, 3, 3)
    assert torch.equal(PixelEmbedder().embed(x), x.reshape(4, 9))
    assert PixelEmbedder().metric == "euclidean"


def test_cosine_distances_match_a_hand_computation():
    a = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    b = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    expected = torch.tensor([[1.0, 1 - 1 / np.sqrt(2)], [1 - 0.8, 1 - 7 / (5 * np.sqrt(2))]])
    torch.testing.assert_close(cosine_distances(a, b), expected.float())


def test_cache_reuses_identical_images_and_recomputes_for_other_rows(tmp_path):
    x = torch.rand(10, 1, 4, 4)
    CountingPixels.calls = 0
    first = cached_embed(CountingPixels(), x, folder=tmp_path)
    again = cached_embed(CountingPixels(), x.clone(), folder=tmp_path)
    assert CountingPixels.calls == 1 and torch.equal(first, again)
    cached_embed(CountingPixels(), x[:5], folder=tmp_path)  # other rows: another key
    cached_embed(CountingPixels(), x, context={"data": "other checksum"}, folder=tmp_path)
    assert CountingPixels.calls == 3
    meta = json.loads(next((tmp_path / "pixel").glob("*.json")).read_text())
    assert meta["embedder"]["name"] == "pixel" and meta["images_sha256"] in {
        images_digest(x),
        images_digest(x[:5]),
    }


def test_cache_folder_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SAUB_EMBEDDINGS", str(tmp_path / "emb"))
    assert embedding_cache_dir() == tmp_path / "emb"
    monkeypatch.delenv("SAUB_EMBEDDINGS")
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("SAUB_DATA", str(data))
    assert embedding_cache_dir() == data / "embeddings"
    os.chmod(data, 0o555)  # a read-only data folder is never written to
    try:
        assert embedding_cache_dir() == embedding_cache_dir().home() / ".cache/saub/embeddings"
    finally:
        os.chmod(data, 0o755)


def _write_precomputed(path, table, images, name="clip-vit-large-patch14"):
    np.save(path, table)
    meta = {
        "embedder": {"name": name, "metric": "cosine"},
        "dataset": "toy",
        "split": "train",
        "rows": len(table),
        "images_sha256": images_digest(images),
    }
    path.with_suffix(".json").write_text(json.dumps(meta))


def test_precomputed_serves_any_subset_in_any_order(tmp_path):
    images = torch.rand(6, 1, 2, 2)
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    _write_precomputed(tmp_path / "e.npy", table, images)
    emb = PrecomputedEmbedder.from_files([tmp_path / "e.npy"], [images])
    assert emb.name == "clip-vit-large-patch14" and emb.metric == "cosine"
    rows = [4, 0, 4, 2]
    assert torch.equal(emb.embed(images[rows]), torch.from_numpy(table[rows]))
    with pytest.raises(KeyError, match="not among the images"):
        emb.embed(torch.rand(1, 1, 2, 2))


def test_precomputed_refuses_misaligned_files(tmp_path):
    images = torch.rand(6, 1, 2, 2)
    _write_precomputed(tmp_path / "e.npy", np.zeros((5, 2), np.float32), images)
    with pytest.raises(ValueError, match="5 rows"):
        PrecomputedEmbedder.from_files([tmp_path / "e.npy"], [images])
    _write_precomputed(tmp_path / "f.npy", np.zeros((6, 2), np.float32), images)
    with pytest.raises(ValueError, match="other images"):
        PrecomputedEmbedder.from_files([tmp_path / "f.npy"], [images + 0.5])
    with pytest.raises(FileNotFoundError, match="sidecar"):
        PrecomputedEmbedder.from_files([tmp_path / "missing.npy"], [images])


def test_embedder_interface_requires_embed():
    with pytest.raises(TypeError):
        Embedder()
