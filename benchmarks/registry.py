"""Name -> object registries for methods, tasks, metrics and experiments.

Modules register themselves with the decorators below. The first lookup imports every module of
the registering packages (:data:`REGISTERING_PACKAGES`), then the plugins a user names: adding a
method, task, metric or experiment is one new file in one of those packages, nothing else.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
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
        _load_registrations()
        if name not in self._entries:
            raise _choice_error(self.kind, name, self._entries)
        return self._entries[name]

    def names(self) -> list[str]:
        _load_registrations()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        _load_registrations()
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


#: Packages whose every module is imported on the first lookup (their modules register entries).
REGISTERING_PACKAGES = ("baselines", "benchmarks.methods", "benchmarks.tasks", "benchmarks.metrics",
                        "benchmarks.experiments")
#: Entry-point group through which an installed package adds its own registering modules.
PLUGIN_GROUP = "saub_bench.plugins"

_LOADED = False


def registering_modules() -> list[str]:
    """Every module of :data:`REGISTERING_PACKAGES`, sorted (discovered on disk, never listed by hand)."""
    names = []
    for package_name in REGISTERING_PACKAGES:
        package = importlib.import_module(package_name)
        names += [info.name for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}.")]
    return sorted(names)


def plugin_modules() -> list[str]:
    """Modules named in ``$SAUB_PLUGINS`` (comma-separated), then entry points of :data:`PLUGIN_GROUP`."""
    from importlib.metadata import entry_points

    named = [m.strip() for m in os.environ.get("SAUB_PLUGINS", "").split(",") if m.strip()]
    return named + [ep.module for ep in entry_points(group=PLUGIN_GROUP)]


def _load_registrations() -> None:
    """Import every registering module, then every plugin module.

    Plugins let a user register methods or experiments from their own package; worker
    processes (``processes``, ``ray``) inherit the variable and so see the same registry.
    """
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for module in registering_modules() + plugin_modules():
            importlib.import_module(module)


__all__ = [
    "Registry", "METHODS", "TASKS", "METRICS", "EXPERIMENTS", "register_task", "register_metric",
    "ConfigError",
]
