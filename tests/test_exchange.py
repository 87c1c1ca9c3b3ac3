"""Rotation as an exchange (issue 15 items 6-8): the host cap at the staffing norm, paired
exchanges, backfill of the sending post, receiving districts and district types, the Beijing
district modes, and per-district head counts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BASELINE, DONGCHENG, DONGCHENG_2021, SCENARIOS, metric_series, moves_of_kind, scenario

from sim.codes import DISTRICT_TYPES, TIERS
from sim.config.checks import quota_warnings
from sim.config.scenario import ScenarioError, load_scenario, scenario_from_dict
from sim.core.model import RotationModel

SMALL16 = {"preset": "beijing", "schools_per_district": 6, "teachers_per_school": 30}  # all 16 districts
SMALL3 = {"preset": "beijing", "districts": 3, "schools_per_district": 20, "teachers_per_school": 30}
EXCHANGE = {"name": "x", "quota": {"share_of_eligible": 0.3}, "scope": "district", "matching": "need",
            "term_years_min": 1, "term_years_max": 1}


def build(program: dict, world: dict = SMALL3, seed: int = 0, policy: dict | None = None) -> RotationModel:
    data = {"world": dict(world), "policy": {"programs": [program], **(policy or {})}}
    return RotationModel(scenario_from_dict(data), rng=seed)


def rotations(model, year: int = 1) -> np.ndarray:
    """(row, from, to) of the year's rotation moves."""
    return np.array([(mv[1], mv[2], mv[3]) for mv in moves_of_kind(model, "rotation") if mv[0] == year],
                    dtype=np.int64).reshape(-1, 3)


def district_type_of(model, schools: np.ndarray) -> np.ndarray:
    return model.world.district_types[model.world.schools["district"][schools]]


# ------------------------------------------------------------------------- item 6: the host cap


def year1_cv_teachers(path, seeds=(3, 4), *overrides: str) -> dict[str, float]:
    """Mean over seeds of the year-1 CV of teachers per 100 students, by level."""
    out = {"primary": 0.0, "junior": 0.0}
    for seed in seeds:
        model = RotationModel(scenario(path, "run.years=1", *overrides), rng=seed)
        model.step()
        for level in out:
            out[level] += metric_series(model, "cv_teachers", level)[1] / len(seeds)
    return out


def test_under_the_default_cap_rotation_no_longer_piles_teachers_into_hosts():
    """With hosts filling to 115% of their norm and hiring for the vacancies rotators filled,
    dongcheng_2021 raised the year-1 CV of teachers per 100 students to 1.9 (primary) and 1.8
    (junior) times its value without rotation (seeds 3-4). Capped at the staffing norm it stays
    within 1.35 times (the rest: one-way senders' posts left open), and a paired exchange leaves it
    where no rotation does."""
    none = year1_cv_teachers(BASELINE)
    rotated = year1_cv_teachers(DONGCHENG_2021)
    for level in ("primary", "junior"):
        assert rotated[level] <= 1.35 * none[level], level
    paired = year1_cv_teachers(DONGCHENG, (3, 4), "policy.programs.0.exchange=paired")
    for level in ("primary", "junior"):
        assert paired[level] <= 1.05 * none[level], level


# ----------------------------------------------------------------------- item 6: paired exchange


def test_a_paired_exchange_keeps_every_schools_head_count():
    model = build({**EXCHANGE, "exchange": "paired"})
    before = np.bincount(model.workforce.host[model.workforce.active], minlength=model.world.n_schools)
    model.step()
    moves = rotations(model)
    assert len(moves) > 40
    n = model.world.n_schools
    assert np.array_equal(np.bincount(moves[:, 1], minlength=n), np.bincount(moves[:, 2], minlength=n))
    frame = model.school_frame_latest
    assert np.array_equal(frame["hosted_rotators"], frame["away_rotators"])
    # each pair swaps two schools, and the two serve the same term
    pairs = moves.reshape(-1, 2, 3)
    assert np.array_equal(pairs[:, 0, 1], pairs[:, 1, 2]) and np.array_equal(pairs[:, 0, 2], pairs[:, 1, 1])
    wf = model.workforce
    assert np.array_equal(wf.term_end[pairs[:, 0, 0]], wf.term_end[pairs[:, 1, 0]])
    one_way = build(EXCHANGE)
    one_way.step()
    moves = rotations(one_way)
    assert not np.array_equal(np.bincount(moves[:, 1], minlength=n), np.bincount(moves[:, 2], minlength=n))
    assert before.sum() > 0


