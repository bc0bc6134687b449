"""Checkpoints within a cell: a long cell's training state, saved as it trains, resumed after a kill.

A method whose training loop runs through :meth:`benchmarks.contracts.Method.training_steps`
(``resumable = True``) saves, every ``every_steps`` steps or ``every_seconds`` seconds
(:class:`CheckpointPolicy`), the state of everything it names: networks, priors, optimisers (their
``state_dict``), its training history, how many batches it has drawn, torch's, NumPy's and Python's
global random states, and what the harness adds (the learning-curve points so far). The file
``<results>/<experiment>/<profile>/checkpoints/<cell id>.pt`` is written atomically (temp file,
fsync, rename), so a kill -9 leaves the previous checkpoint or the new one, never half of one.

A rerun of the cell resumes from it: the states are loaded, the batch sampler is replayed to where
it was (it draws from its own generator, so replaying gives the same batches), and training goes
on from the saved step; on the CPU the record then equals an uninterrupted run's. A checkpoint
made by another configuration (method name and resolved config) or another code version (a digest
of the suite's source files) is never resumed: the run says so and starts over. The checkpoint is
removed once the cell's record is written, unless ``keep``.

The file is a pickle (``torch.save``): resume only checkpoints this suite wrote.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINTS_DIR = "checkpoints"
#: The packages whose source makes the code version of a checkpoint.
CODE_PACKAGES = ("saub", "baselines", "benchmarks")


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a resumable cell saves its training state: every ``every_steps`` steps and/or every
    ``every_seconds`` seconds of training (None: not by that measure); ``keep``: leave the file
    after the record is written."""

    every_steps: int | None = None
    every_seconds: float | None = 600.0
    keep: bool = False

    def __post_init__(self) -> None:
        from benchmarks.config import ConfigError

        if self.every_steps is not None and self.every_steps < 1:
            raise ConfigError(f"checkpoints every {self.every_steps} steps: need a positive number of steps")
        if self.every_seconds is not None and self.every_seconds <= 0:
            raise ConfigError(f"checkpoints every {self.every_seconds} s: need a positive number of seconds")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 (16 hex digits) of every ``.py`` file of :data:`CODE_PACKAGES`, by path and content."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def checkpoint_path(record_file: Path, cell_id: str) -> Path:
    """Where the checkpoint of the cell whose record is ``record_file`` lives."""
    return Path(record_file).parent / CHECKPOINTS_DIR / f"{cell_id}.pt"


class CountedBatches:
    """An iterator of batches that counts what it has handed out, so a resumed run can replay it."""

    def __init__(self, batches: Iterator):
        self._batches, self.drawn = batches, 0

    def __iter__(self) -> CountedBatches:
        return self

    def __next__(self):
        batch = next(self._batches)
        self.drawn += 1
        return batch

    def skip(self, n: int) -> None:
        """Draw and drop ``n`` batches (the replay of a resumed run)."""
        for _ in range(n):
            next(self)


def random_states() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


class CellCheckpoint:
    """The checkpoint file of one cell, for one configuration and code version (``fingerprint``).

    ``harness``: a dict the harness fills as the cell trains (learning-curve points); it is saved
    with the training state and refilled on resume.
    """

    def __init__(self, path: Path, fingerprint: dict[str, str], policy: CheckpointPolicy):
        self.path, self.fingerprint, self.policy = Path(path), fingerprint, policy
        self.harness: dict[str, Any] = {}
        self.resumed_from: int | None = None
        self._last_save = time.monotonic()
        self._last_step = 0

    def load(self) -> dict[str, Any] | None:
        """The saved training state, or None (no file, or one of another configuration or code
        version, which is removed with a message on stderr)."""
        if not self.path.is_file():
            return None
        try:
            payload = torch.load(self.path, weights_only=False, map_location="cpu")
        except Exception as exc:  # noqa: BLE001  (an unreadable file is started over, not trusted)
            print(f"checkpoint {self.path} unreadable ({type(exc).__name__}): starting over", file=sys.stderr)
            self.remove()
            return None
        if payload.get("fingerprint") != self.fingerprint:
            theirs = payload.get("fingerprint", {})
            changed = [k for k, v in self.fingerprint.items() if theirs.get(k) != v]
            print(f"checkpoint {self.path} is of another {', '.join(changed) or 'format'}: not resumed, "
                  "starting over", file=sys.stderr)
            self.remove()
            return None
        self.harness.clear()
        self.harness.update(payload["harness"])
        self.resumed_from = self._last_step = payload["step"]
        return payload["state"]

    def due(self, step: int) -> bool:
        p = self.policy
        by_steps = p.every_steps is not None and step - self._last_step >= p.every_steps
        by_time = p.every_seconds is not None and time.monotonic() - self._last_save >= p.every_seconds
        return by_steps or by_time

    def save(self, step: int, state: dict[str, Any]) -> None:
        """Write ``state`` at ``step`` atomically (temp file, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"fingerprint": self.fingerprint, "step": step, "state": state, "harness": self.harness}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(payload, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._last_save, self._last_step = time.monotonic(), step

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _part_state(part: Any) -> Any:
    if isinstance(part, torch.Tensor):
        return part.detach().clone()
    if isinstance(part, list):
        return list(part)
    return part.state_dict()


def _load_part(part: Any, state: Any) -> None:
    if isinstance(part, torch.Tensor):
        with torch.no_grad():
            part.copy_(state)
    elif isinstance(part, list):
        part[:] = state
    else:
        part.load_state_dict(state)


def capture(parts: dict[str, Any], batches: CountedBatches | None) -> dict[str, Any]:
    """The training state of ``parts`` (objects with ``state_dict``: networks, optimisers, a trainer;
    tensors; lists such as a loop's history), the batches drawn, the RNGs."""
    return {"parts": {name: _part_state(part) for name, part in parts.items()},
            "batches_drawn": batches.drawn if batches is not None else 0, "random": random_states()}


def restore(parts: dict[str, Any], batches: CountedBatches | None, state: dict[str, Any]) -> None:
    """Load :func:`capture`'s ``state`` into ``parts`` (in place), replay ``batches``, set the RNGs."""
    for name, part in parts.items():
        _load_part(part, state["parts"][name])
    if batches is not None:
        batches.skip(state["batches_drawn"])
    set_random_states(state["random"])
