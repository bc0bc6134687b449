"""Embeddings computed elsewhere (e.g. CLIP on a GPU machine), read from ``.npy`` files.

A file ``E.npy`` ``[N, D]`` is aligned with the N images of one dataset split, in the order its
loader returns them. ``saub-bench embed`` writes it together with ``E.json`` (the embedder's
identity, dataset, split, row count and the SHA-256 of the images it embedded, see
:func:`saub.semantic.base.images_digest`). :meth:`PrecomputedEmbedder.from_files` checks the
rows and that digest against the images the caller loads, so a file made from other images
(another split, another resize) is refused instead of silently misaligned.

:meth:`PrecomputedEmbedder.embed` then serves any subset of those images, in any order: each
image is found by the hash of its bytes. Identical images share one embedding, which is
harmless because an embedding is a function of the image.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from saub.semantic.base import Embedder, images_digest


def _row_keys(images: Tensor) -> list[bytes]:
    arr = np.ascontiguousarray(images.detach().cpu().numpy().reshape(len(images), -1))
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in arr]


class PrecomputedEmbedder(Embedder):
    """Look-up of precomputed embeddings by image content."""

    def __init__(self, embeddings, images: Tensor, name: str, metric: str = "cosine"):
        table = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
        if table.dim() != 2 or table.shape[0] != len(images):
            raise ValueError(
                f"{name}: embeddings {tuple(table.shape)} do not align with {len(images)} images "
                "(one row per image expected)"
            )
        self.name, self.metric, self.table = name, metric, table
        self._row = {k: i for i, k in enumerate(_row_keys(images))}

    def identity(self) -> dict:
        digest = hashlib.sha256(self.table.cpu().numpy().tobytes()).hexdigest()[:16]
        return {**super().identity(), "source": "precomputed", "table_sha256": digest}

    def embed(self, images: Tensor) -> Tensor:
        keys = _row_keys(images)
        missing = [i for i, k in enumerate(keys) if k not in self._row]
        if missing:
            raise KeyError(
                f"{self.name}: {len(missing)} of {len(images)} images are not among the images the "
                f"precomputed embeddings were made from (first: row {missing[0]})"
            )
        return self.table[[self._row[k] for k in keys]].to(images.device)

    @classmethod
    def from_files(cls, paths: Sequence[str | os.PathLike], images: Sequence[Tensor]) -> PrecomputedEmbedder:
        """One embedder from ``.npy`` files and the images each was made from (same order).

        Every file needs its ``.json`` sidecar; all must come from the same embedder.
        """
        tables, names, metrics = [], set(), set()
        for path, imgs in zip(paths, images, strict=True):
            path = Path(path)
            meta_path = path.with_suffix(".json")
            if not path.is_file() or not meta_path.is_file():
                raise FileNotFoundError(
                    f"precomputed embeddings need {path} and its sidecar {meta_path} "
                    "(both written by `saub-bench embed`)"
                )
            meta = json.loads(meta_path.read_text())
            table = np.load(path)
            if table.shape[0] != len(imgs) or meta.get("rows") != len(imgs):
                raise ValueError(
                    f"{path}: {table.shape[0]} rows (sidecar: {meta.get('rows')}) but the dataset "
                    f"{meta.get('dataset')}/{meta.get('split')} has {len(imgs)} images"
                )
            if meta.get("images_sha256") != images_digest(imgs):
                raise ValueError(
                    f"{path} was made from other images than {meta.get('dataset')}/"
                    f"{meta.get('split')} as loaded here (image digest differs: another "
                    "file version, split or preprocessing)"
                )
            tables.append(table)
            names.add(meta["embedder"]["name"])
            metrics.add(meta["embedder"].get("metric", "cosine"))
        if len(names) != 1 or len(metrics) != 1:
            raise ValueError(f"precomputed files come from different embedders: {sorted(names)}")
        return cls(np.concatenate(tables), torch.cat(list(images)), names.pop(), metrics.pop())
