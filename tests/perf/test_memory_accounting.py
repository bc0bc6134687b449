"""The benchmark's memory accounting is meaningful (runs in the default test run, fast)."""

from tests.perf.encoder_update import BATCH, LATENT, build, saved_tensor_bytes


def test_sfs_keeps_no_score_network_activations_lsgm_does():
    """SFS keeps only the detached score for ``-(s * z)`` (one [B, latent] tensor); LSGM keeps the
    score network's activations for its Jacobian."""
    sizes = {}
    for gradient in ("sfs", "lsgm"):
        encoder, _, prior, x = build("mlp512", gradient)
        sizes[gradient] = saved_tensor_bytes(encoder, prior, x)
    one_score = BATCH * LATENT * 4
    assert sizes["sfs"]["prior"] == one_score
    assert sizes["lsgm"]["prior"] > 10 * one_score
    # the encoder's own saved activations do not depend on the prior's gradient
    assert sizes["sfs"]["encoder"] == sizes["lsgm"]["encoder"] > 0
