"""Checks of a scenario against the world it names, run before anything is built: its size (a
synthetic world from its knobs, a roster from its rows), the names its programs use, and head-count
quotas larger than a district's staff."""

from __future__ import annotations

from sim.config.scenario import ScenarioError, name_problems
from sim.policies.selection import scaled_count
from sim.world.presets import (
    data_rows,
    expected_teachers,
    roster_names,
    roster_paths,
    roster_rows_above,
    synthetic_shape,
)


def check_size(scenario) -> None:
    """Refuse, before building anything, a world above `world.max_teachers` (a synthetic world from
    its knobs, a roster from the rows of teachers.csv), and eligibility naming a district or school
    district that a roster's schools.csv does not have."""
    w = scenario.world
    if w.preset != "roster":
        n = expected_teachers(w)
        if n > w.max_teachers:
            raise ScenarioError(f"world: about {n:,} teachers is above world.max_teachers "
                                f"({w.max_teachers:,}); lower world.scale or the size knobs")
        return
    schools_csv, teachers_csv = roster_paths(scenario)
    n = roster_rows_above(teachers_csv, w.max_teachers)
    if n is not None:
        raise ScenarioError(f"world.roster.teachers_csv: {teachers_csv} has {n:,} teachers, above "
                            f"world.max_teachers ({w.max_teachers:,})")
    names = roster_names(schools_csv)
    if names:
        problems = name_problems(scenario, list(names[0]), list(names[1]), str(schools_csv))
        if problems:
            raise ScenarioError(f"{problems[0][0]}: {problems[0][1]}")


def quota_warnings(scenario) -> list[str]:
    """Head-count quotas larger than a district's whole staff, said before the run starts; they are
    not errors: each year a district's quota is capped at the number eligible there
    (sim.policies.selection), which also warns, once per program and district, when that year's
    pool is short. A synthetic world's head counts are scaled by world.scale and compared with each
    district's teachers (`count_scope: city`: the total with the whole world's); a roster's are
    compared with all its teachers (a district's size is known only once the roster is read)."""
    w = scenario.world
    lines = []
    if w.preset == "roster":
        n = data_rows(roster_paths(scenario)[1])
        if n is None:
            return []
        return [f"policy.programs.{i}.quota.min_count: {p.quota.min_count:,} is above the {n:,} teachers of the "
                f"roster; each year it is capped at the number eligible"
                for i, p in enumerate(scenario.policy.programs) if p.quota.min_count > n]
    shape = synthetic_shape(w)
    per_district = shape.teachers // len(shape.district_names)
    for i, p in enumerate(scenario.policy.programs):
        q = p.quota
        if q.count_scope == "city":
            k = scaled_count(q.min_count, w)
            if k > shape.teachers:
                scaled = f" (x world.scale: {k:,})" if k != q.min_count else ""
                lines.append(f"policy.programs.{i}.quota.min_count: {q.min_count:,}{scaled} is above the about "
                             f"{shape.teachers:,} teachers of this world; each year it is capped at the number "
                             "eligible")
            continue
        for name in shape.district_names:
            key = "min_count_by_district" if name in q.min_count_by_district else "min_count"
            given = q.min_count_by_district.get(name, q.min_count)
            k = scaled_count(given, w)
            if k > per_district:
                scaled = f" (x world.scale: {k:,})" if k != given else ""
                lines.append(f"policy.programs.{i}.quota.{key}: {given:,} a year in district {name}{scaled} is "
                             f"above its about {per_district:,} teachers; each year it is capped at the number "
                             "eligible there")
    return lines
