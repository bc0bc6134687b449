"""Typed method configurations: dataclasses with defaults in one place, validated overrides.

A config class is a ``@dataclass``; a field may declare its valid values with
``field(default=..., metadata={"choices": (...)})``. :func:`resolve_config` applies overrides
(Python values or the strings of a command line), checks names, types and choices, and
raises :class:`ConfigError` listing what is valid, before anything is run or written.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """An unknown name or a malformed value; the message lists the valid choices."""


def _choice_error(kind: str, name: str, valid) -> ConfigError:
    return ConfigError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(map(str, valid)))}")


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Convert ``value`` to ``annotation`` (int, float, bool, str, tuple, or ``X | None``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(name, value, args[0])
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        inner = typing.get_args(annotation)[0]
        return tuple(_coerce(name, v, inner) for v in items)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{name}: expected a boolean (true/false), got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected {annotation.__name__}, got {value!r}")
        try:
            out = annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected {annotation.__name__}, got {value!r}") from None
        if annotation is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{name}: expected int, got {value!r}")
        return out
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}: expected a string, got {value!r}")
        return value
    return value


def resolve_config(config_class: type, overrides: dict[str, Any] | None = None):
    """An instance of ``config_class`` with ``overrides`` applied and validated."""
    overrides = dict(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    for key in overrides:
        if key not in fields:
            raise ConfigError(
                f"unknown option {key!r} for {config_class.__name__}; valid options: "
                + ", ".join(sorted(fields))
            )
    values = {}
    for key, raw in overrides.items():
        value = _coerce(key, raw, hints[key])
        choices = fields[key].metadata.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{key}: {value!r} is not valid; choose one of {', '.join(map(str, choices))}")
        values[key] = value
    config = config_class(**values)
    check = getattr(config, "validate", None)
    if callable(check):
        check()
    return config


def config_to_dict(config) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` (values are coerced later by type)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out
