"""3D Shapes (seed 001, Table 1): the loader on a generated ``3dshapes.h5`` in the standard layout, the
DCI scores against hand-computed numbers, and the gwae-shapes3d page with and without the file."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
from scipy.stats import entropy

from benchmarks.cli import main
from benchmarks.data import DatasetChecksumError, DatasetMissingError, get_dataset
from benchmarks.data import shapes3d as s3d
from benchmarks.data.errors import DataFormatError
from benchmarks.experiments.gwae_shapes3d import GWAEShapes3D
from benchmarks.metrics.dci import completeness, dci_scores, disentanglement, informativeness
from benchmarks.registry import TASKS
from tests.fixtures.data.helpers import patch_file, sha256

h5py = pytest.importorskip("h5py")
URL = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
N_ROWS = 200


def factor_grid() -> np.ndarray:
    """All 480,000 label rows of 3D Shapes (every combination of the factor values)."""
    return np.stack(np.meshgrid(*s3d.FACTOR_VALUES.values(), indexing="ij"), -1).reshape(-1, 6)


def hue_rgb(hue: float) -> np.ndarray:
    return np.round(255 * np.array(colorsys.hsv_to_rgb(hue, 1.0, 1.0)))


def render(label) -> np.ndarray:
    """A 64x64 RGB picture of one factor row: wall (top) and floor (bottom) in their hues, an object
    whose size follows scale, outline follows shape and horizontal position follows orientation."""
    floor, wall, obj, scale, shape, orientation = label
    img = np.empty((64, 64, 3), dtype=np.uint8)
    img[:32], img[32:] = hue_rgb(wall), hue_rgb(floor)
    half = 6 + 8 * (scale - 0.75) / 0.5
    dy, dx = np.ogrid[-40:24, -(32 + round(orientation / 5)):32 - round(orientation / 5)]
    mask = [np.maximum(abs(dx), abs(dy)) <= half, abs(dx) + abs(dy) <= half, dx**2 + dy**2 <= half**2,
            np.minimum(abs(dx), abs(dy)) <= half / 3][int(shape)] & (np.maximum(abs(dx), abs(dy)) <= half)
    img[mask] = hue_rgb(obj)
    return img


def make_shapes3d(root, n=N_ROWS, labels=None, seed=0):
    """``<root>/shapes3d/3dshapes.h5``: ``n`` distinct rows of the factor grid, gzip-chunked as the
    real file; returns ``(path, images, labels)``."""
    if labels is None:
        grid = factor_grid()
        labels = grid[np.sort(np.random.default_rng(seed).choice(len(grid), n, replace=False))]
    images = np.stack([render(row) for row in labels])
    path = root / "shapes3d" / "3dshapes.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as fh:
        fh.create_dataset("images", data=images, chunks=(10, 64, 64, 3), compression="gzip")
        fh.create_dataset("labels", data=labels.astype(np.float64))
    return path, images, labels


@pytest.fixture
def shapes_file(tmp_path, monkeypatch):
    """A generated file in ``$SAUB_DATA``, registered with its own SHA-256 for this test only."""
    monkeypatch.setenv("SAUB_DATA", str(tmp_path))
    path, images, labels = make_shapes3d(tmp_path)
    patch_file(monkeypatch, "shapes3d", "3dshapes.h5", sha256=sha256(path.read_bytes()), md5=None)
    return path, images, labels


# ------------------------------------------------------------------------------------- loader
def test_registry_names_the_canonical_url_and_published_hashes():
    spec = get_dataset("shapes3d")
    (f,) = spec.files
    assert spec.subdir == "shapes3d" and f.filename == "3dshapes.h5" and f.urls == (URL,)
    assert f.algorithm == "sha256"  # TensorFlow Datasets' checksums.tsv; MD5 as vaetc / disent check
    assert f.sha256 == "0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785"
    assert f.md5 == "099a2078d58cec4daad0702c55d06868"


def test_missing_file_names_the_file_the_url_and_the_folder(tmp_path):
    root = tmp_path / "empty"
    with pytest.raises(DatasetMissingError) as err:
        s3d.load_shapes3d(root)
    text = str(err.value)
    assert "3dshapes.h5" in text and URL in text and f"{root / 'shapes3d'}/" in text
    assert "saub-bench data fetch shapes3d" in text and str(s3d.shapes3d_missing(root)) == text
    with pytest.raises(DatasetMissingError, match="3dshapes.h5"):
        TASKS.get("shapes3d")(seed=0, root=root)


def test_split_is_80_10_10_disjoint_and_fixed():
    full = s3d.split_rows(480_000)
    assert {k: len(v) for k, v in full.items()} == {"train": 384_000, "valid": 48_000, "test": 48_000}
    assert np.array_equal(np.sort(np.concatenate(list(full.values()))), np.arange(480_000))
    small = s3d.split_rows(N_ROWS)
    assert [len(v) for v in small.values()] == [160, 20, 20]
    assert all(np.array_equal(a, b) for a, b in zip(small.values(), s3d.split_rows(N_ROWS).values()))
    assert not all(np.array_equal(a, b) for a, b in zip(small.values(), s3d.split_rows(N_ROWS, 1).values()))


def test_shape_becomes_four_dummies_and_every_factor_lies_in_unit_interval():
    labels = np.array([[0.0, 0.9, 0.5, 0.75, 0.0, -30.0],
                       [0.1, 0.2, 0.3, 1.25, 3.0, 30.0],
                       [0.4, 0.0, 0.9, 1.0, 2.0, 0.0]])
    expected = np.array([[0.0, 0.9, 0.5, 0.0, 1, 0, 0, 0, 0.0],
                         [0.1, 0.2, 0.3, 1.0, 0, 0, 0, 1, 1.0],
                         [0.4, 0.0, 0.9, 0.5, 0, 0, 1, 0, 0.5]], dtype=np.float32)
    assert s3d.FACTOR_COLUMNS == ("floor_hue", "wall_hue", "object_hue", "scale", "shape=0", "shape=1",
                                  "shape=2", "shape=3", "orientation")
    np.testing.assert_allclose(s3d.factor_matrix(labels), expected, atol=1e-7)
    grid = factor_grid()
    assert len(grid) == 480_000
    factors = s3d.factor_matrix(grid)
    assert factors.shape == (480_000, 9) and factors.min() == 0 and factors.max() == 1
    assert np.array_equal(factors[:, 4:8].sum(1), np.ones(480_000))


def test_loader_reads_images_by_rows_scaled_to_unit_interval(shapes_file, monkeypatch):
    path, images, labels = shapes_file
    data = s3d.load_shapes3d()
    assert len(data) == N_ROWS
    assert data.checksums == {"shapes3d/3dshapes.h5": "sha256:" + sha256(path.read_bytes())}
    test = data.rows("test")
    x = data.images(test)
    assert x.shape == (20, 3, 64, 64) and x.dtype == np.float32 and x.flags.c_contiguous
    assert 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(x, images[test].transpose(0, 3, 1, 2) / np.float32(255))
    np.testing.assert_array_equal(data.factors(test), s3d.factor_matrix(labels[test]))
    monkeypatch.setattr(s3d, "BLOCK_ROWS", 15)  # windows of 20 rows (two chunks): many blocks
    rows = np.array([199, 3, 3, 57, 0, 120, 58, 19, 20])
    with h5py.File(path) as fh:
        np.testing.assert_array_equal(s3d.read_rows(fh["images"], rows), images[rows])
        with pytest.raises(IndexError):
            s3d.read_rows(fh["images"], np.array([200]))


def test_loader_verifies_the_file_and_its_labels(tmp_path, monkeypatch):
    path, _, labels = make_shapes3d(tmp_path, n=20)
    with pytest.raises(DatasetChecksumError, match="0a0f6ed98baff276"):  # not the official file
        s3d.load_shapes3d(tmp_path)
    bad = labels.copy()
    bad[5, 3] = 0.8  # not one of the 8 scales
    path, _, _ = make_shapes3d(tmp_path / "bad", labels=bad)
    patch_file(monkeypatch, "shapes3d", "3dshapes.h5", sha256=sha256(path.read_bytes()), md5=None)
    with pytest.raises(DataFormatError, match=r"factor scale .* e\.g\. 0\.8 in row 5"):
        s3d.load_shapes3d(tmp_path / "bad")


def test_task_subsamples_the_split_with_aligned_images_and_factors(shapes_file):
    _, _, labels = shapes_file
    task = TASKS.get("shapes3d")(seed=3, n_train=50, n_test=None)
    assert task.train.x.shape == (50, 3, 64, 64) and task.test.x.shape == (20, 3, 64, 64)
    assert task.train.y.shape == (50, 9) and task.n_domains == 1 and task.n_classes is None
    assert task.train.d.tolist() == [0] * 50 and task.protocol["full_sizes"] == {"train": 160, "test": 20}
    split = s3d.split_rows(N_ROWS)
    for part, name in ((task.train, "train"), (task.test, "test")):
        allowed = {tuple(r) for r in s3d.factor_matrix(labels[split[name]]).tolist()}
        assert {tuple(r) for r in part.y.tolist()} <= allowed
        wall = [hue_rgb(h) / 255 for h in part.y[:, 1].tolist()]  # the image shows the wall hue of its y
        np.testing.assert_allclose(part.x[:, :, 0, 0].numpy(), np.array(wall), atol=1e-6)
    again = TASKS.get("shapes3d")(seed=3, n_train=50, n_test=None)
    assert np.array_equal(again.train.y, task.train.y)


# ------------------------------------------------------------------------------------- DCI
def brute_force_dci(r: np.ndarray) -> tuple[float, float]:
    """D and C by loops over the definition, entropies from scipy (which normalises its input)."""
    n_latents, n_factors = r.shape
    d = sum(r[i].sum() / r.sum() * (1 - entropy(r[i], base=n_factors)) for i in range(n_latents))
    c = sum(1 - entropy(r[:, j], base=n_latents) for j in range(n_factors)) / n_factors
    return d, c


def test_d_and_c_of_hand_computed_importance_matrices():
    r = np.array([[0.5, 0.0, 0.1], [0.0, 0.3, 0.0], [0.2, 0.2, 0.2], [0.0, 0.05, 0.5]])
    d, c = brute_force_dci(r)
    assert disentanglement(r)[0] == pytest.approx(d, abs=1e-12)
    assert completeness(r)[0] == pytest.approx(c, abs=1e-12)
    # [[1, 1], [0, 2]]: z_0 splits evenly (D_0 = 0), z_1 serves y_1 only (D_1 = 1), ρ = (1/2, 1/2);
    # y_0 rests on z_0 alone (C_0 = 1), y_1 on z_0 : z_1 = 1 : 2
    h = -(1 / 3 * math.log2(1 / 3) + 2 / 3 * math.log2(2 / 3))
    d, per_latent = disentanglement(np.array([[1.0, 1.0], [0.0, 2.0]]))
    assert d == pytest.approx(0.5) and per_latent.tolist() == pytest.approx([0.0, 1.0])
    assert completeness(np.array([[1.0, 1.0], [0.0, 2.0]]))[0] == pytest.approx((1 + 1 - h) / 2)
    assert disentanglement(np.eye(3))[0] == 1 and completeness(np.eye(3))[0] == 1
    assert disentanglement(np.ones((4, 3)))[0] == pytest.approx(0) and completeness(np.ones((4, 3)))[0] == 0
    # a latent without importance has weight 0; a factor nothing predicts has completeness 0
    assert disentanglement(np.vstack([r, np.zeros(3)]))[0] == pytest.approx(disentanglement(r)[0])
    assert completeness(np.hstack([np.eye(3), np.zeros((3, 1))]))[1].tolist() == [1, 1, 1, 0]
    with pytest.raises(ValueError, match=">= 0"):
        disentanglement(-r)


def test_informativeness_is_one_minus_six_mse():
    y = np.random.default_rng(0).uniform(size=(1000, 3))
    value, per_factor = informativeness(y, y + np.array([0.1, -0.2, 0.0]))  # MSE 0.01, 0.04, 0
    assert per_factor.tolist() == pytest.approx([0.94, 0.76, 1.0]) and value == pytest.approx(0.9)
    u, v = np.random.default_rng(1).uniform(size=(2, 200_000, 1))
    assert informativeness(u, v)[0] == pytest.approx(0.0, abs=0.01)  # a uniform guess: MSE 1/6
    assert informativeness(u, np.full_like(u, 0.5))[0] == pytest.approx(0.5, abs=0.01)  # MSE 1/12


def test_exact_representation_scores_one_on_a_discrete_grid():
    y = np.random.default_rng(2).choice(np.linspace(0, 1, 5), size=(300, 2))
    scores = dci_scores(y.copy(), y, seed=0)
    assert scores == {"dci_d": 1.0, "dci_c": 1.0, "dci_i": 1.0, "dci_depth": 4}


def test_disentangled_representation_beats_a_rotated_one():
    rng = np.random.default_rng(0)
    y = rng.uniform(size=(600, 4))
    disentangled = y[:, [2, 0, 3, 1]] + 1e-3 * rng.normal(size=y.shape)
    rotation = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    good, mixed = dci_scores(disentangled, y, seed=0), dci_scores(y @ rotation, y, seed=0)
    assert good["dci_d"] > 0.95 and good["dci_c"] > 0.95 and good["dci_i"] > 0.95
    assert mixed["dci_d"] < good["dci_d"] - 0.3 and mixed["dci_c"] < good["dci_c"] - 0.3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dci_scores(disentangled, 2 * y, seed=0)


# ------------------------------------------------------------------------------------- experiment
def dci_table(page: str) -> dict[str, list[str]]:
    """The page's DCI table: model -> its cells (D paper, ours, difference, C ..., I ...)."""
    rows = [line.split("|")[1:-1] for line in page.splitlines() if line.startswith("| ")]
    table = {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows if len(cells) == 10}
    assert table.pop("model")[:3] == ["D paper", "D ours", "D ours − paper"]
    return table


