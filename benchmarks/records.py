"""Run records: one JSON file per finished cell, written atomically, checked on read.

A record holds the cell, the resolved config, the seed, the metrics (or the failure reason),
wall time, peak memory and provenance. Its ``digest`` is the SHA-256 of the canonical JSON of
everything else, so a truncated or edited file is detected and never read as a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA = 1


class CorruptRecordError(ValueError):
    """A record file that does not parse or whose digest does not match its content."""


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def digest(body: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a record body (without its ``digest`` field)."""
    return hashlib.sha256(_canonical({k: v for k, v in body.items() if k != "digest"})).hexdigest()


def config_hash(method: str, config: dict[str, Any]) -> str:
    """A short hash of a method name and its resolved configuration (as recorded)."""
    return digest({"method": method, "config": config})[:16]


def write_record(path: Path, body: dict[str, Any]) -> Path:
    """Write ``body`` (plus schema and digest) to ``path`` atomically: temp file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**body, "schema": SCHEMA}
    body["digest"] = digest(body)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(body, fh, indent=1, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_record(path: Path) -> dict[str, Any]:
    """Load and verify a record; raises :class:`CorruptRecordError` if it cannot be trusted."""
    try:
        body = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(body, dict) or "digest" not in body:
        raise CorruptRecordError(f"{path}: no digest field")
    if body["digest"] != digest(body):
        raise CorruptRecordError(f"{path}: digest mismatch (file edited or truncated)")
    return body


@lru_cache(maxsize=1)
def _git_state() -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
            text=True, timeout=10,
        ).stdout.strip()
        return {"git_commit": commit or None, "git_dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001  (an absent optional package)
        return None


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(threads: int, data_checksums: dict[str, str] | None = None,
               device: str = "cpu") -> dict[str, Any]:
    """Where and with what a record was made (DESIGN.md, "Records").

    Same seed, same machine: identical records. Across machines whose CPUs take other vector
    kernels (``cpu_capability``: torch's dispatch level, e.g. AVX2 vs AVX512), float rounding
    differs and metrics can move in their third or fourth decimal (seen on two hosts of this
    project for the gwae-mnist VAE cells), so both the model and the dispatch level are kept.
    ``device``: the one the cell ran on (``cpu``, ``cuda:0``), kept with its hardware's name.
    """
    import torch

    from benchmarks.devices import device_name

    return {
        **_git_state(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": _version("numpy"),
        "pot": _version("ot"),
        "scikit_learn": _version("sklearn"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": device,
        "device_name": device_name(torch.device(device)),
        "threads": threads,
        "data_checksums": data_checksums or {},
    }


def peak_memory_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