def test_counterparts_need_not_meet_the_rules_on_senders():
    """A strong->weak exchange of strong schools' teachers brings weak schools' teachers back."""
    program = {**EXCHANGE, "exchange": "paired", "direction": "strong_to_weak",
               "eligibility": {"sending_tiers": ["strong", "leading"]}}
    model = build(program)
    model.step()
    moves = rotations(model)
    tier = model.world.schools["tier"]
    out, back = moves.reshape(-1, 2, 3)[:, 0], moves.reshape(-1, 2, 3)[:, 1]
    assert len(out) > 10
    assert np.all(tier[out[:, 2]] < tier[out[:, 1]])
    assert np.all(tier[back[:, 2]] > tier[back[:, 1]])


@pytest.mark.parametrize("exchange, tiers", [("paired", ["strong", "leading"]), ("one_way", ["strong", "leading"]),
                                             ("paired", None)])
def test_rotated_of_the_eligible_is_read_senders_only_and_both_directions(exchange, tiers):
    """The 2014 opinion's "10% of eligible" is of the sending schools' eligible teachers.
    `participation` counts every rotation over that pool, a paired exchange's counterparts from
    weaker schools too; `participation_senders` counts only movers of the pool. They differ where
    counterparts come from outside the pool, and agree one way, or when every school sends."""
    program = {**EXCHANGE, "exchange": exchange, "direction": "strong_to_weak" if tiers else "any",
               **({"eligibility": {"sending_tiers": tiers}} if tiers else {})}
    model = build(program)
    model.step()
    moves = rotations(model)
    tier = model.world.schools["tier"]
    from_pool = np.isin(tier[moves[:, 1]], [TIERS.index(t) for t in tiers or TIERS])  # the pool's own movers
    eligible = metric_series(model, "eligible")[1]
    assert len(moves) > 10 and eligible > 0
    both, senders = metric_series(model, "participation")[1], metric_series(model, "participation_senders")[1]
    assert both == pytest.approx(len(moves) / eligible)
    assert senders == pytest.approx(from_pool.sum() / eligible)
    if exchange == "paired" and tiers:
        assert senders < both and senders >= both / 2  # each pair has one sender of the pool
    else:
        assert senders == both


def test_the_backbone_floor_holds_over_everyone_who_moves_in_a_paired_exchange():
    """The 2014 opinion's 20% is of all rotators; counterparts are chosen without regard to
    backbone, so the selected carry twice the floor."""
    program = {**EXCHANGE, "exchange": "paired", "direction": "strong_to_weak", "backbone_floor": 0.2,
               "quota": {"share_of_eligible": 0.1}, "eligibility": {"sending_tiers": ["ordinary", "strong", "leading"]}}
    model = build(program, seed=2)
    model.step()
    moves = [mv for mv in moves_of_kind(model, "rotation") if mv[0] == 1]
    assert len(moves) > 20
    assert np.mean([mv[6] >= 2 for mv in moves]) >= 0.2


# --------------------------------------------------------------------------------- item 6: backfill


