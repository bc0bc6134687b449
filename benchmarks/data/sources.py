"""Choosing which on-disk format a multi-format loader reads.

A loader (MNIST, USPS) declares its *sources*: one per format, each a registry dataset and the
files each split needs. :func:`choose_source` takes the formats in the preferred order and picks

1. the first format whose files for *every* split are in the cache, so that train and test never
   come from two different formats while a complete one exists; else
2. the first format whose files for the requested split are in the cache; else
3. raises one :class:`DatasetMissingError` listing, per format, the files that split needs.

Presence is checked by name only; the chosen files are then verified by hash (a corrupt file is
an error, never a silent fall-back to another format).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.data.errors import DatasetMissingError
from benchmarks.data.fetch import ensure_file, missing_file
from benchmarks.data.registry import cache_note, file_path

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Source:
    """One format of a dataset: the registry dataset holding it and the files each split needs."""

    format: str
    dataset: str
    split_files: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Choice:
    """The format chosen for a split and its verified file paths (in ``split_files`` order)."""

    format: str
    dataset: str
    paths: tuple[Path, ...]


def format_order(formats: str | Sequence[str] | None, env_var: str, default: Sequence[str],
                 known: Sequence[str]) -> tuple[str, ...]:
    """The preference order: the argument, else ``$env_var`` (comma-separated), else ``default``."""
    if formats is None:
        formats = os.environ.get(env_var) or tuple(default)
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    order = tuple(formats)
    bad = [f for f in order if f not in known]
    if bad or not order:
        raise ValueError(f"unknown format(s) {bad or order!r} (from the argument or ${env_var}); "
                         f"known formats: {', '.join(known)}")
    return order


def _present(source: Source, split: str, root) -> bool:
    return all(file_path(source.dataset, f, root).is_file() for f in source.split_files[split])


def choose_source(sources: dict[str, Source], split: str, order: Sequence[str], what: str,
                  root=None, download: bool = False) -> Choice:
    """Pick and verify the files of ``split`` by the rules of the module docstring.

    With ``download=True`` and no format present, the first format in ``order`` that has download
    URLs is fetched.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    candidates = [sources[f] for f in order]
    chosen = next((s for s in candidates if all(_present(s, sp, root) for sp in SPLITS)), None)
    chosen = chosen or next((s for s in candidates if _present(s, split, root)), None)
    missing = [missing_file(s.dataset, f, root) for s in candidates for f in s.split_files[split]
               if not file_path(s.dataset, f, root).is_file()]
    if chosen is None and download:
        chosen = next((s for s in candidates
                       if all(m.urls for m in missing if m.dataset == s.dataset)), None)
    if chosen is None:
        raise DatasetMissingError(missing, what=f"{what} ({split} split)", any_of=len(candidates) > 1,
                                  cache_note=cache_note(root))
    paths = tuple(ensure_file(chosen.dataset, f, download=download, root=root)
                  for f in chosen.split_files[split])
    return Choice(chosen.format, chosen.dataset, paths)
