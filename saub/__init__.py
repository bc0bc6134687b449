"""SAUB: distribution matching with score-based priors and structural regularisation.

The paper's method as a library, usable without the benchmark harness:

* :mod:`saub.networks` — per-domain Gaussian encoders (App. C) and decoders;
* :mod:`saub.priors` — N(0, I), mixture of Gaussians, VampPrior, and the score-based prior
  with an SFS (eq. 8-10) or LSGM (eq. 23-25) encoder gradient;
* :mod:`saub.objective` — the VAUB objective (eq. 6-7), term by term;
* :mod:`saub.structural` — the GW structural loss (eq. 12-13);
* :mod:`saub.semantic` — GW-SP's embedding spaces (pixel, CLIP, precomputed, contrastive);
* :mod:`saub.training` — the alternating optimiser of Alg. 1.
"""

from saub.networks import MultiDomainAutoencoder, make_decoder, make_encoder
from saub.objective import VAUBTerms, vaub_terms
from saub.priors import (
    MixtureOfGaussiansPrior,
    Prior,
    ScoreNetwork,
    ScorePrior,
    StandardGaussianPrior,
    VampPrior,
)
from saub.seeding import derive_seed, seed_everything
from saub.structural import gw_structural_loss
from saub.training import AlternatingTrainer, Batch, DivergenceError

__version__ = "0.1.0"

__all__ = [
    "MultiDomainAutoencoder",
    "make_encoder",
    "make_decoder",
    "Prior",
    "StandardGaussianPrior",
    "MixtureOfGaussiansPrior",
    "VampPrior",
    "ScoreNetwork",
    "ScorePrior",
    "VAUBTerms",
    "vaub_terms",
    "gw_structural_loss",
    "AlternatingTrainer",
    "Batch",
    "DivergenceError",
    "derive_seed",
    "seed_everything",
]
