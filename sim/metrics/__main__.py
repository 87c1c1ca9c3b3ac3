"""`python -m sim.metrics > docs/metrics.md` writes the metric reference from the registry."""

from sim.metrics.registry import metrics_markdown

print(metrics_markdown(), end="")
