"""Running a scenario: replicates with paired seeds, collected into tidy frames.

Replicate seeds come from the root seed through `numpy.random.SeedSequence`, so replicate i has
the same seed in every scenario run with the same root (common random numbers), and every row
of every frame records its replicate and seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from sim.codes import MOVE_KINDS, SCHOOL_LEVELS, TIERS
from sim.model import RotationModel
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.world import expected_teachers


def replicate_seeds(root: int, n: int) -> list[int]:
    """Seeds of replicates 0..n-1 from one root seed; the first k are the same for any n >= k."""
    children = np.random.SeedSequence(root).spawn(n)
    return [int(c.generate_state(1, np.uint64)[0]) >> 1 for c in children]  # 63 bits: fits int64


@dataclass
class RunResult:
    """What a run produced: tidy frames plus what the manifest needs."""

    scenario: Scenario
    metrics: pd.DataFrame
    schools: pd.DataFrame
    moves: pd.DataFrame
    seeds: list[int]
    timings: dict[str, float] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"metrics": self.metrics, "schools": self.schools, "moves": self.moves}


def check_size(scenario: Scenario) -> None:
    """Refuse, before building anything, a synthetic world above `world.max_teachers`."""
    w = scenario.world
    if w.preset != "roster":
        n = expected_teachers(w)
        if n > w.max_teachers:
            raise ScenarioError(f"world: about {n:,} teachers is above world.max_teachers "
                                f"({w.max_teachers:,}); lower world.scale or the size knobs")


def run_replicate(scenario: Scenario, replicate: int, seed: int, years: int,
                  on_year=None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One replicate as (metrics, schools, moves) frames."""
    model = RotationModel(scenario, rng=seed)
    for _ in range(years):
        model.step()
        if on_year is not None:
            on_year()
    head = {"scenario": scenario.name, "replicate": replicate, "seed": seed}
    metrics = pd.DataFrame(model.metric_rows, columns=["year", "metric", "group", "value"])
    s = model.world.schools
    n_s = model.world.n_schools
    school_parts = []
    for year, frame in enumerate(model.school_rows):
        part = pd.DataFrame(frame)
        part.insert(0, "school", np.arange(n_s))
        part.insert(0, "year", year)
        school_parts.append(part)
    schools = pd.concat(school_parts, ignore_index=True)
    idx = schools["school"].to_numpy()
    schools.insert(2, "name", pd.Categorical(np.asarray(model.world.school_names)[idx]))
    schools.insert(3, "district", pd.Categorical(np.asarray(model.world.district_names)[s["district"][idx]]))
    schools.insert(4, "level", pd.Categorical(np.asarray(SCHOOL_LEVELS)[s["level"][idx]], categories=SCHOOL_LEVELS))
    schools.insert(5, "tier", pd.Categorical(np.asarray(TIERS)[s["tier"][idx]], categories=TIERS))
    schools.insert(6, "enrolment", (s["enrol_primary"] + s["enrol_junior"])[idx])
    moves = pd.DataFrame(model.moves, columns=["year", "teacher", "from_school", "to_school", "kind", "program",
                                               "backbone", "title", "quality"])
    moves["kind"] = pd.Categorical(np.asarray(MOVE_KINDS)[moves["kind"].to_numpy(dtype=np.int64)],
                                   categories=MOVE_KINDS)
    out = []
    for df in (metrics, schools, moves):
        for i, (k, v) in enumerate(head.items()):
            df.insert(i, k, v)
        out.append(df)
    return tuple(out)


def run(scenario: Scenario | str | Path, years: int | None = None, reps: int | None = None,
        seed: int | None = None, overrides: tuple[str, ...] = (), progress: bool = False) -> RunResult:
    """Run a scenario's replicates and return tidy frames (the same the CLI writes).

    Args:
        scenario: a Scenario or the path of a scenario file.
        years, reps, seed: override the scenario's `run` section.
        overrides: `dotted.key=value` items, as `--set` on the command line (paths only).
        progress: show a tqdm progress bar.

    Example:
        >>> res = run("scenarios/dongcheng_2021.yaml", years=5, reps=2)
        >>> res.metrics.query("metric == 'cv_backbone' and group == 'primary'")
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides)
    updates = {k: v for k, v in (("years", years), ("replicates", reps), ("seed", seed)) if v is not None}
    if updates:
        scenario = scenario.model_copy(update={"run": scenario.run.model_copy(update=updates)})
        try:
            scenario = Scenario.model_validate(scenario.model_dump() | {"source_dir": scenario.source_dir})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ScenarioError(f"{where}: {err['msg']} (got {err.get('input')!r})") from None
    check_size(scenario)
    r = scenario.run
    seeds = replicate_seeds(r.seed, r.replicates)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=r.replicates * r.years, unit="year", desc=scenario.name)
    parts: list[tuple] = []
    t0 = time.perf_counter()
    try:
        for i, s in enumerate(seeds):
            parts.append(run_replicate(scenario, i, s, r.years, on_year=bar.update if bar else None))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    frames = [pd.concat([p[k] for p in parts], ignore_index=True) for k in range(3)]
    return RunResult(scenario, *frames, seeds=seeds, timings={"simulate_seconds": round(elapsed, 3)})
