"""Regression baseline: a small seeded run still gives the recorded metrics.

Regenerate only on purpose with `python scripts/update_baseline.py` (see its docstring)."""

from __future__ import annotations

import csv
import importlib.util
import math

from conftest import REPO

spec = importlib.util.spec_from_file_location("update_baseline", REPO / "scripts" / "update_baseline.py")
update_baseline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(update_baseline)


def test_metrics_match_the_recorded_baseline():
    with update_baseline.BASELINE.open(encoding="utf-8") as fh:
        recorded = {(int(r["year"]), r["metric"], r["group"]): float(r["value"]) for r in csv.DictReader(fh)}
    now = {(y, m, g): v for y, m, g, v in update_baseline.baseline_rows()}
    assert set(now) == set(recorded), sorted(set(now) ^ set(recorded))[:10]
    # same code, same seed: equal up to floating-point noise across platforms (relative 1e-9)
    differ = [k for k in now if not math.isclose(now[k], recorded[k], rel_tol=1e-9, abs_tol=1e-12)
              and not (math.isinf(now[k]) and now[k] == recorded[k])]
    assert not differ, f"{len(differ)} metrics changed, e.g. {differ[:5]}; if intended, run scripts/update_baseline.py"
