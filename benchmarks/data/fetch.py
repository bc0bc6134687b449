"""Find, verify and download dataset files.

:func:`ensure_file` is what loaders call: a file in the cache is verified (hash cached by
:mod:`benchmarks.data.checksums`) and used offline; a missing file raises
:class:`DatasetMissingError` unless ``download=True``; a corrupt one raises
:class:`DatasetChecksumError` with both hashes.

Downloads go through ``pooch.retrieve`` with the registry's ``known_hash`` into a temporary folder
beside the destination, and are moved to the real name (``os.replace``, same file system) only
after pooch has checked the hash, so a failed or corrupt download never sits in the cache under
the real name. The URLs of a file are tried in order.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.data.checksums import file_digest, file_digests
from benchmarks.data.errors import (
    DatasetChecksumError,
    DatasetDownloadError,
    DatasetMissingError,
    MissingFile,
)
from benchmarks.data.registry import cache_note, file_path, get_dataset

DEFAULT_TIMEOUT = 60.0
_POOCH_MISMATCH = re.compile(r"expected (?:\w+:)?([0-9a-fA-F]+) but got ([0-9a-fA-F]+)")

Root = str | os.PathLike | None


@dataclass(frozen=True)
class FileStatus:
    """A file's state in the cache: ``present`` (hash matches), ``missing`` or ``corrupt``."""

    dataset: str
    filename: str
    path: Path
    state: str
    algorithm: str
    expected: str
    actual: str | None = None


def missing_file(dataset: str, filename: str, root: Root = None) -> MissingFile:
    """The :class:`MissingFile` record (path, URLs, homepage) for an error message."""
    spec = get_dataset(dataset)
    file = spec.file(filename)
    return MissingFile(dataset, filename, file_path(dataset, filename, root), file.urls, spec.homepage,
                       f"{file.algorithm}:{file.expected}")


def file_status(dataset: str, filename: str, root: Root = None, use_cache: bool = True) -> FileStatus:
    """Check one file without raising."""
    spec = get_dataset(dataset).file(filename)
    path = file_path(dataset, filename, root)
    if not path.is_file():
        return FileStatus(dataset, filename, path, "missing", spec.algorithm, spec.expected)
    actual = file_digest(path, spec.algorithm, use_cache=use_cache)
    state = "present" if actual == spec.expected else "corrupt"
    return FileStatus(dataset, filename, path, state, spec.algorithm, spec.expected, actual)


def _checksum_error(status: FileStatus) -> DatasetChecksumError:
    urls = get_dataset(status.dataset).file(status.filename).urls
    hint = (f"The file is corrupt, truncated or another version. Delete it and run "
            f"`saub-bench data fetch {status.dataset}`" + (f", or download it again from {urls[0]}"
                                                          if urls else "") + ".")
    return DatasetChecksumError(status.path, status.algorithm, status.expected, status.actual,
                                status.dataset, hint)


def verify_file(dataset: str, filename: str, root: Root = None, use_cache: bool = True) -> Path:
    """The file's path if it is present with the right hash; else raise missing/checksum errors."""
    status = file_status(dataset, filename, root, use_cache)
    if status.state == "missing":
        raise DatasetMissingError([missing_file(dataset, filename, root)], cache_note=cache_note(root))
    if status.state == "corrupt":
        raise _checksum_error(status)
    return status.path


def ensure_file(dataset: str, filename: str, download: bool = False, root: Root = None,
                timeout: float = DEFAULT_TIMEOUT, progress: bool = False) -> Path:
    """Path of a verified cache file; download it first if missing and ``download`` is true.

    A corrupt file raises :class:`DatasetChecksumError` even with ``download=True``: replacing a
    file the user may have put there is left to ``saub-bench data fetch NAME --force``.
    """
    path = file_path(dataset, filename, root)
    if download and not path.is_file():
        return download_file(dataset, filename, root, timeout, progress)
    return verify_file(dataset, filename, root)


def ensure_dataset(dataset: str, download: bool = False, root: Root = None,
                   timeout: float = DEFAULT_TIMEOUT) -> dict[str, Path]:
    """``{filename: path}`` for every file of ``dataset``, all verified; one error lists all missing."""
    spec = get_dataset(dataset)
    if not download:
        absent = [missing_file(dataset, f, root) for f in spec.filenames
                  if not file_path(dataset, f, root).is_file()]
        if absent:
            raise DatasetMissingError(absent, what=f"dataset {dataset!r}", cache_note=cache_note(root))
    return {f: ensure_file(dataset, f, download, root, timeout) for f in spec.filenames}


def dataset_checksums(dataset: str, root: Root = None) -> dict[str, str]:
    """``{filename: "sha256:<hex>"}`` of the dataset's files present in the cache (for provenance)."""
    out = {}
    for filename in get_dataset(dataset).filenames:
        path = file_path(dataset, filename, root)
        if path.is_file():
            out[filename] = "sha256:" + file_digests(path)["sha256"]
    return out


def _reason(exc: Exception, timeout: float) -> str:
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        errno = re.search(r"\[Errno [^\]]+\][^'\")]*", str(exc))
        return f"connection failed: {errno.group(0) if errno else exc}"
    return f"{exc.__class__.__name__}: {exc}"


def download_file(dataset: str, filename: str, root: Root = None, timeout: float = DEFAULT_TIMEOUT,
                  progress: bool = False) -> Path:
    """Download ``filename`` of ``dataset`` into the cache, verified, replacing whatever is there.

    Raises :class:`DatasetChecksumError` if a URL served bytes with the wrong hash (and no later
    URL served the right ones), :class:`DatasetDownloadError` if every URL failed otherwise, and
    :class:`DatasetMissingError` if the file has no download URL at all.
    """
    import pooch
    import requests

    spec = get_dataset(dataset).file(filename)
    dest = file_path(dataset, filename, root)
    if not spec.urls:
        raise DatasetMissingError([missing_file(dataset, filename, root)], cache_note=cache_note(root))
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[str, str]] = []
    mismatch: tuple[str, str] | None = None  # (url, actual hash)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    tmpdir = tempfile.mkdtemp(prefix=".download-", dir=dest.parent)
    try:
        downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout)
        for url in spec.urls:
            try:
                got = pooch.retrieve(url, known_hash=spec.known_hash, fname=filename, path=tmpdir,
                                     downloader=downloader)
            except ValueError as exc:
                found = _POOCH_MISMATCH.search(str(exc))
                if not found:
                    failures.append((url, f"{exc.__class__.__name__}: {exc}"))
                    continue
                mismatch = (url, found.group(2).lower())
                failures.append((url, f"served a file with {spec.algorithm} {mismatch[1]}"))
            except (requests.RequestException, OSError) as exc:
                failures.append((url, _reason(exc, timeout)))
            else:
                os.replace(got, dest)
                return dest
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        logger.setLevel(level)
    if mismatch is not None:
        tried = "; ".join(f"{u}: {r}" for u, r in failures)
        raise DatasetChecksumError(dest, spec.algorithm, spec.expected, mismatch[1], dataset,
                                   f"The download was discarded; nothing was written to {dest}. "
                                   f"Tried: {tried}", source=mismatch[0])
    raise DatasetDownloadError(filename, failures, dest)
