"""CelebA and FairFace loaders on generated folders in their standard layouts, and on celeba-mini."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.data import DatasetChecksumError, DatasetMissingError
from benchmarks.data.celeba import (
    hair_domains,
    load_celeba_images,
    load_celeba_index,
    partition_from_numbers,
)
from benchmarks.data.errors import DataFormatError
from benchmarks.data.fairface import load_fairface_images, load_fairface_index
from tests.fixtures.data.helpers import real_data_dir

Image = pytest.importorskip("PIL.Image")

NAMES = ["Black_Hair", "Blond_Hair", "Male"] + [f"Attr_{i}" for i in range(37)]
#: (file, Black_Hair, Blond_Hair, Male, colour); file numbers straddle the official partition bounds.
FACES = [
    ("000001.jpg", 1, -1, -1, (10, 10, 10)),
    ("000002.jpg", -1, 1, -1, (240, 220, 100)),
    ("000003.jpg", 1, -1, 1, (20, 20, 20)),
    ("162771.jpg", -1, 1, -1, (230, 210, 90)),
    ("182638.jpg", 1, 1, -1, (128, 128, 128)),
    ("182639.jpg", 1, -1, -1, (0, 0, 200)),
]


def make_celeba(folder, partition=True):
    (folder / "img_align_celeba").mkdir(parents=True)
    lines = [str(len(FACES)), " ".join(NAMES)]
    for name, black, blond, male, colour in FACES:
        Image.new("RGB", (178, 218), colour).save(folder / "img_align_celeba" / name, quality=95)
        lines.append(f"{name} {black:2d} {blond:2d} {male:2d} " + " ".join(["-1"] * 37))
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    if partition:
        (folder / "list_eval_partition.txt").write_text(
            "".join(f"{f[0]} {p}\n" for f, p in zip(FACES, [0, 0, 0, 1, 2, 2]))
        )
    return folder


def test_celeba_index_domains_and_images(tmp_path):
    index = load_celeba_index(make_celeba(tmp_path / "faces"))
    assert (
        index.partition.tolist() == [0, 0, 0, 1, 2, 2] and index.partition_source == "list_eval_partition.txt"
    )
    dom = hair_domains(index)
    # females only; face 182638 is marked both black and blond and belongs to neither domain
    assert dom["black"].tolist() == [0, 5] and dom["blond"].tolist() == [1, 3]
    assert hair_domains(index, "test")["black"].tolist() == [5]
    x = load_celeba_images(index, [0, 1, 5], size=32)
    assert x.shape == (3, 3, 32, 32)
    means = x.mean((2, 3)) * 255
    torch.testing.assert_close(
        means, torch.tensor([[10.0, 10, 10], [240, 220, 100], [0, 0, 200]]), atol=3, rtol=0
    )


def test_partition_fallback_uses_the_official_file_numbers(tmp_path):
    index = load_celeba_index(make_celeba(tmp_path / "faces", partition=False))
    assert index.partition.tolist() == [0, 0, 0, 1, 2, 2]
    assert "file numbers" in index.partition_source
    assert partition_from_numbers(["162770.jpg", "182637.jpg", "202599.jpg"]).tolist() == [0, 1, 2]


def test_canonical_folder_is_checked_against_the_official_md5(tmp_path):
    make_celeba(tmp_path / "celeba")
    with pytest.raises(DatasetChecksumError, match="list_attr_celeba.txt"):
        load_celeba_index(root=tmp_path)


def test_missing_celeba_parts_are_named(tmp_path):
    folder = make_celeba(tmp_path / "faces")
    (folder / "list_attr_celeba.txt").unlink()
    with pytest.raises(DatasetMissingError, match="list_attr_celeba.txt"):
        load_celeba_index(folder)
    with pytest.raises(DatasetMissingError, match="img_align_celeba"):
        load_celeba_index(tmp_path / "nothing")


def test_bad_attribute_file_and_missing_images(tmp_path):
    folder = make_celeba(tmp_path / "faces")
    (folder / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(DataFormatError, match="000002.jpg"):
        load_celeba_index(folder)
    (folder / "list_attr_celeba.txt").write_text("7\nA B\n000001.jpg 1 -1\n")
    with pytest.raises(DataFormatError, match="header says 7 rows"):
        load_celeba_index(folder)


def test_celeba_mini_from_the_shared_data():
    folder = real_data_dir("celeba-mini/list_attr_celeba.txt") / "celeba-mini"
    index = load_celeba_index(folder)
    assert len(index.files) == 32 and len(index.attributes) == 40
    assert (
        int((index.column("Black_Hair") == 1).sum()) == 8
        and int((index.column("Blond_Hair") == 1).sum()) == 6
    )
    assert set(index.partition.tolist()) == {0} and "file numbers" in index.partition_source
    dom = hair_domains(index)
    male = index.column("Male")
    assert all(male[r] == -1 for r in np.concatenate([dom["black"], dom["blond"]]))
    x = load_celeba_images(index, dom["blond"], size=64)
    assert x.shape == (len(dom["blond"]), 3, 64, 64) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert x.std() > 0.1  # real faces, not blank images


def make_fairface(folder):
    rows = [
        ("train/1.jpg", "Male", (200, 0, 0)),
        ("train/2.jpg", "Female", (0, 200, 0)),
        ("train/3.jpg", "Female", (0, 0, 200)),
    ]
    (folder / "train").mkdir(parents=True)
    lines = ["file,age,gender,race,service_test"]
    for f, g, colour in rows:
        Image.new("RGB", (224, 224), colour).save(folder / f, quality=95)
        lines.append(f"{f},20-29,{g},East Asian,True")
    (folder / "fairface_label_train.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_fairface_gender_domains_and_images(tmp_path):
    index = load_fairface_index("train", make_fairface(tmp_path / "ff"))
    dom = index.gender_domains()
    assert dom["male"].tolist() == [0] and dom["female"].tolist() == [1, 2]
    assert index.columns["race"] == ["East Asian"] * 3 and "fairface_label_train.csv" in index.checksums
    x = load_fairface_images(index, dom["female"], size=16)
    torch.testing.assert_close(
        x.mean((2, 3)) * 255, torch.tensor([[0.0, 200, 0], [0, 0, 200]]), atol=3, rtol=0
    )


def test_fairface_errors(tmp_path):
    with pytest.raises(DatasetMissingError, match="fairface_label_val.csv"):
        load_fairface_index("val", tmp_path)
    folder = make_fairface(tmp_path / "ff")
    text = (folder / "fairface_label_train.csv").read_text().replace("Male", "M")
    (folder / "fairface_label_train.csv").write_text(text)
    with pytest.raises(DataFormatError, match="unknown gender"):
        load_fairface_index("train", folder)
    with pytest.raises(ValueError, match="split"):
        load_fairface_index("test", folder)
