"""``saub-bench data list|fetch|verify`` through argparse, as the main CLI wires it."""

from __future__ import annotations

import argparse
import shutil

import pytest

from benchmarks.data.cli import add_data_commands
from tests.fixtures.data.helpers import (
    TOY_BYTES,
    flip_byte,
    real_data_dir,
    register_toy,
    serve_directory,
    sha256,
)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="saub-bench")
    sub = parser.add_subparsers(dest="command")
    add_data_commands(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def www(tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "toy.txt").write_bytes(TOY_BYTES)
    (folder / "bad.txt").write_bytes(b"not the toy file")
    with serve_directory(folder) as base:
        yield base


def test_list_shows_cache_folder_and_states(cache, monkeypatch, capsys):
    register_toy(monkeypatch, name="toy")
    register_toy(monkeypatch, name="toy2", filename="toy2.txt")
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "toy.txt").write_bytes(TOY_BYTES)
    (cache / "toy" / "toy2.txt").write_bytes(b"corrupt")
    assert run("data", "list") == 0
    out = capsys.readouterr().out
    assert f"data cache: {cache}  ($SAUB_DATA)" in out
    assert "present  toy/toy.txt" in out and "corrupt  toy/toy2.txt" in out
    assert "missing  adult/adult.data" in out and "mnist-idx" in out
    assert sha256(b"corrupt") in out and sha256(TOY_BYTES) in out


def test_list_aligns_the_longest_names(cache, capsys):
    assert run("data", "list") == 0
    out = capsys.readouterr().out
    assert "fashion-mnist-idx Fashion-MNIST" in out
    file_lines = [line for line in out.splitlines() if line.startswith("  missing  ")]
    assert "  missing  fashion-mnist/train-images-idx3-ubyte.gz md5" in out
    columns = {line.index(" md5 ") if " md5 " in line else line.index(" sha256 ") for line in file_lines}
    assert len(columns) == 1  # the hash column starts at the same place on every file line


def test_list_with_root_option(tmp_path, capsys):
    assert run("data", "list", "--root", str(tmp_path / "elsewhere")) == 0
    assert f"data cache: {tmp_path / 'elsewhere'}  (--root)" in capsys.readouterr().out


def test_verify_real_folder_passes(monkeypatch, capsys):
    root = real_data_dir("adult/adult.data", "german/german.data")
    monkeypatch.setenv("SAUB_DATA", str(root))
    assert run("data", "verify") == 0
    out = capsys.readouterr().out
    assert "ok       german/german.data  sha256 b21f3d81" in out
    assert "all checked files are intact" in out


def test_verify_corrupt_copy_fails_with_both_hashes(cache, capsys):
    real = real_data_dir("german/german.data")
    (cache / "german").mkdir(parents=True)
    shutil.copyfile(real / "german" / "german.data", cache / "german" / "german.data")
    assert run("data", "verify", "german") == 0
    flip_byte(cache / "german" / "german.data")
    capsys.readouterr()
    assert run("data", "verify", "german", "--rehash") == 1
    out = capsys.readouterr().out
    actual = sha256((cache / "german" / "german.data").read_bytes())
    assert "expected sha256: b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871" in out
    assert f"actual   sha256: {actual}" in out
    assert str(cache / "german" / "german.data") in out


def test_verify_missing_fails_only_when_named(cache, capsys):
    assert run("data", "verify") == 0  # nothing present, nothing corrupt
    assert run("data", "verify", "adult") == 1
    assert "missing" in capsys.readouterr().out


def test_fetch_downloads_and_verifies(cache, www, monkeypatch, capsys):
    register_toy(monkeypatch, urls=(www + "toy.txt",))
    assert run("data", "fetch", "toy", "--timeout", "5") == 0
    assert (cache / "toy" / "toy.txt").read_bytes() == TOY_BYTES
    assert "(sha256 verified)" in capsys.readouterr().out
    assert run("data", "fetch", "toy", "--timeout", "5") == 0  # already there: nothing to do
    assert "ok       toy/toy.txt" in capsys.readouterr().out


def test_fetch_checksum_mismatch_prints_both_hashes(cache, www, monkeypatch, capsys):
    register_toy(monkeypatch, urls=(www + "bad.txt",))
    assert run("data", "fetch", "toy", "--timeout", "5") == 1
    out = capsys.readouterr().out
    assert sha256(TOY_BYTES) in out and sha256(b"not the toy file") in out
    assert not (cache / "toy" / "toy.txt").exists()


def test_fetch_404_reports_and_fails(cache, www, monkeypatch, capsys):
    register_toy(monkeypatch, urls=(www + "gone.txt",))
    assert run("data", "fetch", "toy", "--timeout", "5") == 1
    assert "HTTP 404" in capsys.readouterr().out


def test_fetch_corrupt_needs_force(cache, www, monkeypatch, capsys):
    register_toy(monkeypatch, urls=(www + "toy.txt",))
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "toy.txt").write_bytes(b"stale")
    assert run("data", "fetch", "toy", "--timeout", "5") == 1
    assert "--force" in capsys.readouterr().out
    assert (cache / "toy" / "toy.txt").read_bytes() == b"stale"
    assert run("data", "fetch", "toy", "--force", "--timeout", "5") == 0
    assert (cache / "toy" / "toy.txt").read_bytes() == TOY_BYTES


def test_fetch_manual_only_file(cache, capsys):
    assert run("data", "fetch", "usps-h5") == 1
    out = capsys.readouterr().out
    assert "no direct download URL" in out and f"{cache / 'usps'}/" in out


def test_usage_errors(cache, capsys):
    assert run("data", "fetch") == 2
    assert "name one or more datasets, or pass --all" in capsys.readouterr().err
    assert run("data", "fetch", "adult", "--all") == 2
    assert run("data", "verify", "no-such-data") == 2
    assert "unknown dataset 'no-such-data'" in capsys.readouterr().err
    assert run("data") == 2


def test_wired_into_the_saub_bench_cli(tmp_path, capsys):
    from benchmarks.cli import main

    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    assert f"data cache: {tmp_path}  (--root)" in capsys.readouterr().out
