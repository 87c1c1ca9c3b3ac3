"""One replicate of one calibration candidate: run it and read every target's statistic.

Shared by the calibration methods (`sim.experiments.calibrate` for TPE and Pareto fits,
`sim.experiments.abc` for ABC), and sent to workers: a task holds only plain data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from sim.config.targets import Statistic


@dataclass(frozen=True)
class EvalTask:
    """One replicate of one candidate, sendable to a worker."""

    trial: int
    replicate: int
    seed: int
    scenario: dict
    source_dir: str
    statistics: tuple[tuple[str, str], ...]  # (key, Statistic as JSON)


PATHS = "paths"  # the key of a replicate's yearly paths beside its statistics
CV_PATH = "cv_path"  # key prefix of the headline CVs' every year (the report's trajectory)


def cv_path_keys(rows: dict) -> dict[str, float]:
    """Every year of the headline CVs, keyed `cv_path/metric/group/year`: the trajectory the fit
    report gives beside the targets (a fit to one year says nothing of the path around it)."""
    from sim.metrics import INDICATORS

    wanted = {(f"cv_{i}", g) for i in INDICATORS for g in ("primary", "junior")} | {("cv_quality", "all")}
    return {f"{CV_PATH}/{m}/{g}/{y}": v for (m, g, y), v in sorted(rows.items()) if (m, g) in wanted}


def evaluate(task: EvalTask) -> dict:
    """Run one replicate and return every statistic (NaN where the run does not define one), and
    under PATHS each statistic's yearly values for years 0..run.years (the whole path a target is
    read from, for the report's trajectories)."""
    from sim.config.targets import metric_rows
    from sim.core.run_warning import RunWarning
    from sim.experiments.run import scenario_from_json, simulate

    scenario = scenario_from_json(task.scenario, task.source_dir)
    with warnings.catch_warnings():  # a quota capped at the eligible is what a fit explores: one line per
        warnings.simplefilter("ignore", RunWarning)  # run of hundreds would bury the progress
        rows = metric_rows(simulate(scenario, task.seed, scenario.run.years).metric_rows)
    stats = [Statistic.model_validate_json(stat) for _, stat in task.statistics]
    out: dict = {key: stat.value(rows) for (key, _), stat in zip(task.statistics, stats, strict=True)}
    out[PATHS] = {s.path_key(): [s.at(rows, y) for y in range(scenario.run.years + 1)] for s in stats}
    out |= cv_path_keys(rows)
    return out
