"""One encoder update with the SFS or the LSGM cross-entropy, and its memory accounting.

Shared by the benchmark (``tests/perf/test_encoder_update.py``), its correctness test
(``tests/perf/test_memory_accounting.py``) and the summary (``tests/perf/summary.py``).

An *encoder update* is: encoder forward on a batch, reparameterise, the score prior's
cross-entropy on z, backward, Adam step on the encoder's parameters. The two gradients differ
only in the cross-entropy (``saub.priors.score``): SFS evaluates the score network once under
``no_grad`` (eq. 10); LSGM back-propagates the weighted DSM loss through it (eq. 23-25, App. E).

``lsgm_frozen`` is an extra, informative variant: LSGM with the score network's parameters
switched to ``requires_grad=False`` for the update. Plain ``lsgm`` matches
``AlternatingTrainer.vae_step``, where the score network's parameters require grad, so the
backward also computes (and later discards) their weight gradients; ``lsgm_frozen`` is the cost
of the encoder gradient alone (input-Jacobian products through the score network).

Memory is measured two ways:

* :func:`saved_tensor_bytes`: bytes of the tensors autograd saves for backward during one
  update (``torch.autograd.graph.saved_tensors_hooks``, unique storages), attributed to the
  module whose forward saved them (encoder, score network, or the objective's own arithmetic).
  Parameter storages are counted apart: they exist whether or not a graph is built.
* :func:`peak_rss`: in a fresh subprocess (``python -m tests.perf.encoder_update rss SIZE
  GRADIENT``), the rise of the resident-set high-water mark (VmHWM) over the resident set just
  before one update, after warm-up updates. VmHWM is reset through ``/proc/self/clear_refs``;
  glibc's mmap threshold is pinned (``MALLOC_MMAP_THRESHOLD_``) so that every tensor of 64 KiB or
  more is its own mapping, returned to the OS when freed, and the rise is the update's transient
  memory rather than the allocator's caching history.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from saub.networks import make_encoder
from saub.objective import reparameterize
from saub.priors.score import ScoreNetwork, ScorePrior
from tests.perf.timing import median, paired_call_times

REPO_ROOT = Path(__file__).resolve().parents[2]

LATENT = 256
BATCH = 256
INPUT_DIM = 784
ENCODER_HIDDEN = 512
#: Torch threads (``SAUB_BENCH_THREADS``; default 1, as the harness trains every cell).
THREADS = int(os.environ.get("SAUB_BENCH_THREADS", "1"))
SEED = 0

#: Score networks benchmarked (ScoreNetwork options). ``authors``: the authors' score model of their
#: MNIST <-> USPS code (REPRODUCTION.md, "Implementation facts"; the table1 row "SAUB (authors'
#: code)"): a 400-wide LayerNorm MLP (3 layers, this suite's default) on a 100-d latent.
SIZES: dict[str, dict] = {
    "mlp512": {"hidden": 512, "n_layers": 4, "residual": False},
    "resnet": {"hidden": 1024, "n_layers": 2, "residual": True},
    "authors": {"hidden": 400, "n_layers": 3, "layernorm": True},
}
#: Latent width per size (default :data:`LATENT`).
LATENTS = {"authors": 100}
#: ScorePrior options per size: the authors' SFS evaluates the score at level 30 of 100 on
#: unperturbed z and adds -0.05 z (σ_max = 0.4, the ScorePrior default).
PRIOR_OPTIONS = {"authors": {"n_levels": 100, "sfs_level": 30, "sfs_perturb": False, "sfs_shrink": 0.05}}
GRADIENTS = ("sfs", "lsgm", "lsgm_frozen")
#: pytest-benchmark ``pedantic`` settings per size: (warm-up rounds, rounds).
ROUNDS = {"mlp512": (3, 20), "resnet": (2, 10), "authors": (3, 30)}
#: Interleaved SFS/LSGM update pairs per size, for a ratio robust to a drifting machine load.
PAIRS = {"mlp512": 20, "resnet": 10, "authors": 40}
#: Pinned glibc mmap threshold of the peak-RSS subprocess.
MMAP_THRESHOLD = 65536


def latent_of(size: str) -> int:
    return LATENTS.get(size, LATENT)


def make_score_net(size: str, seed: int = SEED) -> ScoreNetwork:
    torch.manual_seed(seed)
    return ScoreNetwork(latent_of(size), **SIZES[size])


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@dataclass
class Setup:
    encoder: nn.Module
    opt: torch.optim.Optimizer
    prior: ScorePrior
    x: torch.Tensor
    freeze_score_net: bool = False


def make_setup(size: str, gradient: str, score_net: ScoreNetwork | None = None, seed: int = SEED) -> Setup:
    """Encoder (784 -> latent, hidden 512), Adam, a :class:`ScorePrior` around ``score_net``, a batch.

    Pass the same ``score_net`` object for every gradient to compare them on one network; the
    encoder and the batch are seeded, so every gradient starts from the same encoder.
    """
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
    net = score_net if score_net is not None else make_score_net(size, seed)
    torch.manual_seed(seed + 1)
    encoder = make_encoder((INPUT_DIM,), latent_of(size), hidden=ENCODER_HIDDEN)
    x = torch.rand(BATCH, INPUT_DIM)
    prior = ScorePrior(latent_of(size), encoder_gradient=gradient.split("_")[0], score_net=net,
                       **PRIOR_OPTIONS.get(size, {}))
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-4)
    return Setup(encoder, opt, prior, x, freeze_score_net=gradient == "lsgm_frozen")


@contextlib.contextmanager
def _frozen(net: nn.Module, frozen: bool):
    if not frozen:
        yield
        return
    flags = [p.requires_grad for p in net.parameters()]
    net.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(net.parameters(), flags):
            p.requires_grad_(flag)


def encoder_update(s: Setup) -> float:
    """One encoder update; returns the loss."""
    with _frozen(s.prior.score_net, s.freeze_score_net):
        s.opt.zero_grad(set_to_none=True)
        mean, logvar = s.encoder(s.x)
        loss = s.prior.cross_entropy(reparameterize(mean, logvar)).mean()
        loss.backward()
        s.opt.step()
    s.prior.score_net.zero_grad(set_to_none=True)  # LSGM's weight gradients are not used here
    return loss.item()


def paired_times(
    reference: Setup, other: Setup, pairs: int, warmup: int = 2
) -> tuple[list[float], list[float]]:
    """Wall times of ``pairs`` interleaved updates of two setups
    (:func:`tests.perf.timing.paired_call_times`)."""
    return paired_call_times(lambda: encoder_update(reference), lambda: encoder_update(other), pairs, warmup)


@contextlib.contextmanager
def saved_bytes_by_region(regions: dict[str, nn.Module], own: Iterable[torch.Tensor],
                          default: str = "objective"):
    """Count the bytes autograd saves for backward inside the block, by unique storage.

    Yields a dict: region name -> bytes saved inside that module's forward (``default`` outside every
    region), plus ``parameters``: storages of ``own`` tensors (parameters, buffers), which exist
    whether or not a graph is built. A storage saved twice (e.g. by two ops) counts once, where it
    was first saved. Filled when the block exits.
    """
    own_ptrs = {t.untyped_storage().data_ptr() for t in own}
    stack = [default]
    sizes = dict.fromkeys([*regions, default, "parameters"], 0)
    seen: set[tuple[int, int]] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        if key not in seen:
            seen.add(key)
            sizes["parameters" if key[0] in own_ptrs else stack[-1]] += key[1]
        return t

    def enter(name):
        return lambda module, args: stack.append(name)

    def leave(module, args, out):
        stack.pop()

    handles = []
    for name, module in regions.items():
        handles += [module.register_forward_pre_hook(enter(name)), module.register_forward_hook(leave)]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield sizes
    finally:
        for h in handles:
            h.remove()


def saved_tensor_bytes(s: Setup) -> dict[str, int]:
    """Bytes saved for backward during one update, by unique storage and by who saved them.

    Keys: ``encoder`` (inside the encoder's forward), ``score_net`` (inside the score network's
    forward), ``objective`` (reparameterisation and the cross-entropy's arithmetic around the
    score, e.g. SFS's detached score in ``-(s * z)``), ``parameters`` (storages of parameters or
    buffers, which exist regardless of the graph; not activation memory) and ``activations``
    (the sum of the first three).
    """
    own = [p for m in (s.encoder, s.prior) for p in [*m.parameters(), *m.buffers()]]
    with saved_bytes_by_region({"encoder": s.encoder, "score_net": s.prior.score_net}, own) as sizes:
        encoder_update(s)
    sizes["activations"] = sizes["encoder"] + sizes["score_net"] + sizes["objective"]
    return sizes


# --- peak resident set, in a fresh process ---------------------------------------------------

def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _measure_rss(size: str, gradient: str, warmup: int, repeats: int) -> dict:
    """Runs inside the subprocess: build, warm up, then ``repeats`` measured updates."""
    torch.set_num_threads(THREADS)
    s = make_setup(size, gradient)
    if not _reset_hwm():
        # No VmHWM reset: the ru_maxrss rise over the first update of the process (no warm-up).
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        encoder_update(s)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"method": "ru_maxrss, first update, no warm-up", "deltas_mb": [(after - before) / 1024],
                "baseline_rss_mb": before / 1024}
    for _ in range(warmup):
        encoder_update(s)
    gc.collect()
    deltas, baselines = [], []
    for _ in range(repeats):
        base = _status_kb("VmRSS")
        _reset_hwm()
        encoder_update(s)
        deltas.append((_status_kb("VmHWM") - base) / 1024)
        baselines.append(base / 1024)
    return {"method": f"VmHWM - VmRSS over one update after {warmup} warm-up updates "
                      f"(clear_refs reset, MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD})",
            "deltas_mb": deltas, "baseline_rss_mb": min(baselines)}


def peak_rss(size: str, gradient: str, warmup: int = 3, repeats: int = 3) -> dict:
    """Peak-RSS rise of one update in a fresh subprocess; ``peak_rss_delta_mb`` is the median."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "tests.perf.encoder_update", "rss", size, gradient,
           str(warmup), str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600, cwd=REPO_ROOT, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["peak_rss_delta_mb"] = median(result["deltas_mb"])
    return result


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "rss":
        sys.exit("usage: python -m tests.perf.encoder_update rss SIZE GRADIENT WARMUP REPEATS")
    _, _, size_, gradient_, warmup_, repeats_ = sys.argv
    print(json.dumps(_measure_rss(size_, gradient_, int(warmup_), int(repeats_))))
