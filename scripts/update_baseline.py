"""Regenerate the regression baseline (tests/data/regression/baseline.csv) — only on purpose.

The baseline is every metric of a small seeded run; tests/test_regression.py checks that the
model still produces it. When a change is meant to alter results, run this script from the
repository root, look at the diff of the CSV, and commit it with the change that caused it:
    python scripts/update_baseline.py
"""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tests" / "data" / "regression" / "baseline.csv"
SCENARIO = ROOT / "scenarios" / "dongcheng_2021.yaml"
OVERRIDES = ["world.schools_per_district=30", "world.teachers_per_school=40", "run.years=3"]
SEED = 123


def baseline_rows() -> list[tuple[int, str, str, float]]:
    from sim.config.scenario import load_scenario
    from sim.core.model import RotationModel

    model = RotationModel(load_scenario(SCENARIO, OVERRIDES), rng=SEED)
    model.run_for(3)
    return model.metric_rows


def main() -> None:
    BASELINE.parent.mkdir(parents=True, exist_ok=True)
    with BASELINE.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["year", "metric", "group", "value"])
        for year, metric, group, value in baseline_rows():
            w.writerow([year, metric, group, repr(float(value))])
    print(f"wrote {BASELINE}")


if __name__ == "__main__":
    main()
