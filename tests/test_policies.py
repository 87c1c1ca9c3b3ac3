"""Rotation rules: quotas, backbone floor, priorities, eligibility, and the matching constraints."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import DONGCHENG, ROTATION, SMALL_BEIJING, SMALL_DONGCHENG, metric_series, scenario

from sim.codes import BACKBONE, ROLES, SCHOOL_LEVELS, TIERS
from sim.config.scenario import Eligibility, Quota, scenario_from_dict
from sim.core.model import RotationModel, RunWarning
from sim.policies import DistrictSelection, NeedMatching
from sim.policies.eligibility import eligible_mask
from sim.policies.matching import Constraints
from sim.policies.priority import PRIORITY_RULES, priority_order
from sim.policies.selection import apply_backbone_floor, district_quota
from sim.world.retirement import years_left

NINE_YEAR = SCHOOL_LEVELS.index("nine_year")


def policy_model(*program_settings: str, world=SMALL_DONGCHENG, seed: int = 0, extra=()) -> RotationModel:
    """A small world under dongcheng_2021's program with `key=value` settings of that program."""
    overrides = [*world, *(f"policy.programs.0.{s}" for s in program_settings), *extra]
    return RotationModel(scenario(DONGCHENG, *overrides), rng=seed)


def rotation_moves(model) -> list[tuple]:
    return [mv for mv in model.moves if mv[4] == ROTATION]


# --------------------------------------------------------------------------------- quotas


def test_quota_share_of_eligible_rounds_up():
    q = Quota(share_of_eligible=0.10)
    assert district_quota(q, 95, 95, 1000, 1) == 10  # ceil(9.5)
    assert district_quota(q, 100, 100, 1000, 1) == 10  # exactly 10.0, not 11
    assert district_quota(q, 0, 0, 1000, 1) == 0


def test_quota_min_count_is_capped_at_eligible():
    q = Quota(min_count=2000)
    assert district_quota(q, 5000, 5000, 9000, 1) == 2000
    assert district_quota(q, 1500, 1500, 9000, 1) == 1500


def test_quota_share_of_staff():
    q = Quota(share_of_staff=0.05)
    assert district_quota(q, 400, 400, 1000, 1) == 50
    assert district_quota(q, 400, 400, 1001, 1) == 51  # ceil(50.05)
    assert district_quota(q, 30, 30, 1000, 1) == 30  # capped at eligible


def test_quota_takes_the_largest_rule():
    q = Quota(share_of_eligible=0.10, min_count=30, share_of_staff=0.05)
    assert district_quota(q, 500, 500, 400, 1) == 50  # 10% of 500 beats 30 and 20
    assert district_quota(q, 200, 200, 400, 1) == 30  # min_count beats 20 and 20
    assert district_quota(q, 200, 200, 1000, 1) == 50  # 5% of staff beats 20 and 30


def test_quota_coverage_years_counts_down_the_years_left():
    q = Quota(coverage_years=3)
    # year 1: 3 years left -> a third of the never-rotated
    assert district_quota(q, 1000, 900, 5000, 1) == 300
    # year 2: 2 years left -> half of those still never rotated
    assert district_quota(q, 1000, 600, 5000, 2) == 300
    assert district_quota(q, 1000, 601, 5000, 2) == 301  # ceil(300.5)
    # year 3: the last year -> all of them
    assert district_quota(q, 1000, 300, 5000, 3) == 300
    # year 4 starts a new cycle of 3 years
    assert district_quota(q, 1000, 900, 5000, 4) == 300
    # capped at eligible
    assert district_quota(q, 100, 300, 5000, 3) == 100


def test_quota_coverage_combines_with_min_count():
    q = Quota(min_count=2000, coverage_years=3)
    assert district_quota(q, 7000, 6900, 9000, 1) == 2300  # coverage beats 2,000
    assert district_quota(q, 7000, 3000, 9000, 1) == 2000  # 2,000 beats coverage
    assert district_quota(q, 1200, 1200, 9000, 1) == 1200  # never more than eligible


# ---------------------------------------------------------------------------- backbone floor


