"""table2 (§5.4): the translation-pair task, the retrieval metric on hand-made translations, the
grid (absent CelebA, the pair's semantic space on GW-SP cells), the claims and the report."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from benchmarks.contracts import Budget, Method, Split, TaskData
from benchmarks.data.digit_images import load_domain
from benchmarks.experiments.table2 import PAIR, Table2, metric_key, retrieval_by
from benchmarks.registry import METRICS, TASKS
from benchmarks.sampling import subsample
from benchmarks.semantic import CLIP, CONTRASTIVE
from benchmarks.tasks.translation import TranslationPair
from saub.seeding import derive_seed
from saub.semantic import ContrastiveSettings, cached_contrastive_embedder
from tests.fixtures.data.helpers import real_data_dir
from tests.test_data_faces import make_celeba
from tests.test_semantic_contrastive import bars

pytestmark = pytest.mark.usefixtures("single_thread")


class PermutedTranslation(Method):
    """Translates row i of a domain to row ``perm[i]`` of the same images (a hand-made translator)."""

    config_class = dict

    def __init__(self, perm):
        super().__init__({}, (1, 5, 5), 2, None)
        self.perm = perm

    def fit(self, train: Split, budget: Budget, seed: int):
        return {}

    def encode(self, x, d):
        return x.flatten(1)

    def translate(self, x, d_from, d_to):
        return x[self.perm]


def one_hot_task(n: int = 25) -> TaskData:
    """Each domain: n images with one bright pixel each, at n different places (cosine 0 between rows)."""
    x = torch.eye(n).view(n, 1, 5, 5)
    split = Split(torch.cat([x, x]), torch.cat([torch.zeros(n), torch.ones(n)]).long())
    return TaskData("one-hot", split, split, (1, 5, 5), 2, protocol={"semantic_space": "pixel"})


def test_retrieval_metric_on_hand_made_translations():
    metric = METRICS.get("translation-retrieval")
    task = one_hot_task()
    identity = metric(PermutedTranslation(torch.arange(25)), task, 0)
    assert set(identity) == {metric_key(d, k) for d in ("0to1", "1to0") for k in (1, 5, 10, 20)}
    assert all(v == 1.0 for v in identity.values())
    # rows 0-9 translate to themselves; rows 10-24 to another row (a cyclic shift among them): their own
    # translation shares nothing with them (cosine 0, as do all others but one), so it ranks last (24)
    perm = torch.cat([torch.arange(10), torch.roll(torch.arange(10, 25), 1)])
    mixed = metric(PermutedTranslation(perm), task, 0)
    assert all(v == pytest.approx(10 / 25) for v in mixed.values())


@pytest.fixture
def digits_data(monkeypatch):
    monkeypatch.setenv("SAUB_DATA", str(real_data_dir("usps/usps.h5", "mnist/mnist.pkl.gz")))


def test_digit_pair_draws_100_seeded_images_per_domain(digits_data):
    make = TASKS.get("translation-pair")
    task = make(seed=7, pair="mnist-usps")
    assert task.train is task.test and task.train.x.shape == (200, 1, 28, 28)
    assert task.train.d.tolist() == [0] * 100 + [1] * 100
    x, y, _ = load_domain("mnist", "train")
    rows = subsample(len(x), 100, derive_seed(7, "translation-mnist"))
    assert torch.equal(task.train.x[:100], x[rows]) and torch.equal(task.train.y[:100], y[rows])
    p = task.protocol
    assert p["semantic_space"] == CONTRASTIVE and p["stand_in"] is True and p["train_is_test"] is True
    assert not torch.equal(make(seed=8, pair="mnist-usps").train.x, task.train.x)  # another draw
    with pytest.raises(ValueError, match="valid pairs: celeba-hair, mnist-usps"):
        make(seed=0, pair="svhn-mnist")


def test_celeba_pair_on_a_generated_folder(tmp_path, monkeypatch):
    import benchmarks.data.celeba as celeba

    make_celeba(tmp_path / "celeba")
    monkeypatch.setattr(celeba, "verify_file", lambda *a, **k: None)  # not the official files
    task = TASKS.get("translation-pair")(seed=0, pair="celeba-hair", n_per_domain=1, root=tmp_path)
    # training partition, females: black-haired 000001 (10, 10, 10), blond 000002 (240, 220, 100)
    means = task.train.x.mean((2, 3)) * 255
    torch.testing.assert_close(means, torch.tensor([[10.0, 10, 10], [240, 220, 100]]), atol=3, rtol=0)
    assert task.input_shape == (3, 64, 64) and task.train.y is None
    assert task.protocol["semantic_space"] == CLIP
    with pytest.raises(ValueError, match="a draw of 2 images needs at least 2 candidates, found 1"):
        TASKS.get("translation-pair")(seed=0, pair="celeba-hair", n_per_domain=2, root=tmp_path)


def _celeba_is(monkeypatch, present: bool):
    def missing(self, root=None):
        return None if present or self.data != "celeba" else "CelebA not here"

    monkeypatch.setattr(TranslationPair, "missing", missing)


def test_cells_skip_an_absent_pair_and_give_gw_sp_its_space(monkeypatch):
    exp = Table2()
    _celeba_is(monkeypatch, present=False)
    cells = exp.cells("smoke")
    assert {c.sweep[PAIR] for c in cells} == {"mnist-usps"} and len(cells) == 3 * 2
    assert [why for why in exp.absent("smoke").values()] == ["CelebA not here"]
    sp = [c for c in cells if c.label == "GW-SP"]
    assert {c.overrides["semantic"] for c in sp} == {CONTRASTIVE}
    assert {c.overrides["gw_metric"] for c in sp} == {"cosine"}
    assert all("semantic" not in c.overrides for c in cells if c.label != "GW-SP")
    exp.validate()
    _celeba_is(monkeypatch, present=True)
    full = exp.cells("smoke")
    assert len(full) == 12 and exp.absent("smoke") == {}
    celeba_sp = [c for c in full if c.label == "GW-SP" and c.sweep[PAIR] == "celeba-hair"]
    assert {c.overrides["semantic"] for c in celeba_sp} == {CLIP}
    # growing the grid by a pair leaves the other pair's cells (and seeds) as they were
    assert {c.cell_id for c in cells} <= {c.cell_id for c in full}
    assert {c.model_seed for c in cells} <= {c.model_seed for c in full}
    assert [len(Table2().cells(p)) for p in ("quick", "paper")] == [30, 30]


def _records(values: dict[str, list[float]], pair: str = "mnist-usps") -> list[dict]:
    """One record per (row, draw); every metric of a row equals ``values[row][draw]``."""
    keys = [metric_key(d, k) for d in ("0to1", "1to0") for k in (1, 5, 10, 20)]
    return [
        {"cell": {"label": label, "sweep": {PAIR: pair}, "seed_index": s}, "status": "done",
         "metrics": {key: v for key in keys},
         "config": {"semantic": CONTRASTIVE if label == "GW-SP" else None}}
        for label, vals in values.items() for s, v in enumerate(vals)
    ]


def test_claims_pair_the_draws(monkeypatch):
    recs = _records({"No GW": [0.20, 0.22, 0.19, 0.25, 0.21], "GW-EP": [0.15, 0.18, 0.14, 0.2, 0.17],
                     "GW-SP": [0.30, 0.33, 0.28, 0.36, 0.31]})
    claims = {c.id: c for c in Table2.claims}
    verdict, evidence = claims["C1"].check(recs)
    assert verdict == "supported" and "vs No GW: M→U: top-1 +10.2 pts (n=5) supported" in evidence
    assert "contrastive-digits-v1 substitute, not CLIP" in evidence and "stand-in" in evidence
    assert claims["C2"].check(recs)[0] == "supported"
    swapped = _records({"No GW": [0.15, 0.18, 0.14, 0.2, 0.17], "GW-EP": [0.20, 0.22, 0.19, 0.25, 0.21]})
    assert claims["C2"].check(swapped)[0] == "contradicted"
    assert claims["C1"].check(swapped)[0] == "inconclusive"  # no GW-SP runs
    by = retrieval_by(recs)
    assert by[("mnist-usps", "1to0", "GW-EP", 10)] == {0: 0.15, 1: 0.18, 2: 0.14, 3: 0.2, 4: 0.17}


def test_report_names_pairs_spaces_and_absent_data(monkeypatch, tmp_path):
    _celeba_is(monkeypatch, present=False)
    recs = _records({"No GW": [0.01, 0.02, 0.03, 0.04, 0.05], "GW-EP": [0.1] * 5,
                     "GW-SP": [0.2, 0.3, 0.2, 0.3, 0.2]})
    page = Table2().report(recs, tmp_path, "quick")
    celeba, digits = page.tables
    assert "CLIP ViT-L/14" in celeba.title and "stand-in" in digits.title and "not CLIP" in digits.title
    assert celeba.rows[0][:4] == ["black→blonde", "No GW", "5.0 ± 1.4", "data absent"]
    assert digits.rows[0] == ["M→U", "No GW", "3.0 ± 1.6", "3.0 ± 1.6", "3.0 ± 1.6", "3.0 ± 1.6"]
    assert digits.rows[2][1:3] == ["GW-SP", "24.0 ± 5.5"]
    assert digits.rows[-1] == ["", "chance", "1.0", "5.0", "10.0", "20.0"]
    assert any("contrastive-digits-v1" in n for n in page.notes)


def test_gw_sp_cell_runs_end_to_end_in_the_pairs_space(digits_data, monkeypatch, tmp_path,
                                                        restore_determinism):
    """One GW-SP cell of the stand-in pair, 2 steps, with a tiny contrastive space in place of the
    cached one: the record's config names the space and the retrieval numbers are shares of 100."""
    import benchmarks.methods.vaub_family as vaub_family
    import benchmarks.semantic as semantic

    monkeypatch.setenv("SAUB_EMBEDDINGS", str(tmp_path / "embeddings"))
    tiny = cached_contrastive_embedder(bars(64, 0)[0], ContrastiveSettings(steps=3, batch_size=16, width=4))
    monkeypatch.setattr(vaub_family, "build_embedder", lambda name: tiny)
    monkeypatch.setattr(semantic, "build_embedder", lambda name: tiny)
    _celeba_is(monkeypatch, present=False)
    exp = Table2()
    cell = next(c for c in exp.cells("smoke") if c.label == "GW-SP" and c.seed_index == 0)
    cell = dataclasses.replace(cell, budget=Budget(steps=2, batch_size=200))
    body = exp.run_cell(cell)
    assert body["config"]["semantic"] == CONTRASTIVE and body["protocol"]["semantic_space"] == CONTRASTIVE
    values = [body["metrics"][metric_key(d, k)] for d in ("0to1", "1to0") for k in (1, 5, 10, 20)]
    assert all(math.isclose(v * 100, round(v * 100)) and 0 <= v <= 1 for v in values)
    assert all(a <= b for a, b in zip(values[:3], values[1:4]))  # top-k grows with k
    assert len(body["artifacts"]["0to1"]["translation"]) == 8


