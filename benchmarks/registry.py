"""Name -> object registries for methods, tasks, metrics and experiments.

Modules register themselves with the decorators below; :mod:`benchmarks.catalog` imports every
module once, so adding a method is one new module plus one import line there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from benchmarks.config import ConfigError, _choice_error

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of named entries whose lookup error lists the valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        _load_catalog()
        if name not in self._entries:
            raise _choice_error(self.kind, name, self._entries)
        return self._entries[name]

    def names(self) -> list[str]:
        _load_catalog()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        _load_catalog()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


METHODS: Registry[Any] = Registry("method")
TASKS: Registry[Callable[..., Any]] = Registry("task")
METRICS: Registry[Callable[..., Any]] = Registry("metric")
EXPERIMENTS: Registry[Any] = Registry("experiment")


def register_task(name: str):
    """Decorator: ``@register_task("nested-d")`` on ``def make(seed, **kwargs) -> TaskData``."""
    return lambda fn: TASKS.add(name, fn)


def register_metric(name: str):
    """Decorator: ``@register_metric("svc-auroc")`` on ``def fn(method, task, seed) -> dict``."""
    return lambda fn: METRICS.add(name, fn)


_LOADED = False


def _load_catalog() -> None:
    """Import the catalog, then every module named in ``$SAUB_PLUGINS`` (comma-separated).

    Plugins let a user register methods or experiments from their own package; worker
    processes (``processes``, ``ray``) inherit the variable and so see the same registry.
    """
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import importlib

        import benchmarks.catalog  # noqa: F401  (registers everything)

        for module in filter(None, (m.strip() for m in os.environ.get("SAUB_PLUGINS", "").split(","))):
            importlib.import_module(module)


__all__ = [
    "Registry", "METHODS", "TASKS", "METRICS", "EXPERIMENTS", "register_task", "register_metric",
    "ConfigError",
]
