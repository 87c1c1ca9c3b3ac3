"""Experiments layer: run, compare and sweep (and calibrate, optimise, what-if, EMA) over the
model, the executors they run on, and the statistics of their replicates."""
