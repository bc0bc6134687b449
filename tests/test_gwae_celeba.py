"""gwae-celeba (seed 001, Table 2): PSNR against hand computations (eq. 61), the ``celeba`` task's
144 crop and partitions on a generated folder, a smoke run end to end through the CLI on that
folder, and the "data absent" page without CelebA."""

from __future__ import annotations

import math
import re

import pytest
import torch

from benchmarks.cli import main
from benchmarks.contracts import Budget, Method, Split, TaskData
from benchmarks.experiment import Profile
from benchmarks.metrics.psnr import per_image_psnr, psnr_from_mse
from benchmarks.registry import EXPERIMENTS, METRICS, TASKS
from benchmarks.sampling import subsample
from saub.seeding import derive_seed
from tests.test_data_faces import make_celeba

Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.usefixtures("single_thread")


def test_psnr_of_known_errors():
    x = torch.zeros(2, 3, 4, 4)
    x_hat = torch.stack([torch.full((3, 4, 4), 0.1), torch.full((3, 4, 4), 0.01)])  # MSE 1e-2, 1e-4
    torch.testing.assert_close(per_image_psnr(x, x_hat), torch.tensor([20.0, 40.0], dtype=torch.float64))
    # MAX = 255: an error of 2.55 everywhere is MSE 6.5025, 20 log10 255 - 10 log10 6.5025 = 40 dB
    assert float(per_image_psnr(x, x + 2.55, max_value=255.0)[0]) == pytest.approx(40.0)
    assert float(psnr_from_mse(0.5)) == pytest.approx(3.0103, abs=1e-4)
    assert float(psnr_from_mse(0.0)) == math.inf
    with pytest.raises(ValueError, match="same shape"):
        per_image_psnr(x, x[:1])


class FixedReconstruction(Method):
    """Reconstructs every image as a fixed tensor (a hand-made autoencoder)."""

    config_class = dict

    def __init__(self, out):
        super().__init__({}, tuple(out.shape[1:]), 1, None)
        self.out = out

    def fit(self, train: Split, budget: Budget, seed: int):
        return {}

    def encode(self, x, d):
        return x.flatten(1)

    def reconstruct(self, x, d):
        return self.out


def test_psnr_metric_averages_images_and_clips_to_the_pixel_range():
    x = torch.full((2, 3, 4, 4), 0.5)
    # image 0 is off by 0.1 (MSE 1e-2, 20 dB); image 1 by 1.5, clipped to 1.0: off by 0.5 (MSE 0.25)
    out = torch.stack([torch.full((3, 4, 4), 0.6), torch.full((3, 4, 4), 2.0)])
    split = Split(x, torch.zeros(2, dtype=torch.int64))
    metrics = METRICS.get("psnr")(FixedReconstruction(out), TaskData("t", split, split, (3, 4, 4), 1), 0)
    psnr_1 = -10 * math.log10(0.25)
    assert metrics["test_psnr"] == pytest.approx((20.0 + psnr_1) / 2)
    assert metrics["test_psnr_pooled"] == pytest.approx(-10 * math.log10((0.01 + 0.25) / 2))


def framed_face(path):
    """Black 178x218 face with a white 144x144 centre (App. C.1's crop box: left 17, top 37)."""
    img = Image.new("RGB", (178, 218), (0, 0, 0))
    img.paste((255, 255, 255), (17, 37, 17 + 144, 37 + 144))
    img.save(path, format="PNG")  # lossless, whatever the file's name says


@pytest.fixture
def celeba_cache(tmp_path, monkeypatch):
    """``$SAUB_DATA`` with a generated CelebA in the canonical folder (not the official files)."""
    import benchmarks.data.celeba as celeba

    folder = make_celeba(tmp_path / "celeba")
    framed_face(folder / "img_align_celeba" / "182639.jpg")
    monkeypatch.setattr(celeba, "verify_file", lambda *a, **k: None)
    monkeypatch.setenv("SAUB_DATA", str(tmp_path))
    return tmp_path


