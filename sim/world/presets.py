"""Sizes of the synthetic presets, kept apart from the generator so that checking a scenario's
size (before anything is built) needs no heavy imports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Preset:
    """Size and shape of a synthetic city."""

    district_names: tuple[str, ...]
    district_types: tuple[str, ...]
    schools_per_district: int
    teachers_per_school: float
    groups_per_district: int
    school_districts_per_district: int
    twinning_pairs_per_district: int
    words: str = ""  # the report's "A synthetic ... world"


# Dongcheng: about 79 schools and 8,800 teachers, 7 education groups and 27 twinning pairs (seed
# articles, 2021 plan); 8 school districts is the project's assumption (issue 2), not a sourced figure.
DONGCHENG = Preset(("Dongcheng",), ("urban_core",), 79, 8800 / 79, 7, 8, 27, words="Dongcheng-shaped")

# Beijing: 16 districts; about 1,600 compulsory schools and 120,000 teachers are round figures of
# the project's (issue 2), not sourced counts.
BEIJING = Preset(
    ("Dongcheng", "Xicheng", "Chaoyang", "Haidian", "Fengtai", "Shijingshan", "Fangshan",
     "Tongzhou", "Shunyi", "Changping", "Daxing", "Mentougou", "Huairou", "Pinggu", "Miyun",
     "Yanqing"),
    ("urban_core", "urban_core", "inner_suburb", "inner_suburb", "inner_suburb", "inner_suburb",
     "outer_suburb", "outer_suburb", "outer_suburb", "outer_suburb", "outer_suburb", "rural",
     "rural", "rural", "rural", "rural"),
    100, 75.0, 8, 10, 30, words="Beijing-shaped",
)

# The one list of synthetic presets: the scenario's `world.preset` choices (and "roster") come from it.
PRESETS = {"dongcheng": DONGCHENG, "beijing": BEIJING}


@dataclass(frozen=True)
class Shape:
    """What a synthetic world will hold, known from its size knobs before it is built."""

    district_names: list[str]
    school_district_names: list[str]
    schools_per_district: int
    groups: int  # education groups per district
    twinning_pairs: int  # pairs asked for per district (fewer when there are too few strong schools)
    teachers: int  # about this many
    school_districts: int  # per district
    teachers_per_school: float  # on average


def preset_shape(preset: Preset, scale: float = 1.0, districts: int | None = None,
                 schools_per_district: int | None = None, teachers_per_school: float | None = None,
                 groups_per_district: int | None = None, school_districts_per_district: int | None = None,
                 twinning_pairs_per_district: int | None = None) -> Shape:
    """The one resolution of a synthetic world's size knobs (any given overrides the preset's);
    `sim.world.synthetic` builds from it and the checks before a run read it."""
    k = len(preset.district_names)
    n_d = districts or k
    names = [preset.district_names[d % k] + ("" if d < k else f"_{d // k + 1}") for d in range(n_d)]
    per_d = max(2, round((schools_per_district or preset.schools_per_district) * scale))
    n_sd = max(1, min(school_districts_per_district or preset.school_districts_per_district, per_d))
    groups = preset.groups_per_district if groups_per_district is None else groups_per_district
    pairs = preset.twinning_pairs_per_district if twinning_pairs_per_district is None else twinning_pairs_per_district
    tps = teachers_per_school or preset.teachers_per_school
    return Shape(names, [f"{n}-SD{j + 1}" for n in names for j in range(n_sd)], per_d,
                 min(groups, per_d // 2), pairs, int(n_d * per_d * tps), n_sd, tps)


def synthetic_shape(world) -> Shape:
    """Names and sizes of a scenario's synthetic world (its `world` section), before it is built."""
    return preset_shape(PRESETS[world.preset], world.scale, world.districts, world.schools_per_district,
                        world.teachers_per_school, world.groups_per_district,
                        world.school_districts_per_district, world.twinning_pairs_per_district)


def expected_teachers(world) -> int:
    """Teachers a synthetic world would hold, computed before building it (to refuse absurd sizes)."""
    return synthetic_shape(world).teachers


def roster_file(source_dir: str | Path, name: str) -> Path:
    """A roster CSV named in a scenario, relative to the scenario's folder, with `..` resolved in
    the text (so messages name the file plainly)."""
    return Path(os.path.normpath(Path(source_dir) / name))


def roster_paths(scenario) -> tuple[Path, Path]:
    """The schools and teachers CSV files of a roster scenario."""
    r = scenario.world.roster
    return roster_file(scenario.source_dir, r.schools_csv), roster_file(scenario.source_dir, r.teachers_csv)


def _stamp(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path.resolve()), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=16)
def _data_rows(stamp: tuple[str, int, int]) -> int | None:
    from sim.world.roster import (  # in-function: sizes are checked before the roster reader is needed
        RosterError,
        count_rows,
    )

    try:
        return count_rows(stamp[0], "teachers")
    except RosterError:
        return None


def data_rows(path: Path) -> int | None:
    """Data rows of a teachers roster file, counted while streaming (nothing kept); None when it
    cannot be read (the roster reader then says why)."""
    stamp = _stamp(path)
    return None if stamp is None else _data_rows(stamp)


def roster_rows_above(teachers_csv: Path, max_teachers: int) -> int | None:
    """The one roster size check (world.max_teachers): the teachers file's row count when it is
    above the limit, else None (also when it cannot be counted: the roster reader then says why).
    Rows are counted while streaming, so a file too large is refused before it is read into
    memory, and with the reader's own row loop, so a roster that passes has exactly that many
    teachers once read (no second check after reading)."""
    n = data_rows(teachers_csv)
    return n if n is not None and n > max_teachers else None


def roster_names(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The district and school-district names of a schools roster file, in file order; None when
    it cannot be read or is empty."""
    stamp = _stamp(path)
    return None if stamp is None else _roster_names(stamp)


@lru_cache(maxsize=16)
def _roster_names(stamp: tuple[str, int, int]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    districts: dict[str, None] = {}
    school_districts: dict[str, None] = {}
    from sim.world.roster import RosterError, read_table  # in-function: as above

    try:
        rows = read_table(stamp[0], "schools").rows  # headers and file formats as the roster reader reads them
    except RosterError:
        return None
    if not rows:
        return None
    for _, row in rows:
        d = (row.get("district") or "").strip()
        if d:
            districts.setdefault(d)
            school_districts.setdefault((row.get("school_district") or "").strip() or f"{d}-all")
    return tuple(districts), tuple(school_districts)
