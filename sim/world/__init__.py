"""Building the world a run starts from: a synthetic preset or a real roster."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.world.presets import PRESETS, data_rows, expected_teachers, roster_file
from sim.world.roster import RosterError, read_roster, write_roster
from sim.world.synthetic import steady_tenures, synthetic_world
from sim.world.system import SchoolSystem, build_graph

__all__ = ["SchoolSystem", "RosterError", "build_world", "check_roster", "read_roster", "write_roster",
           "expected_teachers"]


def build_world(world, rng: np.random.Generator, source_dir: str | Path = ".") -> SchoolSystem:
    """Build the SchoolSystem described by a scenario's `world` section, with its place graph."""
    if world.preset == "roster":
        r = world.roster
        schools_csv, teachers_csv = roster_file(source_dir, r.schools_csv), roster_file(source_dir, r.teachers_csv)
        twinning_csv = roster_file(source_dir, r.twinning_csv) if r.twinning_csv else None
        rows = data_rows(teachers_csv)  # counted while streaming: refused before it is read
        if rows is not None and rows > world.max_teachers:
            raise RosterError(f"{teachers_csv}: {rows} teachers is above world.max_teachers ({world.max_teachers})")
        system = read_roster(schools_csv, teachers_csv, twinning_csv)
        if system.n_teachers > world.max_teachers:
            raise RosterError(f"{teachers_csv}: {system.n_teachers} teachers is above "
                              f"world.max_teachers ({world.max_teachers})")
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
            twinning_pairs_per_district=world.twinning_pairs_per_district,
        )
        if world.initial_tenure_max is not None:
            steady_tenures(system, world.initial_tenure_max, rng)
    system.check()
    system.graph = build_graph(system)
    return system


def check_roster(scenario) -> None:
    """Read a roster scenario's CSV files as a run would (RosterError on the first problem); nothing
    to do for a synthetic world, whose knobs the schema has already checked."""
    if scenario.world.preset == "roster":
        build_world(scenario.world, np.random.default_rng(0), scenario.source_dir)
