"""Seeds derive from names, never from positions; the same cell twice gives the same record."""

from __future__ import annotations

import dataclasses

from benchmarks.contracts import Budget
from benchmarks.experiment import Profile, Row
from benchmarks.records import read_record
from benchmarks.registry import EXPERIMENTS
from benchmarks.runner import execute_cell, record_path
from saub.seeding import derive_seed
from tests.harness_toys import ToyExperiment, comparable, harness_isolation  # noqa: F401


def _experiment(rows, seeds, n_values, scales=(1.0,)) -> ToyExperiment:
    exp = ToyExperiment()
    exp.name = "toy-harness-seeds"
    exp.rows = rows
    exp.profiles = {"smoke": Profile(Budget(steps=3, batch_size=8), seeds=seeds,
                                     sweep={"task.n_per_domain": n_values, "method.scale": scales},
                                     task_kwargs={"n_test_per_domain": 4})}
    return exp


def _ids(exp: ToyExperiment, seeds=None) -> dict[tuple, tuple]:
    """(label, seed index, sweep) -> (cell_id, model seed, data seed)."""
    return {(c.label, c.seed_index, c.sweep_tag): (c.cell_id, c.model_seed, c.data_seed)
            for c in exp.cells("smoke", seeds)}


BASE_ROWS = [Row("a", "toy-harness"), Row("b", "toy-harness", {"scale": 2.0})]


def test_growing_the_grid_leaves_every_existing_cell_unchanged():
    base = _ids(_experiment(BASE_ROWS, seeds=2, n_values=(6, 10)))
    assert len(base) == 2 * 2 * 2
    grown_variants = {
        "row prepended": _experiment([Row("new", "toy-harness", {"mode": "raise"})] + BASE_ROWS, 2, (6, 10)),
        "row appended": _experiment(BASE_ROWS + [Row("z", "toy-harness")], 2, (6, 10)),
        "rows reordered": _experiment(BASE_ROWS[::-1], 2, (6, 10)),
        "sweep value first": _experiment(BASE_ROWS, 2, (4, 6, 10)),
        "sweep value last": _experiment(BASE_ROWS, 2, (6, 10, 12)),
        "seed added": _experiment(BASE_ROWS, 3, (6, 10)),
        "everything": _experiment([Row("new", "toy-harness")] + BASE_ROWS, 5, (4, 6, 8, 10, 12)),
    }
    for what, exp in grown_variants.items():
        grown = _ids(exp)
        assert len(grown) > len(base) or what == "rows reordered", what
        assert {k: grown[k] for k in base} == base, what


def test_selecting_seeds_does_not_move_them():
    exp = _experiment(BASE_ROWS, seeds=4, n_values=(6,))
    every = _ids(exp)
    only = _ids(exp, seeds=[3, 1])
    assert set(only) < set(every)
    assert all(every[k] == v for k, v in only.items())


def test_seeds_are_the_hash_of_the_names():
    cell = _experiment(BASE_ROWS, 1, (6,)).cells("smoke")[0]
    assert cell.model_seed == derive_seed("toy-harness-seeds", "a", "nested-d", 0, cell.sweep_tag)
    assert cell.data_seed == derive_seed("nested-d", 0, '{"task.n_per_domain": 6}')
    assert 0 <= cell.model_seed < 2**31 and 0 <= cell.data_seed < 2**31


def test_data_seed_shared_across_rows_and_method_sweeps_model_seed_not():
    exp = _experiment(BASE_ROWS + [Row("c", "saub")], seeds=3, n_values=(6, 10), scales=(1.0, 3.0))
    cells = exp.cells("smoke")
    groups: dict[tuple, list] = {}
    for c in cells:
        groups.setdefault((c.seed_index, c.sweep["task.n_per_domain"]), []).append(c)
    assert len(groups) == 3 * 2
    for group in groups.values():
        assert len(group) == 3 * 2  # rows x method sweep values
        assert len({c.data_seed for c in group}) == 1
        assert len({c.model_seed for c in group}) == len(group)
    assert len({g[0].data_seed for g in groups.values()}) == len(groups)
    assert len({c.cell_id for c in cells}) == len(cells)


def test_data_seed_is_shared_across_experiments_on_the_same_task():
    a = _experiment(BASE_ROWS, 1, (6,)).cells("smoke")[0]
    other = _experiment(BASE_ROWS, 1, (6,))
    other.name = "toy-harness-other"
    b = other.cells("smoke")[0]
    assert a.data_seed == b.data_seed
    assert a.model_seed != b.model_seed
    assert a.cell_id != b.cell_id


def test_cell_id_changes_with_budget_and_overrides():
    cell = _experiment(BASE_ROWS, 1, (6,)).cells("smoke")[0]
    longer = dataclasses.replace(cell, budget=Budget(steps=4, batch_size=8))
    other = dataclasses.replace(cell, overrides={"scale": 5.0})
    quiet = dataclasses.replace(cell, budget=dataclasses.replace(cell.budget, progress=True))
    assert len({cell.cell_id, longer.cell_id, other.cell_id}) == 3
    assert quiet.cell_id == cell.cell_id  # a progress bar is not part of the result
    assert (longer.model_seed, other.model_seed) == (cell.model_seed, cell.model_seed)


def test_same_cell_twice_gives_identical_records(tmp_path):
    for name in ("toy-harness-vaub", "toy-harness-grid"):
        cell = EXPERIMENTS.get(name).cells("smoke")[0]
        execute_cell(cell, tmp_path / "one")
        execute_cell(cell, tmp_path / "two")
        first, second = (read_record(record_path(tmp_path / d, cell)) for d in ("one", "two"))
        assert first["status"] == "done", first.get("error")
        assert comparable(first) == comparable(second), name
        assert first["metrics"] and first["curves"]


def test_a_label_with_a_path_separator_gives_one_flat_record_file(tmp_path):
    exp = _experiment([Row("SAUB w/o GW", "toy-harness"), Row("SAUB w-o GW", "toy-harness")], 1, (6,))
    slashed, dashed = exp.cells("smoke")
    path = record_path(tmp_path, slashed)
    assert path.parent == tmp_path / exp.name / "smoke" and path.name.startswith("SAUB w-o GW__")
    assert slashed.cell_id != dashed.cell_id  # the digest of the cell key keeps them apart
    assert slashed.model_seed == derive_seed(exp.name, "SAUB w/o GW", slashed.task, 0, slashed.sweep_tag)
