"""Invariants under random worlds, rosters and policies (hypothesis), checked every year.

Worlds are small synthetic presets with random size knobs, or random rosters written as CSV
files; policies are one to three programs with random forms, scopes, directions, matching and
selection rules, quotas, eligibility, terms, commute caps, capacity and leadership caps. Checked
every year: no teacher lost or duplicated; each active teacher on exactly one school cell, with a
part-timer's load split between home and host summing to one; head counts balance; right after
each program's matching no receiving school is above its capacity (full-time: receiving_capacity
x norm of staff present; transfer: the norm of home posts) unless it already was; every move
keeps to the program's eligibility, scope, direction, level, commute cap, leadership cap and term
rules; coverage never decreases; every metric within the bounds its unit documents; and the same
seed gives the same run. There is no minimum-staffing rule in the policy schema, so none is
checked (a sending school's room is only what the capacity rule gives).
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sim.codes import BACKBONE, MOVE_KINDS, QUALIFICATIONS, ROLES, SUBJECTS, TIERS, TITLES
from sim.config.scenario import World, scenario_from_dict
from sim.core.agents import Teacher
from sim.core.model import RotationModel
from sim.metrics import REGISTRY
from sim.world.presets import synthetic_shape

YEARS = 4
SCOPE_COLUMN = {"group": "group", "school_district": "school_district", "district": "district"}
KIND = {k: i for i, k in enumerate(MOVE_KINDS)}
# the documented range of each unit (sim.metrics.REGISTRY); `quality units` are differences, any sign
UNIT_BOUNDS = {"0..1": (0.0, 1.0), "share": (0.0, 1.0), "1 = yes": (0.0, 1.0), ">= 0": (0.0, math.inf),
               "ratio": (0.0, math.inf), "teachers": (0.0, math.inf), "students": (0.0, math.inf),
               "minutes": (0.0, math.inf), "per 100 students": (0.0, math.inf), "schools": (0.0, math.inf),
               "quality units": (-math.inf, math.inf)}
CHANGES = {"hollowing_out_backbone", "hollowing_out_quality"}  # changes since year 0: either sign
# metrics that are NaN, by their definition, when the world has none of what they are about
MAY_BE_NAN = CHANGES | {"achievement_gap", "achievement_gap_urban_rural"}
# derandomized, so a failure repeats exactly; no shrinking (a run takes up to a second, and the
# failing example is printed draw by draw anyway)
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------------- worlds


def synthetic_world(data) -> dict:
    preset = data.draw(st.sampled_from(["dongcheng", "beijing"]), "preset")
    world = {"preset": preset,
             "schools_per_district": data.draw(st.integers(4, 12), "schools_per_district"),
             "teachers_per_school": data.draw(st.integers(5, 14), "teachers_per_school"),
             "groups_per_district": data.draw(st.integers(0, 3), "groups"),
             "school_districts_per_district": data.draw(st.integers(1, 3), "school_districts"),
             "twinning_pairs_per_district": data.draw(st.integers(0, 3), "pairs")}
    if preset == "beijing":
        world["districts"] = data.draw(st.integers(1, 3), "districts")
    return world


def roster_world(data, folder: Path) -> tuple[dict, bool, bool]:
    """A random roster written as CSV files in `folder` (by hand, in the documented format); with
    whether it has twinning pairs and education groups."""
    n_districts = data.draw(st.integers(1, 2), "districts")
    schools, teachers, ids = [], [], []
    for d in range(n_districts):
        n = data.draw(st.integers(3, 6), f"schools of district {d}")
        groups = data.draw(st.integers(0, 2), f"groups of district {d}")
        for k in range(n):
            sid = f"D{d}S{k}"
            level = data.draw(st.sampled_from(["primary", "junior", "nine_year"]), f"level {sid}")
            group = f"G{k}" if k < groups else (f"G{k % groups}" if groups and data.draw(st.booleans()) else "")
            schools.append([sid, f"School {sid}", f"District{d}", level,
                            data.draw(st.sampled_from(TIERS), f"tier {sid}"),
                            data.draw(st.integers(40, 900), f"enrolment {sid}"),
                            f"{data.draw(st.floats(-15, 15), 'x'):.3f}", f"{data.draw(st.floats(-15, 15), 'y'):.3f}",
                            f"SD{data.draw(st.integers(0, 1), 'sd')}", group, int(k < groups)])
            ids.append((sid, level))
    for sid, level in ids:
        for k in range(data.draw(st.integers(1, 10), f"teachers of {sid}")):
            age = data.draw(st.integers(22, 59), "age")
            exp = data.draw(st.integers(0, age - 22), "experience")
            tlevel = data.draw(st.sampled_from(["primary", "junior"])) if level == "nine_year" else level
            teachers.append([f"T{sid}_{k}", sid, age, data.draw(st.sampled_from(ROLES), "role"), tlevel,
                             data.draw(st.sampled_from(SUBJECTS), "subject"), data.draw(st.sampled_from(TITLES)),
                             data.draw(st.sampled_from(QUALIFICATIONS)), data.draw(st.sampled_from(BACKBONE)),
                             exp, data.draw(st.integers(0, exp + 1), "years_at_school"),
                             f"{data.draw(st.floats(0.3, 2.0), 'quality'):.4f}",
                             f"{data.draw(st.floats(-20, 20)):.3f}", f"{data.draw(st.floats(-20, 20)):.3f}",
                             data.draw(st.sampled_from(["woman", "man"]))])
    pairs: list[tuple[str, str]] = []  # a list, not a set: the file's order must not depend on the hash seed
    for _ in range(data.draw(st.integers(0, 3), "pairs")):
        a, b = sorted((data.draw(st.sampled_from(ids))[0], data.draw(st.sampled_from(ids))[0]))
        if a != b and (a, b) not in pairs:
            pairs.append((a, b))
    write_csv(folder / "schools.csv", ["school_id", "name", "district", "level", "tier", "enrolment", "x_km", "y_km",
                                       "school_district", "group", "leading"], schools)
    write_csv(folder / "teachers.csv", ["teacher_id", "school_id", "age", "role", "level", "subject", "title",
                                        "qualification", "backbone", "experience", "years_at_school", "quality",
                                        "home_x_km", "home_y_km", "gender"], teachers)
    write_csv(folder / "twinning.csv", ["school_a", "school_b"], pairs)
    return {"preset": "roster", "roster": {"schools_csv": "schools.csv", "teachers_csv": "teachers.csv",
                                           "twinning_csv": "twinning.csv"}}, bool(pairs), any(r[9] for r in schools)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------ policies


def program(data, i: int, has_pairs: bool, has_groups: bool) -> dict:
    form = data.draw(st.sampled_from(["full_time", "part_time", "transfer"]), f"form {i}")
    scopes = ["school_district", "district", "city"] + ["twinning"] * has_pairs + ["group"] * has_groups
    scope = data.draw(st.sampled_from(scopes), f"scope {i}")
    matchings = ["random", "need", "optimal", "points"] + ["leading_school"] * (scope == "group")
    min_years = data.draw(st.integers(0, 6), "min_years_at_school")
    term_min = data.draw(st.integers(1, 3), "term_years_min")
    p = {
        "name": f"p{i}",
        "form": form,
        "scope": scope,
        "matching": data.draw(st.sampled_from(matchings), f"matching {i}"),
        "direction": data.draw(st.sampled_from(["any", "strong_to_weak", "weak_to_strong"]), "direction"),
        "selection": data.draw(st.sampled_from(["district", "school"]), "selection"),
        "gaming": data.draw(st.sampled_from([0.0, 0.5, 1.0]), "gaming"),
        "cross_level": data.draw(st.booleans(), "cross_level"),
        "leadership_cap": data.draw(st.sampled_from([1.0, 0.3]), "leadership_cap"),
        "backbone_floor": data.draw(st.sampled_from([0.0, 0.2]), "backbone_floor"),
        "commute_cap_minutes": data.draw(st.sampled_from([None, 30.0, 60.0]), "commute_cap"),
        "term_years_min": term_min,
        "term_years_max": data.draw(st.integers(term_min, 4), "term_years_max"),
        "stay_share": 0.0 if form == "part_time" else data.draw(st.sampled_from([0.0, 0.5, 1.0]), "stay"),
        "part_time_share": data.draw(st.sampled_from([0.2, 0.5, 0.8]), "part_time_share"),
        "prefer": data.draw(st.sampled_from([[]] + [["twinning"]] * has_pairs + [["group"]] * has_groups), "prefer"),
        "eligibility": {
            "min_years_at_school": min_years,
            "min_years_to_retirement": data.draw(st.integers(0, 8), "min_years_to_retirement"),
            "max_experience": data.draw(st.sampled_from([None, max(min_years, 6), 30]), "max_experience"),
            "twinned_only": has_pairs and data.draw(st.booleans(), "twinned_only"),
            "levels": data.draw(st.sampled_from([["primary", "junior"], ["primary"], ["junior"]]), "levels"),
            "roles": data.draw(st.sampled_from([list(ROLES), ["teacher"]]), "roles"),
        },
        "quota": {
            "share_of_eligible": data.draw(st.sampled_from([0.0, 0.1, 0.4, 1.0]), "share_of_eligible"),
            "min_count": data.draw(st.integers(0, 40), "min_count"),
            "share_of_staff": data.draw(st.sampled_from([0.0, 0.05]), "share_of_staff"),
            "coverage_years": data.draw(st.sampled_from([None, 1, 3]), "coverage_years"),
            "per_school": data.draw(st.booleans(), "per_school"),
            "mandatory_after_years": data.draw(st.sampled_from([None, 4, 8]), "mandatory"),
        },
    }
    return p


def scenario(data, world: dict, source_dir: str, has_pairs: bool | None = None, has_groups: bool | None = None):
    if world["preset"] != "roster":
        shape = synthetic_shape(World(**world))
        has_pairs, has_groups = shape.twinning_pairs > 0, shape.groups > 0
    n = data.draw(st.integers(1, 3), "programs")
    programs = []
    for i in range(n):
        p = program(data, i, has_pairs, has_groups)
        programs.append(p)
    spec = {
        "name": "random",
        "world": world,
        "careers": {"hire_placement": data.draw(st.sampled_from(["vacancies", "weak_first", "training_first"])),
                    "drift_rate": data.draw(st.sampled_from([0.0, 0.1])),
                    "attrition_base": data.draw(st.sampled_from([0.015, 0.2]))},
        "policy": {"programs": programs,
                   "receiving_capacity": data.draw(st.sampled_from([1.0, 1.15, 1.5]), "receiving_capacity"),
                   "double_teacher": {"classrooms": data.draw(st.integers(0, 3), "classrooms")},
                   "dormitories_per_district": data.draw(st.integers(0, 5), "dormitories")},
        "run": {"years": YEARS, "seed": data.draw(st.integers(0, 2**32 - 1), "seed")},
    }
    return scenario_from_dict(spec, source_dir=source_dir)


# ---------------------------------------------------------------------------------- checking

STATS: Counter = Counter()  # what the examples exercised, so that no check passes vacuously


class Checked:
    """Wraps every program's apply of a model to check each matching as it happens."""

    def __init__(self, model: RotationModel):
        self.model = model
        for prog in model.programs:
            prog.apply = self._wrap(prog, prog.apply)

    def _wrap(self, prog, apply):
        def checked(model):
            wf = model.workforce
            eligible = prog.eligible(model)
            term_before = wf.term_end.copy()
            before = model.move_log.n
            cadres = np.bincount(wf.school[wf.active & (wf.role > 0)], minlength=model.world.n_schools)
            got = apply(model)
            c = model.move_log.columns(before)
            rows = c["teacher"][c["kind"] == KIND["rotation"]]
            frm, to = c["from_school"][c["kind"] == KIND["rotation"]], c["to_school"][c["kind"] == KIND["rotation"]]
            assert got["rotations"] == len(rows)
            assert len(set(rows.tolist())) == len(rows), "a teacher rotated twice in one matching"
            assert eligible[rows].all(), "a rotator who was not eligible"
            self._capacity(model, prog.config, to)
            cap = prog.config.leadership_cap
            if cap < 1.0:
                STATS["leadership cap checked"] += 1
                out = np.bincount(frm[wf.role[rows] > 0], minlength=model.world.n_schools)
                allowed = np.maximum(1, np.floor(cap * cadres + 1e-9))
                assert np.all(out <= allowed), "more cadres left a school than the leadership cap allows"
            assert np.all(term_before[rows] < 0), "a teacher started a second rotation while on one"
            cfg = prog.config
            if cfg.form == "transfer":
                assert np.all(wf.term_end[rows] == -1), "a transfer with a term"
            else:
                terms = wf.term_end[rows] - model.year
                assert np.all((terms >= cfg.term_years_min) & (terms <= cfg.term_years_max)), "a term out of bounds"
            return got
        return checked

    @staticmethod
    def _capacity(model, cfg, hosts: np.ndarray) -> None:
        if len(hosts) == 0 or cfg.form == "part_time":
            return
        STATS[f"capacity checked ({cfg.form})"] += 1
        wf = model.workforce
        s = model.world.schools
        if cfg.form == "transfer":
            posts = np.bincount(wf.school[wf.active], minlength=model.world.n_schools)
            assert np.all(posts[hosts] <= s["norm"][hosts]), "a transfer filled a post above the norm"
        else:
            present = np.bincount(wf.host[wf.active], minlength=model.world.n_schools)
            room = np.floor(s["norm"] * model.config.policy.receiving_capacity)
            assert np.all(present[hosts] <= room[hosts]), "a host is above its receiving capacity after matching"