def test_eval_norm_domain_calibrates_after_fit():
    from benchmarks.registry import METHODS

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, generator=gen) + torch.arange(40).remainder(2).unsqueeze(1) * 3.0
    d = torch.arange(40) % 2
    task = TaskData("toy", Split(x, d), Split(x, d), (2,), 2)
    entry = METHODS.get("saub")
    for eval_norm, calibrated in (("running", False), ("domain", True)):
        method = entry.build(entry.resolve({"eval_norm": eval_norm, "prior_steps": 1, "gw": "none"}), task)
        method.fit(task.train, Budget(steps=2, batch_size=20), seed=0)
        assert (method.model.domain_norm is not None) is calibrated
        if calibrated:  # every domain's eval-mode latent means are centred and scaled: var / (var + eps)
            z = method.encode(x, d)
            raw = method.model.domain_norm[:, 1]
            for k in (0, 1):
                assert z[d == k].mean(0).abs().max() < 1e-5
                torch.testing.assert_close(z[d == k].var(0, unbiased=False), raw[k] / (raw[k] + 1e-5))
    with pytest.raises(Exception, match="eval_norm"):
        entry.resolve({"eval_norm": "batch"})


def test_spaces_are_named_and_clip_absence_is_found_without_loading(monkeypatch):
    import huggingface_hub

    from benchmarks.semantic import describe_space, space_missing

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, filename: None)
    assert "missing config.json, model.safetensors" in space_missing(CLIP)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, filename: f"/hub/{filename}")
    assert space_missing(CLIP) is None
    assert space_missing(CONTRASTIVE) is None and space_missing("pixel") is None
    assert describe_space(CONTRASTIVE) == "contrastive-digits-v1 substitute, not CLIP"
    assert describe_space(CLIP) == "CLIP ViT-L/14, the paper's space"
