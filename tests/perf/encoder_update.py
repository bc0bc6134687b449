"""One encoder update with the SFS or the LSGM cross-entropy, and its memory accounting.

Shared by the benchmark (tests/perf/test_sfs_vs_lsgm.py) and its correctness test. An update
is: encoder forward on a batch, reparameterise, the score prior's cross-entropy term (SFS:
one detached score evaluation, eq. 10; LSGM: weighted DSM back-propagated through the score
network, eq. 23-25), backward, Adam step on the encoder.
"""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from saub.networks import make_encoder
from saub.objective import reparameterize
from saub.priors.score import ScoreNetwork, ScorePrior

LATENT = 256
BATCH = 256
SIZES = {
    "mlp512": {"hidden": 512, "n_layers": 4, "residual": False},
    "resnet1024": {"hidden": 1024, "n_layers": 2, "residual": True},
}


def build(size: str, gradient: str, seed: int = 0):
    """Encoder, optimiser, a score prior around a shared-architecture score net, and a batch."""
    torch.manual_seed(seed)
    encoder = make_encoder((784,), LATENT, hidden=512)
    net = ScoreNetwork(LATENT, **SIZES[size])
    prior = ScorePrior(LATENT, encoder_gradient=gradient, sigma_min=0.01, sigma_max=1.0, score_net=net)
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-4)
    x = torch.rand(BATCH, 784)
    return encoder, opt, prior, x


def encoder_update(encoder, opt, prior, x) -> float:
    opt.zero_grad(set_to_none=True)
    mean, logvar = encoder(x)
    loss = prior.cross_entropy(reparameterize(mean, logvar)).mean()
    loss.backward()
    opt.step()
    return loss.item()


def saved_tensor_bytes(encoder, prior, x) -> dict[str, int]:
    """Bytes of tensors autograd keeps for backward, split by where they were saved.

    Counts unique storages, via ``torch.autograd.graph.saved_tensors_hooks``. The prior's share
    is, for SFS, the one detached score tensor of ``-(s * z)``; for LSGM, also the score
    network's activations that its Jacobian-vector product needs.
    """
    seen: dict[str, set] = {"encoder": set(), "prior": set()}
    sizes: dict[str, int] = {"encoder": 0, "prior": 0}
    where = ["encoder"]

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen[where[0]]:
            seen[where[0]].add(key)
            sizes[where[0]] += key[1]
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        mean, logvar = encoder(x)
        z = reparameterize(mean, logvar)
        where[0] = "prior"
        loss = prior.cross_entropy(z).mean()
    loss.backward()
    return sizes


_RSS_SCRIPT = """
import json, resource, sys, torch
sys.path.insert(0, {root!r})
from tests.perf.encoder_update import build, encoder_update
torch.set_num_threads(1)
enc, opt, prior, x = build({size!r}, {gradient!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
encoder_update(enc, opt, prior, x)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"peak_rss_delta_mb": (after - before) / 1024}}))
"""


def peak_rss_delta_mb(size: str, gradient: str, root: str) -> float:
    """Rise of the resident-set high-water mark during one update, in a fresh process."""
    code = _RSS_SCRIPT.format(root=root, size=size, gradient=gradient)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_delta_mb"]