def _wf(backbone):
    return SimpleNamespace(backbone=np.asarray(backbone, dtype=np.int64))


def test_backbone_floor_swaps_in_highest_ranked_backbone():
    # rows 0..9 ranked in order; rows 6, 8, 9 are district backbone
    wf = _wf([0, 1, 0, 0, 0, 0, 2, 0, 3, 2])
    ranked = np.arange(10)
    out = apply_backbone_floor(wf, ranked, 5, 0.4, "district")
    # need ceil(0.4*5) = 2 backbone: 6 and 8 come in; the two lowest-ranked non-backbone (4, 3) go
    assert sorted(out.tolist()) == [0, 1, 2, 6, 8]


@pytest.mark.parametrize("n, floor", [(5, 0.2), (5, 0.5), (10, 0.3), (7, 1.0), (3, 0.7)])
def test_backbone_floor_reached_when_available_and_never_above_n(n, floor):
    rng = np.random.default_rng(n)
    backbone = rng.choice([0, 1, 2, 3], size=40, p=[0.6, 0.2, 0.15, 0.05])
    backbone[:5] = 0  # the best-ranked are all ordinary
    wf = _wf(backbone)
    ranked = rng.permutation(40)
    out = apply_backbone_floor(wf, ranked, n, floor, "district")
    assert len(out) == n
    assert len(set(out.tolist())) == n
    assert set(out.tolist()) <= set(ranked.tolist())
    available = int(np.sum(backbone >= 2))
    got = int(np.sum(backbone[out] >= 2))
    assert got >= min(int(np.ceil(floor * n - 1e-9)), available)


def test_backbone_floor_with_too_few_backbone_takes_all_of_them():
    wf = _wf([0, 0, 0, 0, 0, 2, 0, 0])
    out = apply_backbone_floor(wf, np.arange(8), 4, 1.0, "district")
    assert len(out) == 4
    assert 5 in out.tolist()


def test_backbone_floor_level_counts_higher_levels():
    wf = _wf([0, 0, 0, 1, 3])
    out = apply_backbone_floor(wf, np.arange(5), 2, 0.5, "school")  # school level or above: rows 3, 4
    assert sorted(out.tolist()) == [0, 3]
    out = apply_backbone_floor(wf, np.arange(5), 2, 0.5, "municipal")
    assert sorted(out.tolist()) == [0, 4]


def test_backbone_floor_zero_or_met_changes_nothing():
    wf = _wf([2, 0, 0, 2, 2])
    assert apply_backbone_floor(wf, np.arange(5), 3, 0.0, "district").tolist() == [0, 1, 2]
    assert apply_backbone_floor(wf, np.arange(5), 3, 0.3, "district").tolist() == [0, 1, 2]
    assert apply_backbone_floor(wf, np.arange(5), 0, 0.5, "district").tolist() == []


# -------------------------------------------------------------------------------- priority


def _priority_wf():
    """A stand-in model: priority keys read the workforce and, for the title rule, the policy."""
    wf = SimpleNamespace(
        n_rotations=np.array([1, 0, 0, 0, 0, 0]),
        past_rotations=np.zeros(6, dtype=np.int64),  # rotations before the run (careers.tenure)
        role=np.array([0, 1, 0, 0, 0, 2]),
        level=np.array([0, 0, 1, 0, 1, 0]),
        backbone=np.array([3, 2, 0, 0, 2, 0]),
        years_at_school=np.array([9, 7, 12, 6, 8, 20]),
        quality=np.array([1.2, 1.1, 0.9, 1.0, 1.3, 0.8]),
        age=np.array([40, 35, 29, 51, 33, 45]),
        title=np.array([2, 3, 2, 1, 2, 2]),
        hardship_years=np.array([0, 0, 5, 0, 1, 2]),
    )
    policy = SimpleNamespace(title_requires_rotation_years=3)
    return SimpleNamespace(workforce=wf, config=SimpleNamespace(policy=policy))


