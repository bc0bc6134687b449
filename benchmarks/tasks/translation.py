"""Translation pairs of §5.4 / Table 2: task ``translation-pair``.

A *draw* is ``n_per_domain`` images of each of two domains, a seeded choice without replacement
(the harness derives the task seed from the seed index, so seed indices 0..4 are Table 2's five
random draws). The model trains on the draw and translates the same images: §5.4, "the models,
trained for 1,500 epochs, translate images from a domain of 100 females with black hair to a
domain of 100 females with blonde hair and vice versa", repeated "five times with randomly selected
datasets". So ``train`` and ``test`` are the same rows, which the protocol states.

Pairs (:data:`PAIRS`):

* ``celeba-hair`` — the paper's: CelebA training-partition females with black hair (domain 0)
  and with blond hair (domain 1) (:func:`benchmarks.data.celeba.hair_domains`), 3 x 64 x 64;
  retrieval and GW-SP in CLIP ViT-L/14 (the paper's space).
* ``mnist-usps`` — a *stand-in* while CelebA and CLIP are absent: MNIST (0) and USPS (1) training
  digits exactly as the digit tasks load them (1 x 28 x 28 in [0, 1], :mod:`benchmarks.tasks.digits`);
  retrieval and GW-SP in the label-free substitute ``contrastive-digits-v1`` (not CLIP).

Each pair's semantic space is part of the pair, so every number is measured in a named space
(``protocol["semantic_space"]``). Labels: the digit pair keeps digit labels in ``y`` for metrics
only (hidden from training); CelebA rows carry none.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmarks.contracts import Split, TaskData
from benchmarks.data.digit_images import load_domain
from benchmarks.registry import register_task
from benchmarks.sampling import subsample
from benchmarks.semantic import CLIP, CONTRASTIVE, space_missing
from benchmarks.tasks.digits import data_checksums
from saub.seeding import derive_seed

#: Table 2's draw size per domain.
N_PER_DOMAIN = 100


@dataclass(frozen=True)
class TranslationPair:
    """Two domains, how the report names them, and the semantic space of retrieval and GW-SP."""

    data: str  # "celeba" or "digits"
    domains: tuple[str, str]
    arrows: tuple[str, str]  # "0 -> 1" and "1 -> 0" as the report prints them
    space: str
    stand_in: bool
    title: str

    def missing(self, root=None) -> str | None:
        """Why this pair cannot run here (its data or its semantic space is absent), or ``None``."""
        reasons = []
        if self.data == "celeba":
            from benchmarks.data.celeba import celeba_missing

            reasons.append(celeba_missing(root=root))
        reasons.append(space_missing(self.space))
        return "\n".join(str(r) for r in reasons if r) or None


PAIRS = {
    "celeba-hair": TranslationPair(
        "celeba", ("black hair", "blond hair"), ("black→blonde", "blonde→black"), CLIP, False,
        "CelebA females, black ↔ blond hair (the paper's pair)",
    ),
    "mnist-usps": TranslationPair(
        "digits", ("mnist", "usps"), ("M→U", "U→M"), CONTRASTIVE, True,
        "MNIST ↔ USPS (stand-in for CelebA, not the paper's data)",
    ),
}


def _draw(n_total: int, n: int, seed: int, role: str) -> torch.Tensor:
    if n > n_total:
        raise ValueError(f"{role}: a draw of {n} images needs at least {n} candidates, found {n_total}")
    return subsample(n_total, n, derive_seed(seed, role))


def _celeba_draw(n: int, seed: int, root) -> tuple[list[torch.Tensor], list[None], dict, dict]:
    from benchmarks.data.celeba import hair_domains, load_celeba_images, load_celeba_index

    index = load_celeba_index(root=root)
    domains = hair_domains(index, "train")
    xs = []
    for name in ("black", "blond"):
        rows = domains[name][_draw(len(domains[name]), n, seed, f"celeba-{name}").numpy()]
        xs.append(load_celeba_images(index, rows))
    facts = {"source": "CelebA training partition, females (Male = -1), black xor blond hair",
             "image_size": "3x64x64", "partition": index.partition_source,
             "preprocessing": "centre crop 148x148, bicubic resize to 64x64, [0, 1]"}
    return xs, [None, None], facts, dict(index.checksums)


def _digit_draw(n: int, seed: int, root) -> tuple[list[torch.Tensor], list[torch.Tensor], dict, dict]:
    xs, ys, datasets = [], [], []
    for name in ("mnist", "usps"):
        x, y, choice = load_domain(name, "train", root)
        rows = _draw(len(x), n, seed, f"translation-{name}")
        xs.append(x[rows])
        ys.append(y[rows])
        datasets.append(choice.dataset)
    facts = {"source": "MNIST and USPS training splits", "image_size": "1x28x28",
             "preprocessing": "as the digits task: [0, 1], USPS bilinearly upsampled 16 -> 28"}
    return xs, ys, facts, data_checksums(datasets, root)


@register_task("translation-pair")
def translation_pair(
    seed: int, pair: str = "mnist-usps", n_per_domain: int = N_PER_DOMAIN, root=None
) -> TaskData:
    """One draw of ``n_per_domain`` images per domain of ``pair``; see the module docstring."""
    if pair not in PAIRS:
        raise ValueError(f"unknown pair {pair!r}; valid pairs: {', '.join(PAIRS)}")
    spec = PAIRS[pair]
    draw = _celeba_draw if spec.data == "celeba" else _digit_draw
    xs, ys, facts, checksums = draw(n_per_domain, seed, root)
    x = torch.cat(xs)
    d = torch.cat([torch.full((len(part),), i, dtype=torch.int64) for i, part in enumerate(xs)])
    y = None if ys[0] is None else torch.cat(ys)
    split = Split(x, d, y)
    protocol = {
        "pair": pair,
        "domains": {"0": spec.domains[0], "1": spec.domains[1]},
        "stand_in": spec.stand_in,
        "semantic_space": spec.space,
        "n_per_domain": n_per_domain,
        "draw": "seeded choice without replacement per domain (one draw per seed index), file order kept",
        "train_is_test": True,
        "evaluation": "the model translates the very images it was trained on (§5.4)",
        **facts,
        "labels": "none" if y is None else "digit labels kept for metrics only, hidden during training",
        "model_selection": "last iterate",
    }
    return TaskData(name=f"translation-{pair}", train=split, test=split, input_shape=tuple(x.shape[1:]),
                    n_domains=2, n_classes=None if y is None else 10, protocol=protocol,
                    checksums=checksums)