def check_year(model: RotationModel) -> None:
    """Placement and bookkeeping of every teacher after a step."""
    wf = model.workforce
    active = wf.active_rows()
    n_s = model.world.n_schools
    for r in active.tolist():
        agent = model.teacher(r)
        assert agent is not None and agent.row == r
        assert agent.cell is model.space[int(wf.host[r])]
    assert all(model.teacher(r) is None for r in np.flatnonzero(~wf.active).tolist())
    on_cells = [a.row for i in range(n_s) for a in model.space[i].agents if isinstance(a, Teacher)]
    assert len(on_cells) == len(set(on_cells)) == len(active), "a teacher lost or on two cells"
    assert set(on_cells) == set(active.tolist())
    rotating = wf.term_end[active] >= 0
    part = wf.part_host[active] >= 0
    full = rotating & ~part
    assert np.all(wf.term_end[active][rotating] > model.year)
    assert np.all(wf.host[active][~rotating] == wf.school[active][~rotating])
    assert np.all(wf.host[active][full] != wf.school[active][full])
    assert np.all(rotating[part]), "a part-timer with no term"
    assert np.all(wf.host[active][part] == wf.school[active][part]), "a part-timer moved cell"
    assert np.all(wf.part_host[active][part] != wf.school[active][part])
    assert np.all((wf.part_share[active][part] > 0) & (wf.part_share[active][part] < 1))
    assert np.all(wf.part_share[active][~part] == 0)
    rows, school, share = wf.load()
    assert np.allclose(np.bincount(rows, weights=share, minlength=wf.n)[active], 1.0), "a load does not sum to one"
    assert np.all((school >= 0) & (school < n_s))
    frame = model.school_rows[-1]
    assert math.isclose(frame["teachers"].sum(), len(active), rel_tol=1e-9), "school head counts lose teachers"
    assert model.home_posts().sum() == len(active)


