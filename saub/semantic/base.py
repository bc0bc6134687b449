"""The embedder interface, the semantic distance, and the on-disk embedding cache.

An :class:`Embedder` maps images ``[N, C, H, W]`` (float, in [0, 1]) to embeddings ``[N, D]``
and carries a ``name`` that travels with every number computed in its space (a GW-SP result of
the contrastive substitute is never shown as CLIP) and a ``metric``: ``"cosine"`` for semantic
spaces (d_X(x, x') = 1 - cos(e, e') of L2-normalised features, §3.3 and App. F) or
``"euclidean"`` for pixels (GW-EP).

Cache. :func:`cached_embed` stores embeddings as ``<folder>/<name>/<key>.npy`` with a JSON
sidecar. The key hashes the embedder's identity (name plus whatever fixes its function: settings,
weight digest) and a digest of the images' bytes, shape and dtype. The image digest stands for
"dataset checksum + split + rows": any change of file, split, subsample or preprocessing changes
the bytes. Callers may add context (e.g. the dataset files' SHA-256) through ``context``; it
enters the key and the sidecar. The folder is ``$SAUB_EMBEDDINGS`` if set, else
``$SAUB_DATA/embeddings`` when that data folder is writable, else ``~/.cache/saub/embeddings``
(a read-only shared data folder is never written to).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

CACHE_ENV = "SAUB_EMBEDDINGS"
DATA_ENV = "SAUB_DATA"
DEFAULT_CACHE = "~/.cache/saub/embeddings"


class Embedder(ABC):
    """Images -> embeddings, with a name and the metric of the space."""

    name: str = ""
    metric: str = "cosine"

    @abstractmethod
    def embed(self, images: Tensor) -> Tensor:
        """``[N, C, H, W]`` images in [0, 1] -> float32 ``[N, D]`` (L2-normalised if cosine)."""

    def identity(self) -> dict[str, Any]:
        """What fixes the embedding function (enters the cache key); subclasses extend it."""
        return {"name": self.name, "metric": self.metric}


def l2_normalise(e: Tensor) -> Tensor:
    """Rows scaled to unit L2 norm (float32)."""
    return F.normalize(e.float(), dim=1)


def cosine_distances(a: Tensor, b: Tensor | None = None) -> Tensor:
    """``1 - cos(a_i, b_j)`` ``[n, m]``: the semantic distance of App. F (SP's d_X)."""
    b = a if b is None else b
    return 1.0 - l2_normalise(a) @ l2_normalise(b).T


def images_digest(images: Tensor) -> str:
    """SHA-256 of the images' dtype, shape and bytes (the 'which rows of which data' part of a key)."""
    arr = np.ascontiguousarray(images.detach().cpu().numpy())
    h = hashlib.sha256(f"{arr.dtype}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _writable(folder: Path) -> bool:
    """Writable *and* not marked read-only (root passes ``os.access`` on ``r-x`` folders)."""
    try:
        return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)
    except OSError:
        return False


def embedding_cache_dir() -> Path:
    """``$SAUB_EMBEDDINGS``, else ``$SAUB_DATA/embeddings`` if writable, else ``~/.cache/saub/embeddings``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser().absolute()
    data = os.environ.get(DATA_ENV)
    if data and _writable(Path(data).expanduser()):
        return Path(data).expanduser().absolute() / "embeddings"
    return Path(DEFAULT_CACHE).expanduser().absolute()


def cache_key(embedder: Embedder, images: Tensor, context: dict | None = None) -> str:
    """The cache key of ``embedder`` applied to ``images`` (24 hex digits)."""
    spec = {"embedder": embedder.identity(), "images": images_digest(images), "context": context or {}}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:24]


def atomic_save(path: Path, write) -> None:
    """``write(tmp_path)`` then rename onto ``path`` (same folder), so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@torch.no_grad()
def embed_batches(embedder: Embedder, images: Tensor, batch_size: int = 512) -> Tensor:
    """``embedder.embed(images)`` computed ``batch_size`` images at a time (no cache)."""
    return torch.cat([embedder.embed(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def cached_embed(
    embedder: Embedder,
    images: Tensor,
    context: dict | None = None,
    folder: str | os.PathLike | None = None,
    batch_size: int = 512,
) -> Tensor:
    """``embedder.embed(images)`` in batches, read from / written to the embedding cache."""
    root = Path(folder) if folder is not None else embedding_cache_dir()
    key = cache_key(embedder, images, context)
    path = root / embedder.name / f"{key}.npy"
    if path.is_file():
        cached = torch.from_numpy(np.load(path))
        if cached.shape[0] == images.shape[0]:
            return cached.to(images.device)
    arr = embed_batches(embedder, images, batch_size).float().cpu().numpy()
    atomic_save(path, lambda tmp: np.save(tmp, arr))
    meta = {
        "embedder": embedder.identity(),
        "rows": len(arr),
        "dim": arr.shape[1],
        "context": context or {},
        "images_sha256": images_digest(images),
    }
    atomic_save(
        path.with_suffix(".json"),
        lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str)),
    )
    return torch.from_numpy(arr).to(images.device)
