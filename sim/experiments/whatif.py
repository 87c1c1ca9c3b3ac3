"""What-if helpers for notebooks and the app: small worlds, one lever changed at a time.

A reference scenario describes a whole district (Dongcheng: about 8,800 teachers). To try
something in seconds, `small_world` puts the same policy on a small synthetic world and scales
the programs' head-count quotas (`quota.min_count`, people a year in each district) to its size,
so that a quota means the same share of the staff. `vary` changes one lever of a scenario, and
`what_if` runs the variants as a paired comparison (`sim.compare`: replicate i has the same seed
in every variant), so the effect of the lever comes with a 95% paired-t interval.

Example:
    >>> base = small_world("scenarios/dongcheng_2021.yaml", schools_per_district=20, teachers_per_school=30)
    >>> cmp = what_if(base, "matching", ["need", "random"], reps=4, years=5)
    >>> cmp.table[["metric", "group", "scenario", "diff", "diff_ci_low", "diff_ci_high"]]
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.config.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from sim.world.presets import PRESETS, expected_teachers

OUTCOMES = ("cv_backbone:primary", "cv_backbone:junior", "cv_quality:all", "cv_effective_quality:all",
            "achievement_gap:all", "mean_commute_rotators:all", "mean_satisfaction:all", "attrition_rate:all",
            "disruption_loss:all", "rotations:all")


def teachers_per_district(world) -> float:
    """Teachers per district a synthetic world would hold (a roster is taken as one district)."""
    if world.preset == "roster":
        raise ScenarioError("world: small_world needs a synthetic preset, not a roster")
    n_d = world.districts or len(PRESETS[world.preset].district_names)
    return expected_teachers(world) / n_d


def small_world(path: str | Path, schools_per_district: int = 20, teachers_per_school: float = 30,
                districts: int | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """A scenario file on a small synthetic world of the same preset, its head-count quotas scaled.

    Args:
        path: the scenario file.
        schools_per_district, teachers_per_school, districts: the world's size knobs (districts:
            None keeps the preset's count; the scenario's `world.scale` is reset to 1).
        overrides: `dotted.key=value` items applied last (not scaled).
    """
    full = load_scenario(path)
    world = [f"world.schools_per_district={schools_per_district}", f"world.teachers_per_school={teachers_per_school}",
             "world.scale=1"]
    if districts is not None:
        world.append(f"world.districts={districts}")
    small = load_scenario(path, world)
    ratio = teachers_per_district(small.world) / teachers_per_district(full.world)
    scaled = [f"policy.programs.{i}.quota.min_count={max(1, round(p.quota.min_count * ratio))}"
              for i, p in enumerate(full.policy.programs) if p.quota.min_count]
    return load_scenario(path, [*world, *scaled, *overrides])


def main_program(scenario: Scenario) -> int:
    """The index of the program a lever acts on: `district_exchange` when there is one, else the last."""
    names = [p.name for p in scenario.policy.programs]
    if not names:
        raise ScenarioError(f"{scenario.name}: has no rotation program for the lever to act on")
    return names.index("district_exchange") if "district_exchange" in names else len(names) - 1


@dataclass(frozen=True)
class Lever:
    """A policy lever: what it is, in words, and the value it takes in the scenario (or None)."""

    label: str
    path: str | None  # dotted path with {main} for the main program; None: a rule below

    def current(self, scenario: Scenario) -> Any:
        if self.path is None:
            return 1.0  # full_time_share: every program is as the scenario says
        node: Any = scenario.model_dump(mode="json")
        for key in self.path.format(main=main_program(scenario)).split("."):
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node


LEVERS = {
    "quota": Lever("yearly quota of the main program (people per district)", "policy.programs.{main}.quota.min_count"),
    "years_before_eligibility": Lever("years at one school before a teacher is eligible",
                                      "policy.programs.{main}.eligibility.min_years_at_school"),
    "matching": Lever("matching method of the main program", "policy.programs.{main}.matching"),
    "full_time_share": Lever("share of the main program's head-count quota rotated full-time (the rest "
                             "part-time; a coverage target stays with the full-time part)", None),
    "double_teacher_classrooms": Lever("number of double-teacher classrooms", "policy.double_teacher.classrooms"),
    "dormitories": Lever("rotation dormitory beds per district", "policy.dormitories_per_district"),
}


def _name(base: str, lever: str, value: Any) -> str:
    text = f"{lever}={value:g}" if isinstance(value, float) else f"{lever}={value}"
    return re.sub(r"[^A-Za-z0-9_\-\.]", "-", f"{base}.{text}")[:80]


def _split_full_time(data: dict, i: int, share: float) -> None:
    """Split program i into a part-time copy (first, 1 - share of the head-count quotas) and the
    full-time program (share of them, and any coverage or mandatory rule)."""
    if not 0.0 <= share <= 1.0:
        raise ScenarioError(f"full_time_share: must be within 0..1, got {share}")
    programs = data["policy"]["programs"]
    full = programs[i]
    if full["form"] != "full_time":
        raise ScenarioError(f"full_time_share: program {full['name']!r} is not full-time ({full['form']})")
    part = copy.deepcopy(full)
    q, pq = full["quota"], part["quota"]
    count = q["min_count"]
    q["min_count"], pq["min_count"] = round(count * share), count - round(count * share)
    for key in ("share_of_eligible", "share_of_staff"):
        q[key], pq[key] = q[key] * share, q[key] * (1.0 - share)
    pq["coverage_years"] = pq["mandatory_after_years"] = None
    part.update(name=f"{full['name']}_part_time", form="part_time", stay_share=0.0)
    if pq["min_count"] or pq["share_of_eligible"] or pq["share_of_staff"]:
        programs.insert(i, part)


def vary(scenario: Scenario, lever: str, value: Any) -> Scenario:
    """The scenario with one lever set to `value`, renamed `<name>.<lever>=<value>` (validated again)."""
    if lever not in LEVERS:
        raise ScenarioError(f"lever {lever!r}: unknown; choose one of {', '.join(LEVERS)}")
    data = scenario.model_dump(mode="json")
    i = main_program(scenario) if lever in ("quota", "years_before_eligibility", "matching", "full_time_share") \
        else None
    if lever == "full_time_share":
        _split_full_time(data, i, float(value))
    else:
        keys = LEVERS[lever].path.format(main=i).split(".")
        node: Any = data
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[keys[-1]] = value
    data["name"] = _name(scenario.name, lever, value)
    return scenario_from_dict(data, default_source=f"{lever}={value!r}", source_dir=scenario.source_dir)


def what_if(base: Scenario, lever: str, values: list, reps: int = 4, years: int | None = None,
            seed: int | None = None, outcomes: tuple[str, ...] = OUTCOMES, progress: bool = False):
    """Run `base` with the lever at each of `values` (the first is the baseline) as a paired comparison.

    Returns the `sim.experiments.run.Comparison`; its `.table` holds, for each outcome at the last
    year, every variant's mean with a 95% t-interval and its paired difference from the first
    value with a 95% paired-t interval. Runs serially in this process.
    """
    from sim.experiments.run import compare

    if len(values) < 2:
        raise ScenarioError("what_if needs at least two values of the lever")
    variants = [vary(base, lever, v) for v in values]
    return compare(variants, reps=reps, years=years, seed=seed, outcomes=list(outcomes), progress=progress)


def first_year_below(trajectories, metric: str, group: str, threshold: float,
                     for_good: bool = False) -> dict[str, int | None]:
    """Scenario -> the first year its mean (over replicates) of `metric` is at or below `threshold`
    (None when it never is), from a trajectories frame (`Comparison.trajectories`). With
    `for_good`, the first year from which it stays there to the last year simulated."""
    part = trajectories[(trajectories["metric"] == metric) & (trajectories["group"] == group)]
    out: dict[str, int | None] = {}
    for name, rows in part.groupby("scenario", observed=True, sort=False):
        rows = rows.sort_values("year")
        below = (rows["mean"] <= threshold).to_numpy()
        years = rows["year"].to_numpy()
        if for_good:
            above = [i for i, b in enumerate(below) if not b]
            start = above[-1] + 1 if above else 0
            out[str(name)] = int(years[start]) if start < len(years) else None
        else:
            out[str(name)] = int(years[below][0]) if below.any() else None
    return out
