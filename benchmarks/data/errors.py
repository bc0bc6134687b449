"""Errors of the data layer, each one carrying the facts a user needs to fix it.

``DatasetMissingError`` names every file that is absent, its download URL(s) and the exact folder
to put it in; ``DatasetChecksumError`` shows the path and both hashes; ``DatasetDownloadError``
names the URL(s) tried and why each failed. All derive from :class:`DataError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class DataError(Exception):
    """Base class of every data-layer error."""


class UnknownDatasetError(DataError, ValueError):
    """A dataset or file name that the registry does not declare."""


@dataclass(frozen=True)
class MissingFile:
    """One absent file: where it should be and where it comes from."""

    dataset: str
    filename: str
    path: Path
    urls: tuple[str, ...]
    homepage: str = ""
    #: ``"sha256:<hex>"`` (or ``md5:``) the file must have, when the registry knows it.
    checksum: str = ""


def _missing_lines(missing: list[MissingFile]) -> list[str]:
    """Missing files grouped by dataset: the folder, the fetch command, each file's URLs."""
    lines: list[str] = []
    for dataset in dict.fromkeys(m.dataset for m in missing):
        items = [m for m in missing if m.dataset == dataset]
        folder = items[0].path.parent
        fetchable = all(m.urls for m in items)
        what = "this file" if len(items) == 1 else "these files"
        run = f"  (or run: saub-bench data fetch {dataset})" if fetchable else ""
        lines.append(f"  {dataset}: put {what} in the folder {folder}/{run}")
        for m in items:
            if m.checksum:
                lines.append(f"    {m.filename}  expected checksum {m.checksum}")
            if m.urls:
                lines.append(f"    {m.filename}  download from {m.urls[0]}")
                lines.extend(f"    {' ' * len(m.filename)}            or {url}" for url in m.urls[1:])
            else:
                where = f" from {m.homepage}" if m.homepage else ""
                lines.append(f"    {m.filename}  no direct download URL: download it by hand{where}")
    return lines


class DatasetMissingError(DataError, FileNotFoundError):
    """One or more dataset files are not in the cache.

    With ``any_of=True`` the missing files belong to alternative datasets (e.g. two formats of
    the same data) and the message says that any one of them is enough.
    """

    def __init__(self, missing: list[MissingFile], what: str | None = None, any_of: bool = False,
                 cache_note: str = ""):
        self.missing = list(missing)
        self.what = what
        self.any_of = any_of
        self._note = cache_note
        if what is None:
            names = ", ".join(m.filename for m in self.missing)
            what = f"dataset file {names}" if len(self.missing) == 1 else f"dataset files {names}"
        head = f"{what} not found in the data cache"
        head += "; any one of these datasets is enough:" if any_of else ":"
        lines = [head, *_missing_lines(self.missing)]
        if cache_note:
            lines.append(cache_note)
        super().__init__("\n".join(lines))

    def __str__(self) -> str:  # FileNotFoundError would otherwise format (errno, strerror)
        return self.args[0]

    def __reduce__(self):  # picklable, e.g. from a worker process to the sweep driver
        return (self.__class__, (self.missing, self.what, self.any_of, self._note))


class DatasetChecksumError(DataError):
    """A file's hash differs from the registry's: corrupt, truncated or another version."""

    def __init__(self, path: Path, algorithm: str, expected: str, actual: str, dataset: str = "",
                 hint: str = "", source: str = ""):
        self.path = Path(path)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        self.dataset = dataset
        self.source = source
        self._hint = hint
        where = f" (dataset {dataset!r})" if dataset else ""
        head = (f"checksum mismatch for the download of {source}{where}, meant for {self.path}" if source
                else f"checksum mismatch for {self.path}{where}")
        lines = [
            head,
            f"  expected {algorithm}: {expected}",
            f"  actual   {algorithm}: {actual}",
        ]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return (self.__class__, (self.path, self.algorithm, self.expected, self.actual, self.dataset,
                                 self._hint, self.source))


class DatasetDownloadError(DataError):
    """Every URL of a file failed (HTTP error, refused connection, timeout)."""

    def __init__(self, filename: str, failures: list[tuple[str, str]], dest: Path | None = None):
        self.filename = filename
        self.failures = list(failures)
        self.dest = dest
        lines = [f"could not download {filename}:"]
        lines.extend(f"  {url}: {reason}" for url, reason in self.failures)
        if dest is not None:
            lines.append(f"  (you can also download it by hand and put it in {dest.parent}/)")
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return (self.__class__, (self.filename, self.failures, self.dest))


class DataFormatError(DataError, ValueError):
    """A file that does not parse as the format it is read as (bad magic, truncated, bad token)."""
