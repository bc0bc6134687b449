"""The datasets the suite knows: their files, canonical URLs and checksums, and the cache layout.

Files live at ``<cache>/<subdir>/<filename>``, where ``<cache>`` is ``$SAUB_DATA`` (default
``~/.cache/saub``) and ``<subdir>`` is the dataset's folder (``mnist/``, ``fashion-mnist/``,
``usps/``, ``adult/``, ``german/``, ...), the layout of the project's shared data folder.

Checksums. A file is verified by SHA-256 whenever its SHA-256 is known, else by the MD5 its
canonical source publishes:

* ``mnist.pkl.gz``, ``usps.h5``, ``adult.*``, ``german.data``: SHA-256 from the shared data
  folder's README, re-computed with ``sha256sum`` on those files (all match).
* ``usps.t.bz2``: its MD5 equals torchvision's (``8ea070ee…``); the SHA-256 recorded here was
  computed from that same file.
* CelebA's annotation files and image zip: MD5 only, as torchvision publishes them.
* ``3dshapes.h5``: the SHA-256 (and size, 267,573,662 bytes) that TensorFlow Datasets lists for
  its URL (``shapes3d/checksums.tsv``); the MD5 is the one the GWAE authors' toolkit (vaetc) and
  disent check. No copy was at hand to confirm either.
* MNIST's four IDX files and LIBSVM's ``usps.bz2``: MD5 only, as torchvision publishes them; no
  copy was at hand to compute a SHA-256. (TensorFlow Datasets lists SHA-256s for the IDX files
  of the ``storage.googleapis.com/cvdf-datasets`` mirror; unconfirmed here, so not used.)
* Fashion-MNIST's four IDX files (same names as MNIST's, in ``fashion-mnist/``): MD5 only, as
  torchvision's ``FashionMNIST.resources`` publishes them with its one mirror (Zalando's S3
  site); the GitHub copy in the ``zalandoresearch/fashion-mnist`` repository is tried second.
  No copy was at hand to compute a SHA-256.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data.errors import UnknownDatasetError

DEFAULT_CACHE = "~/.cache/saub"
CACHE_ENV = "SAUB_DATA"


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset. ``urls`` are tried in order; empty means manual download only."""

    filename: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    md5: str | None = None
    description: str = ""

    def __post_init__(self):
        if self.sha256 is None and self.md5 is None:
            raise ValueError(f"{self.filename}: a file needs a SHA-256 or an MD5")

    @property
    def algorithm(self) -> str:
        """The hash used to verify the file: ``sha256`` if known, else ``md5``."""
        return "sha256" if self.sha256 else "md5"

    @property
    def expected(self) -> str:
        return (self.sha256 or self.md5).lower()

    @property
    def known_hash(self) -> str:
        """Pooch's ``known_hash`` string, e.g. ``"sha256:f11b…"``."""
        return f"{self.algorithm}:{self.expected}"


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: a cache sub-folder and its files."""

    name: str
    subdir: str
    files: tuple[FileSpec, ...]
    description: str = ""
    homepage: str = ""
    notes: str = field(default="", repr=False)

    def file(self, filename: str) -> FileSpec:
        for spec in self.files:
            if spec.filename == filename:
                return spec
        names = ", ".join(f.filename for f in self.files)
        raise UnknownDatasetError(f"dataset {self.name!r} has no file {filename!r} (files: {names})")

    @property
    def filenames(self) -> tuple[str, ...]:
        return tuple(f.filename for f in self.files)


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's first mirror
    "http://yann.lecun.com/exdb/mnist/",  # the original
)
_FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # torchvision's (only) mirror
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",  # the repo's copy
)
_LIBSVM = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases/"


#: The four files of an MNIST-style IDX dataset, in the order :func:`_idx_dataset` takes their MD5s.
IDX_FILES = (
    ("train-images-idx3-ubyte.gz", "60,000 images"),
    ("train-labels-idx1-ubyte.gz", "60,000 labels"),
    ("t10k-images-idx3-ubyte.gz", "10,000 images"),
    ("t10k-labels-idx1-ubyte.gz", "10,000 labels"),
)


def _idx_dataset(name: str, subdir: str, mirrors: tuple[str, ...], md5s: tuple[str, str, str, str],
                 description: str, homepage: str) -> DatasetSpec:
    """An MNIST-style dataset: the four :data:`IDX_FILES`, each at every mirror, with its MD5."""
    files = tuple(FileSpec(filename, tuple(m + filename for m in mirrors), md5=md5, description=what)
                  for (filename, what), md5 in zip(IDX_FILES, md5s, strict=True))
    return DatasetSpec(name, subdir, files, description, homepage)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "mnist-pickle", "mnist",
            (FileSpec(
                "mnist.pkl.gz",
                ("https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz",
                 "http://deeplearning.net/data/mnist/mnist.pkl.gz"),
                sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
                description="gzip pickle (train 50k, valid 10k, test 10k), pixels k/256",
            ),),
            "MNIST, the classic pickled split (50,000 / 10,000 / 10,000)",
            "http://deeplearning.net/tutorial/gettingstarted.html",
        ),
        _idx_dataset(
            "mnist-idx", "mnist", _MNIST_MIRRORS,
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
            "MNIST in LeCun's IDX format (60,000 train / 10,000 test); MD5s as torchvision publishes",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        _idx_dataset(
            "fashion-mnist-idx", "fashion-mnist", _FASHION_MNIST_MIRRORS,
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
            "Fashion-MNIST (Zalando) in IDX format (60,000 train / 10,000 test); MD5s as torchvision "
            "publishes",
            "https://github.com/zalandoresearch/fashion-mnist",
        ),
        DatasetSpec(
            "usps-libsvm", "usps",
            (
                FileSpec("usps.bz2", (_LIBSVM + "usps.bz2",), md5="ec16c51db3855ca6c91edd34d0e9b197",
                         description="7,291 train digits, labels 1-10, values in [-1, 1]"),
                FileSpec("usps.t.bz2", (_LIBSVM + "usps.t.bz2",),
                         sha256="a9c0164e797d60142a50604917f0baa604f326e9a689698763793fa5d12ffc4e",
                         md5="8ea070ee2aca1ac39742fdd1ef5ed118",
                         description="2,007 test digits, labels 1-10, values in [-1, 1]"),
            ),
            "USPS digits from the LIBSVM datasets page (bzip2 LIBSVM text)",
            "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps",
        ),
        DatasetSpec(
            "usps-h5", "usps",
            (FileSpec("usps.h5", (),
                      sha256="734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",
                      description="HDF5: train/data [7291,256], test/data [2007,256] in [0,1], */target"),),
            "USPS as one HDF5 file (the Kaggle 'usps-dataset' copy of the ESL zip-code data)",
            "https://www.kaggle.com/datasets/bistaumanga/usps-dataset",
            notes="Kaggle needs an account, so there is no direct download URL.",
        ),
        DatasetSpec(
            "adult", "adult",
            (
                FileSpec("adult.data", (_UCI + "adult/adult.data",),
                         sha256="5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
                         description="32,561 training rows"),
                FileSpec("adult.test", (_UCI + "adult/adult.test",),
                         sha256="a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
                         description="16,281 test rows; first line is a comment"),
                FileSpec("adult.names", (_UCI + "adult/adult.names",),
                         sha256="c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a",
                         description="column descriptions"),
            ),
            "UCI Adult (census income)",
            "https://archive.ics.uci.edu/dataset/2/adult",
        ),
        DatasetSpec(
            "german", "german",
            (FileSpec("german.data", (_UCI + "statlog/german/german.data",),
                      sha256="b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
                      description="1,000 rows, 20 coded attributes, label 1 good / 2 bad"),),
            "UCI Statlog German credit",
            "https://archive.ics.uci.edu/dataset/144/statlog+german+credit+data",
        ),
        DatasetSpec(
            "celeba", "celeba",
            (
                FileSpec("list_attr_celeba.txt", md5="75e246fa4810816ffd6ee81facbd244c",
                         description="40 binary attributes of the 202,599 faces"),
                FileSpec("list_eval_partition.txt", md5="d32c9cbf5e040fd4025c592c306e6668",
                         description="official train / valid / test partition"),
                FileSpec("img_align_celeba.zip", md5="00d2c5bc6d35e252742224ab0c1e8fcb",
                         description="aligned 178x218 JPEGs; unzip into img_align_celeba/"),
            ),
            "CelebA aligned faces and attributes (non-commercial research use); MD5s as torchvision "
            "publishes",
            "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
            notes="Hosted on Google Drive / Baidu: no direct download URL.",
        ),
        DatasetSpec(
            "shapes3d", "shapes3d",
            (FileSpec("3dshapes.h5", ("https://storage.googleapis.com/3d-shapes/3dshapes.h5",),
                      sha256="0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785",
                      md5="099a2078d58cec4daad0702c55d06868",
                      description="HDF5: images uint8 [480000,64,64,3], labels float64 [480000,6]"),),
            "3D Shapes (Burgess & Kim 2018): 480,000 renderings, every combination of 6 factors once",
            "https://github.com/deepmind/3d-shapes",
        ),
    )
}


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset ``name``; the error lists the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """The data cache: ``root`` if given, else ``$SAUB_DATA``, else ``~/.cache/saub`` (absolute)."""
    chosen = root if root is not None else (os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    return Path(chosen).expanduser().absolute()


def cache_note(root: str | os.PathLike | None = None) -> str:
    """One line saying where the cache folder came from, for error messages."""
    if root is not None:
        return f"(data cache: {cache_dir(root)})"
    if os.environ.get(CACHE_ENV):
        return f"(data cache: {cache_dir()}, from ${CACHE_ENV})"
    return f"(data cache: {cache_dir()}, the default; set ${CACHE_ENV} to use another folder)"


def file_path(dataset: str, filename: str, root: str | os.PathLike | None = None) -> Path:
    """Where ``filename`` of ``dataset`` lives in the cache (whether or not it is there)."""
    spec = get_dataset(dataset)
    spec.file(filename)
    return cache_dir(root) / spec.subdir / filename
