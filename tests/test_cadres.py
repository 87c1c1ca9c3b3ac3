"""The cadre pipeline (sim/core/cadres.py): leadership posts stay filled, by the configured rules.

Before it, cadres disappeared: nobody was promoted into a vacant post (dongcheng_2021: 79
principals at year 0, 4 at year 10). Each rule of `careers.cadres` has a test that removes or
changes it and sees an outcome move.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.codes import MOVE_KINDS, ROLES, SCHOOL_LEVELS
from sim.config.scenario import load_scenario
from sim.core import cadres
from sim.core.model import RotationModel
from sim.world.retirement import years_left
from tests.conftest import BASELINE, SCENARIOS, SMALL_BEIJING, SMALL_DONGCHENG, metric_series, scenario

PRINCIPAL = ROLES.index("principal")
PROMOTION = MOVE_KINDS.index("promotion")
CADRE_ROTATION = MOVE_KINDS.index("cadre_rotation")
DRIFT = MOVE_KINDS.index("drift")
# the reference scenarios, on worlds small enough for a 20-year test (Beijing-shaped ones at a
# tenth of the preset's schools: 10 per district, 160 schools)
REFERENCE = {
    "baseline_drift": (), "dongcheng_2021": (), "shanghai_10yr": (),
    "beijing_2022_citywide": ("world.scale=0.1",), "china_2014_floor": ("world.scale=0.1",),
    "japan_prefectural": ("world.scale=0.1",), "korea_points": ("world.scale=0.1",),
}
BAND = (0.97, 1.0)  # cadres in post at every year end, as a share of the posts the norms give


def run(path, *overrides: str, years: int = 10, seed: int = 0) -> RotationModel:
    model = RotationModel(scenario(path, *overrides), rng=seed)
    model.run_for(years)
    return model


def principals_served(model) -> np.ndarray:
    wf = model.workforce
    p = wf.active & (wf.role == PRINCIPAL)
    return model.year - wf.post_since[p]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_scenarios_keep_their_leadership_posts_filled_for_20_years(name):
    """Every year of 20, cadres in post stay within BAND of the posts, and no school is without a
    principal at two year ends running."""
    model = RotationModel(scenario(SCENARIOS / f"{name}.yaml", *REFERENCE[name]), rng=0)
    posts = model.cadre_posts[:, 1:].sum()
    previous = None
    for _ in range(20):
        model.step()
        wf = model.workforce
        has = np.zeros(model.world.n_schools, dtype=bool)
        has[wf.school[wf.active & (wf.role == PRINCIPAL)]] = True
        if previous is not None:
            both = np.flatnonzero(~has & ~previous)
            assert len(both) == 0, f"{name} year {model.year}: schools {both[:5]} without a principal two years"
        previous = has
    in_post = metric_series(model, "cadres_in_post")
    for year, value in in_post.items():
        assert BAND[0] * posts <= value <= BAND[1] * posts, (name, year, value, posts)
    assert max(metric_series(model, "schools_without_principal").values()) <= 0.02 * model.world.n_schools


def test_without_the_pipeline_cadres_disappear():
    """`pipeline: false` (the model before issue 15): retirements empty the posts."""
    on = run(BASELINE, *SMALL_DONGCHENG)
    off = run(BASELINE, *SMALL_DONGCHENG, "careers.cadres.pipeline=false")
    posts = on.cadre_posts[:, 1:].sum()
    assert metric_series(on, "cadres_in_post")[10] >= BAND[0] * posts
    assert metric_series(off, "cadres_in_post")[10] < 0.85 * metric_series(off, "cadres_in_post")[0]
    assert metric_series(off, "schools_without_principal")[10] > 0
    assert metric_series(on, "schools_without_principal")[10] == 0


def test_posts_follow_the_enrolment_norms():
    """Halving students per vice principal (with a higher maximum) adds vice-principal posts, and
    they are filled."""
    for per, most in ((540, 3), (270, 6)):
        model = run(BASELINE, *SMALL_DONGCHENG, f"careers.cadres.students_per_vice_principal={per}",
                    f"careers.cadres.vice_principals_max={most}", years=3)
        enrol = model.world.schools["enrol_primary"] + model.world.schools["enrol_junior"]
        want = np.clip(np.ceil(enrol / per), 1, most)
        assert np.array_equal(model.cadre_posts[:, ROLES.index("vice_principal")], want)
        assert metric_series(model, "cadres_in_post", "vice_principal")[3] == want.sum()
    middle = run(BASELINE, *SMALL_DONGCHENG, "careers.cadres.students_per_middle_manager=100", years=1)
    assert metric_series(middle, "cadres_in_post", "middle_manager")[1] == \
        np.rint(enrol / 100).sum()


def test_promotion_pools_decide_where_cadres_come_from():
    """From the school only: no cadre changes school to be promoted. From the district first:
    some do, and their old posts are refilled by hiring the same year."""
    school = run(BASELINE, *SMALL_BEIJING, "careers.cadres.promote_from=[school]", years=4)
    district = run(BASELINE, *SMALL_BEIJING, "careers.cadres.promote_from=[district]", years=4)
    assert sum(metric_series(school, "cadre_promotions").values()) > 20
    assert not any(mv[4] == PROMOTION for mv in school.moves)
    cross = [mv for mv in district.moves if mv[4] == PROMOTION]
    assert len(cross) > 5
    hired = {(mv[0], mv[3]) for mv in district.moves if mv[4] == MOVE_KINDS.index("hire")}
    assert any((year, frm) in hired for year, _, frm, *_ in cross)


def _fill_principal_post(keys: list[str], *overrides: str) -> tuple[RotationModel, int, int]:
    """Empty the principal post of the largest school in year 1 and fill it under `keys`;
    returns (model, school, the new principal's row)."""
    keys_yaml = "[" + ",".join(keys) + "]"
    model = RotationModel(scenario(BASELINE, *SMALL_DONGCHENG, f"careers.cadres.promotion_keys={keys_yaml}",
                                   "careers.cadres.principal_terms=0", *overrides), rng=1)
    model.year = 1
    wf = model.workforce
    school = int(np.argmax(model.cadre_posts[:, 3]))
    old = np.flatnonzero(wf.active & (wf.school == school) & (wf.role == PRINCIPAL))
    model.remove_teachers(old, "retirement")
    cadres.yearly(model)
    new = np.flatnonzero(wf.active & (wf.school == school) & (wf.role == PRINCIPAL))
    assert len(new) == 1
    return model, school, int(new[0])


def test_promotion_keys_rank_the_candidates():
    """Ranked by experience alone, the most experienced eligible teacher of the school takes the
    post; under the default ladder (cadre rank first) someone else does: the keys bind."""
    model, school, row = _fill_principal_post(["experience"])
    wf = model.workforce
    cfg = model.config.careers.cadres
    level = model.world.schools["level"][school]
    pool = np.flatnonzero(wf.active & (wf.school == school) & (wf.term_end < 0)
                          & (wf.experience >= cfg.principal_min_experience)
                          & (years_left(wf.age, wf.birth_month, wf.retire_months) >= cfg.min_years_to_retirement)
                          & ((level == SCHOOL_LEVELS.index("nine_year")) | (wf.level == level)))
    assert wf.experience[row] == wf.experience[pool].max()
    _, _, ladder_row = _fill_principal_post(["cadre_rank", "title", "backbone", "experience"])
    assert ladder_row != row


def test_a_district_pool_promotes_the_districts_best_candidate():
    """From the district, the post goes to the most experienced candidate of the whole district
    who can teach at the school (ranked with the others of the district, by the keys)."""
    model, school, row = _fill_principal_post(["experience"], "careers.cadres.promote_from=[district]")
    wf, s = model.workforce, model.world.schools
    cfg = model.config.careers.cadres
    level = s["level"][school]
    pool = np.flatnonzero(wf.active & (s["district"][wf.school] == s["district"][school]) & (wf.term_end < 0)
                          & ((wf.role != PRINCIPAL) | (np.arange(wf.n) == row))  # no sitting principal
                          & (wf.experience >= cfg.principal_min_experience)
                          & (years_left(wf.age, wf.birth_month, wf.retire_months) >= cfg.min_years_to_retirement)
                          & ((level == SCHOOL_LEVELS.index("nine_year")) | (wf.level == level)))
    assert wf.experience[row] == wf.experience[pool].max() > np.median(wf.experience[pool])
    assert np.sum(wf.school[pool] != school) > 2 * np.sum(wf.school[pool] == school)  # mostly elsewhere


def test_the_default_ladder_promotes_a_vice_principal():
    model, school, row = _fill_principal_post(["cadre_rank", "title", "backbone", "experience"])
    before = RotationModel(scenario(BASELINE, *SMALL_DONGCHENG, "careers.cadres.principal_terms=0"), rng=1).workforce
    assert before.role[row] == ROLES.index("vice_principal")
    # and the vice-principal post it left was filled in the same year, down the ladder
    wf = model.workforce
    vice = np.sum(wf.active & (wf.school == school) & (wf.role == ROLES.index("vice_principal")))
    assert vice == model.cadre_posts[school, ROLES.index("vice_principal")]


def test_principals_rotate_after_their_terms_and_never_serve_past_the_cap():
    """Default (2 terms of 3 years, defer at most to 9): no principal's years in post reach 10 and
    some principals exchange posts; with rotation off (`principal_terms: 0`) some serve longer."""
    on = RotationModel(scenario(BASELINE, *SMALL_BEIJING), rng=1)
    off = RotationModel(scenario(BASELINE, *SMALL_BEIJING, "careers.cadres.principal_terms=0"), rng=1)
    for _ in range(12):
        on.step()
        off.step()
        assert principals_served(on).max() <= on.config.careers.cadres.principal_max_years
    assert principals_served(off).max() > off.config.careers.cadres.principal_max_years
    assert sum(metric_series(on, "principal_rotations").values()) > 10
    assert not any(mv[4] == CADRE_ROTATION for mv in off.moves)
    # exchanges stay within the district, and mostly within the school level
    s = on.world.schools
    pairs = [(frm, to) for _, _, frm, to, kind, *_ in on.moves if kind == CADRE_ROTATION]
    assert all(s["district"][frm] == s["district"][to] for frm, to in pairs)
    assert np.mean([s["level"][frm] == s["level"][to] for frm, to in pairs]) > 0.8


def test_deferral_share_changes_how_many_principals_rotate():
    """Deferring never (0) rotates principals at 6 years, more of them than deferring always (1),
    which rotates only at the 9-year cap."""
    counts = {}
    for share in (0.0, 1.0):
        model = run(BASELINE, *SMALL_BEIJING, f"careers.cadres.principal_defer_share={share}", years=8, seed=1)
        counts[share] = sum(metric_series(model, "principal_rotations").values())
    assert counts[0.0] > counts[1.0] > 0


@pytest.mark.parametrize(("name", "removed"), [
    ("china_2014_floor", "careers.cadres.principal_defer_share=0.5"),
    ("japan_prefectural", "careers.cadres.principal_terms=2"),
    ("korea_points", "careers.cadres.principal_terms=2"),
])
def test_the_cadre_rules_reference_scenarios_set_bind(name, removed):
    """Putting back the default of each cadre rule a reference scenario sets changes the
    principals' exchanges: no deferral rotates more of them; the Chinese two-term rule adds
    exchanges to systems whose principals move with the periodic transfer."""
    path = SCENARIOS / f"{name}.yaml"
    as_set = run(path, "world.scale=0.1", years=8, seed=2)
    default = run(path, "world.scale=0.1", removed, years=8, seed=2)

    def exchanges(model):
        return sum(1 for mv in model.moves if mv[4] == CADRE_ROTATION)
    if name == "china_2014_floor":
        assert exchanges(as_set) > exchanges(default) > 0
    else:
        assert exchanges(as_set) == 0 < exchanges(default)


def test_cadres_do_not_drift_while_the_pipeline_appoints_them():
    on = run(BASELINE, *SMALL_DONGCHENG, years=5)
    off = run(BASELINE, *SMALL_DONGCHENG, "careers.cadres.pipeline=false", years=5)

    def cadre_drifts(model):
        return sum(1 for mv in model.moves if mv[4] == DRIFT and model.workforce.role[mv[1]] > 0)
    assert cadre_drifts(on) == 0
    assert cadre_drifts(off) > 0


def test_cadre_metrics_count_by_role_and_level():
    """The groups of cadres_in_post add up; a school whose principal leaves counts as without one."""
    model = RotationModel(scenario(BASELINE, *SMALL_DONGCHENG, "careers.cadres.pipeline=false"), rng=0)
    model.run_for(1)
    total = metric_series(model, "cadres_in_post")[1]
    roles = sum(metric_series(model, "cadres_in_post", r)[1] for r in ROLES[1:])
    levels = sum(metric_series(model, "cadres_in_post", v)[1] for v in SCHOOL_LEVELS)
    assert total == roles == levels
    wf = model.workforce
    before = metric_series(model, "schools_without_principal")[1]
    school = int(wf.school[np.flatnonzero(wf.active & (wf.role == PRINCIPAL))[0]])
    level = SCHOOL_LEVELS[model.world.schools["level"][school]]
    before_level = metric_series(model, "schools_without_principal", level)[1]
    model.remove_teachers(np.flatnonzero(wf.active & (wf.role == PRINCIPAL) & (wf.school == school)), "attrition")
    model.metric_rows.clear()
    model._collect({})
    assert metric_series(model, "schools_without_principal")[1] == before + 1
    assert metric_series(model, "schools_without_principal", level)[1] == before_level + 1


def test_bad_cadre_settings_are_refused_in_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("careers:\n  cadres:\n    vice_principals_min: 4\n    vice_principals_max: 2\n")
    with pytest.raises(ValueError) as err:
        load_scenario(path)
    assert "vice_principals_min" in str(err.value) and "\n" not in str(err.value)


def _ranking_workforce(n: int, seed: int = 0):
    """A workforce of `n` rows whose promotion keys tie often (few values each)."""
    from sim.core.workforce import Workforce

    rng = np.random.default_rng(seed)
    wf = Workforce()
    wf.add(role=rng.integers(0, len(ROLES), n), title=rng.integers(0, 5, n), backbone=rng.integers(0, 4, n),
           experience=rng.integers(0, 6, n))
    tiebreak = rng.random(n).round(1)  # ties in the draw too: then row order decides
    return wf, rng, tiebreak


KEYS = ["cadre_rank", "title", "backbone", "experience"]


def test_ranked_is_the_sort_by_unit_then_each_key_then_the_draw():
    """One mixed-radix key and the draw order rows as a sort by the unit, each promotion key
    in turn, the draw and the row would."""
    wf, rng, tiebreak = _ranking_workforce(3000)
    rows = np.sort(rng.choice(3000, 2000, replace=False))
    unit = rng.integers(0, 40, len(rows))
    columns = {"cadre_rank": np.where(wf.role > 0, wf.role, len(ROLES)), "title": -wf.title,
               "backbone": -wf.backbone, "experience": -wf.experience}
    for keys in (KEYS, ["experience"], ["title", "cadre_rank"]):
        expected = rows[np.lexsort([tiebreak[rows], *[columns[k][rows] for k in reversed(keys)], unit])]
        assert cadres._ranked(wf, rows, keys, tiebreak, unit).tolist() == expected.tolist()
    wf.experience[rows[:2]] = (2**61, -(2**61))  # keys too wide for one int64: the sort of each key instead
    columns["experience"] = -wf.experience
    expected = rows[np.lexsort([tiebreak[rows], *[columns[k][rows] for k in reversed(KEYS)], unit])]
    assert cadres._ranked(wf, rows, KEYS, tiebreak, unit).tolist() == expected.tolist()


def test_ranked_with_places_keeps_each_units_first_places():
    """With the number of places per unit, the rows left out are only ones no draw could bring
    into their unit's first places: each unit's first places are those of the full ranking."""
    wf, rng, tiebreak = _ranking_workforce(3000, seed=1)
    rows = np.arange(3000)
    unit = rng.integers(0, 60, len(rows))
    places = rng.integers(0, 4, 60)
    full, kept = (cadres._ranked(wf, rows, KEYS, tiebreak, unit, p) for p in (None, places))
    assert len(kept) < len(full) / 2  # most rows are left out
    for u in range(60):
        assert kept[unit[kept] == u][: places[u]].tolist() == full[unit[full] == u][: places[u]].tolist()
