"""CLIP image features, the paper's semantic space (§3.3, App. F; authors: open_clip ViT-L-14).

Why HuggingFace ``transformers`` rather than ``open_clip``. open_clip imports ``torchvision``
at import time, and the torchvision wheels on PyPI are built against one exact torch release;
beside this project's torch 2.13.0 CPU build none imports. ``transformers``'
``CLIPVisionModelWithProjection`` runs the same architecture and loads OpenAI's released
weights (``openai/clip-vit-large-patch14``, the checkpoint open_clip calls
``ViT-L-14``/``openai``) with no torchvision, so the features are CLIP ViT-L/14's projected image
embedding (768-D). open_clip remains usable for ``saub-bench embed`` on a machine with a matching
torch/torchvision pair (e.g. torch 2.4.1 + torchvision 0.19.1); its files then enter through
:mod:`saub.semantic.precomputed`.

Preprocessing, in plain torch (CLIP's own recipe, ``_transform`` of OpenAI's ``clip.py``):
resize so the short side is ``image_size`` (224) with bicubic interpolation, centre crop
``image_size`` x ``image_size``, gray -> 3 identical channels, normalise with CLIP's mean and
std. Inputs are float images in [0, 1]. Bicubic is ``F.interpolate(mode="bicubic",
antialias=True, align_corners=False)`` clamped to [0, 1] (PIL's result is uint8, so also
clamped); it matches PIL's filter for upsampling (digits 28 -> 224) and approximates it with
antialiasing for downsampling (CelebA 178 -> 224 is an upsampling too). Embeddings are
L2-normalised, so the SP distance is ``1 - e·e'``.

Weights come from the HuggingFace cache (``$HF_HUB_CACHE``, default
``~/.cache/huggingface/hub``). With ``allow_download=False`` (default) nothing touches the
network; a missing file raises :class:`ClipWeightsMissing` naming the file and how to get it.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import Tensor

from saub.semantic.base import Embedder, l2_normalise

DEFAULT_MODEL = "openai/clip-vit-large-patch14"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
WEIGHT_FILES = ("config.json", "model.safetensors")


class ClipWeightsMissing(FileNotFoundError):
    """CLIP's weights are not in the local HuggingFace cache (and could not be downloaded)."""


def resize_short_side(x: Tensor, size: int) -> Tensor:
    """Bicubic resize of ``[N, C, H, W]`` so that min(H, W) = ``size`` (torchvision's size rule)."""
    h, w = x.shape[-2:]
    short, long = (h, w) if h <= w else (w, h)
    new_long = int(size * long / short)
    new_h, new_w = (size, new_long) if h <= w else (new_long, size)
    if (new_h, new_w) == (h, w):
        return x
    out = F.interpolate(x, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0.0, 1.0)


def center_crop(x: Tensor, size: int) -> Tensor:
    """Centre ``size`` x ``size`` crop; offsets ``round((H - size) / 2)`` as torchvision computes them."""
    h, w = x.shape[-2:]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return x[..., top : top + size, left : left + size]


def clip_preprocess(images: Tensor, size: int = 224) -> Tensor:
    """``[N, 1 or 3, H, W]`` in [0, 1] -> CLIP's normalised ``[N, 3, size, size]`` input."""
    x = images.float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[1] != 3:
        raise ValueError(f"images must have 1 or 3 channels, got {x.shape[1]}")
    x = center_crop(resize_short_side(x, size), size)
    mean = torch.tensor(CLIP_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images.device).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_files_absent(model_id: str = DEFAULT_MODEL) -> list[str]:
    """Files of :data:`WEIGHT_FILES` not in the local HuggingFace cache (no network, no loading);
    all of them when ``huggingface_hub`` is not installed (CLIP cannot load then either)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return list(WEIGHT_FILES)
    return [f for f in WEIGHT_FILES if not isinstance(try_to_load_from_cache(model_id, f), str)]


def _missing_message(model_id: str, cause: Exception) -> str:
    from huggingface_hub import constants

    absent = clip_files_absent(model_id)
    folder = f"{constants.HF_HUB_CACHE}/models--{model_id.replace('/', '--')}"
    return (
        f"CLIP weights {model_id!r} are not in the HuggingFace cache: missing {', '.join(absent) or 'files'} "
        f"under {folder}/snapshots/<revision>/ ({type(cause).__name__}: {str(cause).splitlines()[0]}).\n"
        f"  On a machine with internet: `hf download {model_id} {' '.join(WEIGHT_FILES)}` "
        f"(huggingface_hub's CLI), then copy {folder} into this machine's cache "
        f"($HF_HUB_CACHE, now {constants.HF_HUB_CACHE});\n"
        f"  or embed there with `saub-bench embed <dataset> --model clip --out FILE.npy` and use the "
        "file here (semantic='precomputed:FILE.npy')."
    )


def load_clip_vision(model_id: str = DEFAULT_MODEL, allow_download: bool = False):
    """``CLIPVisionModelWithProjection`` from the HuggingFace cache, in eval mode."""
    try:
        from transformers import CLIPVisionModelWithProjection
    except ImportError as exc:
        raise ImportError(
            "the CLIP embedder needs HuggingFace transformers: pip install 'saub-bench[clip]'"
        ) from exc
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(model_id, local_files_only=not allow_download)
    except OSError as exc:  # absent files, and failed downloads (no network) alike
        raise ClipWeightsMissing(_missing_message(model_id, exc)) from exc
    return model.eval()


def clip_name(model_id: str) -> str:
    """``openai/clip-vit-large-patch14`` -> ``clip-vit-large-patch14``."""
    base = model_id.rstrip("/").split("/")[-1]
    return base if base.startswith("clip") else f"clip-{base}"


class ClipEmbedder(Embedder):
    """L2-normalised projected image features of a ``CLIPVisionModelWithProjection``.

    ``model``: an already built model (tests use a tiny randomly initialised config); else the
    weights of ``model_id`` are loaded from the local cache by :func:`load_clip_vision`.
    """

    metric = "cosine"

    def __init__(
        self, model_id: str = DEFAULT_MODEL, model=None, allow_download: bool = False, name: str | None = None
    ):
        self.model = model.eval() if model is not None else load_clip_vision(model_id, allow_download)
        self.model_id = model_id
        self.name = name or clip_name(model_id)
        self.image_size = int(self.model.config.image_size)

    def identity(self) -> dict:
        revision = getattr(self.model.config, "_commit_hash", None)
        if revision is None:  # a model built in memory: fingerprint its weights
            h = hashlib.sha256()
            for t in self.model.state_dict().values():
                h.update(t.detach().cpu().numpy().tobytes())
            revision = "weights:" + h.hexdigest()[:16]
        return {
            **super().identity(),
            "model_id": self.model_id,
            "revision": revision,
            "preprocess": f"bicubic short side {self.image_size}, centre crop, CLIP mean/std",
        }

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        pixels = clip_preprocess(images, self.image_size)
        return l2_normalise(self.model.to(images.device)(pixel_values=pixels).image_embeds)
