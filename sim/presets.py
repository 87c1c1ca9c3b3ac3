"""Sizes of the synthetic presets, kept apart from the generator so that checking a scenario's
size (before anything is built) needs no heavy imports."""

from __future__ import annotations

from dataclasses import dataclass


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


# Dongcheng: about 79 schools and 8,800 teachers, 7 education groups and 27 twinning pairs (seed
# articles, 2021 plan); 8 school districts is the project's assumption (issue 2), not a sourced figure.
DONGCHENG = Preset(("Dongcheng",), ("urban_core",), 79, 8800 / 79, 7, 8, 27)

# Beijing: 16 districts; about 1,600 compulsory schools and 120,000 teachers are round figures of
# the project's (issue 2), not sourced counts.
BEIJING = Preset(
    ("Dongcheng", "Xicheng", "Chaoyang", "Haidian", "Fengtai", "Shijingshan", "Fangshan",
     "Tongzhou", "Shunyi", "Changping", "Daxing", "Mentougou", "Huairou", "Pinggu", "Miyun",
     "Yanqing"),
    ("urban_core", "urban_core", "inner_suburb", "inner_suburb", "inner_suburb", "inner_suburb",
     "outer_suburb", "outer_suburb", "outer_suburb", "outer_suburb", "outer_suburb", "rural",
     "rural", "rural", "rural", "rural"),
    100, 75.0, 8, 10, 30,
)

PRESETS = {"dongcheng": DONGCHENG, "beijing": BEIJING}


def expected_teachers(world) -> int:
    """Teachers a synthetic world would hold, computed before building it (to refuse absurd sizes)."""
    preset = PRESETS[world.preset]
    n_d = world.districts or len(preset.district_names)
    per_d = max(2, round((world.schools_per_district or preset.schools_per_district) * world.scale))
    return int(n_d * per_d * (world.teachers_per_school or preset.teachers_per_school))


def check_size(scenario) -> None:
    """Refuse, before building anything, a synthetic world above `world.max_teachers`."""
    from sim.scenario import ScenarioError

    w = scenario.world
    if w.preset != "roster":
        n = expected_teachers(w)
        if n > w.max_teachers:
            raise ScenarioError(f"world: about {n:,} teachers is above world.max_teachers "
                                f"({w.max_teachers:,}); lower world.scale or the size knobs")
