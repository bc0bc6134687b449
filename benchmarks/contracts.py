"""The contracts between tasks, methods and metrics (see DESIGN.md, "Contracts").

A task hands a method a :class:`TaskData`: train and test :class:`Split` s of inputs ``x``,
domain index ``d``, labels ``y`` where the task has them (hidden from unsupervised methods by
the harness), and, for GW-SP, semantic embeddings ``emb``. A method implements
``fit(train, budget, seed)`` and ``encode(x, d)``; the optional capabilities ``reconstruct``,
``translate`` and ``predict`` raise :class:`Unsupported` when absent, and metrics then report
"n/a" instead of crashing.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmarks.config import resolve_config
from benchmarks.registry import METHODS


class Unsupported(NotImplementedError):
    """A method lacks an optional capability (reconstruct, translate, predict)."""


@dataclass
class Split:
    """One split of a multi-domain dataset (rows aligned across fields)."""

    x: Tensor
    d: Tensor
    #: Labels ``[N]``, or factors of variation ``[N, V]`` where a task has those (``shapes3d``).
    y: Tensor | None = None
    emb: Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, rows: Tensor) -> Split:
        pick = lambda t: None if t is None else t[rows]  # noqa: E731
        return Split(self.x[rows], self.d[rows], pick(self.y), pick(self.emb))

    def without_labels(self) -> Split:
        return dataclasses.replace(self, y=None)

    def to(self, device: torch.device) -> Split:
        """The split with every field on ``device``."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Split(move(self.x), move(self.d), move(self.y), move(self.emb))


@dataclass
class TaskData:
    """A task instance: splits plus what a method must know of the data's shape."""

    name: str
    train: Split
    test: Split
    input_shape: tuple[int, ...]
    n_domains: int
    n_classes: int | None = None
    #: Protocol facts written into every record and report (sizes, normalisation, ...).
    protocol: dict[str, Any] = field(default_factory=dict)
    #: SHA-256 of every data file used (provenance).
    checksums: dict[str, str] = field(default_factory=dict)

    def to(self, device: torch.device) -> TaskData:
        """The task with both splits on ``device`` (tasks are built on the CPU)."""
        return dataclasses.replace(self, train=self.train.to(device), test=self.test.to(device))


@dataclass(frozen=True)
class Budget:
    """Training length, from the experiment's profile (never from a method)."""

    steps: int
    batch_size: int = 128
    progress: bool = False
    eval_every: int = 0

    def __post_init__(self) -> None:
        """A budget that cannot train is refused where it is declared, before anything runs."""
        from benchmarks.config import ConfigError

        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Budget.{name} must be a positive integer, got {value!r}")
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ConfigError(f"Budget.eval_every must be a non-negative integer, got {self.eval_every!r}")


