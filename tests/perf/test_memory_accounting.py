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
    saved_bytes_by_region,
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


def test_the_counter_adds_each_saved_storage_once_to_the_region_that_saved_it():
    """exp saves its [64, 32] output (8 KiB) outside any module; the Linear inside ``layer`` saves
    that same tensor again (not recounted) and its own [64, 16] output through ReLU (4 KiB); its
    weight is a parameter, counted apart (32 x 16 floats, 2 KiB)."""
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(32, 16, bias=False), torch.nn.ReLU())
    a = torch.randn(64, 32, requires_grad=True)
    with saved_bytes_by_region({"layer": layer}, layer.parameters()) as sizes:
        layer(a.exp()).sum().backward()
    assert sizes == {"layer": 64 * 16 * F32, "objective": 64 * 32 * F32, "parameters": 32 * 16 * F32}
