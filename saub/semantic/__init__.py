"""Semantic embedders for GW-SP (§3.3, eq. 12-13; App. F): one interface, an on-disk cache.

* :class:`PixelEmbedder` (``pixel``): flattened pixels, Euclidean — GW-EP's d_X.
* :class:`ClipEmbedder` (``clip-vit-large-patch14``): CLIP ViT-L/14 image features through
  HuggingFace ``transformers`` (the reason is in :mod:`saub.semantic.clip`), cosine.
* :class:`PrecomputedEmbedder`: embeddings made elsewhere (``saub-bench embed``), read from
  ``.npy`` files and checked against the images they belong to.
* :class:`ContrastiveEmbedder` (``contrastive-digits-v1``): a label-free SimCLR space trained by
  the suite on the digit domains' unlabelled images — a named substitute, never called CLIP.

Every embedder has ``embed(images) -> [N, D]``, a ``name`` and a ``metric``;
:func:`cached_embed` caches its output on disk (:func:`embedding_cache_dir`).
"""

from saub.semantic.base import (
    Embedder,
    cached_embed,
    cosine_distances,
    embed_batches,
    embedding_cache_dir,
    images_digest,
    l2_normalise,
)
from saub.semantic.clip import ClipEmbedder, ClipWeightsMissing, clip_files_absent, clip_preprocess
from saub.semantic.contrastive import (
    ContrastiveEmbedder,
    ContrastiveSettings,
    cached_contrastive_embedder,
    train_contrastive,
)
from saub.semantic.pixel import PixelEmbedder
from saub.semantic.precomputed import PrecomputedEmbedder

__all__ = [
    "ClipEmbedder",
    "ClipWeightsMissing",
    "ContrastiveEmbedder",
    "ContrastiveSettings",
    "Embedder",
    "PixelEmbedder",
    "PrecomputedEmbedder",
    "cached_contrastive_embedder",
    "cached_embed",
    "clip_files_absent",
    "clip_preprocess",
    "cosine_distances",
    "embed_batches",
    "embedding_cache_dir",
    "images_digest",
    "l2_normalise",
    "train_contrastive",
]
