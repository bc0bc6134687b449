"""Checkpoints within a cell (issue 17): a cell killed mid-training resumes from its last checkpoint
to the record of an uninterrupted run; a checkpoint of another configuration or code version is
never resumed; checkpoints go once the record is written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from benchmarks.checkpoints import CellCheckpoint, CheckpointPolicy, CountedBatches, checkpoint_path
from benchmarks.cli import main
from benchmarks.config import ConfigError
from benchmarks.contracts import Budget
from benchmarks.methods.vaub_family import VAUBFamily
from benchmarks.registry import EXPERIMENTS, METHODS, TASKS
from benchmarks.runner import execute_cell, record_path, sweep_state
from saub.seeding import seed_everything
from tests.harness_toys import REPO_ROOT, comparable, harness_isolation, plugin_env  # noqa: F401
from tests.test_contract import DOMAIN_ADAPTATION, _binary

RESUMABLE = "toy-harness-resumable"  # one 200-step SAUB cell
EVERY_20 = CheckpointPolicy(every_steps=20, every_seconds=None)


class Killed(BaseException):
    """Stands for a kill: not an Exception, so the harness records nothing, as after kill -9."""


def _cell():
    (cell,) = EXPERIMENTS.get(RESUMABLE).cells("smoke")
    return cell


def _record(results) -> dict:
    (record,) = sweep_state(EXPERIMENTS.get(RESUMABLE), "smoke", results).records
    return record


def _killed_at(step: int, results, monkeypatch, policy=EVERY_20):
    """Run the cell until just after training ``step``, then stop it as a kill would."""
    def at_step(self, s):
        if s == step:
            raise Killed
    with monkeypatch.context() as patch:
        patch.setattr(VAUBFamily, "at_step", at_step)
        with pytest.raises(Killed):
            execute_cell(_cell(), results, checkpoints=policy)


def test_a_killed_cell_resumes_to_the_uninterrupted_record(tmp_path, monkeypatch):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    _killed_at(130, killed, monkeypatch)  # checkpoints at 20, 40, ..., 120; killed 10 steps later
    ckpt = checkpoint_path(record_path(killed, _cell()), _cell().cell_id)
    assert torch.load(ckpt, weights_only=False)["step"] == 120
    assert not record_path(killed, _cell()).exists()
    assert execute_cell(_cell(), killed, checkpoints=EVERY_20)["status"] == "done"
    assert not ckpt.exists(), "the checkpoint goes once the record is written"
    assert execute_cell(_cell(), clean, checkpoints=None)["status"] == "done"
    resumed, uninterrupted = _record(killed), _record(clean)
    assert resumed["resumed_from_step"] == 120 and "resumed_from_step" not in uninterrupted
    assert comparable(resumed) == comparable(uninterrupted)
    assert len(resumed["curves"]["total"]) == len(uninterrupted["curves"]["total"])


def test_a_checkpoint_of_another_code_version_is_not_resumed(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    _killed_at(50, results, monkeypatch, CheckpointPolicy(every_steps=20, every_seconds=None, keep=True))
    ckpt = checkpoint_path(record_path(results, _cell()), _cell().cell_id)
    payload = torch.load(ckpt, weights_only=False)
    payload["fingerprint"]["code version"] = "0" * 16
    torch.save(payload, ckpt)
    assert execute_cell(_cell(), results, checkpoints=EVERY_20)["status"] == "done"
    assert "of another code version: not resumed, starting over" in capsys.readouterr().err
    assert "resumed_from_step" not in _record(results)


def test_counted_batches_replay_to_the_same_place():
    def draws():
        gen = torch.Generator().manual_seed(0)
        while True:
            yield torch.randint(0, 1000, (3,), generator=gen)

    straight, replayed = CountedBatches(draws()), CountedBatches(draws())
    for _ in range(7):
        next(straight)
    replayed.skip(straight.drawn)
    assert replayed.drawn == 7 and torch.equal(next(straight), next(replayed))


def test_bad_checkpoint_policies_are_refused():
    with pytest.raises(ConfigError, match="positive number of steps"):
        CheckpointPolicy(every_steps=0)
    with pytest.raises(ConfigError, match="positive number of seconds"):
        CheckpointPolicy(every_seconds=-1.0)


def test_kill_9_mid_training_then_resume_equals_uninterrupted(tmp_path):
    """A real SIGKILL of ``saub-bench run`` while the cell trains, after its first checkpoints."""
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    argv = ["run", RESUMABLE, "--profile", "smoke", "--quiet", "--checkpoint-every", "20", "--results"]
    driver = ("import sys\nimport tests.harness_toys\nfrom benchmarks.cli import main\n"
              f"sys.exit(main({json.dumps(argv + [str(killed)])}))\n")
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=REPO_ROOT, env=plugin_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    ckpt = checkpoint_path(record_path(killed, _cell()), _cell().cell_id)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not ckpt.exists():
            time.sleep(0.01)
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    assert ckpt.exists() and not record_path(killed, _cell()).exists(), "the kill should land mid-training"
    step = torch.load(ckpt, weights_only=False)["step"]
    assert main(argv + [str(killed)]) == 0
    assert main([*argv[:5], "--results", str(clean)]) == 0
    resumed, uninterrupted = _record(killed), _record(clean)
    assert resumed["resumed_from_step"] == step >= 20
    assert comparable(resumed) == comparable(uninterrupted)


RESUMABLE_METHODS = [n for n in METHODS.names() if METHODS.get(n).cls.resumable]


@pytest.fixture(scope="module")
def toy_task():
    return TASKS.get("nested-d")(seed=3, n_per_domain=16, n_test_per_domain=8)


@pytest.mark.parametrize("name", RESUMABLE_METHODS)
def test_every_resumable_method_resumes_to_the_same_model(name, tmp_path, monkeypatch, toy_task,
                                                          digits_like_task):
    """Stopped after step 3 of 4 with checkpoints every 2 steps, then resumed from step 2: the same
    encodings as an uninterrupted fit from the same seed."""
    entry = METHODS.get(name)
    task = digits_like_task if name in DOMAIN_ADAPTATION else toy_task
    if getattr(entry.cls, "binary_labels_only", False):
        task = _binary(task)
    train = task.train if getattr(entry.cls, "needs_source_labels", False) else task.train.without_labels()
    budget = Budget(steps=4, batch_size=16)

    def trained(checkpoint=None, state=None):
        seed_everything(0)
        method = entry.build(entry.resolve(), task)
        method.resume_with(checkpoint, state)
        method.fit(train, budget, seed=0)
        return method.encode(task.test.x, task.test.d)

    checkpoint = CellCheckpoint(tmp_path / "c.pt", {"configuration": name},
                                CheckpointPolicy(every_steps=2, every_seconds=None))

    def at_step(self, step):
        if step == 3:
            raise Killed
    with monkeypatch.context() as patch:
        patch.setattr(entry.cls, "at_step", at_step)
        with pytest.raises(Killed):
            trained(checkpoint)
    state = checkpoint.load()
    assert checkpoint.resumed_from == 2
    assert torch.equal(trained(checkpoint, state), trained())