def test_priority_youngest_and_title_rule():
    model = _priority_wf()
    rows = np.arange(6)
    tie = np.zeros(6)
    assert priority_order(model, rows, ["youngest_first"], tie).tolist() == [2, 4, 1, 0, 5, 3]
    # one step below senior (title 2) and short of 3 hardship years: rows 0, 4, 5 first
    assert priority_order(model, rows, ["needs_rotation_for_title"], tie).tolist() == [0, 4, 5, 1, 2, 3]


def test_priority_order_honours_keys_in_order():
    wf = _priority_wf()
    rows = np.arange(6)
    tie = np.zeros(6)
    # never rotated first; then teachers before cadres; then primary before junior; then backbone
    out = priority_order(wf, rows, ["never_rotated", "teachers_before_cadres", "primary_before_junior",
                                    "backbone_first"], tie).tolist()
    assert out == [3, 4, 2, 1, 5, 0]
    assert priority_order(wf, rows, ["longest_tenure"], tie).tolist() == [5, 2, 0, 4, 1, 3]
    assert priority_order(wf, rows, ["strongest_first"], tie).tolist() == [4, 0, 1, 3, 2, 5]
    assert priority_order(wf, rows, ["cadres_before_teachers", "strongest_first"], tie).tolist() == [1, 5, 4, 0, 3, 2]


def test_priority_ties_broken_by_tiebreak():
    wf = _priority_wf()
    rows = np.arange(6)
    tie = np.array([0.5, 0.1, 0.9, 0.3, 0.2, 0.0])
    assert priority_order(wf, rows, ["never_rotated"], tie).tolist() == [5, 1, 4, 3, 2, 0]


def test_priority_order_on_a_subset_of_rows():
    wf = _priority_wf()
    rows = np.array([5, 2, 0])
    out = priority_order(wf, rows, ["backbone_first"], np.array([0.0, 0.1, 0.2]))
    assert out.tolist() == [0, 5, 2]


def test_priority_order_is_lexsort_of_the_keys_then_the_draw():
    """The reference is the rule itself: np.lexsort with the draw as the last key, every key as given
    (int64, floats), on random rows, key lists and draws with and without equal values."""
    rng = np.random.default_rng(5)
    n = 400
    wf = SimpleNamespace(**{c: rng.integers(0, 4, n) for c in ("n_rotations", "past_rotations", "role", "level",
                                                              "backbone", "title", "hardship_years")},
                         years_at_school=rng.integers(0, 40, n), age=rng.integers(22, 60, n),
                         quality=rng.integers(5, 15, n) / 10)  # few distinct values: ties within keys
    model = SimpleNamespace(workforce=wf, config=SimpleNamespace(policy=SimpleNamespace(
        title_requires_rotation_years=3)))
    names = list(PRIORITY_RULES)
    for trial in range(200):
        rows = np.sort(rng.choice(n, int(rng.integers(0, 120)), replace=False))
        keys = [str(k) for k in rng.choice(names, int(rng.integers(0, 4)), replace=False)]
        draws = rng.random(len(rows)) if trial % 2 else rng.integers(0, 4, len(rows)) / 4
        expected = rows[np.lexsort([draws] + [PRIORITY_RULES[k](model, rows) for k in reversed(keys)])]
        assert priority_order(model, rows, keys, draws).tolist() == expected.tolist(), (trial, keys)


def test_selection_follows_priority_in_a_model():
    model = policy_model("priority=[backbone_first]", "quota.min_count=40", "quota.coverage_years=null")
    model.year = 1
    cfg = model.config.policy.programs[0]
    elig = eligible_mask(model, cfg.eligibility)
    chosen = DistrictSelection().select(model, cfg, elig, np.random.default_rng(0))
    assert len(chosen) == 40 < elig.sum()
    bb = model.workforce.backbone
    rest = np.setdiff1d(np.flatnonzero(elig), chosen)
    assert bb[chosen].min() >= bb[rest].max()
    assert elig[chosen].all()