def check_run(model: RotationModel) -> None:
    sc = model.config
    wf = model.workforce
    s = model.world.schools
    series = defaultdict(dict)
    for year, name, group, value in model.metric_rows:
        if group == "all":
            series[name][year] = value
    post = series["teachers_in_post"]
    assert post[0] == model.world.n_teachers
    for y in range(1, YEARS + 1):
        assert post[y - 1] + series["hires"][y] - series["retirements"][y] - series["attrition"][y] == post[y]
    assert post[YEARS] == wf.active.sum()
    assert wf.n == model.world.n_teachers + sum(series["hires"].values())

    cov = series["coverage_eligible"]
    assert all(0.0 <= cov[y] <= 1.0 for y in cov)
    assert all(cov[y] >= cov[y - 1] - 1e-12 for y in range(1, YEARS + 1)), "coverage decreased"

    programs = sc.policy.programs
    twins = {frozenset(map(int, p)) for p in model.world.twinning.tolist()}
    started: dict[int, tuple[int, int, int, int]] = {}  # row -> (year, program, home, host) of its rotation
    left: dict[int, int] = {}
    for year, row, frm, to, kind, name, *_ in model.moves:
        kind = MOVE_KINDS[kind]
        assert row not in left, "a move after leaving"
        if kind in ("retirement", "attrition"):
            left[row] = year
            started.pop(row, None)
        elif kind == "rotation":
            p = programs[int(name[1:])]
            assert row not in started, "a teacher started a second rotation while on one"
            if p.form != "transfer":  # a transfer moves the post for good: no term, no return
                started[row] = (year, int(name[1:]), frm, to)
            assert frm != to
            if p.scope == "twinning":
                assert frozenset((frm, to)) in twins
            elif p.scope != "city":
                col = s[SCOPE_COLUMN[p.scope]]
                assert col[frm] == col[to] >= 0, "a move out of scope"
            if p.direction == "strong_to_weak":
                assert s["tier"][to] < s["tier"][frm]
            elif p.direction == "weak_to_strong":
                assert s["tier"][to] > s["tier"][frm]
            if not p.cross_level:
                assert s["level"][to] in (wf.level[row], 2), "a move to a school without the teacher's level"
            STATS[f"rotations ({p.form})"] += 1
            if p.commute_cap_minutes is not None:
                STATS["rotations under a commute cap"] += 1
                km = math.hypot(wf.home_x[row] - s["x"][to], wf.home_y[row] - s["y"][to])
                c = sc.careers
                assert c.commute_fixed_minutes + c.commute_minutes_per_km * km <= p.commute_cap_minutes + 1e-9
        elif kind in ("return", "stay"):
            if row in started:
                y0, index, home, host = started.pop(row)
                p = programs[index]
                assert p.term_years_min <= year - y0 <= p.term_years_max, "a term outside the program's bounds"
                assert (frm, to) == ((host, home) if kind == "return" else (home, host))
                assert kind == "return" or p.stay_share > 0
                STATS[f"{kind}s ({p.form})"] += 1
            else:  # a new teacher back from training at the group's leading school
                assert kind == "return" and wf.hired[row] >= 1, (year, row, kind)
                assert year - wf.hired[row] == sc.careers.training_years, (year, row)
                assert s["leading"][frm] and s["group"][to] == s["group"][frm] >= 0, "training away from the group"
                STATS["returns from training"] += 1
    assert set(left) == set(np.flatnonzero(~wf.active).tolist()), "a teacher lost without leaving"

    for year, name, group, value in model.metric_rows:
        m = REGISTRY[name]
        STATS["metric values checked"] += 1
        if np.isnan(value):
            assert name in MAY_BE_NAN, (year, name, group)
            continue
        if value == math.inf:
            assert m.may_be_infinite, (year, name, group)
            continue
        lo, hi = (-math.inf, math.inf) if name in CHANGES else UNIT_BOUNDS[m.unit]
        assert lo - 1e-9 <= value <= hi + 1e-9, (year, name, group, value)