@pytest.mark.parametrize("backfill", ["temporary", "pool"])
def test_backfill_covers_the_post_until_the_rotator_returns(backfill):
    model = build({**EXCHANGE, "backfill": backfill}, world={**SMALL3, "districts": 2})  # urban core: fill 1.0
    model.step()
    wf = model.workforce
    n = model.world.n_schools
    moves = rotations(model)
    covers = np.flatnonzero(wf.active & (wf.cover_until >= 0))
    assert len(moves) > 15  # hosts at their norm take rotators into vacancies only: covers fill the rest
    assert np.array_equal(np.bincount(wf.school[covers], minlength=n), np.bincount(moves[:, 1], minlength=n))
    assert np.all(wf.cover_until[covers] == 2)  # one-year terms: the covers leave as the rotators return
    assert np.all(wf.level[covers] == np.sort(wf.level[moves[:, 0]])[np.argsort(np.argsort(wf.level[covers]))])
    # a cover holds no post (hiring does not count it) and is never selected
    assert np.array_equal(model.home_posts(), np.bincount(wf.school[wf.active & (wf.cover_until < 0)], minlength=n))
    if backfill == "pool":  # an ordinary teacher of the district: no district-level backbone, no cadre
        assert np.all(wf.backbone[covers] < 2) and np.all(wf.role[covers] == 0)
    model.step()
    assert not np.isin(covers, rotations(model, 2)[:, 0]).any()
    assert not wf.active[covers].any()
    assert len(moves_of_kind(model, "cover_end")) == len(covers)


def test_without_backfill_the_post_is_left_open():
    model = build(EXCHANGE, world={**SMALL3, "districts": 2})
    model.step()
    assert not (model.workforce.cover_until >= 0).any()


def test_temporary_covers_are_found_at_the_rural_fill_rate():
    world = {"preset": "beijing", "districts": 16, "schools_per_district": 12, "teachers_per_school": 30}
    program = {**EXCHANGE, "backfill": "temporary", "eligibility": {"district_types": ["rural"]}}
    model = build(program, world=world, seed=1, policy={"receiving_capacity": 1.3})
    model.step()
    wf = model.workforce
    n_moves, n_covers = len(rotations(model)), int(np.sum(wf.active & (wf.cover_until >= 0)))
    assert n_moves > 200
    assert 0.6 < n_covers / n_moves < 0.8  # careers.hire_fill_rural 0.7


def test_backfill_is_refused_where_no_post_is_left_open():
    with pytest.raises(ScenarioError, match="backfill covers a full-time rotator's post"):
        scenario_from_dict({"policy": {"programs": [{**EXCHANGE, "form": "part_time", "backfill": "pool"}]}})


# ------------------------------------------------------------------- item 8: where rotators may go


@pytest.mark.parametrize("rule", [{"receiving_district_types": ["urban_core"]}, {"receiving_districts": ["Haidian"]}])
def test_destinations_obey_the_receiving_set(rule):
    program = {**EXCHANGE, "scope": "city", "direction": "weak_to_strong",
               "eligibility": {"districts": ["Yanqing"]}, **rule}
    model = build(program, world=SMALL16, policy={"receiving_capacity": 1.5})
    model.step()
    moves = rotations(model)
    assert len(moves) > 8
    district = model.world.schools["district"]
    assert np.all(district[moves[:, 1]] == model.world.district_names.index("Yanqing"))
    if "receiving_districts" in rule:
        assert {model.world.district_names[d] for d in district[moves[:, 2]]} == {"Haidian"}
    else:
        assert np.all(district_type_of(model, moves[:, 2]) == DISTRICT_TYPES.index("urban_core"))
    free = build({**EXCHANGE, "scope": "city", "direction": "weak_to_strong",
                  "eligibility": {"districts": ["Yanqing"]}}, world=SMALL16, policy={"receiving_capacity": 1.5})
    free.step()
    assert np.any(district_type_of(free, rotations(free)[:, 2]) != DISTRICT_TYPES.index("urban_core"))


def test_sending_district_types_limit_who_is_eligible():
    model = build({**EXCHANGE, "eligibility": {"district_types": ["rural"]}}, world=SMALL16)
    model.step()
    moves = rotations(model)
    assert len(moves) > 10
    assert np.all(district_type_of(model, moves[:, 1]) == DISTRICT_TYPES.index("rural"))


def test_an_unknown_receiving_district_is_one_line():
    with pytest.raises(ScenarioError, match=r"policy\.programs\.0\.receiving_districts: district 'Atlantis'"):
        scenario_from_dict({"world": SMALL3,
                            "policy": {"programs": [{**EXCHANGE, "receiving_districts": ["Atlantis"]}]}})


