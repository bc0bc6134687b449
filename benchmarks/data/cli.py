"""``saub-bench data list|fetch|verify``: inspect, download and check the data cache.

Wire it into an argparse CLI with :func:`add_data_commands`; every command sets ``args.func``
which returns the exit code::

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_data_commands(sub)
    args = parser.parse_args(["data", "verify", "adult"])
    sys.exit(args.func(args))

Exit codes: 0 success; 1 a file is corrupt, missing (when named) or failed to download; 2 usage
error (unknown dataset, no dataset named).
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.data.errors import DataError
from benchmarks.data.fetch import DEFAULT_TIMEOUT, FileStatus, download_file, file_status, missing_file
from benchmarks.data.registry import CACHE_ENV, DATASETS, cache_dir, get_dataset


def _cache_line(root) -> str:
    origin = "--root" if root else (f"${CACHE_ENV}" if os.environ.get(CACHE_ENV) else "default")
    return f"data cache: {cache_dir(root)}  ({origin})"


def _size(path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _rel(status: FileStatus, root) -> str:
    return os.path.relpath(status.path, cache_dir(root))


def _names(args) -> list[str] | None:
    """The datasets named on the command line (validated), or None for all of them."""
    names = list(getattr(args, "names", None) or [])
    for name in names:
        get_dataset(name)
    return names or None


def _print_corrupt(status: FileStatus) -> None:
    print(f"  corrupt  {status.path}")
    print(f"           expected {status.algorithm}: {status.expected}")
    print(f"           actual   {status.algorithm}: {status.actual}")


def cmd_data_list(args) -> int:
    """Every dataset, its files and their state in the cache."""
    print(_cache_line(args.root))
    name_width = max(map(len, DATASETS))
    path_width = max(len(f"{spec.subdir}/{f}") for spec in DATASETS.values() for f in spec.filenames)
    for name, spec in DATASETS.items():
        print(f"{name:<{name_width}} {spec.description}")
        for filename in spec.filenames:
            st = file_status(name, filename, args.root)
            extra = _size(st.path) if st.state != "missing" else ""
            print(f"  {st.state:<8} {_rel(st, args.root):<{path_width}} {st.algorithm:<6} {extra}")
            if st.state == "corrupt":
                print(f"           expected {st.algorithm}: {st.expected}")
                print(f"           actual   {st.algorithm}: {st.actual}")
    return 0


def cmd_data_verify(args) -> int:
    """Hash-check files; 1 if any is corrupt, or missing from a dataset named explicitly."""
    names = _names(args)
    print(_cache_line(args.root))
    failed = 0
    for name in names or DATASETS:
        print(name)
        for filename in get_dataset(name).filenames:
            st = file_status(name, filename, args.root, use_cache=not args.rehash)
            if st.state == "corrupt":
                _print_corrupt(st)
                failed += 1
            elif st.state == "missing":
                print(f"  missing  {st.path}")
                failed += names is not None
            else:
                print(f"  ok       {_rel(st, args.root)}  {st.algorithm} {st.actual}")
    print(f"{failed} problem(s)" if failed else "all checked files are intact")
    return 1 if failed else 0


def cmd_data_fetch(args) -> int:
    """Download the missing files of the named datasets (or all with ``--all``) and verify all."""
    names = _names(args)
    if args.all == bool(names):
        print("saub-bench data fetch: name one or more datasets, or pass --all "
              f"(datasets: {', '.join(DATASETS)})", file=sys.stderr)
        return 2
    print(_cache_line(args.root))
    failed = 0
    for name in names or DATASETS:
        print(name)
        for filename in get_dataset(name).filenames:
            st = file_status(name, filename, args.root)
            if st.state == "present":
                print(f"  ok       {_rel(st, args.root)}")
                continue
            if st.state == "corrupt" and not args.force:
                _print_corrupt(st)
                print("           (pass --force to replace it with a fresh download)")
                failed += 1
                continue
            if not missing_file(name, filename, args.root).urls:
                spec = get_dataset(name)
                print(f"  missing  {st.path}: no direct download URL; download it by hand from "
                      f"{spec.homepage} and put it in {st.path.parent}/")
                failed += 1
                continue
            print(f"  fetch    {filename} -> {st.path.parent}/", flush=True)
            try:
                path = download_file(name, filename, args.root, timeout=args.timeout,
                                     progress=sys.stderr.isatty())
            except DataError as exc:
                print("  failed   " + str(exc).replace("\n", "\n           "))
                failed += 1
            else:
                print(f"  ok       {path} ({st.algorithm} verified)")
    print(f"{failed} problem(s)" if failed else "done")
    return 1 if failed else 0


def _guard(fn):
    """Turn a usage error (unknown dataset) into exit code 2 with a message."""
    def run(args) -> int:
        try:
            return fn(args)
        except DataError as exc:
            print(f"saub-bench data: error: {exc}", file=sys.stderr)
            return 2
    run.__doc__ = fn.__doc__
    return run


def add_data_commands(subparsers) -> argparse.ArgumentParser:
    """Add ``data {list,fetch,verify}`` to an argparse sub-parser group; returns the ``data`` parser."""
    data = subparsers.add_parser("data", help="list, fetch and verify datasets in the data cache",
                                 description="List, fetch and verify the datasets in the data cache.")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default=None,
                        help=f"cache folder (default: ${CACHE_ENV}, else ~/.cache/saub)")
    sub = data.add_subparsers(dest="data_command")
    p = sub.add_parser("list", parents=[common], help="datasets, files and their state in the cache")
    p.set_defaults(func=_guard(cmd_data_list))
    p = sub.add_parser("fetch", parents=[common], help="download missing files and verify them")
    p.add_argument("names", nargs="*", metavar="NAME", help="datasets to fetch")
    p.add_argument("--all", action="store_true", help="fetch every dataset")
    p.add_argument("--force", action="store_true", help="replace corrupt files with a fresh download")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per connection/read")
    p.set_defaults(func=_guard(cmd_data_fetch))
    p = sub.add_parser("verify", parents=[common], help="check the hashes of the files in the cache")
    p.add_argument("names", nargs="*", metavar="NAME", help="datasets to verify (default: all present)")
    p.add_argument("--rehash", action="store_true", help="ignore the cached hashes")
    p.set_defaults(func=_guard(cmd_data_verify))
    return data
