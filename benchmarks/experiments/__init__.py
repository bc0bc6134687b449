"""One module per table or figure of the paper; each registers an :class:`Experiment`."""
