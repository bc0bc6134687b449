"""Imports every module that registers a method, task, metric or experiment (one line each)."""

import baselines.adda  # noqa: F401
import baselines.cvib  # noqa: F401
import baselines.dann  # noqa: F401
import baselines.fcrl  # noqa: F401
import baselines.gwae  # noqa: F401
import baselines.laftr  # noqa: F401
import baselines.unfair_mlp  # noqa: F401
import benchmarks.experiments.fig1  # noqa: F401
import benchmarks.experiments.fig3  # noqa: F401
import benchmarks.experiments.fig4  # noqa: F401
import benchmarks.experiments.fig6  # noqa: F401
import benchmarks.experiments.fig7  # noqa: F401
import benchmarks.experiments.fig14  # noqa: F401
import benchmarks.experiments.gwae_mnist  # noqa: F401
import benchmarks.experiments.table1  # noqa: F401
import benchmarks.experiments.table1_lenet  # noqa: F401
import benchmarks.methods.vaub_family  # noqa: F401
import benchmarks.metrics.domain_adaptation  # noqa: F401
import benchmarks.metrics.fairness  # noqa: F401
import benchmarks.metrics.ood_isometry  # noqa: F401
import benchmarks.metrics.registered  # noqa: F401
import benchmarks.tasks.adult  # noqa: F401
import benchmarks.tasks.digits  # noqa: F401
import benchmarks.tasks.mnist  # noqa: F401
import benchmarks.tasks.registered  # noqa: F401
