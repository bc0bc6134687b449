"""Methods of the suite's own library (the VAUB family); the peers live in :mod:`baselines`."""