def test_without_the_file_the_page_says_data_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("SAUB_DATA", str(tmp_path / "empty"))
    exp = GWAEShapes3D()
    assert exp.cells("smoke") == [] and exp.cells("quick") == []
    out, results = tmp_path / "reports", ["--results", str(tmp_path / "r")]
    assert main(["run", "gwae-shapes3d", "--profile", "quick", *results, "--quiet"]) == 0
    assert main(["report", "gwae-shapes3d", "--profile", "quick", *results, "--out", str(out)]) == 0
    page = (out / "gwae-shapes3d.md").read_text()
    assert "## Not run: data absent" in page and "**3D Shapes (all cells)**: data absent." in page
    assert "$SAUB_DATA/shapes3d/" in page and URL in page and str(tmp_path) not in page
    table = dci_table(page)
    assert list(table) == ["VAE", "GWAE (FNP)", "FactorVAE", "DIP-VAE-I", "DIP-VAE-II"]
    assert table["GWAE (FNP)"] == ["0.9080 ± 0.0002", "data absent", "—", "0.7024 ± 0.0002", "data absent",
                                   "—", "0.9966 ± 0.0002", "data absent", "—"]
    assert table["VAE"][:3] == ["lost in the seed's text", "data absent", "—"]
    assert table["DIP-VAE-I"][3:5] == ["0.6984 ± 0.0003", "not in the suite"]


