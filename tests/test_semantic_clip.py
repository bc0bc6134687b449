"""CLIP embedder: transformers' CLIP vision code with a tiny random config; CLIP's preprocessing."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from saub.semantic.clip import (  # noqa: E402
    CLIP_MEAN,
    CLIP_STD,
    ClipEmbedder,
    ClipWeightsMissing,
    center_crop,
    clip_name,
    clip_preprocess,
    resize_short_side,
)


@pytest.fixture(scope="module")
def tiny_clip():
    torch.manual_seed(0)
    cfg = transformers.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=16,
        patch_size=8,
        projection_dim=12,
    )
    return ClipEmbedder(
        "test/tiny-clip", model=transformers.CLIPVisionModelWithProjection(cfg), name="tiny-clip"
    )


def test_preprocess_of_a_constant_gray_image_is_clips_normalisation():
    # bicubic interpolation reproduces constants, so every pixel of channel k is (c - mean_k) / std_k
    out = clip_preprocess(torch.full((2, 1, 28, 28), 0.25), size=16)
    assert out.shape == (2, 3, 16, 16)
    for k in range(3):
        torch.testing.assert_close(out[:, k], torch.full((2, 16, 16), (0.25 - CLIP_MEAN[k]) / CLIP_STD[k]))


def test_preprocess_crops_the_centre_of_the_long_side():
    x = torch.rand(1, 3, 8, 12)
    assert resize_short_side(x, 8) is x  # short side already 8: no resize
    torch.testing.assert_close(center_crop(x, 8), x[..., :, 2:10])
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(clip_preprocess(x, 8), (x[..., :, 2:10] - mean) / std)


def test_resize_follows_torchvisions_size_rule():
    assert resize_short_side(torch.rand(1, 3, 10, 25), 4).shape[-2:] == (4, 10)
    assert resize_short_side(torch.rand(1, 3, 218, 178), 224).shape[-2:] == (274, 224)


def test_embeddings_are_unit_norm_and_cosine_distance_is_one_minus_similarity(tiny_clip):
    x = torch.rand(5, 1, 28, 28)
    e = tiny_clip.embed(x)
    assert e.shape == (5, 12)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5))
    raw = tiny_clip.model(pixel_values=clip_preprocess(x, 16)).image_embeds.detach().double()
    cos = torch.nn.functional.cosine_similarity(raw[:, None], raw[None], dim=2)
    from saub.semantic import cosine_distances

    torch.testing.assert_close(cosine_distances(e).double(), 1 - cos, atol=1e-6, rtol=0)


def test_identity_fingerprints_in_memory_weights(tiny_clip):
    ident = tiny_clip.identity()
    assert ident["name"] == "tiny-clip" and ident["revision"].startswith("weights:")


def test_missing_weights_name_the_files_and_how_to_get_them():
    with pytest.raises(ClipWeightsMissing) as info:
        ClipEmbedder("saub-tests/no-such-clip-model")
    text = str(info.value)
    assert "config.json" in text and "model.safetensors" in text
    assert "hf download saub-tests/no-such-clip-model" in text and "saub-bench embed" in text


def test_names():
    assert clip_name("openai/clip-vit-large-patch14") == "clip-vit-large-patch14"
    assert clip_name("laion/ViT-B-32") == "clip-ViT-B-32"