def run_checked(sc) -> RotationModel:
    model = RotationModel(sc, rng=sc.run.seed)
    Checked(model)
    check_year(model)
    for _ in range(YEARS):
        model.step()
        check_year(model)
    check_run(model)
    return model


def assert_same_run(a: RotationModel, b: RotationModel) -> None:
    assert a.moves == b.moves
    assert len(a.metric_rows) == len(b.metric_rows)
    for ra, rb in zip(a.metric_rows, b.metric_rows, strict=True):
        assert ra[:3] == rb[:3] and (ra[3] == rb[3] or (np.isnan(ra[3]) and np.isnan(rb[3]))), (ra, rb)
    for fa, fb in zip(a.school_rows, b.school_rows, strict=True):
        for col in fa:
            np.testing.assert_array_equal(fa[col], fb[col], err_msg=col)


# -------------------------------------------------------------------------------------- tests


def assert_not_vacuous(examples: int) -> None:
    """Many examples moved someone, in more than one form. (Which forms a derandomized run happens
    to draw depends on the constants Hypothesis collects from the loaded modules, so every form
    and rule is also exercised on purpose by test_each_form_and_rule_is_checked below.)"""
    assert examples >= 25, dict(STATS)
    assert STATS["examples with rotations"] >= examples // 4, dict(STATS)
    assert sum(STATS[f"rotations ({f})"] > 0 for f in ("full_time", "part_time", "transfer")) >= 2, dict(STATS)


