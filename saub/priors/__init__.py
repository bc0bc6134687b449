"""Priors behind one interface (:class:`saub.priors.base.Prior`)."""

from saub.priors.base import Prior
from saub.priors.ebm import EnergyPrior, langevin
from saub.priors.explicit import MixtureOfGaussiansPrior, StandardGaussianPrior, VampPrior
from saub.priors.score import (
    NoiseSchedule,
    ScoreNetwork,
    ScorePrior,
    dsm_loss,
    lsgm_cross_entropy,
    sfs_cross_entropy,
)

__all__ = [
    "Prior",
    "StandardGaussianPrior",
    "MixtureOfGaussiansPrior",
    "VampPrior",
    "EnergyPrior",
    "langevin",
    "NoiseSchedule",
    "ScoreNetwork",
    "ScorePrior",
    "dsm_loss",
    "sfs_cross_entropy",
    "lsgm_cross_entropy",
]
