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
    s = model.world.schools
    school = wf.school
    # rules about the school are decided once per school, then looked up for each teacher
    school_ok = schools_in(model, eligibility.districts, eligibility.district_types, eligibility.sending_tiers)
    if eligibility.school_districts is not None:
        ids = [i for i, n in enumerate(model.world.school_district_names) if n in eligibility.school_districts]
        school_ok &= np.isin(s["school_district"], ids)
    if eligibility.twinned_only:
        school_ok &= np.isin(np.arange(len(school_ok)), model.world.twinning.ravel())
    mask = wf.active & (wf.term_end < 0) & (wf.rotated_in != model.year)
    mask &= wf.cover_until < 0  # a cover teacher holds another's post for a term (sim.policies.exchange)
    mask &= wf.years_at_school >= eligibility.min_years_at_school
    mask &= years_to_retirement(model) >= eligibility.min_years_to_retirement
    # a rule that admits every code is left out: its lookup over every row would change nothing
    if not set(ROLES) <= set(eligibility.roles):
        mask &= _allowed(wf.role, ROLES, eligibility.roles)
    if not set(TEACHER_LEVELS) <= set(eligibility.levels):
        mask &= _allowed(wf.level, TEACHER_LEVELS, eligibility.levels)
    if not school_ok.all():
        mask &= school_ok[school]
    if eligibility.min_backbone != BACKBONE[0]:  # backbone codes start at 0: "none" admits all
        mask &= wf.backbone >= BACKBONE.index(eligibility.min_backbone)
    if eligibility.max_experience is not None:
        mask &= wf.experience <= eligibility.max_experience
    if eligibility.remote_min_years:
        tier = s["tier"][school]
        mask &= (tier != TIERS.index("rural")) | (wf.years_at_school >= eligibility.remote_min_years)
    if eligibility.exempt_men_over is not None:
        mask &= wf.woman | (wf.age <= eligibility.exempt_men_over)
    if eligibility.exempt_women_over is not None:
        mask &= ~wf.woman | (wf.age <= eligibility.exempt_women_over)
    return mask


def schools_in(model, districts=None, district_types=None, tiers=None) -> np.ndarray:
    """Mask over schools: in one of `districts` (names), in a district of one of `district_types`,
    of one of `tiers`; a rule left None admits every school. The sending rules of eligibility and
    the receiving rules of matching are both said this way."""
    s = model.world.schools
    ok = np.ones(len(s["tier"]), dtype=bool)
    if districts is not None:
        ok &= np.isin(s["district"], [i for i, n in enumerate(model.world.district_names) if n in districts])
    if district_types is not None:
        types = [DISTRICT_TYPES.index(t) for t in district_types]
        ok &= np.isin(model.world.district_types[s["district"]], types)
    if tiers is not None:
        ok &= np.isin(s["tier"], [TIERS.index(t) for t in tiers])
    return ok


def years_to_retirement(model) -> np.ndarray:
    """`years_left` of every workforce row, kept while the rows and their ages stay as they are: a year asks
    for it once per program, coverage rule and cadre post. Ages only grow (one year a step) and a row's birth
    month and statutory age are set when it is added, so (rows, sum of ages) tells when to redo it."""
    wf = model.workforce
    key = (wf.n, int(wf.age.sum()))
    cached = getattr(model, "_years_left_cache", None)
    if cached is None or cached[0] != key:
        cached = model._years_left_cache = (key, years_left(wf.age, wf.birth_month, wf.retire_months))
    return cached[1]


def _allowed(codes: np.ndarray, names: tuple[str, ...], allowed) -> np.ndarray:
    """codes[i] is one of the allowed names (a table lookup: faster than np.isin on every row)."""
    table = np.zeros(len(names), dtype=bool)
    table[[names.index(a) for a in allowed]] = True
    return table[codes]
