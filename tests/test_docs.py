"""Generated documentation stays in step with the code."""

from __future__ import annotations

from conftest import REPO

from sim.metrics import ALL_INDICATORS, REGISTRY, metrics_markdown


def test_metrics_md_is_up_to_date():
    path = REPO / "docs" / "metrics.md"
    assert path.exists(), "docs/metrics.md is missing; generate it with: python -m sim.metrics > docs/metrics.md"
    assert path.read_text(encoding="utf-8") == metrics_markdown(), (
        "docs/metrics.md is stale; regenerate it with: python -m sim.metrics > docs/metrics.md")


def test_metrics_markdown_lists_every_metric():
    text = metrics_markdown()
    for name, metric in REGISTRY.items():
        assert f"| `{metric.family}` |" in text, name
        # a family row's pattern yields the metric's name when <indicator> is filled in
        assert any(metric.family.replace("<indicator>", ind) == name for ind in ("", *ALL_INDICATORS)), name
