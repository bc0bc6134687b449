"""``saub-bench embed DATASET --model clip --out FILE.npy``: embeddings for use on another machine.

Run it where the model runs well (CLIP ViT-L/14 wants a GPU; ``--device cuda``), copy
``FILE.npy`` and its sidecar ``FILE.json`` here, and train with
``semantic="precomputed:FILE.npy"`` (several files, e.g. one per domain, separated by commas).
The sidecar records the embedder's identity, the dataset, split, rows and the SHA-256 of the
images embedded, which :class:`saub.semantic.PrecomputedEmbedder` checks before use.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmarks.data.errors import DataError
from benchmarks.semantic import CLIP, EMBED_DATASETS, EMBEDDERS, build_embedder, dataset_images
from saub.semantic import ClipWeightsMissing, images_digest
from saub.semantic.base import atomic_save

MODELS = ("clip", *EMBEDDERS)


def write_embeddings(
    dataset: str, split: str, model: str, out: Path, root=None, batch_size: int = 256, device: str = "cpu"
) -> Path:
    """Embed every image of ``dataset``/``split`` with ``model``; write ``out`` (.npy) and its .json."""
    embedder = build_embedder(CLIP if model == "clip" else model, root)
    if hasattr(embedder, "model"):
        embedder.model.to(device)
    images = dataset_images(dataset, split, root)
    parts = []
    with torch.no_grad():
        for i in tqdm(range(0, len(images), batch_size), desc=f"embed {dataset}/{split}"):
            parts.append(embedder.embed(images[i : i + batch_size].to(device)).cpu())
    table = torch.cat(parts).float().numpy()
    out = Path(out).with_suffix(".npy")
    atomic_save(out, lambda tmp: np.save(tmp, table))
    meta = {
        "embedder": embedder.identity(),
        "dataset": dataset,
        "split": split,
        "rows": len(table),
        "dim": int(table.shape[1]),
        "images_sha256": images_digest(images),
    }
    atomic_save(
        out.with_suffix(".json"),
        lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str)),
    )
    return out


def cmd_embed(args) -> int:
    """Exit code 0 on success, 1 when the model's weights or the dataset's files are missing."""
    try:
        out = write_embeddings(
            args.dataset, args.split, args.model, Path(args.out), args.root, args.batch_size, args.device
        )
    except (ClipWeightsMissing, DataError) as exc:
        print(f"saub-bench embed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def add_embed_command(sub) -> None:
    """Register ``embed`` on an argparse sub-parser collection."""
    p = sub.add_parser("embed", help="embed a dataset's images into a .npy (e.g. CLIP on a GPU machine)")
    p.add_argument("dataset", choices=EMBED_DATASETS)
    p.add_argument("--split", default="train", choices=("train", "test"))
    p.add_argument("--model", default="clip", choices=MODELS)
    p.add_argument("--out", required=True, help="output .npy (a .json sidecar is written beside it)")
    p.add_argument("--root", default=None, help="data cache (default: $SAUB_DATA)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_embed)
