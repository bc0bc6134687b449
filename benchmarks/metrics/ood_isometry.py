"""Out-of-distribution detection and isometry metrics of GWAE's MNIST experiments (seed 001).

**OoD detection (Fig. 3, App. C.10).** Train on MNIST (in-distribution, ID), score ID test images
and as many OoD images, and report the AUROC of "OoD = positive" (sklearn's ``roc_auc_score``) and
the ROC curve. The anomaly score is the paper's: for GWAE the critic's Kantorovich potential at
(D(z), z), z the posterior mean (:meth:`baselines.gwae.GWAE.anomaly_score`); for a model with a
tractable prior (the VAE) the energy -log π(z) of the posterior mean.

OoD sets. The paper used Omniglot (upsampled to 10,000 images), which is not on this machine.
Substitutes, each labelled as such in every record and report:

* ``usps``: USPS test digits (bilinear 16 -> 28, as the digits tasks load them), drawn to the ID
  count (with replacement only when the ID set is larger than USPS's 2,007): a *near*-OoD set
  (another handwritten-digit collection, same classes);
* ``mnist-rot90``: the ID test digits rotated by 90°: handwriting strokes that do not form digits,
  the closest stand-in for Omniglot's unseen characters;
* ``patch-shuffled``: the ID test digits cut into a 4x4 grid of 7x7 patches, permuted per image,
  and ``uniform-noise``: U(0, 1) pixels. Both are the alternatives left commented out in the
  authors' OoD script (``clu.py``).

Every set is a fixed draw (seed from its name), identical for every row and seed of an experiment.

**Isometry (Fig. 1b, App. C.4, Fig. 4).** For pairs of generated samples (x, z), (x', z') ~ p_θ(x, z)
(z from the prior, x its decoded mean) the paper histograms ∆x = d_X(x, x') against ∆z = d_Z(z, z').
We summarise the histogram by the Pearson and Spearman correlations of (∆x, ∆z) over all pairs of
``n_generated`` samples and by the relative isometry error mean |∆x - Ĉ ∆z| / mean ∆x with the
least-squares scale Ĉ = Σ∆x∆z / Σ∆z² (all three are invariant to a global scale of either space,
so models with different latent scales compare fairly). The same three numbers on pairs of ID test
images and their posterior means measure how well the *encoder* keeps distances.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import roc_auc_score, roc_curve
from torch import Tensor

from benchmarks.contracts import TaskData, Unsupported
from benchmarks.registry import register_metric
from saub.priors.explicit import StandardGaussianPrior
from saub.seeding import derive_seed
from saub.structural import pairwise_distances

OOD_SETS = ("usps", "mnist-rot90", "patch-shuffled", "uniform-noise")
PATCH_GRID = 4
N_GENERATED = 150  # 11,175 pairs, the paper's histograms use 10,000
ROC_GRID = np.linspace(0.0, 1.0, 51)


def patch_shuffle(x: Tensor, grid: int, generator: torch.Generator) -> Tensor:
    """Cut each ``[C, S, S]`` image into ``grid x grid`` patches and permute them per image."""
    n, c, s, _ = x.shape
    if s % grid:
        raise ValueError(f"image side {s} is not divisible by the patch grid {grid}")
    p = s // grid
    patches = x.reshape(n, c, grid, p, grid, p).permute(0, 2, 4, 1, 3, 5).reshape(n, grid * grid, c, p, p)
    perm = torch.argsort(torch.rand(n, grid * grid, generator=generator), dim=1).to(x.device)
    patches = patches[torch.arange(n, device=x.device)[:, None], perm]
    return patches.reshape(n, grid, grid, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(n, c, s, s)


def ood_inputs(name: str, id_x: Tensor, root=None) -> Tensor:
    """The OoD set ``name`` (see the module docstring), as many images as ``id_x``, same shape."""
    gen = torch.Generator().manual_seed(derive_seed("ood", name))
    n = len(id_x)
    if name == "usps":
        from benchmarks.data.digit_images import load_domain

        x, _, _ = load_domain("usps", "test", root)
        rows = (torch.randint(len(x), (n,), generator=gen) if n > len(x)
                else torch.randperm(len(x), generator=gen)[:n])
        return x[rows].to(id_x.device)
    if name == "mnist-rot90":
        return torch.rot90(id_x, 1, dims=(2, 3)).contiguous()
    if name == "patch-shuffled":
        return patch_shuffle(id_x, PATCH_GRID, gen)
    if name == "uniform-noise":
        return torch.rand(id_x.shape, generator=gen).to(id_x.device)  # drawn on the host: the same anywhere
    raise ValueError(f"unknown OoD set {name!r}; valid sets: {', '.join(OOD_SETS)}")


@torch.no_grad()
def anomaly_scores(method, x: Tensor) -> Tensor:
    """Larger = more anomalous: ``method.anomaly_score`` (GWAE) or -log π(z) of the posterior mean."""
    if hasattr(method, "anomaly_score"):
        return method.anomaly_score(x)
    prior = getattr(method, "prior", None)
    if prior is None:
        raise Unsupported(f"{type(method).__name__} has neither an anomaly score nor a prior")
    z = method.encode(x, torch.zeros(len(x), dtype=torch.int64, device=x.device))
    try:
        return -prior.log_prob(z)
    except NotImplementedError as exc:
        raise Unsupported(str(exc)) from None


def ood_roc(id_scores: Tensor, ood_scores: Tensor) -> tuple[float, np.ndarray]:
    """AUROC of OoD-vs-ID and the ROC's TPR on :data:`ROC_GRID` (FPR), OoD the positive class."""
    y = np.r_[np.zeros(len(id_scores)), np.ones(len(ood_scores))]
    s = torch.cat([id_scores, ood_scores]).double().cpu().numpy()
    fpr, tpr, _ = roc_curve(y, s)
    return float(roc_auc_score(y, s)), np.interp(ROC_GRID, fpr, tpr)


