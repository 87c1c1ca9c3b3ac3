"""Checks of a scenario against the world it names, run before anything is built: its size (a
synthetic world from its knobs, a roster from its rows) and the names its eligibility uses."""

from __future__ import annotations

from sim.config.scenario import ScenarioError, name_problems
from sim.world.presets import data_rows, expected_teachers, roster_names, roster_paths


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
    n = data_rows(teachers_csv)
    if n is not None and n > w.max_teachers:
        raise ScenarioError(f"world.roster.teachers_csv: {teachers_csv} has {n:,} teachers, above "
                            f"world.max_teachers ({w.max_teachers:,})")
    names = roster_names(schools_csv)
    if names:
        problems = name_problems(scenario, list(names[0]), list(names[1]), str(schools_csv))
        if problems:
            raise ScenarioError(f"{problems[0][0]}: {problems[0][1]}")


def quota_warnings(scenario) -> list[str]:
    """Quotas larger than the whole world can ever supply. They are not errors: each year a quota
    is capped at the number of teachers eligible in the district (sim.policies.selection), so the
    run goes on with every eligible teacher selected; these lines say so before it starts."""
    w = scenario.world
    if w.preset == "roster":
        n = data_rows(roster_paths(scenario)[1])
        if n is None:
            return []
        what = f"the {n:,} teachers of the roster"
    else:
        n = expected_teachers(w)
        what = f"the about {n:,} teachers of this world"
    return [f"policy.programs.{i}.quota.min_count: {p.quota.min_count:,} is above {what}; each year it is "
            f"capped at the number eligible" for i, p in enumerate(scenario.policy.programs) if p.quota.min_count > n]
