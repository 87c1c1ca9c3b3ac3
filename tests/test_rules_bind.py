"""Every rule a shipped scenario sets binds (issue 15 item 9): for every file of scenarios/ (no
exceptions list: a newly shipped file is covered, and fails until each rule it sets has a case),
each rule the file sets is removed one at a time (on a small world, 2 seeds, 3 years unless the
outcome is read earlier or later) and a stated outcome must move the stated way. A second test
checks that the cases cover every rule the files set, so a rule added later without a case fails.
`world.start_year` counts as a rule: it decides when the 2024 decision's rise of the retirement ages
starts (retirements move). A program's `points` block (korea_points) counts every key it writes,
defaults included: the weights are Seoul's placement rule, removed by setting them to 0 (the list of
wishes to one school). baseline_drift sets no rule beyond the base and needs no case.
A program's shaping keys (scope, matching, form, terms) are counted as the file writes them,
defaults restated included, and each is set to the default or another allowed value
(SHAPING_CASES); a key that cannot bind in its scenario is listed with the reason (CANNOT_BIND)
and a test checks that changing it leaves the runs identical.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import yaml
from conftest import REPO

from sim.codes import DISTRICT_TYPES, MOVE_KINDS, ROLES, TIERS
from sim.config.scenario import Program, load_scenario
from sim.experiments.run import simulate
from sim.experiments.whatif import small_world
from sim.world.retirement import years_left

SEEDS, YEARS = (0, 1), 3
# (districts, schools per district, teachers per school, shape overrides); None: the preset's
# districts (Japan's board hires into rural districts too, where hire_placement binds). Dongcheng's
# 79 schools form 8 school districts and 7 groups (about 10 schools each); a 15-school world comes
# near that with 3 school districts (the pilot is SD3) and 2 groups of 5-8 schools: with the
# preset's 8 and 7 kept, the pilot school district held 2
# schools and most groups 1-2, and with hosts capped at their norm such blocks have no room to
# receive, so the pilot and the training flow moved 0-2 teachers a year and bound on nothing.
WORLDS = {"japan_prefectural": (None, 6, 20, ()), "china_2014_floor": (None, 15, 10, ()),
          "dongcheng_2021": (None, 30, 25, ("world.school_districts_per_district=3", "world.groups_per_district=3")),
          "shanghai_10yr": (None, 20, 25, ()), "beijing_2022_citywide": (None, 8, 20, ()),
          "korea_points": (None, 8, 20, ())}
SHIPPED = sorted(p.stem for p in (REPO / "scenarios").glob("*.yaml") if not p.name.startswith("_"))


def metric(name: str, group: str = "all", year: int = 1, years: int | None = None):
    def read(m) -> float:
        return next(v for y, k, g, v in m.metric_rows if (k, g, y) == (name, group, year))
    read.__name__ = f"{name}:{group}@{year}"
    read.years = years or max(YEARS, year)  # runs as long as the year read (or as asked)
    return read


def summed(name: str):
    """A metric summed over years 1-3."""
    def read(m) -> float:
        return float(sum(v for y, k, g, v in m.metric_rows if k == name and g == "all" and 1 <= y <= YEARS))
    read.__name__ = f"{name}:all@1-{YEARS}"
    return read


def moves_of(kind: str, m):
    c = m.move_log.columns()
    return c, (c["kind"] == MOVE_KINDS.index(kind))


def cadre_moves(m) -> float:
    """Principals and other cadres exchanged by the cadre pipeline in years 1-3."""
    return float(moves_of("cadre_rotation", m)[1].sum())


def cadre_moves_over(years: int):
    """Cadre-pipeline exchanges over a longer run (a rule that binds only as principals pass two terms)."""
    def read(m) -> float:
        return cadre_moves(m)
    read.__name__ = f"cadre_moves@1-{years}"
    read.years = years
    return read


def hires_at_weak_schools(m) -> float:
    """Share of the hires of years 1-3 placed at weak and rural schools."""
    c, hire = moves_of("hire", m)
    tier = m.world.schools["tier"][c["to_school"][hire & (c["year"] >= 1)]]
    return float(np.mean(tier <= TIERS.index("weak")))


def year1_rotators(m, what: str) -> float:
    """A share among the teachers who started a rotation in year 1."""
    c, rot = moves_of("rotation", m)
    rows = c["teacher"][rot & (c["year"] == 1)]
    wf = m.workforce
    return float(np.mean({"cadre": wf.role[rows] > 0, "junior": wf.level[rows] == 1,
                          "leader": np.isin(wf.role[rows], [ROLES.index("principal"), ROLES.index("vice_principal")]),
                          "rotated_before": wf.past_rotations[rows] > 0}[what]))


def near_retirement_among_year1_rotators(m) -> float:
    """Share of year-1 rotators who then had fewer than 6 years to their own retirement age (the
    district exchange's rule exempts them; the runs end in year 3, two years after)."""
    c, rot = moves_of("rotation", m)
    rows = c["teacher"][rot & (c["year"] == 1)]
    wf = m.workforce
    left = years_left(wf.age[rows], wf.birth_month[rows], wf.retire_months[rows]) + (YEARS - 1)
    return float(np.mean(left < 6))


def past_ten_years_at_school(m) -> float:
    """Share of the teachers in post at year 3 who have been 10 years or more at their school."""
    wf = m.workforce
    return float(np.mean(wf.years_at_school[wf.active] >= 10))


def host_tier_correlation(what: str):
    """Across the year-1 rotators, the correlation of the host's tier with a teacher's hardship
    years, quality or backbone level: how far points decide who gets the stronger schools (a
    higher-ranked teacher picks first)."""
    def read(m) -> float:
        c, rot = moves_of("rotation", m)
        rot &= c["year"] == 1
        x = {"hardship": m.workforce.hardship_years[c["teacher"][rot]], "quality": c["quality"][rot],
             "backbone": c["backbone"][rot]}[what]
        return float(np.corrcoef(x, m.world.schools["tier"][c["to_school"][rot]])[0, 1])
    read.__name__ = f"host_tier_vs_{what}@1"
    read.years = 1
    return read


URBAN_CORE = DISTRICT_TYPES.index("urban_core")


@cache
def beijing_districts(program: str) -> list[str]:
    """The districts a beijing_2022_citywide program names in its file."""
    data = yaml.safe_load((REPO / "scenarios" / "beijing_2022_citywide.yaml").read_text(encoding="utf-8"))
    return next(p for p in data["policy"]["programs"] if p["name"] == program)["eligibility"]["districts"]


def sending_staffing(program: str):
    """At the end of year 1, teachers present per post at the schools that sent the program's
    year-1 rotators (1 = at the norm)."""
    def read(m) -> float:
        c, wf = program_moves(m, program)
        home = np.unique(c["from_school"])
        present = np.bincount(wf.host[wf.active], minlength=m.world.n_schools)
        return float(np.mean(present[home] / m.world.schools["norm"][home]))
    read.__name__ = f"{program}:sending_staffing@1"
    read.years = 1
    return read


def program_moves(m, program: str):
    """Columns of the year-1 rotations of one program, and the workforce."""
    c, rot = moves_of("rotation", m)
    names = np.asarray(m.move_log.programs, dtype=object)[c["program"]]
    keep = rot & (c["year"] == 1) & (names == program)
    return {k: v[keep] for k, v in c.items()}, m.workforce


def of_program(program: str, what: str):
    """A year-1 outcome of one program's rotations (Beijing's programs act on different districts)."""
    def read(m) -> float:
        c, wf = program_moves(m, program)
        s, rows = m.world.schools, c["teacher"]
        dist = s["district"]
        if what == "count":
            return float(len(rows))
        if what == "into_yanqing":  # a count: a one-way program whose hosts are full places nobody
            return float(np.sum(dist[c["to_school"]] == m.world.district_names.index("Yanqing")))
        pick = {
            "backbone": lambda: c["backbone"] >= 1,  # any backbone level ("backbone first" ranks by level)
            "cadre": lambda: wf.role[rows] > 0,
            "quality": lambda: c["quality"],
            "to_urban_core": lambda: m.world.district_types[dist[c["to_school"]]] == URBAN_CORE,
            "to_strong": lambda: s["tier"][c["to_school"]] >= TIERS.index("strong"),
            # (a paired exchange's counterparts come from outside: they count too)
            "from_outside": lambda: ~np.isin(np.asarray(m.world.district_names)[dist[c["from_school"]]],
                                             beijing_districts(program)),
        }
        return float(np.mean(pick[what]()))
    read.__name__ = f"{program}:{what}@1"
    return read


def leaders_among_year1_rotators(m) -> float:
    return year1_rotators(m, "leader")


def rotations_from_weak_schools(m) -> float:
    """Share of the rotations of years 1-3 sent by weak and rural schools."""
    c, rot = moves_of("rotation", m)
    return float(np.mean(m.world.schools["tier"][c["from_school"][rot]] <= TIERS.index("weak")))


def cadres_among_year1_rotators(m) -> float:
    return year1_rotators(m, "cadre")


def junior_among_year1_rotators(m) -> float:
    return year1_rotators(m, "junior")


def rotated_before_among_year1_rotators(m) -> float:
    return year1_rotators(m, "rotated_before")


@cache
def outcome_runs(name: str, sets: tuple[str, ...], years: int = YEARS):
    districts, schools, teachers, shape = WORLDS[name]
    sc = small_world(REPO / "scenarios" / f"{name}.yaml", districts=districts, schools_per_district=schools,
                     teachers_per_school=teachers, overrides=[*shape, *sets])
    return [simulate(sc, seed, years) for seed in SEEDS]


def mean_outcome(name: str, sets: tuple[str, ...], read) -> float:
    return float(np.mean([read(m) for m in outcome_runs(name, sets, getattr(read, "years", YEARS))]))


P = "policy.programs"
J, C, D, T = f"{P}.periodic_transfer", f"{P}.teachers", f"{P}.district_exchange", f"{P}.ten_year_cycle"
DX_KEYS = ["never_rotated", "teachers_before_cadres", "primary_before_junior", "backbone_first"]


def priority_without(key: str) -> str:
    return f"{D}.priority=[{', '.join(k for k in DX_KEYS if k != key)}]"


# (scenario, rule as its file sets it, the removal, the outcome, the direction it must move: -1, +1)
CASES = [
    ("japan_prefectural", "world.initial_tenure_max", ("world.initial_tenure_max=null",
     "world.initial_tenure_weights=null"), metric("rotations"), +1),
    # the early movers thin the cycle's last year: drawn uniform, a full cohort is due in year 1
    ("japan_prefectural", "world.initial_tenure_weights", "world.initial_tenure_weights=null", metric("rotations"),
     +1),
    ("japan_prefectural", "careers.hire_placement", "careers.hire_placement=vacancies", hires_at_weak_schools, -1),
    ("japan_prefectural", "periodic_transfer.eligibility.min_years_at_school",
     f"{J}.eligibility.min_years_at_school=0", metric("rotations"), +1),
    ("japan_prefectural", "periodic_transfer.quota.mandatory_after_years", f"{J}.quota.mandatory_after_years=null",
     metric("rotations"), -1),
    ("japan_prefectural", "periodic_transfer.quota.share_of_eligible", f"{J}.quota.share_of_eligible=0",
     metric("rotations"), -1),
    ("japan_prefectural", "periodic_transfer.quota.share_beyond_mandatory", f"{J}.quota.share_beyond_mandatory=false",
     metric("rotations"), -1),
    ("japan_prefectural", "periodic_transfer.priority", f"{J}.priority=[]", metric("rotations", year=2), +1),
    # Japan's principals move with the periodic transfer, not by China's two-term rule: put back, the
    # rule exchanges principals besides it (those the transfer left unplaced past 6 years: none in
    # years 1-3 from the steady-state start, so read over 8 years as korea_points' over 10)
    ("japan_prefectural", "careers.cadres.principal_terms", "careers.cadres.principal_terms=2", cadre_moves_over(8),
     +1),
    # Japan's retirement: one age, 60, for men and women (not China's schedule): without it women
    # retire at 55 and more teachers retire. The schedule and the women's age are one rule: China's
    # schedule exists only with women at 55 (or 50), so removing it removes Japan's age too.
    ("japan_prefectural", "careers.retirement.women_age", "careers.retirement.women_age=55", summed("retirements"),
     +1),
    ("japan_prefectural", "careers.retirement.schedule",
     ("careers.retirement.schedule=china_2024", "careers.retirement.women_age=55"), summed("retirements"), +1),
    ("japan_prefectural", "periodic_transfer.commute_cap_minutes", f"{J}.commute_cap_minutes=null",
     metric("mean_commute"), +1),

    ("china_2014_floor", "careers.cadres.principal_terms", "careers.cadres.principal_terms=0", cadre_moves, -1),
    ("china_2014_floor", "careers.cadres.principal_defer_share", "careers.cadres.principal_defer_share=0.5",
     cadre_moves, -1),
    ("china_2014_floor", "teachers.eligibility.roles",
     f"{C}.eligibility.roles=[teacher, principal, vice_principal, middle_manager]", leaders_among_year1_rotators, +1),
    ("china_2014_floor", "teachers.eligibility.sending_tiers", f"{C}.eligibility.sending_tiers=[rural, weak, "
     "ordinary, strong, leading]", rotations_from_weak_schools, +1),
    ("china_2014_floor", "teachers.quota.share_of_eligible", f"{C}.quota.share_of_eligible=0", metric("rotations"), -1),
    ("china_2014_floor", "teachers.quota.per_school", f"{C}.quota.per_school=false", metric("rotations"), -1),
    ("china_2014_floor", "teachers.backbone_floor", f"{C}.backbone_floor=0", metric("backbone_share_rotators"), -1),
    ("china_2014_floor", "teachers.selection", f"{C}.selection=district", metric("backbone_share_rotators"), +1),
    ("china_2014_floor", "teachers.gaming", f"{C}.gaming=0", metric("backbone_share_rotators"), +1),
    # one for one: without the counterpart, strong schools lose head count and weak hosts, capped at
    # their norm, take only their vacancies, so teachers per 100 students spread more between schools
    ("china_2014_floor", "teachers.exchange", f"{C}.exchange=one_way", metric("cv_teachers"), +1),
    # the world's calendar: year 0 is 2014, so the 2024 decision's rise of the retirement ages
    # (from January 2025) starts in year 11; from the base's 2021 it starts in year 4, and fewer retire
    ("china_2014_floor", "world.start_year", "world.start_year=2021", metric("retirements", year=5), -1),
    ("china_2014_floor", "teachers.direction", f"{C}.direction=any", metric("rotations", year=3), +1),

    ("dongcheng_2021", "careers.tenure.history_years", "careers.tenure.history_years=0",
     rotated_before_among_year1_rotators, -1),
    ("dongcheng_2021", "careers.tenure.history_rate", "careers.tenure.history_rate=0.05",
     rotated_before_among_year1_rotators, -1),
    ("dongcheng_2021", "careers.tenure.rotation_counts", "careers.tenure.rotation_counts=reset",
     metric("rotations", year=2), -1),
    ("dongcheng_2021", "policy.double_teacher.classrooms", "policy.double_teacher.classrooms=0",
     metric("achievement", year=3), -1),
    ("dongcheng_2021", "twinning_pairs.quota.share_of_eligible", f"{P}.twinning_pairs.quota.share_of_eligible=0",
     metric("rotations"), -1),
    ("dongcheng_2021", "pilot_school_district.quota.share_of_eligible",
     f"{P}.pilot_school_district.quota.share_of_eligible=0", metric("rotations"), -1),
    ("dongcheng_2021", "training_flow.quota.share_of_eligible", f"{P}.training_flow.quota.share_of_eligible=0",
     metric("rotations"), -1),
    ("dongcheng_2021", "district_exchange.eligibility.min_years_at_school",
     f"{D}.eligibility.min_years_at_school=0", metric("rotations"), +1),
    ("dongcheng_2021", "district_exchange.eligibility.min_years_to_retirement",
     f"{D}.eligibility.min_years_to_retirement=0", near_retirement_among_year1_rotators, +1),
    ("dongcheng_2021", "district_exchange.quota.min_count", f"{D}.quota.min_count=0", metric("rotations"), -1),
    ("dongcheng_2021", "district_exchange.quota.coverage_years", f"{D}.quota.coverage_years=null",
     metric("coverage_eligible", year=3), -1),
    ("dongcheng_2021", "district_exchange.priority.never_rotated", priority_without("never_rotated"),
     rotated_before_among_year1_rotators, +1),
    ("dongcheng_2021", "district_exchange.priority.teachers_before_cadres", priority_without("teachers_before_cadres"),
     cadres_among_year1_rotators, +1),
    ("dongcheng_2021", "district_exchange.priority.primary_before_junior", priority_without("primary_before_junior"),
     junior_among_year1_rotators, +1),
    ("dongcheng_2021", "district_exchange.priority.backbone_first", priority_without("backbone_first"),
     metric("backbone_share_rotators"), -1),

    ("shanghai_10yr", "ten_year_cycle.eligibility.min_years_at_school", f"{T}.eligibility.min_years_at_school=0",
     metric("rotations"), +1),
    ("shanghai_10yr", "ten_year_cycle.quota.share_of_staff", f"{T}.quota.share_of_staff=0", metric("rotations"), -1),
    # the 5% a year outruns the 10-year cycle at first; the cycle binds as its end nears (year 8:
    # the never-rotated left over 3 years)
    ("shanghai_10yr", "ten_year_cycle.quota.coverage_years", f"{T}.quota.coverage_years=null",
     metric("rotations", year=8), -1),
    # never rotated, then longest tenure: those nearest the 10 years go first, so fewer pass them
    ("shanghai_10yr", "ten_year_cycle.priority", f"{T}.priority=[]", past_ten_years_at_school, +1),
    ("shanghai_10yr", "world.start_year", "world.start_year=2021", metric("retirements", year=5), -1),
]

# korea_points: fixed 5-year terms placed by points and wishes (read on year 1 unless said)
K = f"{P}.five_year_transfer"
CASES += [
    ("korea_points", "world.initial_tenure_max", "world.initial_tenure_max=null", metric("rotations", years=1), +1),
    # one age, 62, for men and women: back to China's 60 and 55, more retire
    ("korea_points", "careers.retirement.men_age", "careers.retirement.men_age=60", summed("retirements"), +1),
    ("korea_points", "careers.retirement.women_age", "careers.retirement.women_age=55", summed("retirements"), +1),
    ("korea_points", "careers.retirement.schedule", ("careers.retirement.schedule=china_2024",
     "careers.retirement.men_age=60", "careers.retirement.women_age=55"), summed("retirements"), +1),
    # principals move with everyone at 5 years; the base's two 3-year terms come due only for a
    # principal the transfer left unplaced past 6 years (none in years 1-3, 10-15 in 10 years)
    ("korea_points", "careers.cadres.principal_terms", "careers.cadres.principal_terms=2", cadre_moves_over(10),
     +1),
    # eligible at 5 years, as the term is: removed (the schema's 6), the 5-year movers wait a year.
    # Set to 0 it changes nothing, since only the mandatory 5-year movers are selected (no share)
    ("korea_points", "five_year_transfer.eligibility.min_years_at_school",
     f"{K}.eligibility.min_years_at_school=6", metric("rotations", years=1), -1),
    ("korea_points", "five_year_transfer.quota.mandatory_after_years", f"{K}.quota.mandatory_after_years=null",
     metric("rotations", years=1), -1),
    ("korea_points", "five_year_transfer.points.location_weight", f"{K}.points.location_weight=0",
     host_tier_correlation("hardship"), -1),
    ("korea_points", "five_year_transfer.points.performance_weight", f"{K}.points.performance_weight=0",
     host_tier_correlation("quality"), -1),
    ("korea_points", "five_year_transfer.points.bonus_backbone", f"{K}.points.bonus_backbone=0",
     host_tier_correlation("backbone"), -1),
    # one wish instead of five: more teachers find their listed schools full and are placed by the
    # office at its largest vacancy, farther from home (docs/ODD.md 7.6.10)
    ("korea_points", "five_year_transfer.points.preferences", f"{K}.points.preferences=1",
     metric("mean_commute", years=1), +1),
]

# beijing_2022_citywide: each district's program acts on its own districts; without its list it
# takes rotators from other districts too (the share of its rotators from outside goes above 0)
H, Y, M = f"{P}.haidian_platform", f"{P}.yanqing_centre_exchange", f"{P}.miyun_pool"
X, PT = f"{P}.district_exchanges", f"{P}.part_time_exchange"
CASES += [
    ("beijing_2022_citywide", f"{p}.eligibility.districts", f"{P}.{p}.eligibility.districts=null",
     of_program(p, "from_outside"), +1) for p in ("haidian_platform", "yanqing_centre_exchange", "miyun_pool",
                                                  "district_exchanges")
] + [
    ("beijing_2022_citywide", f"{p}.quota.share_of_eligible", f"{P}.{p}.quota.share_of_eligible=0",
     of_program(p, "count"), -1) for p in ("haidian_platform", "yanqing_centre_exchange", "miyun_pool",
                                          "district_exchanges", "part_time_exchange")
] + [
    ("beijing_2022_citywide", "haidian_platform.priority", f"{H}.priority=[]", of_program("haidian_platform",
     "backbone"), -1),
    ("beijing_2022_citywide", "miyun_pool.priority", f"{M}.priority=[]", of_program("miyun_pool", "cadre"), +1),
    ("beijing_2022_citywide", "district_exchanges.priority", f"{X}.priority=[]", of_program("district_exchanges",
     "cadre"), +1),
    ("beijing_2022_citywide", "part_time_exchange.priority", f"{PT}.priority=[]", of_program("part_time_exchange",
     "backbone"), -1),
    # Yanqing's young teachers (up to 10 years' experience, 2 at the school) study at strong and
    # leading schools of the urban core, chosen strongest first; each host sends one back
    ("beijing_2022_citywide", "yanqing_centre_exchange.eligibility.max_experience",
     f"{Y}.eligibility.max_experience=null", of_program("yanqing_centre_exchange", "quality"), +1),
    ("beijing_2022_citywide", "yanqing_centre_exchange.eligibility.min_years_at_school",
     f"{Y}.eligibility.min_years_at_school=6", of_program("yanqing_centre_exchange", "count"), -1),
    ("beijing_2022_citywide", "yanqing_centre_exchange.priority", f"{Y}.priority=[]",
     of_program("yanqing_centre_exchange", "quality"), -1),
    ("beijing_2022_citywide", "yanqing_centre_exchange.receiving_district_types",
     f"{Y}.receiving_district_types=null", of_program("yanqing_centre_exchange", "to_urban_core"), -1),
    ("beijing_2022_citywide", "yanqing_centre_exchange.receiving_tiers", f"{Y}.receiving_tiers=null",
     of_program("yanqing_centre_exchange", "to_strong"), -1),
    ("beijing_2022_citywide", "yanqing_centre_exchange.exchange", f"{Y}.exchange=one_way",
     of_program("yanqing_centre_exchange", "into_yanqing"), -1),
    # the pool covers the sending post, so Miyun's schools keep their head count
    ("beijing_2022_citywide", "miyun_pool.backfill", f"{M}.backfill=none", sending_staffing("miyun_pool"), -1),
    # part-timers teach 40% of their load at the host, not the schema's half
    ("beijing_2022_citywide", "part_time_exchange.part_time_share", f"{PT}.part_time_share=0.5",
     metric("cv_effective_quality"), -1),
    # year 0 is 2022: the 2025 rise of the retirement ages starts in year 3, not year 4
    ("beijing_2022_citywide", "world.start_year", "world.start_year=2021", metric("retirements", year=3), +1),
]

# A program's shaping keys (scope, matching, form, terms: issue 15): each one the file writes, a
# default restated included, is set to the default or to another allowed value, and an outcome of
# that program's year-1 rotators moves: scope on who goes across the unit's border, matching on
# where rotators go, form on whether they come home or leave their post, terms on when they return.
def across(program: str, unit: str):
    """Year-1 rotations of a program whose host lies outside the home school's unit (a count: a
    narrower scope may place nobody); "twin": not at a twinning partner of the home school."""
    def read(m) -> float:
        c, _ = program_moves(m, program)
        frm, to = c["from_school"], c["to_school"]
        if unit == "twin":
            twins = m.world.twins
            return float(sum(t not in twins.get(f, []) for f, t in zip(frm.tolist(), to.tolist(), strict=True)))
        s = m.world.schools[unit]
        return float(np.sum(s[frm] != s[to]))
    read.__name__ = f"{program}:across_{unit}@1"
    return read


def host_tier(program: str):
    """Mean tier of the hosts of a program's year-1 rotators: need matching sends them where the
    gap is largest, which is the weaker schools (random matching spreads them)."""
    def read(m) -> float:
        c, _ = program_moves(m, program)
        return float(np.mean(m.world.schools["tier"][c["to_school"]]))
    read.__name__ = f"{program}:host_tier@1"
    return read


def to_leading(program: str):
    """Year-1 rotations of a program into a leading school (a count)."""
    def read(m) -> float:
        c, _ = program_moves(m, program)
        return float(np.sum(m.world.schools["leading"][c["to_school"]]))
    read.__name__ = f"{program}:to_leading@1"
    return read


def host_distance(program: str):
    """Mean straight-line distance from home to host of a program's year-1 rotators (optimal
    matching gives up equity for commute; need matching does not look at it)."""
    def read(m) -> float:
        c, _ = program_moves(m, program)
        s = m.world.schools
        return float(np.mean(np.hypot(s["x"][c["to_school"]] - s["x"][c["from_school"]],
                                      s["y"][c["to_school"]] - s["y"][c["from_school"]])))
    read.__name__ = f"{program}:host_distance@1"
    return read


def returned_in_year2(program: str):
    """Share of a program's year-1 rotators who went home in year 2 (a transfer has no return)."""
    def read(m) -> float:
        c, _ = program_moves(m, program)
        back, ret = moves_of("return", m)
        home = back["teacher"][ret & (back["year"] == 2)]
        return float(np.mean(np.isin(c["teacher"], home)))
    read.__name__ = f"{program}:returned@2"
    read.years = 2
    return read


# need matching shares out the backbone (and PE/art, quality) by each school's shortfall, so with
# random hosts the year-1 backbone CV is higher. Two programs are read otherwise (docs/ODD.md 7.17):
# Japan's transfers move the post, and the CV is 0.646 with need matching against 0.642 at random,
# so its case reads the hosts' tier (need sends transfers to the weaker schools). Miyun's pool moves
# the CV of Miyun's schools the other way (0.317 against 0.315 at random; the hosts' tier does not
# change): no direction is defensible on the test world, so its case asks only that the CV changes.
NEED_READS = {("japan_prefectural", "periodic_transfer"): (host_tier("periodic_transfer"), +1),
              ("beijing_2022_citywide", "miyun_pool"): (metric("cv_backbone", group="all@Miyun"), 0)}


def shaping_cases(name: str, program: str, sets: dict) -> list:
    """The cases of one program's shaping keys, as its file writes them (`sets`)."""
    key, out = f"{P}.{program}", []
    lo, hi = sets.get("term_years_min", 1), sets.get("term_years_max", 3)
    for k, v in sets.items():
        rule = f"{program}.{k}"
        if k == "scope" and v in ("district", "school_district", "twinning"):  # wider: more cross the border
            unit = {"district": "district", "school_district": "school_district", "twinning": "twin"}[v]
            wider = "city" if v == "district" else "district"
            out.append((name, rule, f"{key}.scope={wider}", across(program, unit), +1))
        elif k == "scope" and v == "city":  # narrower: nobody crosses a district border
            out.append((name, rule, f"{key}.scope=district", across(program, "district"), -1))
        elif k == "scope" and v == "group":  # the training flow's leading school exists only in the group
            out.append((name, rule, (f"{key}.scope=district", f"{key}.matching=need"), to_leading(program), -1))
        elif k == "matching" and v == "need":
            read, sign = NEED_READS.get((name, program), (metric("cv_backbone"), +1))
            out.append((name, rule, f"{key}.matching=random", read, sign))
        elif k == "matching" and v == "optimal":
            out.append((name, rule, f"{key}.matching=need", host_distance(program), +1))
        elif k == "matching" and v == "points":  # the points' backbone bonus picks the strong hosts first
            out.append((name, rule, f"{key}.matching=need", host_tier_correlation("backbone"), -1))
        elif k == "matching" and v == "leading_school":
            out.append((name, rule, f"{key}.matching=need", to_leading(program), -1))
        elif k == "form" and v == "transfer":  # a rotation's term ends and the teacher comes home
            out.append((name, rule, f"{key}.form=full_time", returned_in_year2(program), +1))
        elif k == "form" and v == "part_time":  # full-timers leave their home post uncovered
            out.append((name, rule, f"{key}.form=full_time", sending_staffing(program), -1))
        elif k == "term_years_min":  # at least 2 years: nobody is home in year 2
            out.append((name, rule, (f"{key}.term_years_min=2", f"{key}.term_years_max={max(hi, 2)}"),
                        returned_in_year2(program), -1))
        elif k == "term_years_max" and v > lo:  # all terms of the shortest length: all home in year 2
            out.append((name, rule, f"{key}.term_years_max={lo}", returned_in_year2(program), +1))
        elif k == "term_years_max":  # the schema's 1-3 years: some stay past year 2
            out.append((name, rule, f"{key}.term_years_max=3", returned_in_year2(program), -1))
    return out


SHAPING = ("scope", "matching", "form", "term_years_min", "term_years_max")


def written_shaping(name: str) -> dict[str, dict]:
    """Program -> the shaping keys its file writes, with their values."""
    data = yaml.safe_load((REPO / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8"))
    programs = (data.get("policy") or {}).get("programs") or []
    return {p["name"]: {k: p[k] for k in SHAPING if k in p} for p in programs}


# shaping keys that cannot bind in their scenario, and why (docs/ODD.md 7.17): a test checks that
# the change leaves the run identical, so an entry must go once the key binds
CANNOT_BIND = {
    ("dongcheng_2021", "district_exchange.scope", f"{P}.district_exchange.scope=city"):
        "the world is one district (Dongcheng), so the district is the city",
    ("shanghai_10yr", "ten_year_cycle.scope", f"{P}.ten_year_cycle.scope=city"):
        "the world is one district (the shanghai preset), so the district is the city",
}
SHAPING_CASES = [c for n in SHIPPED for prog, sets in written_shaping(n).items() for c in shaping_cases(n, prog, sets)
                 if c[:3] not in CANNOT_BIND]


# keys a file sets that are not rules a district could drop: what the program is and where it acts
# (a program's shaping keys have their own cases, SHAPING_CASES, counted by written_shaping)
STRUCTURE = {"name", "scope", "matching", "form", "term_years_min", "term_years_max", "extends", "description",
             "world.preset", "world.scale"}
# rules that only shape a program whose quota is removed as a whole (its share_of_eligible case)
WHOLE_PROGRAM = {"twinning_pairs", "pilot_school_district", "training_flow"}


@cache
def _base() -> dict:
    return load_scenario(REPO / "scenarios" / "_base.yaml").model_dump(mode="json")


def _base_value(key: str):
    d = _base()
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return object()
        d = d[part]
    return d


def set_rules(name: str) -> set[str]:
    """The rules the scenario file itself sets (not its base), as CASES name them."""
    data = yaml.safe_load((REPO / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8"))
    found = set()

    def walk(d, prefix):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict) and k not in ("programs",):
                walk(v, key)
            elif k == "programs":
                for p in v:
                    for pk, pv in p.items():
                        if pk == "points":  # Seoul's weights: each binds against 0, defaults too
                            found.update(f"{p['name']}.points.{kk}" for kk in pv)
                        elif isinstance(pv, dict):  # eligibility, quota: a default restated explains
                            model = Program.model_fields[pk].annotation
                            found.update(f"{p['name']}.{pk}.{kk}" for kk, vv in pv.items()
                                         if vv != model.model_fields[kk].default)
                        elif pk == "priority" and p["name"] == "district_exchange":
                            found.update(f"{p['name']}.priority.{kk}" for kk in pv)
                        elif pv != Program.model_fields[pk].default:  # a default restated explains, not binds
                            found.add(f"{p['name']}.{pk}")
            elif _base_value(key) != v:  # a base value restated explains, not binds
                found.add(key)
    walk(data, "")
    return {k for k in found if k not in STRUCTURE and k.rsplit(".", 1)[-1] not in STRUCTURE
            and not (k.split(".")[0] in WHOLE_PROGRAM and not k.endswith("quota.share_of_eligible"))}


@pytest.mark.parametrize(("name", "rule", "removal", "read", "sign"), CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_removing_the_rule_moves_its_outcome(name, rule, removal, read, sign):
    base = mean_outcome(name, (), read)
    without = mean_outcome(name, (removal,) if isinstance(removal, str) else tuple(removal), read)
    moved = without != base if sign == 0 else np.sign(without - base) == sign  # 0: changes, either way
    assert moved, f"{rule}: {read.__name__} {base:.4f} -> {without:.4f} without it"


def test_every_shipped_scenario_is_checked():
    assert {"korea_points", "baseline_drift", "dongcheng_2021"} <= set(SHIPPED)  # the glob finds the files


@pytest.mark.parametrize("name", SHIPPED)
def test_every_rule_the_scenario_sets_has_a_case(name):
    covered = {rule for n, rule, *_ in CASES if n == name}
    missing = sorted(set_rules(name) - covered)
    assert not missing, f"{name} sets rules no case removes: {missing}"


@pytest.mark.parametrize(("name", "rule", "removal", "read", "sign"), SHAPING_CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in SHAPING_CASES])
def test_changing_a_shaping_key_moves_its_outcome(name, rule, removal, read, sign):
    test_removing_the_rule_moves_its_outcome(name, rule, removal, read, sign)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shaping_key_the_scenario_writes_has_a_case(name):
    written = {f"{prog}.{k}" for prog, sets in written_shaping(name).items() for k in sets}
    covered = {rule for n, rule, *_ in SHAPING_CASES if n == name} | {r for n, r, _ in CANNOT_BIND if n == name}
    assert not sorted(written - covered), f"{name} writes shaping keys no case changes: {sorted(written - covered)}"


@pytest.mark.parametrize(("name", "rule", "change"), list(CANNOT_BIND), ids=[f"{n}:{r}" for n, r, _ in CANNOT_BIND])
def test_a_shaping_key_that_cannot_bind_changes_nothing(name, rule, change):
    assert len(outcome_runs(name, ())[0].world.district_names) == 1, CANNOT_BIND[name, rule, change]
    assert [m.metric_rows for m in outcome_runs(name, ())] == [m.metric_rows for m in outcome_runs(name, (change,))]
