"""Building the world a run starts from: a synthetic preset or a real roster."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.world.presets import PRESETS, expected_teachers, roster_file, roster_rows_above
from sim.world.roster import RosterError, read_roster, write_roster
from sim.world.synthetic import steady_tenures, synthetic_world
from sim.world.system import SchoolSystem, build_graph

__all__ = ["SchoolSystem", "RosterError", "build_world", "check_history", "check_roster", "read_roster",
           "write_roster", "expected_teachers"]


# the oldest ages a synthetic world draws without a careers.retirement section: a year below the
# statutory ages of men (60) and women teachers (55) before 2025 (sources.md: NPC-2024)
OLDEST = (59, 54)


def build_world(world, rng: np.random.Generator, source_dir: str | Path = ".", retirement=None) -> SchoolSystem:
    """Build the SchoolSystem described by a scenario's `world` section, with its place graph.
    `retirement` (the scenario's `careers.retirement`; its defaults when None) caps the ages a
    synthetic world draws a year below each sex's original statutory age."""
    if world.preset == "roster":
        r = world.roster
        schools_csv, teachers_csv = roster_file(source_dir, r.schools_csv), roster_file(source_dir, r.teachers_csv)
        twinning_csv = roster_file(source_dir, r.twinning_csv) if r.twinning_csv else None
        rows = roster_rows_above(teachers_csv, world.max_teachers)  # refused before it is read
        if rows is not None:
            raise RosterError(f"{teachers_csv}: {rows} teachers is above world.max_teachers ({world.max_teachers})")
        system = read_roster(schools_csv, teachers_csv, twinning_csv)
        try:
            system.check()
        except ValueError as exc:
            raise RosterError(f"{schools_csv}: {exc}") from None
    else:
        system = synthetic_world(
            PRESETS[world.preset], rng, scale=world.scale, districts=world.districts,
            schools_per_district=world.schools_per_district, teachers_per_school=world.teachers_per_school,
            groups_per_district=world.groups_per_district,
            school_districts_per_district=world.school_districts_per_district,
            twinning_pairs_per_district=world.twinning_pairs_per_district, staff=world,
            oldest=OLDEST if retirement is None else (retirement.men_age - 1, retirement.women_age - 1),
        )
    if world.initial_tenure_max is not None:
        steady_tenures(system, world.initial_tenure_max, rng, world.initial_tenure_weights)
    system.check()
    system.graph = build_graph(system)
    return system


def check_roster(scenario) -> None:
    """Read a roster scenario's CSV files as a run would (RosterError on the first problem); nothing
    to do for a synthetic world, whose knobs the schema has already checked."""
    if scenario.world.preset == "roster":
        system = build_world(scenario.world, np.random.default_rng(0), scenario.source_dir,
                             scenario.careers.retirement)
        check_history(system, scenario)


def check_history(system: SchoolSystem, scenario) -> None:
    """A roster that gives each teacher's past rotations cannot also have one drawn."""
    years = scenario.careers.tenure.history_years
    if "past_rotations" in system.teachers and years:
        r = scenario.world.roster
        where = roster_file(scenario.source_dir, r.teachers_csv) if r else "the world"
        raise RosterError(f"{where}: column past_rotations: the roster gives each teacher's rotation history, "
                          f"and careers.tenure.history_years ({years}) would draw another; set it to 0")