def test_selection_meets_backbone_floor_in_a_model():
    model = policy_model("priority=[strongest_first]", "quota.min_count=60", "quota.coverage_years=null",
                         "backbone_floor=0.5")
    model.year = 1
    cfg = model.config.policy.programs[0]
    elig = eligible_mask(model, cfg.eligibility)
    chosen = DistrictSelection().select(model, cfg, elig, np.random.default_rng(0))
    assert len(chosen) == 60
    assert len(set(chosen.tolist())) == 60
    assert np.sum(model.workforce.backbone[chosen] >= 2) >= 30


# ------------------------------------------------------------------------------ eligibility


def test_eligibility_years_at_school_and_retirement_boundaries():
    model = policy_model()
    wf = model.workforce
    rule = Eligibility(min_years_at_school=6, min_years_to_retirement=6)
    teachers = np.flatnonzero((wf.role == 0) & wf.active)[:8]
    wf.age[teachers] = 40
    wf.years_at_school[teachers] = 10
    wf.years_at_school[teachers[0]] = 5  # one year short
    wf.years_at_school[teachers[1]] = 6  # just long enough
    wf.retire_months[teachers] = 60 * 12  # each teacher's own statutory age: 60 here
    wf.birth_month[teachers] = 9  # the birthday on the year's date: whole years to retirement
    wf.age[teachers[2]] = 54  # 6 years to retirement at 60: eligible
    wf.age[teachers[3]] = 55  # only 5 years left: "more than 5 years before retirement" fails
    wf.age[teachers[4]] = 59
    wf.term_end[teachers[5]] = 3  # away on a rotation now
    wf.active[teachers[6]] = False  # left
    mask = eligible_mask(model, rule)
    assert mask[teachers].tolist() == [False, True, True, False, False, False, False, True]
    # across the whole workforce, nobody eligible is short of either rule
    assert np.all(wf.years_at_school[mask] >= 6)
    assert np.all(years_left(wf.age, wf.birth_month, wf.retire_months)[mask] >= 6)
    assert np.all(wf.active[mask]) and np.all(wf.term_end[mask] < 0)


def test_eligibility_roles_levels_tiers_and_backbone():
    model = policy_model()
    wf = model.workforce
    s = model.world.schools
    base = eligible_mask(model, Eligibility())
    only_teachers = eligible_mask(model, Eligibility(roles=["teacher"]))
    assert np.all(wf.role[only_teachers] == ROLES.index("teacher"))
    assert only_teachers.sum() < base.sum()  # some cadres were eligible before
    primary = eligible_mask(model, Eligibility(levels=["primary"]))
    assert np.all(wf.level[primary] == 0) and primary.any()
    strong = eligible_mask(model, Eligibility(sending_tiers=["strong", "leading"]))
    assert np.all(s["tier"][wf.school[strong]] >= TIERS.index("strong")) and strong.any()
    bb = eligible_mask(model, Eligibility(min_backbone="district"))
    assert np.all(wf.backbone[bb] >= BACKBONE.index("district")) and bb.any()
    for sub in (only_teachers, primary, strong, bb):
        assert not np.any(sub & ~base)


def test_rotation_respects_eligibility_in_a_run():
    model = policy_model("eligibility.sending_tiers=[strong,leading]", "eligibility.min_years_at_school=8")
    s = model.world.schools
    before = {}
    orig = model.programs[0].apply

    def record(m):
        wf = m.workforce
        before[m.year] = (wf.years_at_school.copy(), years_left(wf.age, wf.birth_month, wf.retire_months))
        return orig(m)

    model.programs[0].apply = record
    model.run_for(3)
    moves = rotation_moves(model)
    assert moves
    for year, row, frm, _to, *_ in moves:
        assert s["tier"][frm] >= TIERS.index("strong")
        yrs, left = before[year]
        assert yrs[row] >= 8
        assert left[row] >= 6  # more than 5 years before the teacher's own retirement


# ------------------------------------------------------------------------------- matching


@pytest.mark.parametrize("matching", ["random", "need"])
def test_strong_to_weak_moves_go_to_a_lower_tier(matching):
    model = policy_model("direction=strong_to_weak", f"matching={matching}", world=SMALL_BEIJING, seed=1)
    model.run_for(3)
    moves = rotation_moves(model)
    assert len(moves) > 20
    tier = model.world.schools["tier"]
    for mv in moves:
        assert tier[mv[3]] < tier[mv[2]], mv
    assert min(metric_series(model, "unmatched").values()) >= 0


