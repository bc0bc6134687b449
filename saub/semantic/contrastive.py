"""A label-free substitute for CLIP on digits: a small CNN trained by SimCLR (NT-Xent).

Why. GW-SP (eq. 12-13 with d_X in a semantic space) needs CLIP ViT-L/14, whose weights are not
available offline. This space is trained by the suite itself, on unlabelled images only (both
digit domains' training images, 1 x 28 x 28 in [0, 1]), so it uses no label the protocol hides.
Its name, :data:`NAME`, goes with every number computed in it: a GW-SP result obtained here is
never a CLIP result.

Method (Chen et al. 2020, SimCLR). Two views of each of B images by :class:`DigitAugment`;
encoder f (the CNN below) gives h = f(x) ``[2B, embed_dim]``, projection head g gives
u = g(h); the NT-Xent loss with temperature τ for the positive pair (i, j) is

    ℓ(i, j) = -log exp(cos(u_i, u_j)/τ) / Σ_{k ≠ i} exp(cos(u_i, u_k)/τ),

averaged over all 2B anchors. The embedding is h / ‖h‖ (the representation before the head, as
SimCLR recommends); its distance is 1 - cosine similarity, the same d_X as CLIP's.

Cost. The default settings (1,500 steps of 64 images, two views each, one thread) took 522 s on
the shared 2-core machine under a load of ~7 (0.35 s per step); about 0.2 s per step when the
machine is quiet. On MNIST/USPS test digits (1,000 each, 3 samples) the space separated
within- from between-class pairs with AUROC 0.84 / 0.86 against 0.74 / 0.76 for pixels, while
its 5-NN accuracy (0.86 / 0.89) stayed at or below the pixels' (0.89 / 0.89): see fig7.

Cache. :func:`cached_contrastive_embedder` stores the trained weights as
``<cache>/contrastive-digits-v1/model-<key>.pt`` (+ ``.json``), ``<key>`` hashing the settings,
the training images' digest and any ``context`` (e.g. dataset SHA-256s); the cache folder is
:func:`saub.semantic.base.embedding_cache_dir`. The key holds no code version: a change to the
network or the augmentation code must bump the version in :data:`NAME` (``-v2``).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saub.semantic.augment import DigitAugment
from saub.semantic.base import Embedder, atomic_save, embedding_cache_dir, images_digest, l2_normalise

NAME = "contrastive-digits-v1"
TRAIN_THREADS = 1


@dataclass(frozen=True)
class ContrastiveSettings:
    """Everything that fixes the trained space (all of it enters the cache key)."""

    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    temperature: float = 0.2
    width: int = 16
    embed_dim: int = 128
    proj_dim: int = 64
    seed: int = 0
    augment: DigitAugment = field(default_factory=DigitAugment)


class DigitCNN(nn.Module):
    """28 x 28 -> ``embed_dim``: three 3 x 3 conv blocks (28, 14, 7 px), global average pooling."""

    def __init__(self, width: int = 16, embed_dim: int = 128):
        super().__init__()

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(1, width, 1),
            *block(width, 2 * width, 2),
            *block(2 * width, 4 * width, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.out = nn.Linear(4 * width, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))


def nt_xent(u: Tensor, temperature: float) -> Tensor:
    """SimCLR's NT-Xent on ``u [2B, k]`` whose rows i and i + B are the two views of image i."""
    n = u.shape[0] // 2
    u = F.normalize(u, dim=1)
    logits = u @ u.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, target)


def train_contrastive(
    images: Tensor, settings: ContrastiveSettings, threads: int = TRAIN_THREADS
) -> tuple[DigitCNN, list[float]]:
    """Train the encoder by SimCLR on ``images [N, 1, 28, 28]``; returns it (eval mode) and the losses.

    ``threads``: intra-op threads during training (restored afterwards). On the shared 2-core
    machine one thread was measured 3-5x faster than two for this small network. The global torch
    RNG is forked, so a caller's random stream is the same whether the model was trained or loaded.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            return _train(images, settings)
    finally:
        torch.set_num_threads(previous)


def _train(images: Tensor, settings: ContrastiveSettings) -> tuple[DigitCNN, list[float]]:
    gen = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    encoder = DigitCNN(settings.width, settings.embed_dim)
    head = nn.Sequential(
        nn.Linear(settings.embed_dim, settings.embed_dim),
        nn.ReLU(),
        nn.Linear(settings.embed_dim, settings.proj_dim),
    )
    params = [*encoder.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=settings.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.steps)
    encoder.train()
    losses = []
    batch = min(settings.batch_size, len(images))
    for _ in range(settings.steps):
        x = images[torch.randperm(len(images), generator=gen)[:batch]]
        views = torch.cat([settings.augment(x, gen), settings.augment(x, gen)])
        loss = nt_xent(head(encoder(views)), settings.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return encoder.eval(), losses


class ContrastiveEmbedder(Embedder):
    """L2-normalised features of a trained :class:`DigitCNN`; metric cosine."""

    metric = "cosine"

    def __init__(self, encoder: DigitCNN, settings: ContrastiveSettings, train_digest: str, name: str = NAME):
        self.encoder, self.settings, self.train_digest, self.name = (
            encoder.eval(),
            settings,
            train_digest,
            name,
        )

    def identity(self) -> dict:
        return {**super().identity(), "settings": asdict(self.settings), "trained_on": self.train_digest}

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        if images.shape[-2:] != (28, 28):
            raise ValueError(f"{self.name} embeds 28 x 28 digits, got {tuple(images.shape[-2:])}")
        return l2_normalise(self.encoder.to(images.device)(images.float()))


def _model_path(settings: ContrastiveSettings, images: Tensor, context: dict | None, folder) -> Path:
    spec = {"settings": asdict(settings), "images": images_digest(images), "context": context or {}}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:24]
    root = Path(folder) if folder is not None else embedding_cache_dir()
    return root / NAME / f"model-{key}.pt"


def cached_contrastive_embedder(
    images: Tensor,
    settings: ContrastiveSettings = ContrastiveSettings(),
    context: dict | None = None,
    folder=None,
) -> ContrastiveEmbedder:
    """The embedder trained on ``images`` with ``settings``: loaded from the cache, else trained and saved."""
    path = _model_path(settings, images, context, folder)
    digest = images_digest(images)
    if path.is_file():
        with torch.random.fork_rng(devices=[]):  # building the module draws initial weights
            encoder = DigitCNN(settings.width, settings.embed_dim)
        encoder.load_state_dict(torch.load(path, weights_only=True))
        return ContrastiveEmbedder(encoder, settings, digest)
    start = time.perf_counter()
    encoder, losses = train_contrastive(images, settings, threads=TRAIN_THREADS)
    seconds = time.perf_counter() - start
    atomic_save(path, lambda tmp: torch.save(encoder.state_dict(), tmp))
    meta = {
        "name": NAME,
        "settings": asdict(settings),
        "images": digest,
        "n_images": len(images),
        "context": context or {},
        "train_seconds": round(seconds, 1),
        "threads": TRAIN_THREADS,
        "loss_first": losses[0],
        "loss_last_100": sum(losses[-100:]) / len(losses[-100:]),
    }
    atomic_save(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1)))
    return ContrastiveEmbedder(encoder, settings, digest)
