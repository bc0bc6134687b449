"""Devices: which one a run uses, its name for records, and the device a cell runs on.

``--device auto|cpu|cuda|cuda:N`` (``saub-bench run``) resolves here, before any cell runs: a CUDA
device on a machine without CUDA, or an index past the last GPU, is a :class:`ConfigError`.
:func:`use_device` sets the device of the cells run in this process (the executors call it in
each worker); :meth:`benchmarks.experiment.Experiment.run_cell` moves the task's splits and the
method there (:meth:`benchmarks.contracts.Method.to`). Methods, metrics and embedders then take
the device from their inputs (``x.device``), never from torch's default device; the contract test
checks that with :class:`benchmarks.device_check.EmulatedAccelerator`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import torch

from benchmarks.config import ConfigError

#: What ``--device`` accepts; ``auto`` is CUDA device 0 when CUDA is present, else the CPU.
DEVICE_SPEC = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"

#: A profile's device when ``--device`` is not given (others: the CPU).
PROFILE_DEVICES = {"paper": "auto"}

_current = torch.device("cpu")


def profile_device(profile: str | None) -> str:
    """``--device``'s default for ``profile``: ``auto`` for the paper profile, ``cpu`` for the others."""
    return PROFILE_DEVICES.get(profile or "", "cpu")


def resolve_device(spec: str) -> torch.device:
    """The device ``spec`` names on this machine; a clear error where it cannot be used."""
    spec = str(spec).strip().lower()
    if not DEVICE_SPEC.match(spec):
        raise ConfigError(f"unknown device {spec!r}; valid devices: {DEVICE_CHOICES}")
    if spec == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {spec}: this machine has no CUDA device (torch {torch.__version__}, "
                          f"CUDA build: {torch.version.cuda or 'none'}); use --device cpu or auto")
    index = int(spec.split(":")[1]) if ":" in spec else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"--device {spec}: this machine has {count} CUDA device(s), "
                          f"cuda:0 to cuda:{count - 1}")
    return torch.device("cuda", index)


def device_name(device: torch.device) -> str:
    """The hardware behind ``device``: the GPU's name, or the CPU's model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from benchmarks.records import cpu_model

    return cpu_model()


def current_device() -> torch.device:
    """The device cells run on in this process (:func:`use_device`; the CPU by default)."""
    return _current


@contextlib.contextmanager
def use_device(device: torch.device | str) -> Iterator[torch.device]:
    """Run the cells of this block on ``device`` (a spec is resolved first)."""
    global _current
    previous = _current
    _current = device if isinstance(device, torch.device) else resolve_device(device)
    try:
        yield _current
    finally:
        _current = previous