@pytest.mark.parametrize("matching", ["random", "need"])
def test_weak_to_strong_moves_go_to_a_higher_tier(matching):
    model = policy_model("direction=weak_to_strong", f"matching={matching}", world=SMALL_BEIJING, seed=1)
    model.run_for(2)
    moves = rotation_moves(model)
    assert len(moves) > 20
    tier = model.world.schools["tier"]
    assert all(tier[mv[3]] > tier[mv[2]] for mv in moves)


@pytest.mark.parametrize("matching", ["random", "need"])
@pytest.mark.parametrize("scope, column", [("school_district", "school_district"), ("group", "group"),
                                           ("district", "district")])
def test_scope_keeps_host_in_the_home_block(matching, scope, column):
    model = policy_model(f"scope={scope}", f"matching={matching}", world=SMALL_BEIJING, seed=2)
    model.run_for(3)
    moves = rotation_moves(model)
    assert len(moves) > 20
    block = model.world.schools[column]
    for mv in moves:
        assert block[mv[2]] == block[mv[3]], mv
        assert block[mv[2]] >= 0  # a school in no group sends nobody under group scope
        assert mv[2] != mv[3]


def test_city_scope_crosses_districts():
    model = policy_model("scope=city", "matching=random", world=SMALL_BEIJING, seed=2)
    model.run_for(1)
    district = model.world.schools["district"]
    moves = rotation_moves(model)
    assert any(district[mv[2]] != district[mv[3]] for mv in moves)


@pytest.mark.parametrize("matching", ["random", "need"])
def test_level_fit_unless_cross_level(matching):
    model = policy_model(f"matching={matching}", world=SMALL_BEIJING, seed=3)
    model.run_for(3)
    level = model.world.schools["level"]
    t_level = model.workforce.level
    moves = rotation_moves(model)
    assert len(moves) > 20
    for mv in moves:
        assert level[mv[3]] in (t_level[mv[1]], NINE_YEAR), mv
    # with cross_level, some primary teachers do go to junior schools (and vice versa)
    crossed = policy_model(f"matching={matching}", "cross_level=true", world=SMALL_BEIJING, seed=3)
    crossed.run_for(1)
    misfits = [mv for mv in rotation_moves(crossed)
               if crossed.world.schools["level"][mv[3]] not in (crossed.workforce.level[mv[1]], NINE_YEAR)]
    assert misfits


@pytest.mark.parametrize("matching", ["random", "need"])
@pytest.mark.parametrize("capacity", [1.0, 1.15])
def test_no_host_exceeds_receiving_capacity_right_after_matching(matching, capacity):
    model = policy_model(f"matching={matching}", world=("world.scale=0.5",), seed=3,
                         extra=(f"policy.receiving_capacity={capacity}",))
    s = model.world.schools
    limit = np.floor(s["norm"] * capacity).astype(np.int64)
    program = model.programs[0]
    orig = program.apply
    checked = []

    def apply_and_check(m):
        first = len(m.moves)
        got = orig(m)
        wf = m.workforce
        present = np.bincount(wf.host[wf.active], minlength=m.world.n_schools)
        hosts = sorted({mv[3] for mv in m.moves[first:] if mv[4] == ROTATION})
        over = [(h, int(present[h]), int(limit[h])) for h in hosts if present[h] > limit[h]]
        assert not over, f"year {m.year}: hosts above floor(norm*capacity) (school, present, limit): {over}"
        checked.append(len(hosts))
        return got

    program.apply = apply_and_check
    model.run_for(3)
    assert len(checked) == 3 and sum(checked) > 0


@pytest.mark.parametrize("matching", ["random", "need"])
def test_random_and_need_matching_both_rotate(matching):
    model = policy_model(f"matching={matching}", world=SMALL_BEIJING, seed=4)
    model.run_for(2)
    rot = metric_series(model, "rotations")
    eligible = metric_series(model, "eligible")
    assert rot[1] > 0 and rot[2] > 0
    assert rot[1] <= eligible[1]
    programs = {mv[5] for mv in rotation_moves(model)}
    assert programs == {"district_exchange"}


