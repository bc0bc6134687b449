"""One tidy, typed results table from an experiment's records (pandas): one row per cell × metric.

Columns (:data:`COLUMNS`): the experiment, profile, row label, method, seed index, each sweep value
under ``sweep.<key>``, the metric's record key, its value (float; NaN where the metric is "n/a" or
not a number, with ``value_text`` keeping what the record said), the cell's status and id, and the
record's provenance (code commit, torch, device, wall time). Failed cells appear once, with metric
``""`` and their error in ``value_text``, so a table never silently drops a failure.

:func:`values_by` is the query a report needs most, on the records themselves (what the experiment
modules use, without building a frame): a metric's per-seed values keyed by row label and a sweep
value. The non-scalar fields (curves, artifacts, list- or dict-valued metrics, config, protocol) are
read with the same keying by :func:`fields_by` (every seed's value) and :func:`first_by` (the lowest
seed's, e.g. the artifact seed's figures); :func:`field_values` lists a field over records,
:func:`protocol_value` is the one value all records state, :func:`present_labels` the rows that have
records, :func:`cell_group` the (row, grid point) a record belongs to. A field is named by its path
from the record's top, e.g. ``("curves", "gw")``. The frame is for a user's own analysis:
``saub-bench export EXPERIMENT --format csv|parquet`` writes it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: The fixed columns, in order; sweep columns (``sweep.<key>``) follow ``seed``.
COLUMNS = ["experiment", "profile", "label", "method", "seed", "metric", "value", "value_text", "status",
           "cell_id", "git_commit", "torch", "device", "wall_time_s"]
FORMATS = ("csv", "parquet")


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


#: ``values_by(..., sweep_key=ONLY_SWEEP)``: key by the cell's single sweep value whatever its key
#: (an experiment whose rows each sweep their own knob, e.g. fig4); None for a cell without a sweep.
ONLY_SWEEP = object()
#: A path through a record's nested dicts, e.g. ``("artifacts", "latents")``; a str is one key.
FieldPath = str | Sequence[str]
_ABSENT = object()
_RAISE = object()  # protocol_value without a default


def _field(record: Mapping, path: FieldPath) -> Any:
    """The value at ``path`` in ``record``, or ``_ABSENT`` where a step is missing or the value is
    None or empty (``""``, ``[]``, ``{}``: e.g. the artifacts of a seed that keeps none)."""
    value: Any = record
    for step in (path,) if isinstance(path, str) else path:
        if not isinstance(value, Mapping) or step not in value:
            return _ABSENT
        value = value[step]
    if value is None or (isinstance(value, (str, list, tuple, dict)) and not value):
        return _ABSENT
    return value


def _key(cell: Mapping, sweep_key: str | object | None) -> Hashable:
    if sweep_key is None:
        return cell["label"]
    if sweep_key is ONLY_SWEEP:
        return cell["label"], next(iter(cell["sweep"].values()), None)
    return cell["label"], cell["sweep"][sweep_key]


def cell_group(record: Mapping, drop: Iterable[str] = ()) -> tuple[str, str]:
    """``(row label, sweep values as sorted JSON)`` of a record, leaving out the sweep keys in
    ``drop`` (e.g. a search's trial): the key that groups a row's seeds at one grid point."""
    cell, dropped = record["cell"], frozenset(drop)
    sweep = {k: v for k, v in cell["sweep"].items() if k not in dropped}
    return cell["label"], json.dumps(sweep, sort_keys=True)


def fields_by(records: Iterable[Mapping], path: FieldPath, sweep_key: str | object | None = None) -> dict:
    """The value at ``path`` (any type: a curve, an artifact, a dict-valued metric, a config entry)
    of every record that has it, keyed as :func:`values_by` keys: ``{row label: {seed: value}}``, or
    with ``sweep_key`` (a sweep key, or :data:`ONLY_SWEEP`) ``{(row label, sweep value): {seed:
    value}}``; a defaultdict (an absent key reads as no seeds), keys and seeds in record order.
    Records where the field is missing, None or empty (``""``, ``[]``, ``{}``) are left out; a
    ``sweep_key`` that a record with the field lacks raises KeyError."""
    out: dict[Hashable, dict[int, Any]] = defaultdict(dict)
    for r in records:
        value = _field(r, path)
        if value is not _ABSENT:
            out[_key(r["cell"], sweep_key)][int(r["cell"]["seed_index"])] = value
    return out


def first_by(records: Iterable[Mapping], path: FieldPath, sweep_key: str | object | None = None) -> dict:
    """``{key: value}``: for each key of :func:`fields_by` (same arguments), the value of its lowest
    seed index that has the field (e.g. the artifacts of the artifact seed)."""
    return {key: seeds[min(seeds)] for key, seeds in fields_by(records, path, sweep_key).items()}


def field_values(records: Iterable[Mapping], path: FieldPath) -> list:
    """The value at ``path`` of every record that has it (not missing, None or empty), in record
    order: a field over a group of records, unkeyed."""
    return [v for v in (_field(r, path) for r in records) if v is not _ABSENT]



def protocol_value(records: Iterable[Mapping], key: str, default: Any = _RAISE) -> Any:
    """The value of ``protocol[key]`` that every record stating it agrees on (records without it are
    left out); ``default`` where none states it, if given. Raises ValueError naming the key and the
    distinct values when records disagree, or when none states it and no ``default`` is given."""
    distinct: list = []
    for value in field_values(records, ("protocol", key)):
        if value not in distinct:
            distinct.append(value)
    if len(distinct) > 1:
        raise ValueError(f"records disagree on protocol[{key!r}]: {distinct}")
    if distinct:
        return distinct[0]
    if default is _RAISE:
        raise ValueError(f"no record states protocol[{key!r}]")
    return default


def present_labels(records: Iterable[Mapping], order: Iterable[str]) -> list[str]:
    """The row labels of ``order`` that have at least one record, in ``order``'s order."""
    present = {r["cell"]["label"] for r in records}
    return [label for label in order if label in present]


def values_by(records: Iterable[Mapping], metric: str, sweep_key: str | object | None = None) -> dict:
    """Numeric values of ``metric`` (a record key; booleans count as 0/1) as ``{row label: {seed:
    value}}``, or with ``sweep_key`` (e.g. ``"task.direction"``, or :data:`ONLY_SWEEP`) as ``{(row
    label, sweep value): {seed: value}}`` (a defaultdict: an absent key reads as no seeds); records
    without a numeric value (``"n/a"``, absent) are left out."""
    numeric = (r for r in records if isinstance((r.get("metrics") or {}).get(metric), (int, float)))
    return fields_by(numeric, ("metrics", metric), sweep_key)


def results_frame(records: Iterable[Mapping]) -> pd.DataFrame:
    """The tidy table of the module docstring; scalar metrics only (lists and dicts, e.g. curves, are
    left in the records)."""
    import pandas as pd

    rows = []
    sweep_keys: set[str] = set()
    for r in records:
        cell, prov = r["cell"], r.get("provenance") or {}
        sweep = {f"sweep.{k}": v for k, v in (cell.get("sweep") or {}).items()}
        sweep_keys |= set(sweep)
        base = {"experiment": cell["experiment"], "profile": cell["profile"], "label": cell["label"],
                "method": cell["method"], "seed": int(cell["seed_index"]), **sweep,
                "status": r.get("status", "unknown"), "cell_id": r.get("cell_id", ""),
                "git_commit": prov.get("git_commit") or "", "torch": prov.get("torch") or "",
                "device": prov.get("device") or "", "wall_time_s": _number(r.get("wall_time_s"))}
        if r.get("status") != "done":
            rows.append({**base, "metric": "", "value": math.nan, "value_text": str(r.get("error") or "")})
            continue
        for name, value in sorted((r.get("metrics") or {}).items()):
            if isinstance(value, (list, dict)):
                continue
            rows.append({**base, "metric": name, "value": _number(value), "value_text": str(value)})
    sweep_cols = sorted(sweep_keys)
    order = COLUMNS[:5] + sweep_cols + COLUMNS[5:]
    frame = pd.DataFrame(rows, columns=order)
    types = {"seed": "int64", "value": "float64", "wall_time_s": "float64"}
    return frame.astype({k: v for k, v in types.items() if k in frame})


def export(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write ``frame`` as ``fmt`` (:data:`FORMATS`) to ``path``; parquet needs pyarrow."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("parquet export needs pyarrow: `.venv/bin/pip install pyarrow` "
                             "(or use --format csv)") from None
        frame.to_parquet(path, index=False)
    return path
