"""Who may be rotated this year under a program's eligibility rules."""

from __future__ import annotations

import numpy as np

from sim.codes import BACKBONE, DISTRICT_TYPES, ROLES, TEACHER_LEVELS, TIERS
from sim.world.retirement import years_left


def eligible_mask(model, eligibility) -> np.ndarray:
    """Mask over workforce rows: active, at home and on no rotation (nor rotated earlier this year,
    as a transfer's teacher is at home at once), long enough at the school,
    far enough from retirement, of an allowed role, level, sending-school tier, backbone level,
    district, district type and school district, not covering another's post, not exempt by age,
    and past any remote-post minimum stay."""
    wf = model.workforce
    school_ok = sending_schools(model, eligibility)
    if school_ok.all():
        return _row_rules(model, eligibility, slice(None))
    in_scope = school_ok[wf.school]
    if 4 * np.count_nonzero(in_scope) > wf.n:  # most rows in scope: whole columns cost less than gathers
        return in_scope & _row_rules(model, eligibility, slice(None))
    # a few districts' (or schools') rows: the other rules read only theirs
    rows = np.flatnonzero(in_scope)
    mask = np.zeros(wf.n, dtype=bool)
    mask[rows[_row_rules(model, eligibility, rows)]] = True
    return mask


def sending_schools(model, eligibility) -> np.ndarray:
    """Mask over schools: the rules about the sending school, decided once per school (then looked
    up for each teacher)."""
    s = model.world.schools
    school_ok = schools_in(model, eligibility.districts, eligibility.district_types, eligibility.sending_tiers)
    if eligibility.school_districts is not None:
        ids = [i for i, n in enumerate(model.world.school_district_names) if n in eligibility.school_districts]
        school_ok &= np.isin(s["school_district"], ids)
    if eligibility.twinned_only:
        school_ok &= np.isin(np.arange(len(school_ok)), model.world.twinning.ravel())
    return school_ok


def _row_rules(model, eligibility, at) -> np.ndarray:
    """The rules about the teacher, over the rows `at` (ascending row numbers, or slice(None) for all)."""
    wf = model.workforce
    mask = wf.active[at] & (wf.term_end[at] < 0) & (wf.rotated_in[at] != model.year)
    mask &= wf.cover_until[at] < 0  # a cover teacher holds another's post for a term (sim.policies.exchange)
    years_at_school = wf.years_at_school[at]
    mask &= years_at_school >= eligibility.min_years_at_school
    mask &= years_to_retirement(model)[at] >= eligibility.min_years_to_retirement
    # a rule that admits every code is left out: its lookup over every row would change nothing
    if not set(ROLES) <= set(eligibility.roles):
        mask &= _allowed(wf.role[at], ROLES, eligibility.roles)
    if not set(TEACHER_LEVELS) <= set(eligibility.levels):
        mask &= _allowed(wf.level[at], TEACHER_LEVELS, eligibility.levels)
    if eligibility.min_backbone != BACKBONE[0]:  # backbone codes start at 0: "none" admits all
        mask &= wf.backbone[at] >= BACKBONE.index(eligibility.min_backbone)
    if eligibility.max_experience is not None:
        mask &= wf.experience[at] <= eligibility.max_experience
    if eligibility.remote_min_years:
        tier = model.world.schools["tier"][wf.school[at]]
        mask &= (tier != TIERS.index("rural")) | (years_at_school >= eligibility.remote_min_years)
    if eligibility.exempt_men_over is not None:
        mask &= wf.woman[at] | (wf.age[at] <= eligibility.exempt_men_over)
    if eligibility.exempt_women_over is not None:
        mask &= ~wf.woman[at] | (wf.age[at] <= eligibility.exempt_women_over)
    return mask


def schools_in(model, districts=None, district_types=None, tiers=None) -> np.ndarray:
    """Mask over schools: in one of `districts` (names), in a district of one of `district_types`,
    of one of `tiers`; a rule left None admits every school. The sending rules of eligibility and
    the receiving rules of matching are both said this way."""
    s = model.world.schools
    ok = np.ones(len(s["tier"]), dtype=bool)
    # each rule a table lookup per school (cheaper than np.isin at these sizes)
    if districts is not None:
        named = np.array([n in districts for n in model.world.district_names], dtype=bool)
        ok &= named[s["district"]]
    if district_types is not None:
        ok &= _allowed(model.world.district_types, DISTRICT_TYPES, district_types)[s["district"]]
    if tiers is not None and not set(TIERS) <= set(tiers):  # all tiers: nothing to look up
        ok &= _allowed(s["tier"], TIERS, tiers)
    return ok


def years_to_retirement(model) -> np.ndarray:
    """`years_left` of every workforce row, kept while the rows and their ages stay as they are: a year asks
    for it once per program, coverage rule and cadre post. Ages only grow (one year a step) and a row's birth
    month and statutory age are set when it is added, so (rows, sum of ages) tells when to redo it; rows
    added since (a cover or a hire within the year) get theirs when the earlier rows' sum is unchanged."""
    wf = model.workforce
    cached = getattr(model, "_years_left_cache", None)
    if cached is not None and cached[0] is wf and cached[1] <= wf.n:
        _, k, age_sum, left = cached
        if int(wf.age[:k].sum()) == age_sum:
            if k == wf.n:
                return left
            new = years_left(wf.age[k:], wf.birth_month[k:], wf.retire_months[k:])
            model._years_left_cache = (wf, wf.n, age_sum + int(wf.age[k:].sum()), np.concatenate([left, new]))
            return model._years_left_cache[3]
    model._years_left_cache = (wf, wf.n, int(wf.age.sum()), years_left(wf.age, wf.birth_month, wf.retire_months))
    return model._years_left_cache[3]


def _allowed(codes: np.ndarray, names: tuple[str, ...], allowed) -> np.ndarray:
    """codes[i] is one of the allowed names (a table lookup: faster than np.isin on every row)."""
    table = np.zeros(len(names), dtype=bool)
    table[[names.index(a) for a in allowed]] = True
    return table[codes]