@SETTINGS
@given(st.data())
def synthetic_examples(data):
    sc = scenario(data, synthetic_world(data), ".")
    model = run_checked(sc)
    STATS["examples"] += 1
    STATS["examples with rotations"] += any(mv[4] == KIND["rotation"] for mv in model.moves)
    again = RotationModel(sc, rng=sc.run.seed)  # same seed, no checks wrapped in: the same run
    again.run_for(YEARS)
    assert_same_run(model, again)


@SETTINGS
@given(st.data())
def roster_examples(data):
    with tempfile.TemporaryDirectory(prefix="teachersim-roster-") as folder:
        world, has_pairs, has_groups = roster_world(data, Path(folder))
        sc = scenario(data, world, folder, has_pairs, has_groups)
        model = run_checked(sc)
        STATS["examples"] += 1
        STATS["examples with rotations"] += any(mv[4] == KIND["rotation"] for mv in model.moves)
        again = RotationModel(sc, rng=sc.run.seed)
        again.run_for(YEARS)
        assert_same_run(model, again)


def test_invariants_on_random_synthetic_worlds_and_policies():
    STATS.clear()
    synthetic_examples()
    assert_not_vacuous(STATS["examples"])


def test_invariants_on_random_rosters_and_policies():
    STATS.clear()
    roster_examples()
    assert_not_vacuous(STATS["examples"])


