"""The benchmark's saved-for-backward accounting is meaningful (default test run, fast, no benchmark)."""

from __future__ import annotations

import pytest
import torch

from tests.perf.encoder_update import (
    BATCH,
    GRADIENTS,
    LATENT,
    SIZES,
    make_score_net,
    make_setup,
    saved_tensor_bytes,
)

F32 = 4


@pytest.fixture(scope="module")
def saved():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is the fast choice on the shared 2-core box
    try:
        net = make_score_net("mlp512")  # one network shared by the three gradients
        return {g: saved_tensor_bytes(make_setup("mlp512", g, score_net=net)) for g in GRADIENTS}
    finally:
        torch.set_num_threads(previous)


def test_sfs_saves_nothing_from_the_score_network(saved):
    assert saved["sfs"]["score_net"] == 0


def test_lsgm_saves_the_score_network_activations(saved):
    """Every hidden layer of the score network keeps at least one [B, hidden] activation."""
    cfg = SIZES["mlp512"]
    one_layer = BATCH * cfg["hidden"] * F32
    assert saved["lsgm"]["score_net"] >= cfg["n_layers"] * one_layer
    # without weight gradients (frozen parameters) fewer inputs are kept, but still a graph
    assert cfg["n_layers"] * one_layer <= saved["lsgm_frozen"]["score_net"] < saved["lsgm"]["score_net"]


def test_the_rest_of_the_graph_is_the_same_for_both_gradients(saved):
    """The encoder's activations do not depend on the prior; SFS's objective keeps the detached
    score for ``-(s * z)``, which is one [B, latent] tensor among the objective's saved tensors."""
    assert saved["sfs"]["encoder"] == saved["lsgm"]["encoder"] > 0
    assert saved["sfs"]["objective"] >= BATCH * LATENT * F32
    # parameters referenced by the graph are counted apart, never as activations
    assert saved["lsgm"]["parameters"] > saved["sfs"]["parameters"] > 0
    for sizes in saved.values():
        assert sizes["activations"] == sizes["encoder"] + sizes["score_net"] + sizes["objective"]
