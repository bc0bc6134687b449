"""Metrics computed on learned representations and predictions."""