def test_task_uses_the_official_partitions_and_the_144_crop(celeba_cache):
    task = TASKS.get("celeba")(seed=3, n_train=2)
    # training partition 000001-000003: flat (10, 10, 10), (240, 220, 100), (20, 20, 20); a seeded two
    chosen = subsample(3, 2, derive_seed(3, "celeba", "train")).tolist()
    colours = torch.tensor([[10.0, 10, 10], [240, 220, 100], [20, 20, 20]])[chosen]
    torch.testing.assert_close(task.train.x.mean((2, 3)) * 255, colours, atol=3, rtol=0)
    # test partition 182638 (flat 128) and 182639 (framed): its 144 crop is all white
    assert task.test.x.shape == (2, 3, 64, 64) and task.train.d.tolist() == [0, 0]
    assert float(task.test.x[0].mean() * 255) == pytest.approx(128, abs=2)
    assert float(task.test.x[1].min()) == pytest.approx(1.0, abs=2e-3)
    wide = TASKS.get("celeba")(seed=3, crop=148).test.x[1].mean()  # 2 black pixels each side
    assert float(wide) == pytest.approx((144 / 148) ** 2, abs=0.01)
    assert task.protocol["full_sizes"] == {"train": 3, "test": 2}
    assert "144x144" in task.protocol["preprocessing"]


def test_smoke_run_and_report_on_a_generated_folder(celeba_cache, tmp_path, monkeypatch, restore_determinism):
    exp = EXPERIMENTS.get("gwae-celeba")
    monkeypatch.setitem(exp.profiles, "smoke", Profile(Budget(steps=2, batch_size=4), seeds=1,
                                                       method_overrides={"critic_steps": 1}))
    assert exp.absent("smoke") == {} and [c.label for c in exp.cells("smoke")] == ["VAE", "GWAE (NP)"]
    results, out = ["--results", str(tmp_path / "r")], tmp_path / "reports"
    assert main(["run", "gwae-celeba", "--profile", "smoke", *results, "--quiet"]) == 0
    assert main(["report", "gwae-celeba", "--profile", "smoke", *results, "--out", str(out)]) == 0
    page = (out / "gwae-celeba.md").read_text()
    assert "2 finished cells, 0 failed" in page
    for label in ("VAE", "GWAE (NP)"):
        row = next(line for line in page.splitlines() if line.startswith(f"| {label} "))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1:4] == ["lost in the seed's text"] * 2 + ["not computed: Inception-v3 weights not "
                                                                "available here"]
        per_image, pooled = float(cells[4]), float(cells[5])
        assert math.isfinite(per_image) and math.isfinite(pooled) and 0 < pooled <= per_image + 0.01
    assert re.search(r"\| C1 \| .* \| \*\*inconclusive\*\* \|", page)  # one seed: an infinite interval
    assert "![First test faces" in page and (out / "figures" / "gwae_celeba.png").is_file()


def test_without_celeba_the_page_says_data_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("SAUB_DATA", str(tmp_path / "empty"))
    exp = EXPERIMENTS.get("gwae-celeba")
    assert exp.cells("smoke") == [] and exp.cells("quick") == []
    (why,) = exp.absent("quick").values()
    assert "img_align_celeba" in why and "list_attr_celeba.txt" in why and "list_eval_partition.txt" in why
    out = tmp_path / "reports"
    assert main(["report", "gwae-celeba", "--profile", "quick", "--results", str(tmp_path / "r"),
                 "--out", str(out)]) == 0
    page = (out / "gwae-celeba.md").read_text()
    assert "## Not run: data absent" in page and "**CelebA (all cells)**: data absent." in page
    assert "$SAUB_DATA/celeba/" in page and str(tmp_path) not in page
    assert "| VAE " in page and page.count("| data absent ") == 4
    assert re.search(r"\| WAE \(Tolstikhin et al., 2018\) +\| 55 \* +\| 22.70 +\|", page)
    assert "Every other row, VAE's and GWAE's among them, is lost." in page
    # records made elsewhere (a machine with CelebA) are shown; only rows without any say "data absent"
    metrics = {"test_psnr": 20.0, "test_psnr_pooled": 19.5}
    done = [{"cell": {"label": "VAE", "seed_index": 0}, "metrics": metrics}]
    table = exp.report(done, tmp_path, "quick").tables[0]
    assert table.rows[0][4:] == ["20.00", "19.50"] and table.rows[1][4:] == ["data absent"] * 2
