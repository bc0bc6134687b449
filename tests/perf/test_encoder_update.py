"""``make bench``: one encoder update with SFS vs. LSGM on the same score network, at two sizes.

Skipped in the default test run (``--benchmark-skip`` in pyproject's addopts). Each case records
its time (pytest-benchmark), the bytes autograd saves for backward and the peak-RSS rise of one
update in a fresh process (``benchmark.extra_info``); ``python -m tests.perf.summary`` then puts
them side by side, with the LSGM/SFS ratios, in ``results/perf/encoder_update.json``.
"""

from __future__ import annotations

import math
import os
from functools import cache

import pytest
import torch

from tests.perf.encoder_update import (
    BATCH,
    ENCODER_HIDDEN,
    GRADIENTS,
    INPUT_DIM,
    PAIRS,
    PRIOR_OPTIONS,
    ROUNDS,
    SEED,
    SIZES,
    encoder_update,
    latent_of,
    make_score_net,
    make_setup,
    median,
    n_params,
    paired_times,
    peak_rss,
    saved_tensor_bytes,
)

MB = 2**20


@cache
def shared_score_net(size: str):
    """One score network per size, the same object for every gradient."""
    return make_score_net(size)


@pytest.mark.parametrize("gradient", GRADIENTS)
@pytest.mark.parametrize("size", list(SIZES))
def test_encoder_update(benchmark, bench_threads, size, gradient):
    net = shared_score_net(size)
    s = make_setup(size, gradient, score_net=net)
    torch.manual_seed(SEED + 2)  # the same reparameterisation / DSM noise stream for every case
    warmup, rounds = ROUNDS[size]
    load_before = os.getloadavg()[0]
    loss = benchmark.pedantic(encoder_update, args=(s,), warmup_rounds=warmup, rounds=rounds, iterations=1)
    load_after = os.getloadavg()[0]
    assert math.isfinite(loss)

    saved = saved_tensor_bytes(s)
    rss = peak_rss(size, gradient)
    benchmark.extra_info.update({
        "suite": "encoder_update",
        "size": size,
        "gradient": gradient,
        "score_net": dict(SIZES[size], latent_dim=latent_of(size), prior=PRIOR_OPTIONS.get(size, {})),
        "score_net_params": n_params(net),
        "score_net_param_sum": float(sum(p.detach().double().sum() for p in net.parameters())),
        "encoder_params": n_params(s.encoder),
        "batch": BATCH,
        "input_dim": INPUT_DIM,
        "encoder_hidden": ENCODER_HIDDEN,
        "threads": torch.get_num_threads(),
        "saved_mb_encoder": saved["encoder"] / MB,
        "saved_mb_score_net": saved["score_net"] / MB,
        "saved_mb_objective": saved["objective"] / MB,
        "saved_mb_activations": saved["activations"] / MB,
        "saved_mb_parameters": saved["parameters"] / MB,
        "peak_rss_delta_mb": rss["peak_rss_delta_mb"],
        "peak_rss_deltas_mb": rss["deltas_mb"],
        "baseline_rss_mb": rss["baseline_rss_mb"],
        "rss_method": rss["method"],
        "loadavg_1min_before": load_before,
        "loadavg_1min_after": load_after,
    })
    if gradient != "sfs":
        # interleaved with SFS updates on the same score network: a load-robust time ratio
        sfs_times, times = paired_times(make_setup(size, "sfs", score_net=net), s, PAIRS[size])
        benchmark.extra_info.update({
            "paired_pairs": PAIRS[size],
            "paired_median_s": median(times),
            "paired_sfs_median_s": median(sfs_times),
            "paired_ratio_over_sfs": median([t / r for t, r in zip(times, sfs_times)]),
        })
    # SFS builds no graph through the score network; LSGM does.
    assert (saved["score_net"] == 0) == (gradient == "sfs")