# every rule the checks are about, each in a world and policy where it must act
RULES = {
    "rotations (full_time)": {"form": "full_time", "stay_share": 0.5, "commute_cap_minutes": 40.0,
                              "leadership_cap": 0.3, "term_years_max": 2},
    "returns (full_time)": {"form": "full_time", "term_years_max": 2},
    "stays (full_time)": {"form": "full_time", "stay_share": 0.8, "term_years_max": 2},
    "rotations (part_time)": {"form": "part_time", "matching": "random", "scope": "city"},
    "returns (part_time)": {"form": "part_time", "term_years_max": 2},
    "rotations (transfer)": {"form": "transfer", "matching": "optimal"},  # fills vacancies left by leavers
    "capacity checked (transfer)": {"form": "transfer", "direction": "strong_to_weak"},
    "capacity checked (full_time)": {"form": "full_time", "matching": "points", "scope": "twinning"},
    "leadership cap checked": {"form": "full_time", "leadership_cap": 0.3, "selection": "school", "gaming": 1.0},
    "rotations under a commute cap": {"form": "full_time", "commute_cap_minutes": 30.0, "prefer": ["group"]},
    "returns from training": {"form": "full_time", "scope": "group", "matching": "leading_school"},
}


@pytest.mark.parametrize("roster", [False, True], ids=["synthetic", "roster"])
@pytest.mark.parametrize("rule", list(RULES))
def test_each_form_and_rule_is_checked(rule, roster, tmp_path):
    """The same checks on fixed small worlds (a Beijing-shaped one, and that world written out and
    read back as a roster) with a policy where the rule must act at least once."""
    from sim.world import build_world, write_roster

    world = {"preset": "beijing", "districts": 2, "schools_per_district": 12, "teachers_per_school": 12,
             "groups_per_district": 2, "twinning_pairs_per_district": 3}
    if roster:
        write_roster(build_world(World(**world), np.random.default_rng(5)), tmp_path)
        world = {"preset": "roster", "roster": {"schools_csv": "schools.csv", "teachers_csv": "teachers.csv",
                                                "twinning_csv": "twinning.csv"}}
    program = {"name": "p0", "eligibility": {"min_years_at_school": 2}, "quota": {"share_of_eligible": 0.3},
               **RULES[rule]}
    careers = {"attrition_base": 0.1, **({"hire_placement": "training_first"} if "training" in rule else {})}
    sc = scenario_from_dict({"name": "rule", "world": world, "careers": careers,
                             "policy": {"programs": [program], "receiving_capacity": 1.3},
                             "run": {"years": YEARS, "seed": 11}}, source_dir=str(tmp_path))
    STATS.clear()
    run_checked(sc)
    assert STATS[rule] > 0, dict(STATS)


