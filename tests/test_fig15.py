"""fig15 (App. K): FairFace absent -> no cells and a page that says "data absent"; present (a
generated folder in the official layout) -> the male/female task, one cell end to end, the figure."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmarks.cli import main
from benchmarks.contracts import Budget
from benchmarks.data.celeba import celeba_missing
from benchmarks.data.fairface import fairface_missing
from benchmarks.experiments.fig15 import Fig15
from benchmarks.registry import TASKS
from tests.test_data_faces import make_celeba

Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.usefixtures("single_thread")

#: Five faces per gender, each one flat colour: male (40 k, 0, 0), female (0, 40 k, 0), k = 1..5.
COLOURS = {"Male": [(40 * k, 0, 0) for k in range(1, 6)], "Female": [(0, 40 * k, 0) for k in range(1, 6)]}


def make_fairface(root):
    folder = root / "fairface"
    (folder / "train").mkdir(parents=True)
    lines, i = ["file,age,gender,race,service_test"], 0
    for gender, colours in COLOURS.items():
        for colour in colours:
            i += 1
            Image.new("RGB", (224, 224), colour).save(folder / "train" / f"{i}.jpg", quality=95)
            lines.append(f"train/{i}.jpg,30-39,{gender},White,False")
    (folder / "fairface_label_train.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_absent_fairface_gives_no_cells_and_a_data_absent_page(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAUB_DATA", str(tmp_path / "empty"))
    exp = Fig15()
    assert exp.cells("smoke") == [] and exp.cells("quick") == []
    (why,) = exp.absent("smoke").values()
    assert "fairface_label_train.csv" in why and str(tmp_path / "empty" / "fairface") in why
    out = tmp_path / "reports"
    assert main(["run", "fig15", "--profile", "smoke", "--results", str(tmp_path / "r"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "left out, data absent: FairFace (all cells)" in err and "fairface_label_train.csv" in err
    results = ["--results", str(tmp_path / "r")]
    assert main(["report", "fig15", "--profile", "smoke", *results, "--out", str(out)]) == 0
    page = (out / "fig15.md").read_text()
    assert "## Not run: data absent" in page and "**FairFace (all cells)**: data absent." in page
    assert "$SAUB_DATA/fairface" in page and str(tmp_path / "empty") not in page  # machine-free page
    assert "| SAUB (no SP) | saub     | data absent" in page and "0 finished cells" in page
    # the error keeps its lines (one per missing file) inside a code block; folders end in "/"
    assert "\n      train/  no direct download URL" in page and "\n  ```\n" in page
    assert "- records: 0 (no cell of this profile has run)" in page


def test_presence_probes(tmp_path):
    assert fairface_missing("train", root=tmp_path) is not None and celeba_missing(root=tmp_path) is not None
    make_fairface(tmp_path)
    make_celeba(tmp_path / "celeba")
    assert fairface_missing("train", root=tmp_path) is None and celeba_missing(root=tmp_path) is None
    assert "fairface_label_val.csv" in str(fairface_missing("val", root=tmp_path))


def test_task_splits_genders_into_disjoint_train_and_test(tmp_path):
    make_fairface(tmp_path)
    task = TASKS.get("fairface-gender")(seed=0, n_per_domain=3, n_test=2, size=16, root=tmp_path)
    assert task.train.x.shape == (6, 3, 16, 16) and task.test.x.shape == (4, 3, 16, 16)
    assert task.train.d.tolist() == [0, 0, 0, 1, 1, 1] and task.test.d.tolist() == [0, 0, 1, 1]
    assert task.train.y is None and task.n_domains == 2
    colour = lambda split: [tuple(round(v) for v in c) for c in (split.x.mean((2, 3)) * 255 / 40).tolist()]  # noqa: E731
    train, test = colour(task.train), colour(task.test)
    assert set(train).isdisjoint(test) and len(set(train + test)) == 10
    assert all(c[1] == 0 for c in train[:3] + test[:2]) and all(c[0] == 0 for c in train[3:] + test[2:])
    with pytest.raises(ValueError, match="4 training \\+ 2 test images requested, 5 available"):
        TASKS.get("fairface-gender")(seed=0, n_per_domain=4, n_test=2, root=tmp_path)
    everything = TASKS.get("fairface-gender")(seed=0, n_per_domain=None, n_test=1, size=16, root=tmp_path)
    assert everything.train.x.shape[0] == 8


def test_a_cell_runs_and_its_figure_is_drawn(tmp_path, monkeypatch, restore_determinism):
    make_fairface(tmp_path)
    monkeypatch.setenv("SAUB_DATA", str(tmp_path))
    exp = Fig15()
    exp.validate()
    cells = exp.cells("smoke")
    assert [c.label for c in cells] == ["SAUB (no SP)", "VAUB"] and exp.absent("smoke") == {}
    cell = dataclasses.replace(cells[0], budget=Budget(steps=2, batch_size=4),
                               task_kwargs={"n_per_domain": 3, "n_test": 2})
    body = exp.run_cell(cell)
    assert body["config"]["gw"] == "none" and body["metrics"]["test_recon_mse"] > 0
    art = body["artifacts"]
    assert set(art) == {"male→female", "female→male"}
    assert torch.tensor(art["male→female"]["translated"]).shape == (2, 3, 64, 64)
    (tmp_path / "figures").mkdir()
    page = exp.report([{"cell": cell.key(), "status": "done", **body}], tmp_path, "smoke")
    assert page.tables[0].rows[1] == ["VAUB", "vaub", "not run"]
    assert (tmp_path / "figures" / "fig15_saub.png").is_file()
