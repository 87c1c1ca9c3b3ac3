"""Configuration layer: the scenario schema and its loading (`extends`, `--set`, one-line errors),
the sweep, calibration-target and example files, and the checks run before anything is built."""
