"""File hashing with a stat-keyed cache, so repeated loads do not re-hash large files.

A file's SHA-256 and MD5 are computed in one pass and remembered under the key
``(size, mtime_ns, inode)`` of the file: in memory for the process, and in a small JSON file
``.saub-checksums.json`` next to the file when that folder is writable (a folder without write
permission bits, like the read-only shared data folder, is never written to, even by root; it
gets the in-memory cache only). Any change of size, modification time or inode (an
edit, a copy, a replacement) invalidates the entry and the file is hashed again. Like every
stat cache (make, git) it cannot see a same-size rewrite that keeps the same mtime to the
nanosecond; ``verify --rehash`` (``use_cache=False``) bypasses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

SIDECAR = ".saub-checksums.json"
ALGORITHMS = ("sha256", "md5")
_CHUNK = 1 << 20
_memory: dict[tuple[str, int, int, int], dict[str, str]] = {}


def hash_file(path: str | os.PathLike) -> dict[str, str]:
    """``{"sha256": hex, "md5": hex}`` of the file's bytes, one read, no cache."""
    hashers = {"sha256": hashlib.sha256(), "md5": hashlib.md5(usedforsecurity=False)}
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def _stat(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _read_sidecar(folder: Path) -> dict:
    try:
        data = json.loads((folder / SIDECAR).read_text())
        return data.get("files", {}) if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _writable(folder: Path) -> bool:
    """Writable for us *and* not marked read-only: root passes ``os.access`` even on ``r-x`` folders,
    and a shared read-only data folder must stay untouched."""
    try:
        return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)
    except OSError:
        return False


def _write_sidecar(folder: Path, name: str, entry: dict) -> None:
    """Best effort: merge ``entry`` into the folder's sidecar, atomically; skip read-only folders."""
    if not _writable(folder):
        return
    files = _read_sidecar(folder)
    files[name] = entry
    try:
        fd, tmp = tempfile.mkstemp(prefix=SIDECAR + ".", dir=folder)
        with os.fdopen(fd, "w") as fh:
            json.dump({"version": 1, "files": files}, fh, indent=1, sort_keys=True)
        os.replace(tmp, folder / SIDECAR)
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass


def file_digests(path: str | os.PathLike, use_cache: bool = True) -> dict[str, str]:
    """SHA-256 and MD5 of ``path``, from the stat-keyed cache when the file is unchanged."""
    path = Path(path).absolute()
    size, mtime_ns, ino = _stat(path)
    key = (str(path), size, mtime_ns, ino)
    if use_cache:
        if key in _memory:
            return dict(_memory[key])
        entry = _read_sidecar(path.parent).get(path.name)
        if (isinstance(entry, dict) and [entry.get("size"), entry.get("mtime_ns"), entry.get("ino")]
                == [size, mtime_ns, ino] and all(isinstance(entry.get(a), str) for a in ALGORITHMS)):
            _memory[key] = {a: entry[a] for a in ALGORITHMS}
            return dict(_memory[key])
    digests = hash_file(path)
    if _stat(path) == (size, mtime_ns, ino):  # unchanged while we read it: safe to remember
        _memory[key] = digests
        _write_sidecar(path.parent, path.name, {"size": size, "mtime_ns": mtime_ns, "ino": ino, **digests})
    return dict(digests)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", use_cache: bool = True) -> str:
    """One hex digest (``sha256`` or ``md5``) of ``path``, cached as :func:`file_digests`."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported hash {algorithm!r}; use one of {ALGORITHMS}")
    return file_digests(path, use_cache=use_cache)[algorithm]


def clear_cache() -> None:
    """Forget the in-memory cache (the sidecar files stay)."""
    _memory.clear()
