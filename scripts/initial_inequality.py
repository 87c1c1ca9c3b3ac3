"""Year-0 between-school CVs of a scenario's world, per indicator and level, over seeds.

How the `world.inequality` defaults were calibrated (docs/ODD.md 5.1) and how to check a change:

    python scripts/initial_inequality.py scenarios/baseline_drift.yaml --seeds 10
    python scripts/initial_inequality.py scenarios/baseline_drift.yaml --set world.inequality.backbone_junior=1.0

Prints the mean, minimum and maximum over seeds of each official indicator's CV (no years are run).
"""

from __future__ import annotations

import argparse

import numpy as np

from sim.config.scenario import load_scenario
from sim.core.model import RotationModel
from sim.metrics import INDICATORS


def year0_cvs(path: str, overrides: list[str], seeds: int) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = {}
    for seed in range(seeds):
        model = RotationModel(load_scenario(path, overrides), rng=seed)
        for year, metric, group, value in model.metric_rows:
            if year == 0 and group in ("primary", "junior") and metric.removeprefix("cv_") in INDICATORS \
                    and metric.startswith("cv_"):
                out.setdefault((metric[3:], group), []).append(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    for (indicator, level), values in sorted(year0_cvs(args.scenario, args.set, args.seeds).items()):
        print(f"{indicator:20s} {level:8s} mean {np.mean(values):.3f}  min {np.min(values):.3f}  "
              f"max {np.max(values):.3f}")


if __name__ == "__main__":
    main()
