"""Headline outcomes of every reference scenario, to record how a change to a mechanism moves them.

    python benchmarks/reference_outcomes.py out.json          # seeds 0-1, the scenarios' own years
    python benchmarks/reference_outcomes.py out.json --table  # also print a Markdown table

For each scenario in scenarios/ (not `_base`), the mean over seeds of: rotations in year 1 and a
year over the run; coverage of all staff and of the eligible cohort at the last year; the year-1
between-school CV of each indicator (primary/junior) and the CV of teachers per 100 students in
years 0, 1 and the last.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1)
INDICATORS = ("teachers", "above_qualification", "senior_title", "backbone", "pe_art", "quality")


def outcomes(path: Path, seed: int) -> dict[str, float]:
    from sim.config.scenario import load_scenario
    from sim.core.model import RotationModel

    model = RotationModel(load_scenario(path), rng=seed)
    model.run_for(model.years)
    v = {(y, m, g): x for y, m, g, x in model.metric_rows}
    last = model.years
    out = {"rotations_y1": v[(1, "rotations", "all")],
           "rotations_per_year": float(np.mean([v[(y, "rotations", "all")] for y in range(1, last + 1)])),
           "coverage_staff": v[(last, "coverage_staff", "all")],
           "coverage_eligible": v[(last, "coverage_eligible", "all")]}
    for ind in INDICATORS:
        for level in ("primary", "junior"):
            out[f"cv_{ind}_{level}_y1"] = v[(1, f"cv_{ind}", level)]
    for y in (0, 1, last):
        out[f"cv_teachers_all_y{'last' if y == last else y}"] = v[(y, "cv_teachers", "all")]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    result = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        runs = [outcomes(path, s) for s in SEEDS]
        result[path.stem] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        print(path.stem, "done", flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.table:
        keys = list(next(iter(result.values())))
        print("| scenario | " + " | ".join(keys) + " |")
        for name, row in result.items():
            print(f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
