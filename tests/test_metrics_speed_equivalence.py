"""The year's inequality metrics share sums between indices and cache them for the year
(`inequality.Sample`, `YearContext.cache`); that sharing must change no value. Every indicator
family is checked, value for value (exact equality), against the one-off functions of
`sim.metrics.inequality` on fresh arrays, on small random worlds with the awkward cases: sections
without teachers (quality drops them), indicators that are zero everywhere or at some schools
(+inf Theil L), equal values, ungrouped schools. The per-district means and CVs are computed for
all districts at once (bincount sums in another order), so they agree to a relative 1e-12."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from sim.metrics import ALL_INDICATORS, GROUPS, HEADCOUNT_INDICATORS, REGISTRY, YearContext
from sim.metrics import inequality as ineq

STANDALONE = {
    "mean_<indicator>": ineq.weighted_mean, "cv_<indicator>": ineq.weighted_cv, "gini_<indicator>": ineq.weighted_gini,
    "theil_t_<indicator>": ineq.theil_t, "theil_l_<indicator>": ineq.theil_l,
    "atkinson_05_<indicator>": partial(ineq.atkinson, epsilon=0.5),
    "atkinson_1_<indicator>": partial(ineq.atkinson, epsilon=1.0),
    "atkinson_2_<indicator>": partial(ineq.atkinson, epsilon=2.0),
    "max_min_<indicator>": lambda x, w: ineq.max_min_ratio(x), "p90_p10_<indicator>": ineq.p90_p10_ratio,
}


def random_context(seed: int) -> YearContext:
    rng = np.random.default_rng(seed)
    n = 40
    enrol = rng.integers(200, 1500, (n, 2)).astype(float)
    enrol[rng.random(n) < 0.3, rng.integers(0, 2)] = 0  # schools without one of the sections
    table = {k: rng.integers(0, 12, (n, 2)).astype(float) * (enrol > 0) for k in HEADCOUNT_INDICATORS}
    table["teachers"] = table["teachers"] + 10 * (enrol > 0)
    table["teachers"][rng.random(n) < 0.15, 1] = 0  # junior sections with no teacher: no quality
    table["backbone"][:, 1] = 0  # an indicator with none anywhere
    table["pe_art"] = 0.013 * enrol  # equal values per 100 students everywhere
    table["quality_sum"] = table["teachers"] * rng.uniform(0.2, 0.9, (n, 2))
    table["enrolment"] = enrol
    staff = table["teachers"].sum(axis=1)
    table["mean_quality"] = np.divide(table["quality_sum"].sum(axis=1), staff, out=np.zeros(n), where=staff > 0)
    group = rng.integers(0, 6, n)
    group[rng.random(n) < 0.3] = -1  # ungrouped schools
    schools = {"district": rng.integers(0, 3, n), "school_district": rng.integers(0, 5, n), "group": group,
               "tier": rng.integers(0, 4, n)}
    return YearContext(year=1, table=table, schools=schools, district_types=np.zeros(3, dtype=int),
                       district_names=["a", "b", "c"], workforce=None, counts={}, moves={}, program_names=[],
                       disruption=0.0, start={})


def indicator_metrics():
    return [m for m in REGISTRY.values()
            if isinstance(m.fn, partial) and m.fn.args and m.fn.args[0] in ALL_INDICATORS]


def expected(ctx: YearContext, family: str, ind: str, group: str) -> float | None:
    """The value from the one-off functions on freshly built arrays (None: family not covered here)."""
    level, _, district = group.partition("@")
    x, w, school = ctx.units[level].values(ind)
    if district:  # the district's own schools (sections)
        mine = ctx.schools["district"][school] == ctx.district_names.index(district)
        x, w, school = x[mine], w[mine], school[mine]
    x, w = x.copy(), w.copy()
    if family in STANDALONE:
        return float(STANDALONE[family](x, w))
    if "_between_" in family or "_within_" in family:
        index = family[6].upper()
        part = family.split("_between_")[-1].split("_within_")[-1]
        labels = ctx.schools[part][school]
        if part == "group":
            labels = np.where(labels >= 0, labels, -1 - school)
        _, between, within = ineq.theil_decomposition(x, w, labels, index)
        return between if "_between_" in family else within
    return None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shared_sums_give_the_values_of_the_one_off_functions(seed):
    ctx = random_context(seed)
    checked = by_district = 0
    for m in indicator_metrics():
        ind = m.fn.args[0]
        for group, value in m.fn(ctx):
            want = expected(random_context(seed), m.family, ind, group)
            if want is None:
                continue
            if "@" in group:
                assert value == pytest.approx(want, rel=1e-12, abs=1e-15, nan_ok=True), (m.name, group, value, want)
                by_district += 1
            else:
                assert value == want or (np.isnan(value) and np.isnan(want)), (m.name, group, value, want)
            checked += 1
    assert checked > 400 and by_district >= 2 * 6 * 3 * 2  # mean and cv, 6 indicators, 3 districts, 2+ groups
    assert any(np.isinf(v) for m in indicator_metrics() for _, v in m.fn(ctx))


def test_per_district_figures_are_whole_arrays_not_a_sample_each():
    """A city has 16 districts x 3 groups x 6 indicators: the per-district means and CVs come from
    one bincount per sum over all districts, not from a sample per district group."""
    ctx = random_context(1)
    rows = [(m.name, g) for m in (*indicator_metrics(), REGISTRY["cv_composite"]) for g, _ in m.fn(ctx)]
    assert sum("@" in g for _, g in rows) >= 3 * 3 * 12  # mean and cv of 6 indicators, 3 districts, 3 groups
    assert set(ctx.units) == set(GROUPS)


@pytest.mark.parametrize("seed", [4, 5])
def test_metrics_do_not_depend_on_what_was_computed_before(seed):
    shared = random_context(seed)
    everything = {m.name: m.fn(shared) for m in (*indicator_metrics(), REGISTRY["cv_composite"],
                                                  REGISTRY["cv_composite_meets_basic"])}
    for name in reversed(everything):  # each metric alone, on a context with an empty cache
        assert REGISTRY[name].fn(random_context(seed)) == everything[name], name
    for g in GROUPS:
        cvs = [ineq.weighted_cv(*random_context(seed).units[g].values(i)[:2]) for i in HEADCOUNT_INDICATORS]
        assert dict(everything["cv_composite"])[g] == float(np.mean(cvs))


def test_school_table_counts_every_flag_of_every_section_where_the_load_is_taught():
    """The school table counts the four flags and the two sections with one bincount of a code
    per teacher, over the active teachers' gathered columns; each count must still be the
    teacher-by-teacher sum (a part-timer's share at the part-time host, the rest at home)."""
    from policy_helpers import build, hand_count

    from sim.codes import ABOVE_QUALIFICATION, DISTRICT_BACKBONE, PE_ART_CODES, SENIOR_TITLE
    from sim.metrics import school_table
    from sim.metrics.registry import ActiveTeachers

    part_time = {"name": "walking", "form": "part_time", "part_time_share": 0.4, "quota": {"share_of_eligible": 0.25},
                 "priority": ["never_rotated"], "scope": "district", "matching": "need",
                 "term_years_min": 1, "term_years_max": 1}
    model = build(part_time, seed=3)
    model.step()
    wf, n = model.workforce, model.world.n_schools
    assert np.any(wf.part_host[wf.active] >= 0)
    flags = {"teachers": None, "above_qualification": wf.qualification >= ABOVE_QUALIFICATION,
             "senior_title": wf.title >= SENIOR_TITLE, "backbone": wf.backbone >= DISTRICT_BACKBONE,
             "pe_art": np.isin(wf.subject, PE_ART_CODES), "quality_sum": wf.quality}
    for gathered in (None, ActiveTeachers(wf)):
        table = school_table(wf, model.world.schools, np.zeros(n), None, gathered)
        for name, flag in flags.items():
            for level in (0, 1):
                weight = (wf.level == level) * (1.0 if flag is None else flag)
                np.testing.assert_allclose(table[name][:, level], hand_count(model, weight), rtol=1e-12, atol=1e-12,
                                           err_msg=f"{name}, level {level}")
        assert any(table[name].any() for name in flags)


def test_rotator_and_cadre_columns_are_those_of_the_masked_rows():
    from policy_helpers import build

    program = {"name": "exchange", "quota": {"share_of_eligible": 0.3}, "scope": "district", "matching": "need"}
    model = build(program, seed=1)
    model.step()
    model.step()
    wf = model.workforce
    ctx = model_context(model)
    rotating = wf.active & (wf.term_end >= 0)
    assert rotating.any()
    for column in ("school", "host", "part_host", "quality", "commute", "satisfaction", "backbone"):
        np.testing.assert_array_equal(ctx.rotators(column), getattr(wf, column)[rotating])
        np.testing.assert_array_equal(ctx.active(column), getattr(wf, column)[wf.active])
    cadre = wf.active & (wf.role > 0)
    role, school = ctx.cadres()
    assert cadre.any()
    np.testing.assert_array_equal(role, wf.role[cadre])
    np.testing.assert_array_equal(school, wf.school[cadre])


def model_context(model) -> YearContext:
    """A YearContext of the model's current state (what `_collect` builds)."""
    from sim.metrics import school_table

    n = model.world.n_schools
    table = school_table(model.workforce, model.world.schools, np.zeros(n))
    return YearContext(year=model.year, table=table, schools=model.world.schools,
                       district_types=model.world.district_types, district_names=model.world.district_names,
                       workforce=model.workforce, counts={}, moves=model.move_log.columns(), program_names=[],
                       disruption=0.0, start={})
