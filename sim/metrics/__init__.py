"""Metrics layer: the metric registry (each metric's docstring is its formula) and the inequality
indices it uses. Imports only `sim.codes`: the configuration layer names metrics from here."""

from sim.metrics.registry import (
    ADAPTED,
    ALL_INDICATORS,
    BASIC_CV,
    BY_DISTRICT,
    GROUPS,
    HEADCOUNT_INDICATORS,
    HIGH_QUALITY_CV,
    INDICATOR_LABELS,
    INDICATORS,
    LEVEL_GROUPS,
    PARTITIONS,
    REGISTRY,
    SCHOOL_MINIMUM,
    UNBOUNDED_PREFIXES,
    Metric,
    Units,
    YearContext,
    metrics_markdown,
    official_cv,
    school_table,
    weighted_cv,
    weighted_gini,
    year_metrics,
)

__all__ = ["ADAPTED", "ALL_INDICATORS", "BASIC_CV", "BY_DISTRICT", "GROUPS", "HEADCOUNT_INDICATORS",
           "HIGH_QUALITY_CV", "INDICATORS", "INDICATOR_LABELS", "LEVEL_GROUPS", "PARTITIONS", "REGISTRY",
           "SCHOOL_MINIMUM", "UNBOUNDED_PREFIXES", "Metric", "Units", "YearContext", "metrics_markdown", "official_cv",
           "school_table", "weighted_cv", "weighted_gini", "year_metrics"]