def test_the_beijing_district_modes_differ_in_outcome():
    """Yanqing exchanges with the urban core both ways and keeps its head counts; Miyun's pool
    covers every post its rotators leave; Haidian and the other districts neither pair nor cover."""
    model = RotationModel(load_scenario(SCENARIOS / "beijing_2022_citywide.yaml",
                                        ["world.schools_per_district=16", "world.teachers_per_school=40"]), rng=0)
    model.step()
    wf, names = model.workforce, model.world.district_names
    district = model.world.schools["district"]
    by_program = {}
    for _year, row, frm, to, _kind, program, *_ in moves_of_kind(model, "rotation"):
        by_program.setdefault(program, []).append((row, frm, to))
    yanqing = np.array(by_program["yanqing_centre_exchange"])
    out = names.index("Yanqing") == district[yanqing[:, 1]]
    assert out.sum() > 5 and out.sum() == (~out).sum()
    assert np.all(district_type_of(model, yanqing[out, 2]) == DISTRICT_TYPES.index("urban_core"))
    assert np.all(district[yanqing[~out, 2]] == names.index("Yanqing"))
    covers = wf.active & (wf.cover_until >= 0)
    miyun = np.array(by_program["miyun_pool"])
    assert len(miyun) > 3 and np.all(district[miyun[:, 1]] == names.index("Miyun"))
    assert np.array_equal(np.bincount(wf.school[covers], minlength=model.world.n_schools),
                          np.bincount(miyun[:, 1], minlength=model.world.n_schools))
    haidian = np.array(by_program["haidian_platform"])
    assert len(haidian) > 5 and np.all(district[haidian[:, 2]] == names.index("Haidian"))


# ------------------------------------------------------------------ item 7: per-district head counts


def test_each_district_may_have_its_own_head_count():
    program = {**EXCHANGE, "quota": {"min_count": 10, "min_count_by_district": {"Xicheng": 40}}}
    model = build(program, policy={"receiving_capacity": 1.5})
    model.step()
    moves = rotations(model)
    district = model.world.schools["district"][moves[:, 1]]
    selected = metric_series(model, "rotations")[1] + metric_series(model, "unmatched")[1]
    assert selected == 10 + 40 + 10
    assert np.sum(district == model.world.district_names.index("Xicheng")) > 20


def test_per_district_head_counts_cannot_be_city_wide():
    with pytest.raises(ScenarioError, match="min_count_by_district .* count_scope: city"):
        scenario_from_dict({"policy": {"programs": [
            {**EXCHANGE, "quota": {"min_count": 10, "count_scope": "city",
                                   "min_count_by_district": {"Dongcheng": 5}}}]}})


def test_quota_warnings_name_each_district_whose_staff_is_short_at_the_worlds_scale():
    """Beijing at scale 0.25 has about 1,875 teachers a district: 10,000 x 0.25 = 2,500 is more, in
    every district but Miyun, whose own 1,000 x 0.25 = 250 is not."""
    sc = scenario_from_dict({"world": {"preset": "beijing", "scale": 0.25}, "policy": {"programs": [
        {**EXCHANGE, "quota": {"min_count": 10_000, "min_count_by_district": {"Miyun": 1000}}}]}})
    lines = quota_warnings(sc)
    assert len(lines) == 15
    assert not any("Miyun" in line for line in lines)
    assert all("2,500" in line and "1,875 teachers" in line for line in lines)
    assert any("district Yanqing" in line for line in lines)
    small = scenario_from_dict({"world": {"preset": "beijing", "scale": 0.25}, "policy": {"programs": [
        {**EXCHANGE, "quota": {"min_count": 2000}}]}})
    assert quota_warnings(small) == []  # 500 a district: unscaled, 2,000 would have looked short of nothing


def test_small_world_scales_per_district_head_counts_too(tmp_path):
    from sim.experiments.whatif import small_world

    path = tmp_path / "s.yaml"
    path.write_text("world: {preset: beijing}\npolicy:\n  programs:\n    - name: x\n      quota: {min_count: 500, "
                    "min_count_by_district: {Miyun: 1000}}\n", encoding="utf-8")
    quota = small_world(path, schools_per_district=10, teachers_per_school=30).policy.programs[0].quota
    assert quota.min_count == 20 and quota.min_count_by_district == {"Miyun": 40}  # 300 of 7,500 teachers
