"""The harness: registry, data, tasks, metrics, experiments, executors, reports and the CLI."""
