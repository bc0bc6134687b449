"""fig8 (App. G): the rotation, the three-domain rotated-MNIST task, the rotated-translation metric on
hand-made translators, the claims and the figure page."""

from __future__ import annotations

import pytest
import torch

from benchmarks.contracts import Budget, Method, Split
from benchmarks.data.digit_images import load_domain
from benchmarks.experiments.fig8 import ANGLES, Fig8
from benchmarks.registry import METRICS, TASKS
from benchmarks.semantic import CONTRASTIVE
from benchmarks.tasks.rotated_mnist import _domain_rows, rotate
from saub.seeding import derive_seed
from tests.fixtures.data.helpers import real_data_dir

pytestmark = pytest.mark.usefixtures("single_thread")


def test_rotation_is_counter_clockwise_and_exact_at_right_angles():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 4] = 1.0  # right middle
    up = rotate(x, 90)
    assert up[0, 0, 0, 2] == pytest.approx(1.0, abs=1e-6) and float(up.sum()) == pytest.approx(1.0, abs=1e-5)
    img = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(rotate(img, 90), torch.rot90(img, 1, (-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate(img, 180), torch.rot90(img, 2, (-2, -1)), atol=1e-5, rtol=0)
    assert torch.equal(rotate(img, 0), img) and torch.equal(rotate(img, 360), img)
    r = rotate(img, 30)
    assert 0 <= float(r.min()) and float(r.max()) <= 1  # bilinear: convex weights
    # a centred disc is (nearly) unchanged by any rotation
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    disc = (((yy - 13.5) ** 2 + (xx - 13.5) ** 2) < 64).float().view(1, 1, 28, 28)
    assert float((rotate(disc, 30) - disc).abs().mean()) < 0.02


@pytest.fixture
def mnist_data(monkeypatch):
    monkeypatch.setenv("SAUB_DATA", str(real_data_dir("mnist/mnist.pkl.gz")))


def test_rotated_mnist_domains_are_disjoint_rotations(mnist_data):
    task = TASKS.get("rotated-mnist")(seed=3, n_per_domain=40, n_test=10)
    assert task.n_domains == 3 and task.train.x.shape == (120, 1, 28, 28)
    assert task.test.x.shape == (30, 1, 28, 28)
    assert task.train.d.tolist() == [0] * 40 + [1] * 40 + [2] * 40
    x, y, _ = load_domain("mnist", "train")
    rows = _domain_rows(len(x), 40, 3, derive_seed(3, "rotated-mnist", "train"))
    assert len(set(torch.cat(rows).tolist())) == 120  # no digit in two domains
    for k, angle in enumerate(ANGLES):
        part = task.train.d == k
        torch.testing.assert_close(task.train.x[part], rotate(x[rows[k]], angle))
        assert torch.equal(task.train.y[part], y[rows[k]])
    assert task.protocol["angles"] == [0.0, 30.0, 60.0]
    assert task.protocol["n_per_domain"] == {"train": 40, "test": 10}
    with pytest.raises(ValueError, match="at least two angles"):
        TASKS.get("rotated-mnist")(seed=0, angles=(0,))


class Rotator(Method):
    """Translates by rotating with the angle difference (``exact``) or returns its input unchanged."""

    config_class = dict

    def __init__(self, angles, exact: bool):
        super().__init__({}, (1, 28, 28), len(angles), 10)
        self.angles, self.exact = angles, exact

    def fit(self, train: Split, budget: Budget, seed: int):
        return {}

    def encode(self, x, d):
        return x.flatten(1)

    def translate(self, x, d_from, d_to):
        return rotate(x, self.angles[d_to] - self.angles[d_from]) if self.exact else x.clone()


def test_rotated_translation_metric_on_hand_made_translators(mnist_data):
    task = TASKS.get("rotated-mnist")(seed=0, n_per_domain=500, n_test=60)
    metric = METRICS.get("rotated-translation")
    exact = metric(Rotator(ANGLES, exact=True), task, 0)
    for k in (1, 2):
        assert exact[f"rotation_acc_to{k}"] == 1.0
        assert exact[f"rotation_mse_to{k}"] == pytest.approx(0, abs=1e-12)
        assert [exact[f"rotation_nearest{a}_to{k}"] for a in ANGLES] == [float(j == k) for j in range(3)]
        # the exact rotation of a digit is a digit of the target domain: near the classifier's real accuracy
        assert exact[f"digit_acc_to{k}"] > 0.7 and exact[f"digit_acc_real{k}"] > 0.7
    unchanged = metric(Rotator(ANGLES, exact=False), task, 0)
    for k in (1, 2):  # the untranslated image is its own 0° rotation: never the target angle
        assert unchanged[f"rotation_acc_to{k}"] == 0.0 and unchanged[f"rotation_mse_to{k}"] > 0
        assert [unchanged[f"rotation_nearest{a}_to{k}"] for a in ANGLES] == [1.0, 0.0, 0.0]
        assert unchanged[f"digit_acc_real{k}"] == exact[f"digit_acc_real{k}"]  # same classifier, same seed
    assert unchanged["digit_acc_to2"] < exact["digit_acc_to2"]  # upright digits fool a 60° classifier


def _records(digit: list[float], rotation: list[float]) -> list[dict]:
    metrics = [{"digit_acc_to1": d, "digit_acc_to2": d, "digit_acc_real1": 0.95, "digit_acc_real2": 0.95,
                "rotation_acc_to1": r, "rotation_acc_to2": r, "rotation_mse_to1": 0.01,
                "rotation_mse_to2": 0.02, "test_recon_mse": 0.03,
                "rotation_nearest0_to1": 1 - r, "rotation_nearest30_to1": r, "rotation_nearest60_to1": 0.0}
               for d, r in zip(digit, rotation)]
    return [{"cell": {"label": "SAUB GW-SP", "seed_index": s, "sweep": {}}, "status": "done", "metrics": m}
            for s, m in enumerate(metrics)]


def test_claims_and_report(tmp_path):
    claims = {c.id: c for c in Fig8.claims}
    recs = _records([0.8, 0.85, 0.9], [0.3, 0.35, 0.32])
    assert claims["C1"].check(recs)[0] == "supported" and claims["C2"].check(recs)[0] == "contradicted"
    assert claims["C1"].check(recs[:1])[0] == "inconclusive"  # one seed
    recs[0]["artifacts"] = {name: torch.rand(4, 1, 28, 28).tolist()
                            for name in ("ground truth", "reconstruction", "to 30°", "to 60°")}
    (tmp_path / "figures").mkdir()
    page = Fig8().report(recs, tmp_path, "quick")
    assert page.tables[0].rows[0][1:] == ["0° → 30°", "0.850 ± 0.050", "0.950 ± 0.000", "0.323 ± 0.025",
                                          "0.010 ± 0.000", "0.68 / 0.32 / 0.00"]
    assert page.tables[0].rows[1][-1] == "–"  # records without the shares (older metric)
    assert "not CLIP" in page.tables[0].rows[0][0] and "0.0300" in page.tables[0].note
    assert (tmp_path / "figures" / "fig8.png").is_file()


def test_grid_is_one_gw_sp_row_in_the_substitute_space():
    exp = Fig8()
    exp.validate()
    cells = exp.cells("quick")
    assert len(cells) == 3 and {c.task for c in cells} == {"rotated-mnist"}
    assert {(c.overrides["gw"], c.overrides["semantic"], c.overrides["gw_metric"]) for c in cells} == {
        ("sp", CONTRASTIVE, "cosine")}
