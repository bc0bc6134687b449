"""Tasks: data generators and loaders for the benchmark experiments."""
