"""Each method family's harness training step beside its bare PyTorch step (:mod:`tests.perf.bare_steps`).

A :class:`StepCase` holds two independent copies (``copy.deepcopy``, optimisers included) of one
freshly built method (same initial weights): ``method_step`` drives the harness copy as its ``fit``
does (the method's own step function and batch sampler), ``bare_step`` drives the other copy with
the bare step on the same batches, drawn in advance. Both return the step's loss. ``make bench``
times them in interleaved pairs (:func:`tests.perf.timing.paired_call_times`);
``tests/perf/test_step_equality.py`` checks that, from one RNG seed, they compute the same loss
and parameters.

The data are random (uniform in [0, 1]): sizes, not values, decide a step's cost. Shapes: 784-d
vectors (a flattened 28x28 digit, so MLP encoders) in two domains for the VAUB family and domain
adaptation; 100-d vectors with a binary group and a binary label for the fair baselines (Adult
is 102-d after one-hot encoding).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from baselines.dann import source_target_batches, split_source_target
from baselines.fair_common import shuffled_batches
from benchmarks.contracts import Split
from benchmarks.methods.vaub_family import training_batches
from benchmarks.registry import METHODS
from benchmarks.sampling import balanced_batches
from tests.perf import bare_steps
from tests.perf.bare_steps import OFF, Sections

SEED = 0
BATCH = 128
ROWS_PER_DOMAIN = 512
#: Pre-drawn batches a bare step cycles through.
N_BATCHES = 64
#: Training length whose progress p = step / STEPS drives DANN's λ_p and μ_p schedules.
STEPS = 1000

#: VAUB family: name -> registry method and config overrides (784-d input, MLP networks, GW-EP, L = 10
#: prior steps per VAE step as in the paper profile; table1's β and σ_max: with the default β = 1 on
#: these random data SFS's surrogate ran away within 30 steps).
VAUB_SIZES = {"latent_dim": 16, "hidden": 256, "gw": "ep", "lambda_gw": 1.0, "prior_steps": 10,
              "beta": 0.005, "sigma_max": 0.4}
VAUB_CASES = {
    "vae-gaussian": ("vae-gaussian", {}),
    "vaub (mog)": ("vaub", {}),
    "vae-vamp": ("vae-vamp", {}),
    "vae-ebm": ("vae-ebm", {}),
    "saub (sfs)": ("saub", {}),
    "lsgm": ("lsgm", {}),
}
DA_CASES = {"dann": ("dann", {}), "adda (stage 2)": ("adda", {})}
#: GWAE on the same input, the table1 row's latent and network width.
GWAE_CASES = {"gwae (np)": ("gwae", {"latent_dim": 16, "hidden": 256})}
FAIR_CASES = {"fcrl": ("fcrl", {}), "cvib": ("cvib", {}), "laftr-dp": ("laftr-dp", {})}


@dataclass
class StepCase:
    name: str
    family: str
    registry_name: str
    overrides: dict
    method_step: Callable[[], Tensor | float]
    bare_step: Callable[[], Tensor]
    #: The harness copy's and the bare copy's modules whose state the two steps change.
    method_modules: list[nn.Module]
    bare_modules: list[nn.Module]
    #: The bare step with its parts timed into ``sections`` (VAUB family only).
    profiled_step: Callable[[Sections], Tensor] | None = None
    notes: str = ""
    info: dict = field(default_factory=dict)


def toy_split(input_dim: int, rows_per_domain: int, n_domains: int = 2, n_classes: int | None = None,
              seed: int = SEED) -> Split:
    """Random inputs in [0, 1], rows grouped by domain; labels in every row when ``n_classes``."""
    gen = torch.Generator().manual_seed(seed)
    n = rows_per_domain * n_domains
    x = torch.rand(n, input_dim, generator=gen)
    d = torch.arange(n_domains).repeat_interleave(rows_per_domain)
    y = None if n_classes is None else torch.randint(0, n_classes, (n,), generator=gen)
    return Split(x, d, y)


def _build(registry_name: str, overrides: dict, split: Split, n_domains: int, n_classes: int | None):
    entry = METHODS.get(registry_name)
    config = entry.resolve(overrides)
    torch.manual_seed(SEED)
    return entry.cls(config, split.x.shape[1:], n_domains, n_classes)


def _cycle(iterator: Iterator, n: int = N_BATCHES) -> Iterator:
    """The first ``n`` items of ``iterator``, drawn now, then repeated forever."""
    return itertools.cycle(list(itertools.islice(iterator, n)))


def vaub_case(name: str) -> StepCase:
    registry_name, extra = VAUB_CASES[name]
    overrides = {**VAUB_SIZES, **extra}
    split = toy_split(784, ROWS_PER_DOMAIN)
    method = _build(registry_name, overrides, split, 2, None)
    if method.config.prior == "vamp":  # as fit: pseudo-inputs start at real rows of each domain
        for dom in range(2):
            method.prior.initialise_from(split.x[split.d == dom], dom)
    bare = copy.deepcopy(method)
    trainer = method.make_trainer()
    batches = training_batches(split, BATCH, SEED)
    bare_trainer = bare.make_trainer()  # only for its optimisers (the same construction as fit's)
    bare_batches = _cycle((b.x, b.d) for b in training_batches(split, BATCH, SEED))
    per = BATCH // 2

    def bare_step(sections: Sections = OFF) -> Tensor:
        return bare_steps.vaub_step(bare.model, bare.prior, bare_trainer.vae_opt, bare_trainer.prior_opt,
                                    bare.config, bare_batches, per, sections)

    return StepCase(
        name, "VAUB family", registry_name, overrides,
        method_step=lambda: trainer.train_step(batches)["total"],
        bare_step=bare_step,
        method_modules=[method.model, method.prior], bare_modules=[bare.model, bare.prior],
        profiled_step=bare_step,
        info={"prior": method.config.prior, "prior_steps_L": trainer.prior_steps},
    )


def dann_case(name: str = "dann") -> StepCase:
    registry_name, overrides = DA_CASES[name]
    split = toy_split(784, ROWS_PER_DOMAIN, n_classes=10)
    method = _build(registry_name, overrides, split, 2, 10)
    bare = copy.deepcopy(method)
    xs, ys, xt = split_source_target(split)
    batches = source_target_batches(xs, ys, xt, BATCH // 2, torch.Generator().manual_seed(SEED))
    bare_batches = _cycle(source_target_batches(xs, ys, xt, BATCH // 2, torch.Generator().manual_seed(SEED)))
    counter = itertools.count()
    bare_counter = itertools.count()
    return StepCase(
        name, "domain adaptation", registry_name, overrides,
        method_step=lambda: sum(v for k, v in method.train_step(
            *next(batches), next(counter) % STEPS / STEPS).items() if k.endswith("loss")),
        bare_step=lambda: bare_steps.dann_step(bare, bare_batches, next(bare_counter) % STEPS / STEPS),
        method_modules=[method.nets], bare_modules=[bare.nets],
    )


def adda_case(name: str = "adda (stage 2)") -> StepCase:
    registry_name, overrides = DA_CASES[name]
    split = toy_split(784, ROWS_PER_DOMAIN, n_classes=10)
    method = _build(registry_name, overrides, split, 2, 10)
    method.start_adaptation()  # stage 2, the adversarial adaptation (stage 1 is a plain classifier)
    bare = copy.deepcopy(method)

    def optimisers(m):  # as ADDA.fit builds them for stage 2
        betas = (m.config.beta1, 0.999)
        return (torch.optim.Adam(m.discriminator.parameters(), lr=m.config.lr, betas=betas),
                torch.optim.Adam(m.target_encoder.parameters(), lr=m.config.lr, betas=betas))

    opt_d, opt_m = optimisers(method)
    bare_d, bare_m = optimisers(bare)
    xs, ys, xt = split_source_target(split)
    batches = source_target_batches(xs, ys, xt, BATCH // 2, torch.Generator().manual_seed(SEED))
    bare_batches = _cycle(source_target_batches(xs, ys, xt, BATCH // 2, torch.Generator().manual_seed(SEED)))

    def method_step() -> float:
        b_xs, _, b_xt = next(batches)
        return sum(method.adapt_step(b_xs, b_xt, opt_d, opt_m))

    return StepCase(
        name, "domain adaptation", registry_name, overrides, method_step=method_step,
        bare_step=lambda: bare_steps.adda_adapt_step(bare, bare_d, bare_m, bare_batches),
        method_modules=[method.nets], bare_modules=[bare.nets],
    )


FAIR_STEPS = {"fcrl": bare_steps.fcrl_step, "cvib": bare_steps.cvib_step, "laftr-dp": bare_steps.laftr_step}


def fair_case(name: str) -> StepCase:
    registry_name, overrides = FAIR_CASES[name]
    split = toy_split(100, ROWS_PER_DOMAIN, n_classes=2)
    method = _build(registry_name, overrides, split, 2, 2)
    method.nets.train()  # as fit
    bare = copy.deepcopy(method)
    y = method.training_labels(split)
    rows = shuffled_batches(len(split), BATCH, torch.Generator().manual_seed(SEED))
    bare_batches = _cycle((split.x[r], split.d[r], y[r])
                          for r in shuffled_batches(len(split), BATCH, torch.Generator().manual_seed(SEED)))

    def method_step() -> float:
        r = next(rows)
        return method.train_step(split.x[r], split.d[r], y[r])["loss"]

    modules = ["nets", "adversary"] if registry_name == "laftr-dp" else ["nets"]
    return StepCase(
        name, "fair representations", registry_name, overrides, method_step=method_step,
        bare_step=lambda: FAIR_STEPS[name](bare, bare_batches),
        method_modules=[getattr(method, m) for m in modules],
        bare_modules=[getattr(bare, m) for m in modules],
    )


def gwae_case(name: str = "gwae (np)") -> StepCase:
    registry_name, overrides = GWAE_CASES[name]
    split = toy_split(784, ROWS_PER_DOMAIN)
    method = _build(registry_name, overrides, split, 2, None)
    bare = copy.deepcopy(method)
    batches = balanced_batches(split, BATCH, torch.Generator().manual_seed(SEED))
    bare_batches = _cycle((b.x,) for b in balanced_batches(split, BATCH, torch.Generator().manual_seed(SEED)))
    return StepCase(
        name, "GWAE", registry_name, overrides,
        method_step=lambda: method.train_step(next(batches).x)["loss"],
        bare_step=lambda: bare_steps.gwae_step(bare, bare_batches),
        method_modules=[method.main, method.critic, nn.ParameterDict({"log_c": method.log_c})],
        bare_modules=[bare.main, bare.critic, nn.ParameterDict({"log_c": bare.log_c})],
    )


def build_case(name: str) -> StepCase:
    if name in VAUB_CASES:
        return vaub_case(name)
    if name == "dann":
        return dann_case(name)
    if name in DA_CASES:
        return adda_case(name)
    if name in GWAE_CASES:
        return gwae_case(name)
    return fair_case(name)


CASES = [*VAUB_CASES, *DA_CASES, *GWAE_CASES, *FAIR_CASES]
