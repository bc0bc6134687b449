"""One tidy, typed results table from an experiment's records (pandas): one row per cell × metric.

Columns (:data:`COLUMNS`): the experiment, profile, row label, method, seed index, each sweep value
under ``sweep.<key>``, the metric's record key, its value (float; NaN where the metric is "n/a" or
not a number, with ``value_text`` keeping what the record said), the cell's status and id, and the
record's provenance (code commit, torch, device, wall time). Failed cells appear once, with metric
``""`` and their error in ``value_text``, so a table never silently drops a failure.

:func:`values_by` is the query a report needs most, on the records themselves (what the experiment
modules use, without building a frame): a metric's per-seed values keyed by row label and a sweep
value. The frame is for a user's own analysis: ``saub-bench export EXPERIMENT --format
csv|parquet`` writes it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

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


def values_by(records: Iterable[Mapping], metric: str, sweep_key: str | object | None = None) -> dict:
    """Numeric values of ``metric`` (a record key; booleans count as 0/1) as ``{row label: {seed:
    value}}``, or with ``sweep_key`` (e.g. ``"task.direction"``, or :data:`ONLY_SWEEP`) as ``{(row
    label, sweep value): {seed: value}}`` (a defaultdict: an absent key reads as no seeds); records
    without a numeric value (``"n/a"``, absent) are left out."""
    out: dict[Hashable, dict[int, float]] = defaultdict(dict)
    for r in records:
        value, cell = (r.get("metrics") or {}).get(metric), r["cell"]
        if not isinstance(value, (int, float)):
            continue
        if sweep_key is None:
            key = cell["label"]
        elif sweep_key is ONLY_SWEEP:
            key = (cell["label"], next(iter(cell["sweep"].values()), None))
        else:
            key = (cell["label"], cell["sweep"][sweep_key])
        out[key][int(cell["seed_index"])] = value
    return out


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