@pytest.mark.usefixtures("restore_determinism", "single_thread")
def test_smoke_run_on_the_fixture_reports_finite_dci(shapes_file, tmp_path):
    exp = GWAEShapes3D()
    exp.validate()
    assert exp.absent("smoke") == {} and [c.label for c in exp.cells("smoke")] == ["VAE", "GWAE (FNP)"]
    out, results = tmp_path / "reports", ["--results", str(tmp_path / "r")]
    assert main(["run", "gwae-shapes3d", "--profile", "smoke", *results, "--quiet"]) == 0
    assert main(["report", "gwae-shapes3d", "--profile", "smoke", *results, "--out", str(out)]) == 0
    page = (out / "gwae-shapes3d.md").read_text()
    assert "2 finished cells, 0 failed" in page and "## Not run" not in page
    table = dci_table(page)
    for label in ("VAE", "GWAE (FNP)"):
        ours = [float(table[label][k]) for k in (1, 4, 7)]  # D, C, I: one seed, so no ± part
        assert all(math.isfinite(v) for v in ours) and 0 <= ours[0] <= 1 and 0 <= ours[1] <= 1, label
    assert float(table["GWAE (FNP)"][2]) == pytest.approx(float(table["GWAE (FNP)"][1]) - 0.9080, abs=1e-4)
    assert "| C1 |" in page and "**inconclusive**" in page  # one seed decides nothing
