"""table1: MNIST <-> USPS domain adaptation (§5.3, Table 1, App. H.3), both directions.

Every row trains on the ``digits`` task (source labelled, target unlabelled; protocol in
:mod:`benchmarks.tasks.digits`) with the same encoder architecture (:func:`saub.networks.make_encoder`
for 1x28x28: the CNN of :class:`saub.networks.ConvBody`, feature width 256, latent 64) and is
scored by the same post-hoc classifier (App. H.3, :mod:`benchmarks.metrics.domain_adaptation`).
Each cell also computes Fig. 6's limited-label curve (``label-fraction-accuracy``), so fig6 and
fig14 are views of these cells (:mod:`benchmarks.experiments.fig6`, :mod:`benchmarks.experiments.fig14`).

VAUB-family settings are the authors' public MNIST <-> USPS configuration (REPRODUCTION.md):
β = 0.005, σ in [0.01, 0.4] (100 levels), 10 score-model updates per VAE update, Adam lr 1e-4 for
the score model. Choices of ours, stated in every report: one encoder/decoder for both domains
(:data:`SHARED`), the VAE learning rate (:data:`VAE_LR`; the authors' 2e-5 is tuned for their
GPU run length, a quick CPU budget of a few thousand steps does not move the encoder far enough
at that rate) and λ_GW of GW-EP
(:data:`LAMBDA_GW_EP`; the public λ_GW = 1e-4 belongs to GW-SP's cosine distances and the
authors' loss scaling, which the paper does not give).

GW-SP (eq. 12-13 with d_X = 1 − cosine similarity in a semantic space, §3.3): the paper's space is
CLIP ViT-L/14, whose weights are not on this machine; the row uses the suite's label-free SimCLR
substitute :data:`SP_SPACE` (``contrastive-digits-v1``, :mod:`saub.semantic.contrastive`) with every
other setting of the GW-EP row (λ_GW included), and every report names the space beside its number.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.contracts import Budget, TaskData, Unsupported
from benchmarks.experiment import Claim, Experiment, Profile, Row, register_experiment, rounded
from benchmarks.regime_report import NOT_RECORDED, flags_by_group
from benchmarks.report import Page, Table
from benchmarks.results_table import first_by, values_by
from benchmarks.search import Search, selection_note
from benchmarks.semantic import CONTRASTIVE, describe_space
from benchmarks.stats import combine_verdicts, paired_difference_verdict, summarize
from saub.seeding import derive_seed

DIRECTION = "task.direction"
DIRECTIONS = ("mnist-usps", "usps-mnist")
ARROW = {"mnist-usps": "M→U", "usps-mnist": "U→M"}
#: The encoder every row shares.
ENCODER = {"latent_dim": 64, "hidden": 256}
VAE_LR = 2e-4
#: One encoder/decoder for both domains with a learned domain embedding (as DANN shares its
#: feature extractor); separate per-domain networks leave the class correspondence unconstrained.
SHARED = True
LAMBDA_GW_EP = 10.0
#: Eval-mode normalisation of the posterior mean (App. C's BatchNorm): each domain by its own
#: population statistics. Training batches hold one domain, so BatchNorm normalised each domain by
#: its own statistics; its running averages mix the two domains and would misalign them at test time
#: (measured: eval reconstruction error 0.099 with running averages vs 0.003 with batch statistics).
EVAL_NORM = "domain"
#: GW-SP's semantic space: the label-free substitute (CLIP's weights are absent here).
SP_SPACE = CONTRASTIVE
#: VAUB-family settings; ``prior_steps`` (L of Alg. 1) comes from the profile (10 in ``paper``).
VAUB_DIGITS = {
    **ENCODER,
    "beta": 0.005,
    "sigma_min": 0.01,
    "sigma_max": 0.4,
    "n_levels": 100,
    "lr": VAE_LR,
    "prior_lr": 1e-4,
    "gw_block_size": 128,
    "shared_networks": SHARED,
    "eval_norm": EVAL_NORM,
}
#: The extra GWAE row (seed 001, not in the paper's Table 1): both domains pooled into one model with
#: the neural prior, the table's encoder size, a sigmoid decoder mean (pixels in [0, 1]) and GWAE's
#: own defaults otherwise (λ_W = λ_D = 1, RMSProp 1e-4, critic 5e-5; :class:`baselines.gwae.GWAEConfig`)
#: except λ_H: 0.06, the authors' code default for a 64-d latent (settings/gwae.yaml of
#: github.com/ganmodokix/gwae, ``coef_qentropy: 0.03`` on -Σ log σ² = -2 R_H + const), not the
#: paper's MNIST value 1 (a 16-d latent, used in gwae-mnist). With λ_H = 1 and this 64-d latent the
#: entropy reward ran away (R_H 90 -> 389 nats in 100 steps, critic gap 0 -> 52) and the post-hoc
#: classifier stayed at chance (quick, M→U, seeds 0 and 1: source train 0.116 / 0.166, target 0.136
#: / 0.092); with 0.06, R_H peaks near 250 and falls, the gap stays below 5 (150-step probe).
#: ``critic_steps`` comes from the profile (5 in ``paper``, the authors' code).
GWAE_DIGITS = {**ENCODER, "prior": "np", "decoder_output": "sigmoid", "lambda_h": 0.06}
#: The extra row "SAUB (authors' code)": SAUB configured as the authors' public MNIST <-> USPS code
#: (REPRODUCTION.md, "Implementation facts"), on this table's encoder architecture, data and budget:
#: one network pair per domain from one initialisation, log-variance within ±3.5, latent 100; their
#: mean-reduced losses (MSE over the D = 784 pixels, latent terms over the K = 100 entries and both
#: domains) weigh the matching terms D / (2K) = 3.92 per unit of summed squared error, which this
#: suite's eq. 6 writes as 2σ²β: β = 1, σ = 1.4; the score evaluated at noise level 30 of 100 on
#: unperturbed z with −0.05 z added, a 400-wide LayerNorm score MLP, one DSM step per VAE step (their
#: default; some runs use 10); AdamW, weight decay 0.01, lr 1e-4 (VAEs) and 1e-3 (score); GW-SP with
#: cosine distances in blocks of 256 and λ_GW = 0.03 on their loss scale, i.e. 0.03 × 2K = 6 on this
#: suite's (CLIP is absent: the substitute space, as the GW-SP row). Not searched: its configuration
#: is the authors'. Their batch (4096) and model selection on target labels are not copied.
AUTHORS_CODE = {
    **ENCODER, "latent_dim": 100, "shared_networks": False, "same_init": True, "logvar_bound": 3.5,
    "eval_norm": EVAL_NORM, "beta": 1.0, "obs_std": 1.4, "sigma_min": 0.01, "sigma_max": 0.4,
    "n_levels": 100, "sfs_level": 30, "sfs_perturb": False, "sfs_shrink": 0.05, "score_hidden": 400,
    "score_layernorm": True, "prior_steps": 1, "optimizer": "adamw", "weight_decay": 0.01, "lr": 1e-4,
    "prior_lr": 1e-3, "gw": "sp", "semantic": SP_SPACE, "gw_metric": "cosine", "lambda_gw": 6.0,
    "gw_block_size": 256,
}
AUTHORS_ROW = "SAUB (authors' code)"
ROWS = [
    Row("ADDA", "adda", ENCODER),
    Row("DANN", "dann", ENCODER),
    Row("VAUB", "vaub", {**VAUB_DIGITS, "gw": "none"}),
    Row("SAUB w/o GW", "saub", {**VAUB_DIGITS, "gw": "none"}),
    Row("SAUB GW-EP", "saub", {**VAUB_DIGITS, "gw": "ep", "lambda_gw": LAMBDA_GW_EP}),
    Row(
        "SAUB GW-SP",
        "saub",
        {**VAUB_DIGITS, "gw": "sp", "semantic": SP_SPACE, "gw_metric": "cosine", "lambda_gw": LAMBDA_GW_EP},
    ),
    Row("GWAE (NP)", "gwae", GWAE_DIGITS),
    Row(AUTHORS_ROW, "saub", AUTHORS_CODE),
]
#: Table 1 of the paper, accuracy (%) M→U and U→M (rows absent here are this suite's extras).
PAPER = {
    "ADDA": (89.4, 90.1),
    "DANN": (77.1, 73.0),
    "VAUB": (40.7, 45.3),
    "SAUB w/o GW": (88.1, 85.54),
    "SAUB GW-EP": (91.4, 92.7),
    "SAUB GW-SP": (96.1, 97.4),
}
QUICK_STEPS = 1000
#: Source test images kept per record for the translation figure (fig14).
N_TRANSLATIONS = 16
#: Test rows per domain whose latents are kept (seed 0) for fig6's UMAP figures.
N_UMAP = 300


def row_display(label: str) -> str:
    """A row label as reports print it: a GW-SP row names its semantic space (never passed off as CLIP)."""
    row = next((r for r in ROWS if r.label == label), None)
    space = row.overrides.get("semantic") if row and row.overrides.get("gw") == "sp" else None
    return f"{label} ({describe_space(space)})" if space else label


def accuracy_by(records: list[dict], key: str = "target_accuracy") -> dict[tuple[str, str], dict[int, float]]:
    """(row label, direction) -> {seed index: metric}."""
    return values_by(records, key, DIRECTION)


def both_directions(verdict_for):
    """A claim check from ``verdict_for(records, direction) -> (verdict, evidence)``: supported
    only if supported in both directions (a direction without runs is inconclusive)."""

    def check(records):
        parts = [verdict_for(records, direction) for direction in DIRECTIONS]
        evidence = "; ".join(f"{ARROW[d]}: {v} ({e})" for d, (v, e) in zip(DIRECTIONS, parts))
        return combine_verdicts([v for v, _ in parts]), evidence

    return check


def _ordering_claim(better: str, worse: str):
    """"better > worse in both directions", paired over seeds."""

    def one(records, direction):
        by = accuracy_by(records)
        if (better, direction) not in by or (worse, direction) not in by:
            return "inconclusive", "no runs of both rows"
        return paired_difference_verdict(by[(better, direction)], by[(worse, direction)])

    return both_directions(one)


def _beats_baselines(row: str):
    def check(records):
        parts = [_ordering_claim(row, base)(records) for base in ("ADDA", "DANN")]
        evidence = "; ".join(f"vs {b}: {e}" for b, (_, e) in zip(("ADDA", "DANN"), parts))
        return combine_verdicts([v for v, _ in parts]), evidence

    return check


def umap_2d(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D UMAP of latents (umap-learn defaults: 15 neighbours, min_dist 0.1, Euclidean)."""
    import umap

    return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(z)