@settings(max_examples=15, deadline=None, derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))
@given(st.data())
def test_a_written_roster_reads_back_as_the_same_world(data):
    """write_roster then read_roster gives the same world (coordinates and quality to the decimals
    written), also for a world without twinning pairs or groups."""
    from sim.world import build_world, read_roster, write_roster

    world = World(**synthetic_world(data))
    built = build_world(world, np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), "seed")))
    with tempfile.TemporaryDirectory(prefix="teachersim-roster-") as folder:
        write_roster(built, folder)
        back = read_roster(*(Path(folder) / f for f in ("schools.csv", "teachers.csv", "twinning.csv")))
    assert back.district_names == built.district_names
    assert back.school_names == built.school_names
    np.testing.assert_array_equal(back.twinning, built.twinning)

    def named(system, col, names):  # school districts and groups are renumbered in order of appearance
        return [names[k] if k >= 0 else None for k in system.schools[col].tolist()]

    for col, names in (("school_district", "school_district_names"), ("group", "group_names")):
        assert named(back, col, getattr(back, names)) == named(built, col, getattr(built, names)), col
    for col, values in built.schools.items():
        if col in ("x", "y"):
            np.testing.assert_allclose(back.schools[col], values, atol=1e-4, err_msg=col)
        elif col in ("school_district", "group"):
            continue
        else:
            np.testing.assert_array_equal(back.schools[col], values, err_msg=col)
    for col, values in built.teachers.items():
        tol = 1e-6 if col == "quality" else 1e-4 if col in ("home_x", "home_y") else 0
        np.testing.assert_allclose(back.teachers[col], values, atol=tol, err_msg=col)


def test_a_world_without_pairs_or_groups_round_trips():
    """write_roster writes a header-only twinning.csv for a world without pairs: it must read back."""
    from sim.world import build_world, read_roster, write_roster

    world = World(schools_per_district=6, teachers_per_school=6, twinning_pairs_per_district=0, groups_per_district=0)
    built = build_world(world, np.random.default_rng(3))
    assert len(built.twinning) == 0 and not built.group_names
    with tempfile.TemporaryDirectory(prefix="teachersim-roster-") as folder:
        write_roster(built, folder)
        back = read_roster(*(Path(folder) / f for f in ("schools.csv", "teachers.csv", "twinning.csv")))
    assert back.n_teachers == built.n_teachers and len(back.twinning) == 0
