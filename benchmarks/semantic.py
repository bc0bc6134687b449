"""Semantic spaces for the harness: embedders by name, and embeddings attached to a task.

Names (``VAUBConfig.semantic``, ``saub-bench embed --model``):

* ``pixel`` — flattened pixels, Euclidean (= GW-EP);
* ``clip-vit-large-patch14`` — CLIP ViT-L/14 from the local HuggingFace cache (the paper's
  space; :mod:`saub.semantic.clip`); ``clip`` is accepted for it on the command line;
* ``contrastive-digits-v1`` — the label-free SimCLR substitute, trained on the unlabelled
  training images of both digit domains (:data:`CONTRASTIVE_PER_DOMAIN` of MNIST train and of
  USPS train, a seeded choice, as :mod:`benchmarks.tasks.digits` provides them) and cached;
* ``precomputed:A.npy[,B.npy]`` — files written by ``saub-bench embed``; the embedder takes the
  name recorded in their sidecars (e.g. ``clip-vit-large-patch14``), so a precomputed CLIP
  result is reported as CLIP.

:func:`attach_embeddings` fills ``Split.emb`` of a task's splits (cached on disk, keyed by
the images and the task's data checksums); the VAUB family calls :func:`embed_split` itself
when ``gw="sp"`` and the split has no embeddings yet.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import torch
from torch import Tensor

from benchmarks.contracts import Split, TaskData
from saub.seeding import derive_seed
from saub.semantic import (
    ClipEmbedder,
    ContrastiveSettings,
    Embedder,
    PixelEmbedder,
    PrecomputedEmbedder,
    cached_contrastive_embedder,
    cached_embed,
    clip_files_absent,
)
from saub.semantic.clip import DEFAULT_MODEL, clip_name
from saub.semantic.contrastive import NAME as CONTRASTIVE

CLIP = clip_name(DEFAULT_MODEL)
EMBEDDERS = ("pixel", CLIP, CONTRASTIVE)
PRECOMPUTED = "precomputed:"
CONTRASTIVE_PER_DOMAIN = 3000
#: Datasets ``saub-bench embed`` knows, loaded as the digit tasks load them (1 x 28 x 28 in [0, 1]).
EMBED_DATASETS = ("mnist", "usps")


def check_name(name: str, metric: str | None = None) -> None:
    """Raise ``ValueError`` unless ``name`` is a known embedder or a ``precomputed:`` spec, and, when
    ``metric`` is given, unless it is cosine for the CLIP and contrastive spaces (their d_X, App. F)."""
    if name not in EMBEDDERS and not name.startswith(PRECOMPUTED):
        raise ValueError(
            f"unknown semantic space {name!r}; choose one of {', '.join(EMBEDDERS)} "
            f"or {PRECOMPUTED}FILE.npy[,FILE2.npy]"
        )
    if metric is not None and name in (CLIP, CONTRASTIVE) and metric != "cosine":
        raise ValueError(f"the {name} space is compared by cosine distance (App. F): set gw_metric='cosine'")


def describe_space(name: str) -> str:
    """How reports name a semantic space beside a number (a substitute is never called CLIP)."""
    return {
        CLIP: "CLIP ViT-L/14, the paper's space",
        CONTRASTIVE: f"{CONTRASTIVE} substitute, not CLIP",
        "pixel": "pixel space",
    }.get(name, name)


def space_missing(name: str) -> str | None:
    """Why the space ``name`` cannot be built on this machine without a download, or ``None``.

    Only CLIP can be missing (its weights); the contrastive substitute is trained on demand and
    cached, and a ``precomputed:`` space fails with its own message when its files are absent.
    """
    if name != CLIP:
        return None
    absent = clip_files_absent(DEFAULT_MODEL)
    if not absent:
        return None
    return (
        f"CLIP weights {DEFAULT_MODEL!r} are not in the HuggingFace cache (missing {', '.join(absent)}); "
        "see `saub-bench embed --help` and saub.semantic.clip for how to get them"
    )


def dataset_images(dataset: str, split: str, root=None) -> Tensor:
    """The images of ``dataset``/``split`` exactly as the tasks use them (``[N, 1, 28, 28]`` for digits)."""
    from benchmarks.data.digit_images import load_domain

    if dataset not in EMBED_DATASETS:
        raise ValueError(f"no image dataset {dataset!r}; choose one of {', '.join(EMBED_DATASETS)}")
    return load_domain(dataset, split, root)[0]


def contrastive_training_images(root=None, n_per_domain: int = CONTRASTIVE_PER_DOMAIN) -> tuple[Tensor, dict]:
    """MNIST and USPS training images (``n_per_domain`` of each, seeded), and their data checksums."""
    from benchmarks.data import dataset_checksums
    from benchmarks.data.digit_images import load_domain

    parts, sums = [], {}
    for name in ("mnist", "usps"):
        x, _, choice = load_domain(name, "train", root)
        gen = torch.Generator().manual_seed(derive_seed(CONTRASTIVE, name))
        rows = torch.sort(torch.randperm(len(x), generator=gen)[:n_per_domain]).values
        parts.append(x[rows])
        sums.update({f"{choice.dataset}/{f}": h for f, h in dataset_checksums(choice.dataset, root).items()})
    return torch.cat(parts), sums


@functools.lru_cache(maxsize=4)
def _contrastive(root, settings: ContrastiveSettings, n_per_domain: int) -> Embedder:
    images, sums = contrastive_training_images(root, n_per_domain)
    return cached_contrastive_embedder(images, settings, context={"data": sums, "n_per_domain": n_per_domain})


def build_embedder(
    name: str,
    root=None,
    settings: ContrastiveSettings | None = None,
    n_per_domain: int = CONTRASTIVE_PER_DOMAIN,
) -> Embedder:
    """The embedder called ``name`` (see the module docstring); ``settings`` and ``n_per_domain``
    size the contrastive substitute (default: :class:`ContrastiveSettings` and 3,000 per domain)."""
    check_name(name)
    if name == "pixel":
        return PixelEmbedder()
    if name == CLIP:
        return ClipEmbedder(DEFAULT_MODEL)
    if name == CONTRASTIVE:
        return _contrastive(root, settings or ContrastiveSettings(), n_per_domain)
    paths = [Path(p) for p in name[len(PRECOMPUTED) :].split(",") if p]
    metas = []
    for path in paths:
        sidecar = path.with_suffix(".json")
        if not sidecar.is_file():
            raise FileNotFoundError(
                f"{sidecar} not found: precomputed embeddings need the sidecar that "
                "`saub-bench embed` writes beside the .npy (dataset, split, embedder)"
            )
        metas.append(json.loads(sidecar.read_text()))
    images = [dataset_images(m["dataset"], m["split"], root) for m in metas]
    return PrecomputedEmbedder.from_files(paths, images)


def embed_split(split: Split, embedder: Embedder, context: dict | None = None) -> Split:
    """``split`` with ``emb`` = the (cached) embeddings of its images."""
    return dataclasses.replace(split, emb=cached_embed(embedder, split.x, context))


def attach_embeddings(task: TaskData, embedder: Embedder) -> TaskData:
    """``task`` with train and test embeddings, and the space named in its protocol."""
    context = {"data": task.checksums}
    protocol = {**task.protocol, "semantic_space": embedder.name, "semantic_metric": embedder.metric}
    return dataclasses.replace(
        task,
        train=embed_split(task.train, embedder, context),
        test=embed_split(task.test, embedder, context),
        protocol=protocol,
    )
