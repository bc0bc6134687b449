"""``saub-bench embed`` -> precomputed embeddings, and fig7's cells and report on real data."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.cli import main
from benchmarks.experiment import Cell
from benchmarks.registry import EXPERIMENTS
from benchmarks.semantic import build_embedder, dataset_images
from saub.semantic import ClipWeightsMissing, ContrastiveSettings, cached_contrastive_embedder
from tests.fixtures.data.helpers import real_data_dir
from tests.test_semantic_contrastive import bars


@pytest.fixture
def shared_data(monkeypatch, tmp_path):
    root = real_data_dir("usps/usps.h5", "celeba-mini/list_attr_celeba.txt")
    monkeypatch.setenv("SAUB_DATA", str(root))
    monkeypatch.setenv("SAUB_EMBEDDINGS", str(tmp_path / "embeddings"))
    return root


def test_embed_command_writes_a_file_that_precomputed_reads_back(shared_data, tmp_path, capsys):
    out = tmp_path / "usps_test_pixel.npy"
    assert main(["embed", "usps", "--split", "test", "--model", "pixel", "--out", str(out)]) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["rows"] == 2007 and meta["embedder"]["name"] == "pixel" and meta["dataset"] == "usps"
    images = dataset_images("usps", "test")
    emb = build_embedder(f"precomputed:{out}")
    assert emb.name == "pixel" and emb.metric == "euclidean"
    rows = torch.tensor([5, 3, 2000])
    assert torch.equal(emb.embed(images[rows]), images[rows].flatten(1))


def test_embed_command_without_clip_weights_says_how_to_get_them(shared_data, tmp_path, capsys, monkeypatch):
    import benchmarks.embed_cli as embed_cli

    def no_weights(*args, **kwargs):
        raise ClipWeightsMissing("CLIP weights are not in the HuggingFace cache: missing config.json")

    monkeypatch.setattr(embed_cli, "build_embedder", no_weights)
    assert main(["embed", "usps", "--model", "clip", "--out", str(tmp_path / "x.npy")]) == 1
    assert "missing config.json" in capsys.readouterr().err and not (tmp_path / "x.npy").exists()


def test_fig7_cells_and_report(shared_data, tmp_path, monkeypatch, single_thread):
    import benchmarks.experiments.fig7 as fig7

    tiny = cached_contrastive_embedder(
        bars(64, 0)[0], ContrastiveSettings(steps=5, batch_size=16, width=4), folder=tmp_path / "embeddings"
    )
    monkeypatch.setattr(fig7, "build_embedder", lambda *a, **k: tiny)
    exp = EXPERIMENTS.get("fig7")
    exp.validate()
    records = []
    for label in ("usps", "celeba"):
        cell = next(c for c in exp.cells("smoke") if c.label == label)
        cell = Cell(**{**cell.__dict__, "task_kwargs": {"n": 60, "n_per_domain": 10}})
        body = exp.run_cell(cell)
        records.append({"cell": cell.key(), "status": "done", **body})
    usps, celeba = (r["metrics"] for r in records)
    assert 0.5 < usps["auroc_pixel"] <= 1 and 0 < usps["knn_pixel"] <= 1 and 0 <= usps["auroc_semantic"] <= 1
    assert records[0]["config"]["semantic_space"] == "contrastive-digits-v1"
    assert "CLIP unavailable" in records[0]["config"]["why"]
    assert celeba["auroc_semantic"] == "n/a" and 0 <= celeba["auroc_pixel"] <= 1
    assert (
        records[1]["protocol"]["source"].startswith("celeba-mini") and records[1]["protocol"]["n_images"] == 9
    )  # females, black xor blond
    (tmp_path / "figures").mkdir()
    page = exp.report(records, tmp_path, "smoke")
    text = str(page.tables[0].rows)
    assert "contrastive-digits-v1 (cosine)" in text and "celeba-mini" in text
    assert any("not CLIP" in n for n in page.notes)
    assert (tmp_path / "figures" / "fig7_histograms.png").is_file()
