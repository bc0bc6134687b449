"""table1-lenet: baseline strength of DANN and ADDA under the LeNet protocol (issue 4, item 5).

The public LeNet-protocol figures (REPRODUCTION.md: DANN 91.7 / 95.2, ADDA 94.5 / 98.3 % for
M→U / U→M) come from LeNet-5 feature extractors (:class:`saub.networks.LeNetBody`: conv 20, conv
50, fully connected 500) trained with the methods' own schedules on the full training sets. This
experiment runs the suite's ``dann`` and ``adda`` that way: ``encoder="lenet"``, a 500-d feature
without batch normalisation, the full MNIST / USPS training splits (USPS bilinear to 28x28, both in
[0, 1]), DANN's SGD with its λ and learning-rate schedules, ADDA's Adam source pre-training then
adversarial target encoder (half of the steps each, as ADDA's scripts: 10,000 + 10,000 iterations
of batch 128 in ``paper``). It reports each method's own classifier (the protocol those figures
use) and the post-hoc classifier of App. H.3.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.contracts import Budget
from benchmarks.experiment import Claim, Experiment, Profile, Row, register_experiment
from benchmarks.experiments.table1 import ARROW, DIRECTION, DIRECTIONS, accuracy_by, both_directions
from benchmarks.report import Page, Table
from benchmarks.stats import summarize, threshold_verdict

LENET = {"encoder": "lenet", "latent_dim": 500, "hidden": 500, "batchnorm_mean": False}
#: Public LeNet-protocol accuracies (%), M→U and U→M (REPRODUCTION.md).
REFERENCE = {"DANN": (91.7, 95.2), "ADDA": (94.5, 98.3)}
#: A baseline within this many points of its reference counts as reproduced.
TOLERANCE = 3.0
#: What separates this experiment from the public digits scripts such figures come from (the
#: Transfer-Learning-Library's ``examples/domain_adaptation/image_classification``, read for this note).
PROTOCOL_GAP = [
    "Training length: the public digits scripts run 20 epochs x 2,500 iterations of batch 128 "
    "(50,000 iterations; DANN lr 0.01 for M→U and 0.1 for U→M); this experiment runs 8,000 steps in "
    "`quick` and 20,000 in `paper`.",
    "Model selection: those scripts evaluate after every epoch on the target *test* split (their "
    "validation set is the target test set) and report the best of the 20 evaluations; this suite "
    "reports the last iterate and never looks at target labels, so its figures are lower by the "
    "selection gain as well as by the shorter run.",
    "Seeds: `quick` runs one seed per direction, so the B-claims stay inconclusive whatever the gap; "
    "`paper` runs three.",
]


def _reaches_reference(label: str):
    def one(records, direction):
        floor = (REFERENCE[label][DIRECTIONS.index(direction)] - TOLERANCE) / 100
        own = accuracy_by(records, "own_target_accuracy").get((label, direction), {})
        return threshold_verdict(list(own.values()), floor)

    return both_directions(one)


@register_experiment
class Table1LeNet(Experiment):
    name = "table1-lenet"
    title = "baseline strength: DANN and ADDA under the LeNet protocol"
    description = __doc__.split("\n\n", 1)[1]
    task = "digits"
    rows = [Row("DANN", "dann", LENET), Row("ADDA", "adda", LENET)]
    metrics = ["own-classifier-accuracy", "target-accuracy"]
    profiles = {
        "smoke": Profile(Budget(steps=20, batch_size=64), seeds=1, sweep={DIRECTION: DIRECTIONS},
                         task_kwargs={"n_source": 300, "n_target": 300, "n_test": 200}),
        "quick": Profile(Budget(steps=8000, batch_size=128), seeds=1, sweep={DIRECTION: DIRECTIONS}),
        "paper": Profile(Budget(steps=20000, batch_size=128), seeds=3, sweep={DIRECTION: DIRECTIONS}),
    }
    paper = {"reference_percent": REFERENCE}
    claim_context = {
        "B1": "seeds: the quick profile runs one seed per direction, so no interval exists and the "
              "threshold cannot be decided (paper profile: three); DANN's single runs are 0.1 and 0.7 "
              "points below the reference minus 3, with the protocol gaps listed in the notes (8,000 "
              "steps against the public scripts' 50,000; last iterate, not the best target-test epoch).",
        "B2": "seeds, as B1: ADDA's single runs are 2.7 points below the floor M→U and 2.6 above it U→M.",
    }
    claims = [
        Claim("B1", f"DANN reaches its LeNet-protocol reference within {TOLERANCE:g} points",
              _reaches_reference("DANN")),
        Claim("B2", f"ADDA reaches its LeNet-protocol reference within {TOLERANCE:g} points",
              _reaches_reference("ADDA")),
    ]

    def report(self, records: list[dict], out_dir: Path, profile: str) -> Page:
        own = accuracy_by(records, "own_target_accuracy")
        post = accuracy_by(records)
        rows = []
        for label, ref in REFERENCE.items():
            for i, direction in enumerate(DIRECTIONS):
                o = summarize(list(own.get((label, direction), {}).values()))
                p = summarize(list(post.get((label, direction), {}).values()))
                rows.append([label, ARROW[direction], f"{ref[i]:.1f}", o.fmt(1, 100), p.fmt(1, 100)])
        table = Table("Target test accuracy (%) under the LeNet protocol",
                      ["method", "direction", "public reference", "ours (own classifier)", "ours (post-hoc)"],
                      rows)
        page = Page(tables=[table])
        page.verdicts = [(c.id, c.text, *c.check(records)) for c in self.claims]
        page.notes += PROTOCOL_GAP
        return page
