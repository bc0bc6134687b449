"""Imports every module that registers a method, task, metric or experiment (one line each)."""

import baselines.adda  # noqa: F401
import baselines.dann  # noqa: F401
import benchmarks.experiments.fig1  # noqa: F401
import benchmarks.experiments.fig3  # noqa: F401
import benchmarks.methods.vaub_family  # noqa: F401
import benchmarks.metrics.domain_adaptation  # noqa: F401
import benchmarks.metrics.registered  # noqa: F401
import benchmarks.tasks.digits  # noqa: F401
import benchmarks.tasks.registered  # noqa: F401
