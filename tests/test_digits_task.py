"""MNIST <-> USPS tasks: one size and scaling for both datasets, subsampling, labels, provenance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.data.digit_images import load_domain, to_28
from benchmarks.registry import TASKS
from tests.fixtures.data.helpers import real_data_dir

pytestmark = pytest.mark.usefixtures("single_thread")

SIZES = {"n_source": 60, "n_target": 40, "n_test": 25}


def test_to_28_is_bilinear_and_keeps_the_range():
    gen = torch.Generator().manual_seed(0)
    x16 = torch.rand(3, 16, 16, generator=gen)
    out = to_28(x16)
    assert out.shape == (3, 1, 28, 28)
    ref = F.interpolate(x16[:, None], size=(28, 28), mode="bilinear", align_corners=False)
    assert torch.equal(out, ref.clamp(0, 1))
    assert out.min() >= x16.min() and out.max() <= x16.max()
    torch.testing.assert_close(to_28(torch.full((1, 16, 16), 0.7)), torch.full((1, 1, 28, 28), 0.7))
    assert to_28(torch.ones(1, 16, 16)).max() <= 1 and to_28(torch.zeros(1, 16, 16)).min() >= 0
    x28 = torch.rand(2, 28, 28, generator=gen)
    assert torch.equal(to_28(x28), x28[:, None])  # MNIST passes through untouched


@pytest.fixture(scope="module")
def root():
    return real_data_dir("mnist/mnist.pkl.gz", "usps/usps.h5")


@pytest.fixture(scope="module")
def tasks(root):
    torch.set_num_threads(1)
    return {name: TASKS.get(name)(seed=7, root=root, **SIZES) for name in ("mnist-usps", "usps-mnist")}


@pytest.mark.parametrize("name", ["mnist-usps", "usps-mnist"])
def test_task_shapes_labels_and_range(tasks, name):
    task = tasks[name]
    assert task.input_shape == (1, 28, 28) and task.n_domains == 2 and task.n_classes == 10
    tr, te = task.train, task.test
    assert tr.x.shape == (100, 1, 28, 28) and tr.x.dtype == torch.float32
    assert te.x.shape == (50, 1, 28, 28)
    assert (tr.d == 0).sum() == 60 and (tr.d == 1).sum() == 40
    assert (te.d == 0).sum() == 25 and (te.d == 1).sum() == 25
    for split in (tr, te):
        assert split.x.min() >= 0 and split.x.max() <= 1
    # Source labels visible, target training labels hidden as -1; test labels complete.
    assert ((tr.y[tr.d == 0] >= 0) & (tr.y[tr.d == 0] <= 9)).all()
    assert (tr.y[tr.d == 1] == -1).all()
    assert ((te.y >= 0) & (te.y <= 9)).all()
    assert tr.without_labels().y is None


@pytest.mark.parametrize("name", ["mnist-usps", "usps-mnist"])
def test_protocol_and_checksums(tasks, name):
    task = tasks[name]
    p = task.protocol
    assert p["source_labels_visible"] is True
    assert p["model_selection"] == "last iterate, no target labels"
    assert p["n_train"] == {"source": 60, "target": 40} and p["n_test"] == {"source": 25, "target": 25}
    assert p["full_sizes"]["mnist"] == {"train": 60000, "test": 10000}
    assert p["full_sizes"]["usps"] == {"train": 7291, "test": 2007}
    assert p["mnist_source"] in ("idx", "pickle") and p["usps_source"] in ("h5", "libsvm")
    assert "bilinear" in p["resize"]["usps"] and "align_corners=False" in p["resize"]["usps"]
    src, tgt = name.split("-")
    assert p["source_domain"].startswith(f"0 = {src}") and p["target_domain"].startswith(f"1 = {tgt}")
    assert task.checksums and all(v.startswith("sha256:") for v in task.checksums.values())
    assert any(k.startswith("mnist-") for k in task.checksums)
    assert any(k.startswith("usps-") for k in task.checksums)


def test_directions_swap_domains(tasks):
    mu, um = tasks["mnist-usps"], tasks["usps-mnist"]
    # Domain 0 of mnist-usps and domain 1 of usps-mnist are MNIST test rows, and vice versa.
    for task, mnist_dom in ((mu, 0), (um, 1)):
        x = task.test.x[task.test.d == mnist_dom]
        usps = task.test.x[task.test.d == 1 - mnist_dom]
        # MNIST digits sit in a 20x20 box with a blank border; upsampled USPS digits fill the frame.
        assert x[:, :, :2, :].abs().max() == 0
        assert usps[:, :, :2, :].abs().max() > 0


def test_subsampling_is_seeded(root):
    a = TASKS.get("mnist-usps")(seed=7, root=root, **SIZES)
    b = TASKS.get("mnist-usps")(seed=7, root=root, **SIZES)
    c = TASKS.get("mnist-usps")(seed=8, root=root, **SIZES)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)


def test_usps_rows_are_the_upsampled_file_pixels(root):
    """The full USPS splits, resized exactly like the unit test above and in [0, 1] like MNIST."""
    from benchmarks.data import load_usps

    x, y, choice = load_domain("usps", "test", root)
    raw, raw_y = load_usps("test", formats=choice.format, root=root)
    assert x.shape == (2007, 1, 28, 28) and np.array_equal(y.numpy(), raw_y)
    ref = F.interpolate(torch.from_numpy(raw)[:, None], size=(28, 28), mode="bilinear", align_corners=False)
    assert torch.equal(x, ref.clamp(0, 1))
    xm, _, _ = load_domain("mnist", "test", root)
    assert xm.shape == (10000, 1, 28, 28)
    assert float(x.min()) == float(xm.min()) == 0.0 and float(x.max()) == float(xm.max()) == 1.0
