"""Baselines re-implemented against the suite's method contract (dann, adda, fcrl, cvib, laftr, gwae)."""