@torch.no_grad()
def generated_pairs(method, n: int) -> tuple[Tensor, Tensor]:
    """n samples (x, z) ~ p_θ(x, z): ``method.generate`` (GWAE), or z ~ N(0, I) decoded by a
    VAUB-family model with the standard Gaussian prior (decoded mean: sigmoid of Bernoulli logits)."""
    if hasattr(method, "generate"):
        return method.generate(n)
    if not isinstance(getattr(method, "prior", None), StandardGaussianPrior):
        raise Unsupported(f"{type(method).__name__}: no sampler for generated pairs")
    method.model.eval()
    z = torch.randn(n, method.prior.latent_dim).to(method.device)  # drawn on the host: same numbers anywhere
    return method.decode_mean(z, torch.zeros(n, dtype=torch.int64, device=z.device)), z


def distance_agreement(x: Tensor, z: Tensor) -> dict[str, float]:
    """Pearson, Spearman and relative isometry error of (d_X, d_Z) over all pairs i < j."""
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    dx = pairwise_distances(x, x)[i, j].double().cpu().numpy()
    dz = pairwise_distances(z, z)[i, j].double().cpu().numpy()
    c_hat = float((dx * dz).sum() / max((dz * dz).sum(), 1e-300))
    return {"pearson": float(stats.pearsonr(dx, dz)[0]), "spearman": float(stats.spearmanr(dx, dz)[0]),
            "rel_error": float(np.abs(dx - c_hat * dz).mean() / dx.mean())}


@register_metric("ood-auroc")
def ood_auroc(method, task: TaskData, seed: int) -> dict:
    """AUROC of ID test images vs. each substitute OoD set (keys ``auroc_<set>``)."""
    id_x = task.test.x
    id_scores = anomaly_scores(method, id_x)
    return {f"auroc_{name}": ood_roc(id_scores, anomaly_scores(method, ood_inputs(name, id_x)))[0]
            for name in OOD_SETS}


@register_metric("isometry")
def isometry(method, task: TaskData, seed: int) -> dict:
    """Distance agreement on generated pairs (``gen_*``) and on encoded test pairs (``enc_*``)."""
    torch.manual_seed(derive_seed(seed, "isometry"))
    x, z = generated_pairs(method, N_GENERATED)
    out = {f"gen_{k}": v for k, v in distance_agreement(x, z).items()}
    xt = task.test.x[:N_GENERATED]
    zt = method.encode(xt, task.test.d[:N_GENERATED])
    out.update({f"enc_{k}": v for k, v in distance_agreement(xt, zt).items()})
    return out
