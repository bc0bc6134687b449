"""Variational score matching for Gaussian VAEs (Wenliang, "On the failure of variational score
matching for VAE models"; issue 15, the objectives axis).

* :mod:`~saub.score_matching.scores` — posterior samples, s^p_θ(x|z), s^q(z|x), ∇_z scores (autograd);
* :mod:`~saub.score_matching.objectives` — ELBO (1), posterior KL (2) and FD (6, 26), joint FD (6-7),
  the Fisher autoencoder loss, M1 (8), M2 (13), M3 (15), the autoencoding loss L_KL (4, 9);
* :mod:`~saub.score_matching.training` — Alg. 1 with the bi-level steps of App. B.1.
"""

from saub.score_matching.objectives import (
    autoencoding_loss,
    elbo,
    fae_objective,
    fisher_constant,
    h_fisher,
    h_kl,
    joint_fisher_divergence,
    kl_to_standard_normal,
    m1_objective,
    m2_objective,
    m3_objective,
    posterior_fisher_divergence,
    posterior_kl,
)
from saub.score_matching.scores import (
    PosteriorSample,
    exact_divergence,
    gaussian_log_likelihood,
    likelihood_x_divergence,
    likelihood_x_score,
    posterior_x_score,
    posterior_z_scores,
    sample_posterior,
    standard_normal_log_prob,
)
from saub.score_matching.training import (
    VariationalScoreMatching,
    functional_encoder,
    unroll_inference,
    unroll_sgd,
)

__all__ = [
    "PosteriorSample",
    "VariationalScoreMatching",
    "autoencoding_loss",
    "elbo",
    "exact_divergence",
    "fae_objective",
    "fisher_constant",
    "functional_encoder",
    "gaussian_log_likelihood",
    "h_fisher",
    "h_kl",
    "joint_fisher_divergence",
    "kl_to_standard_normal",
    "likelihood_x_divergence",
    "likelihood_x_score",
    "m1_objective",
    "m2_objective",
    "m3_objective",
    "posterior_fisher_divergence",
    "posterior_kl",
    "posterior_x_score",
    "posterior_z_scores",
    "sample_posterior",
    "standard_normal_log_prob",
    "unroll_inference",
    "unroll_sgd",
]