class Method(ABC):
    """Base class of every registered method.

    Subclasses set ``config_class`` (a dataclass of hyper-parameters) and implement
    :meth:`fit` and :meth:`encode`.
    """

    config_class: ClassVar[type]

    @classmethod
    def search_space(cls, config) -> dict[str, Any]:
        """The knobs a hyper-parameter search draws for a row with this resolved ``config``: option
        name -> :class:`benchmarks.search.LogUniform` | ``Uniform`` | ``Choice``. Default: none."""
        return {}

    def __init__(self, config, input_shape: tuple[int, ...], n_domains: int, n_classes: int | None):
        self.config = config
        self.input_shape = tuple(input_shape)
        self.n_domains = n_domains
        self.n_classes = n_classes
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> Method:
        """Move the method to ``device``: every module and tensor it holds as an attribute (in
        place, so optimisers built in ``__init__`` keep their parameters); returns the method.
        ``fit`` and ``encode`` then get inputs on that device and make new tensors there
        (``device=x.device``); a method holding tensors elsewhere (in lists, say) extends this."""
        self.device = torch.device(device)
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(self.device)
            elif isinstance(value, torch.Tensor):
                value.data = value.data.to(self.device)
        return self

    @abstractmethod
    def fit(self, train: Split, budget: Budget, seed: int) -> dict[str, list[float]]:
        """Train on ``train``; returns the per-step training curves (name -> values)."""

    @abstractmethod
    def encode(self, x: Tensor, d: Tensor) -> Tensor:
        """Deterministic representation (e.g. the posterior mean) ``[N, latent_dim]``."""

    def reconstruct(self, x: Tensor, d: Tensor) -> Tensor:
        raise Unsupported(f"{type(self).__name__} cannot reconstruct")

    def posterior_moments(self, x: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, logvar)`` ``[N, latent_dim]`` each of a Gaussian posterior q(z|x, d), for the
        collapse diagnostic (:func:`benchmarks.diagnostics.active_units`); eval mode."""
        raise Unsupported(f"{type(self).__name__} has no Gaussian posterior")

    def loss_weights(self) -> dict[str, float]:
        """Weight of each logged training curve in the objective the method minimises (curve name ->
        weight, sign included), for :func:`benchmarks.diagnostics.loss_shares`; ``{}``: not declared."""
        return {}

    # ------------------------------------------------------------- checkpoints within fit
    #: Its training loop runs through :meth:`training_steps` (a killed cell resumes mid-training).
    resumable: ClassVar[bool] = False

    def resume_with(self, checkpoint, state: dict[str, Any] | None = None) -> None:
        """Save training state into ``checkpoint`` (a :class:`benchmarks.checkpoints.CellCheckpoint`)
        as :meth:`fit` goes, starting from its saved ``state`` when given; ``resume_with(None)`` stops."""
        self._checkpoint, self._resume_state = checkpoint, state

    def training_parts(self, **loop: Any) -> dict[str, Any]:
        """What a checkpoint of this method's training holds: every network, optimiser and tensor it
        holds as an attribute, and the loop's own objects ``loop`` (a trainer, the history list)."""
        held = (torch.nn.Module, torch.optim.Optimizer, torch.Tensor)
        return {**{name: v for name, v in vars(self).items() if isinstance(v, held)}, **loop}

    def training_steps(self, budget: Budget, parts: dict[str, Any], batches=None, desc: str = "train"):
        """The steps ``0 .. budget.steps - 1`` of a training loop, with a progress bar; after each,
        :meth:`at_step`, and the training state of ``parts`` (:meth:`training_parts`) and of
        ``batches`` (a :class:`~benchmarks.checkpoints.CountedBatches`) saved when the cell's checkpoint
        is due. With a saved state, the parts are restored, the batches replayed, and the steps start
        where it stopped."""
        from tqdm.auto import tqdm

        from benchmarks.checkpoints import capture, restore

        checkpoint, state = getattr(self, "_checkpoint", None), getattr(self, "_resume_state", None)
        start = 0
        if checkpoint is not None and state is not None:
            restore(parts, batches, state)
            start = checkpoint.resumed_from
        steps = tqdm(range(start, budget.steps), initial=start, total=budget.steps, desc=desc, leave=False,
                     disable=not budget.progress)
        for step in steps:
            yield step
            self.at_step(step + 1)
            if checkpoint is not None and step + 1 < budget.steps and checkpoint.due(step + 1):
                checkpoint.save(step + 1, capture(parts, batches))

    def watch(self, steps, callback) -> None:
        """Ask :meth:`at_step` to call ``callback(self, step)`` after each training step in ``steps``
        (the harness's learning-curve checkpoints); ``watch((), None)`` stops watching."""
        self._watched = (frozenset(steps), callback) if callback is not None else None

    def at_step(self, step: int) -> None:
        """Called by every training loop after its ``step``-th step (1-based)."""
        watched = getattr(self, "_watched", None)
        if watched is not None and step in watched[0]:
            watched[1](self, step)

    def finish_fit(self, train: Split) -> None:
        """What ``fit`` does after its last step to make the model ready for evaluation (VAUB's
        per-domain normalisation, ADDA's target encoder before adaptation); checkpoint evaluations
        call it on a copy of the model mid-training. Default: nothing (``encode`` sets eval mode)."""
        return None

    def translate(self, x: Tensor, d_from: int, d_to: int) -> Tensor:
        raise Unsupported(f"{type(self).__name__} cannot translate")

    def predict(self, x: Tensor, d: Tensor) -> Tensor:
        raise Unsupported(f"{type(self).__name__} has no classifier of its own")


@dataclass(frozen=True)
class MethodEntry:
    """A registered method: its class and the defaults that distinguish this name."""

    name: str
    cls: type[Method]
    defaults: dict[str, Any]
    description: str

    def resolve(self, overrides: dict[str, Any] | None = None):
        """The validated config: class defaults < this name's defaults < ``overrides``."""
        return resolve_config(self.cls.config_class, {**self.defaults, **(overrides or {})})

    def build(self, config, task: TaskData) -> Method:
        return self.cls(config, task.input_shape, task.n_domains, task.n_classes)


def register_method(name: str, cls: type[Method], description: str, **defaults) -> MethodEntry:
    """Register ``cls`` under ``name`` with name-specific default hyper-parameters."""
    return METHODS.add(name, MethodEntry(name, cls, defaults, description))


@torch.no_grad()
def batched(fn, x: Tensor, d: Tensor, batch_size: int = 1024) -> Tensor:
    """Apply ``fn(x, d)`` in batches (evaluation helper)."""
    return torch.cat([fn(x[i : i + batch_size], d[i : i + batch_size]) for i in range(0, len(x), batch_size)])