@register_experiment
class Table1(Experiment):
    name = "table1"
    title = "MNIST ↔ USPS domain adaptation (§5.3, Table 1, App. H.3)"
    description = """
Source labelled, target unlabelled (target training labels never enter the task). Every row uses
the same encoder (CNN, feature width 256, latent 64); after training, one post-hoc classifier
(2 linear layers with a ReLU, width 100, App. H.3) is trained on the source training latents
and scored on the target test split. Model selection: last iterate, no target labels.
Each row runs the configuration `table1-search` selected for it without target labels where a
selection is committed (results/selected/; the Notes say so and the search page lists them); the
settings below are each row's own configuration, the search's trial 0. VAUB-family rows:
β = 0.005, σ ∈ [0.01, 0.4] (100 levels), score lr 1e-4 (the authors' public configuration), score
updates per VAE update 10 in the paper profile (5 quick, 2 smoke); one
encoder/decoder shared by both domains with a domain embedding, evaluated with each domain's own
BatchNorm statistics (as in training); VAE lr 2e-4 and λ_GW(EP) = 10
are this suite's choices (see the notes). GW-SP: CLIP's weights are absent, so its semantic space is
the suite's label-free SimCLR substitute `contrastive-digits-v1` (not CLIP), cosine distance,
otherwise the GW-EP row's settings (λ_GW = 10). Extra row, not in the paper: GWAE (seed 001) with
the neural prior, both domains pooled into one model, GWAE's own defaults (λ_W = λ_D = 1, RMSProp
1e-4, critic 5e-5) with the authors' code's λ_H = 0.06 for a 64-d latent (the paper's MNIST λ_H = 1
made the entropy run away here), critic updates per step 5 in the paper profile (2 quick, 1 smoke).
Quick profile: 10,000 source and 10,000 target training rows (USPS has 7,291: all of them), full
test splits, 1,000 steps of batch 128 for every row.
"""
    task = "digits"
    rows = ROWS
    metrics = ["target-accuracy", "own-classifier-accuracy", "label-fraction-accuracy"]
    diagnostics = True
    checkpoint_metrics = ["target-accuracy"]
    headline = "target_accuracy"
    #: `saub-bench search table1`: the same number of trials for every row, selected by source-validation
    #: accuracy among aligned trials (benchmarks.search). The quick search budget (300 steps) is 30% of
    #: the quick training budget; the learning curves of the selected runs show whether it was enough.
    search = Search(
        trials={"smoke": 2, "quick": 8, "paper": 20},
        profiles={
            "smoke": Profile(Budget(steps=20, batch_size=64), seeds=1),
            "quick": Profile(Budget(steps=300, batch_size=128), seeds=1),
            "paper": Profile(Budget(steps=5000, batch_size=256), seeds=1),
        },
        metrics=("target-accuracy",),
        fixed=(AUTHORS_ROW,),
    )
    profiles = {
        "smoke": Profile(
            Budget(steps=40, batch_size=64),
            seeds=1,
            sweep={DIRECTION: DIRECTIONS},
            task_kwargs={"n_source": 400, "n_target": 400, "n_test": 200},
            method_overrides={"prior_steps": 2, "critic_steps": 1},
        ),
        "quick": Profile(
            Budget(steps=QUICK_STEPS, batch_size=128),
            seeds=5,
            sweep={DIRECTION: DIRECTIONS},
            task_kwargs={"n_source": 10000, "n_target": 10000, "n_test": None},
            method_overrides={"prior_steps": 5, "critic_steps": 2},
        ),
        "paper": Profile(
            Budget(steps=30000, batch_size=256),
            seeds=5,
            sweep={DIRECTION: DIRECTIONS},
            method_overrides={"prior_steps": 10, "critic_steps": 5},
        ),
    }
    paper = {"accuracy_percent": PAPER}
    #: The regime of the selected configurations (this page's regime table, table1-search's trials).
    _UNALIGNED = ("regime: no VAUB-family trial aligns the domains (MLP probe balanced accuracy ≥ 0.97 in "
                  "every table1-search trial), so the label-free rule picks by source-validation accuracy: "
                  "configurations whose matching terms carry < 1 % of the loss (regime table); ")
    claim_context = {
        "C1": _UNALIGNED + "with unmatched domains the GW term has nothing to preserve, and even the target "
                           "oracle over 8 trials stays at or below 59 % for every VAUB-family row.",
        "C2": _UNALIGNED + "both rows are then near-identical autoencoders whose priors barely enter the "
                           "loss.",
        "C3": _UNALIGNED + "besides, GW-SP's semantic space is the contrastive-digits-v1 substitute, not "
                           "CLIP.",
        "C4": _UNALIGNED + "ADDA and DANN, also unaligned by the probe, keep 70-80 % from their source "
                           "classifier; the VAUB-family oracle (≤ 59 %) is below them too, so the gap is not "
                           "only a selection effect at this budget.",
        "C5": _UNALIGNED + "ADDA and DANN keep 70-80 %; the VAUB-family oracle (≤ 59 %) is below them too.",
    }
    claims = [
        Claim("C1", "GW-EP > w/o GW in both directions", _ordering_claim("SAUB GW-EP", "SAUB w/o GW")),
        Claim("C2", "w/o GW > VAUB in both directions", _ordering_claim("SAUB w/o GW", "VAUB")),
        Claim(
            "C3",
            f"GW-SP > GW-EP in both directions (our GW-SP: {describe_space(SP_SPACE)})",
            _ordering_claim("SAUB GW-SP", "SAUB GW-EP"),
        ),
        Claim(
            "C4",
            f"SAUB GW-SP beats ADDA and DANN in both directions (our GW-SP: {describe_space(SP_SPACE)})",
            _beats_baselines("SAUB GW-SP"),
        ),
        Claim(
            "C5",
            "SAUB GW-EP beats ADDA and DANN in both directions (Table 1's numbers imply it)",
            _beats_baselines("SAUB GW-EP"),
        ),
    ]

    def artifacts(self, method, task: TaskData) -> dict:
        """Test latents for fig6's UMAP (embedded at report time) and translations for fig14."""
        test = task.test
        gen = torch.Generator().manual_seed(derive_seed(task.name, "artifacts"))
        rows = torch.cat([torch.nonzero(test.d == dom).flatten()[:N_UMAP] for dom in (0, 1)])
        out = {
            "latents": rounded(method.encode(test.x[rows], test.d[rows]), 2),
            "latents_d": test.d[rows].tolist(),
            "latents_y": test.y[rows].tolist(),
        }
        src = torch.nonzero(test.d == 0).flatten()
        pick = src[torch.randperm(len(src), generator=gen)[:N_TRANSLATIONS]]
        try:
            out["translation"] = rounded(method.translate(test.x[pick], 0, 1), 3)
            out["translation_input"] = rounded(test.x[pick], 3)
        except Unsupported:
            pass
        return out

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        by = accuracy_by(records)
        own = accuracy_by(records, "own_target_accuracy")
        regime = flags_by_group(records, self.headline)
        rows = []
        for lab in [row.label for row in ROWS]:
            cells = [row_display(lab)]
            for i, direction in enumerate(DIRECTIONS):
                s = summarize(list(by.get((lab, direction), {}).values()))
                o = summarize(list(own.get((lab, direction), {}).values()))
                ours = s.fmt(1, 100) if s.n else "not run"
                paper = f"{PAPER[lab][i]:.1f}" if lab in PAPER else "—"
                flags = regime.get((lab, json.dumps({DIRECTION: direction}, sort_keys=True)), "—")
                flags = "not recorded" if flags == NOT_RECORDED else flags
                cells += [paper, ours, s.fmt_ci(1, 100), o.fmt(1, 100), flags]
            rows.append(cells)
        head = []
        for direction in DIRECTIONS:
            a = ARROW[direction]
            head += [f"{a} paper", f"{a} ours", f"{a} 95% CI", f"{a} own classifier", f"{a} regime"]
        table = Table(
            "Target test accuracy (%), post-hoc classifier of App. H.3, mean ± std over seeds",
            ["method", *head],
            rows,
            note="'own classifier': the method's own label predictor (DANN's G_y, ADDA's source "
            "classifier on the target encoder), for reference; the paper's protocol is the "
            "post-hoc column. The paper's GW-SP numbers are CLIP ViT-L/14's; ours are the label-free "
            f"substitute's ({SP_SPACE}), a different semantic space.",
        )
        page = Page(tables=[table, self._protocol_table(records)])
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        page.notes += [
            selection_note(self, profile),
            "The paper's ADDA (89.4 / 90.1) and DANN (77.1 / 73.0) entries equal the numbers of the ADDA "
            "paper (Tzeng et al. 2017, Table 2, LeNet encoder, 2,000 MNIST / 1,800 USPS images); our rows "
            "retrain both on this table's encoder and data. The baseline-strength run under the LeNet "
            "protocol is the experiment `table1-lenet`.",
            f"VAE learning rate {VAE_LR:g} (authors: 2e-5) and λ_GW = {LAMBDA_GW_EP:g} for GW-EP are this "
            "suite's choices, made before seeing any target accuracy.",
            f"GW-SP shares λ_GW = {LAMBDA_GW_EP:g} with GW-EP (the authors' 1e-4 goes with a loss scaling "
            "the paper does not give). Its d_X, 1 − cosine in [0, 2], is on another scale than d_Z (latent "
            "distances near √(2·64) ≈ 11 after the batch-normalised mean): in the smoke runs its GW term "
            "was about 10× GW-EP's (≈ 250 vs ≈ 30 per batch), still about 1% of L_VAUB / β.",
            "Eval mode of the VAUB-family rows normalises each domain's posterior mean by that domain's "
            "statistics over its training images (`eval_norm=domain`): training batches hold one domain, "
            "so App. C's BatchNorm normalised each domain by its own statistics, while its running "
            "averages mix the domains of the shared encoder. An earlier quick run with the running "
            "averages was discarded (not a tuning choice: it evaluated a different normalisation than "
            "the one trained).",
        ]
        return page

    def _protocol_table(self, records: list[dict]) -> Table:
        """Sizes, normalisation and model selection as the records state them."""
        seen: dict[str, dict] = {}
        for (_, direction), p in first_by(records, "protocol", DIRECTION).items():
            seen.setdefault(direction, p)
        rows = []
        for direction, p in sorted(seen.items()):
            rows.append(
                [
                    ARROW[direction],
                    f"{p.get('n_train', {}).get('source')} / {p.get('n_train', {}).get('target')}",
                    f"{p.get('n_test', {}).get('target')}",
                    p.get("image_size"),
                    p.get("normalisation"),
                    p.get("model_selection"),
                ]
            )
        return Table(
            "Protocol (from the records)",
            ["direction", "train source / target", "target test", "size", "normalisation", "model selection"],
            rows,
        )


class Table1View(Experiment):
    """An experiment whose cells are table1's (fig6, fig14): running it runs or reuses those
    cells, and its report reads their records under ``results/table1/<profile>``."""

    task = Table1.task
    rows = Table1.rows
    metrics = Table1.metrics
    profiles = Table1.profiles
    diagnostics = Table1.diagnostics
    checkpoint_metrics = Table1.checkpoint_metrics
    headline = Table1.headline

    def cells(self, profile: str, seeds=None):
        return Table1().cells(profile, seeds)