def test_two_programs_run_in_order():
    sc = scenario(DONGCHENG, *SMALL_BEIJING, "policy.programs.0.quota.min_count=10",
                  "policy.programs.0.quota.coverage_years=null")
    data = sc.model_dump(mode="json")
    second = dict(data["policy"]["programs"][0], name="second", matching="random",
                  eligibility={"min_years_at_school": 3, "min_years_to_retirement": 6})
    data["policy"]["programs"].append(second)
    model = RotationModel(scenario_from_dict(data), rng=5)
    model.run_for(1)
    names = [mv[5] for mv in rotation_moves(model)]
    assert set(names) == {"district_exchange", "second"}
    # the first program's moves are all logged before the second's
    last_first = max(i for i, n in enumerate(names) if n == "district_exchange")
    first_second = min(i for i, n in enumerate(names) if n == "second")
    assert last_first < first_second
    # nobody is rotated twice in one year
    rows = [mv[1] for mv in rotation_moves(model)]
    assert len(rows) == len(set(rows))


# ------------------------------------------------------------------- need matching in a group


def _write_csv(path: Path, rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def test_need_matching_under_group_scope_uses_only_the_groups_schools(tmp_path):
    """A backbone rotator goes to the group member furthest below the *group's* backbone rate.

    Group G holds H (home), X (100 students, no backbone) and Y (300 students, 2 backbone);
    U (a primary school, 400 students, 20 backbone) and J (a junior school, 200 students, none)
    are in no group. Within G the backbone rate (with the lifted rotator) is 3 / 600 students:
    X's shortfall is 0.5 - 0 = 0.5 and Y's is 1.5 - 2 = -0.5, so the rotator must go to X.
    Counting U and J into G's rate (23 / 1200) would make Y look needier (5.75 - 2 = 3.75
    against 1.92).
    """
    _write_csv(tmp_path / "schools.csv", [
        ["school_id", "name", "district", "level", "tier", "enrolment", "x_km", "y_km", "group", "leading"],
        ["U", "Ungrouped", "D", "primary", "strong", 400, 0, 0, "", 0],
        ["H", "Home", "D", "primary", "leading", 200, 1, 0, "G", 1],
        ["X", "Small", "D", "primary", "ordinary", 100, 0, 1, "G", 0],
        ["Y", "Large", "D", "primary", "ordinary", 300, 1, 1, "G", 0],
        ["J", "Junior", "D", "junior", "ordinary", 200, 2, 2, "", 0],
    ])
    teachers = [["teacher_id", "school_id", "age", "backbone", "years_at_school"]]
    counts = {"U": (20, 10), "H": (1, 10), "X": (0, 5), "Y": (2, 12), "J": (0, 10)}
    for sid, (n_bb, n_plain) in counts.items():
        for k in range(n_bb + n_plain):
            teachers.append([f"{sid}{k}", sid, 40, "district" if k < n_bb else "none", 8])
    _write_csv(tmp_path / "teachers.csv", teachers)
    sc = scenario_from_dict({
        "world": {"preset": "roster", "roster": {"schools_csv": "schools.csv", "teachers_csv": "teachers.csv"}},
        "policy": {"programs": [{"name": "g", "scope": "group", "matching": "need"}]},
    }, source_dir=str(tmp_path))
    model = RotationModel(sc, rng=0)
    cfg = sc.policy.programs[0]
    wf = model.workforce
    names = model.world.school_names
    rotator = int(np.flatnonzero((wf.school == names.index("Home")) & (wf.backbone >= 2))[0])
    present = np.bincount(wf.host[wf.active], minlength=model.world.n_schools)
    present[wf.school[rotator]] -= 1
    cons = Constraints(model, cfg, present)
    hosts = NeedMatching().match(model, cfg, np.array([rotator]), cons, np.random.default_rng(0))
    assert names[int(hosts[0])] == "Small"


# ---------------------------------------------------------------------- selection by district


def _select(model, cfg):
    model.year = 1
    elig = eligible_mask(model, cfg.eligibility)
    return elig, DistrictSelection().select(model, cfg, elig, np.random.default_rng(1))


def test_quota_applies_within_each_district():
    model = policy_model("quota.min_count=25", "quota.coverage_years=null", world=SMALL_BEIJING)
    elig, chosen = _select(model, model.config.policy.programs[0])
    district = model.world.schools["district"]
    per_district = np.bincount(district[model.workforce.school[chosen]], minlength=3)
    eligible_per_district = np.bincount(district[model.workforce.school[elig]], minlength=3)
    assert per_district.tolist() == np.minimum(25, eligible_per_district).tolist()
    assert len(set(chosen.tolist())) == len(chosen)


def test_per_school_quota_takes_a_share_of_every_school():
    model = policy_model("quota.min_count=0", "quota.coverage_years=null", "quota.share_of_eligible=0.2",
                         "quota.per_school=true", world=SMALL_BEIJING)
    elig, chosen = _select(model, model.config.policy.programs[0])
    school = model.workforce.school
    n_s = model.world.n_schools
    want = np.ceil(0.2 * np.bincount(school[elig], minlength=n_s) - 1e-9)
    got = np.bincount(school[chosen], minlength=n_s)
    assert np.all(got >= want), np.flatnonzero(got < want)
    assert elig[chosen].all()


# ------------------------------------------------------------------ head-count scope and scale (issue 15 item 7)


def _selected(model, year: int = 1) -> int:
    return int(metric_series(model, "rotations")[year] + metric_series(model, "unmatched")[year])


def test_head_counts_scale_with_the_world():
    """min_count is people a year for the preset's size: at world.scale 0.5 half as many go."""
    quota = ("quota.min_count=300", "quota.coverage_years=null")
    full = policy_model(*quota, world=("world.teachers_per_school=60",))
    half = policy_model(*quota, world=("world.teachers_per_school=60", "world.scale=0.5"))
    full.step()
    half.step()
    assert _selected(full) == 300
    assert _selected(half) == 150


def test_city_scope_shares_one_head_count_among_the_districts():
    quota = ("quota.min_count=90", "quota.coverage_years=null")
    per_district = policy_model(*quota, world=SMALL_BEIJING)
    city = policy_model(*quota, "quota.count_scope=city", world=SMALL_BEIJING)
    per_district.step()
    city.step()
    assert _selected(per_district) == 3 * 90
    assert _selected(city) == 90
    by_district = np.bincount(city.world.schools["district"][[mv[2] for mv in rotation_moves(city)]], minlength=3)
    assert np.all(by_district > 0)  # shared, not all from one district


def test_a_quota_beyond_a_districts_pool_warns_once_per_district():
    model = policy_model("quota.min_count=100000", world=SMALL_BEIJING)
    with pytest.warns(RunWarning, match="only .* are eligible"):
        model.run_for(2)
    assert len(model.warnings) == 3  # one per district, not one per year
    assert all("district_exchange" in w and "100,000" in w for w in model.warnings)
    quiet = policy_model("quota.min_count=10", world=SMALL_BEIJING)
    quiet.run_for(2)
    assert quiet.warnings == []


def test_share_beyond_mandatory_adds_the_share_to_those_who_must_move():
    """Japan: all at 6 years move, and some (15%) of those between 3 and 6: 30 must move of 100
    eligible, so 30 + ceil(0.15 x 70) = 41, where the larger of the two rules gives 30."""
    from sim.config.scenario import Quota
    from sim.policies.selection import district_need

    plain = Quota(share_of_eligible=0.15, mandatory_after_years=6)
    added = Quota(share_of_eligible=0.15, mandatory_after_years=6, share_beyond_mandatory=True)
    assert district_need(plain, 100, 0, 500, 1, n_mandatory=30) == 30
    assert district_need(added, 100, 0, 500, 1, n_mandatory=30) == 41
    assert district_need(added, 100, 0, 500, 1, n_mandatory=0) == 15
