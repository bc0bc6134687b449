"""The registries discover their entries: every module of the registering packages is imported on the
first lookup, so a new method, task, metric or experiment is one new file and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from benchmarks import registry
from benchmarks.mutation import make_copy
from benchmarks.registry import EXPERIMENTS, METHODS, METRICS, TASKS, registering_modules

REPO = Path(__file__).resolve().parent.parent


def test_every_module_of_the_registering_packages_is_imported_by_the_first_lookup():
    METHODS.names()
    on_disk = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for package in registry.REGISTERING_PACKAGES
        for p in (REPO / package.replace(".", "/")).rglob("*.py") if p.name != "__init__.py"
    )
    assert registering_modules() == on_disk
    assert set(on_disk) <= set(sys.modules)


def test_the_registries_hold_the_suites_entries_without_any_list_of_modules():
    assert {"saub", "vaub", "adda", "dann", "fcrl", "cvib", "laftr-dp", "gwae"} <= set(METHODS.names())
    assert {"table1", "fig3", "fig4"} <= set(EXPERIMENTS.names())
    assert "nested-d" in TASKS and METRICS.names()


def test_a_new_file_in_a_registering_package_registers_itself(tmp_path):
    """Copy the packages, drop one new task module into benchmarks/tasks, look it up in a fresh
    interpreter: found, with no import line added anywhere."""
    copy = make_copy(REPO, tmp_path / "repo")
    (copy / "benchmarks" / "tasks" / "zz_new_task.py").write_text(textwrap.dedent('''
        from benchmarks.registry import register_task

        @register_task("zz-new-task")
        def make(seed, **kwargs):
            return None
    '''))
    code = ("import benchmarks.registry as r; from benchmarks.registry import TASKS; "
            "print(r.__file__); print('zz-new-task' in TASKS.names())")
    env = {**os.environ, "PYTHONPATH": str(copy), "SAUB_PLUGINS": ""}
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    where, found = out.stdout.split()
    assert Path(where).is_relative_to(copy) and found == "True"
