"""Careers: ageing, retirement, attrition, voluntary drift, hiring, learning and promotion.

Each function takes the model and works on the Workforce arrays for all teachers at once;
random draws come from the model's named streams and are indexed by teacher row, so a change in
the rotation policy does not re-randomise who retires, leaves or learns (common random numbers).
"""

from __future__ import annotations

import numpy as np

from sim.codes import DISTRICT_TYPES, SCHOOL_LEVELS, TIERS
from sim.world.synthetic import SUBJECT_SHARES

MIN_EXPERIENCE_FOR_TITLE = (0, 1, 5, 12, 20)  # years of experience before each title (rough norms)
BASE_SATISFACTION = 0.75


def age_one_year(model) -> None:
    wf = model.workforce
    a = wf.active
    wf.age[a] += 1
    wf.experience[a] += 1
    wf.years_at_school[a] += 1


def retirements(model) -> np.ndarray:
    """Rows that reach retirement age this year."""
    wf = model.workforce
    return np.flatnonzero(wf.active & (wf.age >= model.config.careers.retirement_age))


def attrition(model) -> np.ndarray:
    """Rows that leave this year for other reasons; the hazard rises at rural and weak posts,
    with long commutes and with dissatisfaction."""
    c = model.config.careers
    wf = model.workforce
    rows = wf.active_rows()
    tier = model.world.schools["tier"][wf.host[rows]]
    hazard = (c.attrition_base
              + c.attrition_rural_extra * (tier == TIERS.index("rural"))
              + c.attrition_weak_extra * (tier == TIERS.index("weak"))
              + c.attrition_commute_per_hour * np.maximum(wf.commute[rows] - 45.0, 0.0) / 60.0
              + c.attrition_dissatisfaction * (1.0 - wf.satisfaction[rows]))
    u = model.stream("attrition").random(wf.n)[rows]
    return rows[u < hazard]


def voluntary_drift(model) -> int:
    """Teachers at home for long enough seek a post at a stronger school of their district with a
    vacancy; stronger teachers succeed more often and choose first. Returns the number moved."""
    c = model.config.careers
    wf = model.workforce
    s = model.world.schools
    rng = model.stream("drift")
    u = rng.random(wf.n)
    pick = rng.random(wf.n)
    rows = np.flatnonzero(wf.active & (wf.term_end < 0) & (wf.years_at_school >= c.drift_min_years))
    p = c.drift_rate * np.exp(c.drift_quality_selection * (wf.quality[rows] - 1.0))
    movers = rows[u[rows] < p]
    movers = movers[np.argsort(-wf.quality[movers], kind="stable")]
    vacancies = s["norm"] - model.home_posts()
    moved = 0
    for r in movers.tolist():
        home = int(wf.school[r])
        cand = np.flatnonzero((s["district"] == s["district"][home]) & (s["tier"] > s["tier"][home])
                              & (vacancies > 0)
                              & ((s["level"] == wf.level[r]) | (s["level"] == SCHOOL_LEVELS.index("nine_year"))))
        if len(cand) == 0:
            continue
        weight = np.exp(s["tier"][cand].astype(float))
        h = int(cand[np.searchsorted(np.cumsum(weight) / weight.sum(), pick[r], side="right").clip(max=len(cand) - 1)])
        vacancies[h] -= 1
        vacancies[home] += 1
        model.transfer_post(r, h, "drift")
        moved += 1
    return moved


def hire(model) -> np.ndarray:
    """Fill vacancies (norm minus home posts) with new teachers; rural districts and rural
    schools fill only a share of theirs. Returns the new rows."""
    c = model.config.careers
    s = model.world.schools
    rng = model.stream("hiring")
    vacancies = np.maximum(s["norm"] - model.home_posts(), 0)
    rural = (model.world.district_types[s["district"]] == DISTRICT_TYPES.index("rural")) \
        | (s["tier"] == TIERS.index("rural"))
    fill = np.where(rural, c.hire_fill_rural, c.hire_fill_urban)
    n_hire = np.floor(vacancies * fill + rng.random(len(vacancies))).astype(np.int64)
    n_hire = np.minimum(n_hire, vacancies)
    school = np.repeat(np.arange(len(n_hire)), n_hire)
    k = len(school)
    if k == 0:
        return school
    share_primary = s["enrol_primary"][school] / (s["enrol_primary"][school] + s["enrol_junior"][school])
    level = (rng.random(k) >= share_primary).astype(np.int64)
    subject = (rng.random(k)[:, None] < np.cumsum(SUBJECT_SHARES)).argmax(axis=1)
    values = dict(
        school=school, host=school, level=level, subject=subject,
        qualification=np.where(rng.random(k) < c.new_hire_above_qualification, 2, 1),
        age=22 + rng.integers(0, 6, k),
        quality=np.clip(rng.normal(c.new_hire_quality, c.new_hire_quality_sd, k), 0.1, None),
        home_x=s["x"][school] + rng.normal(0, 3.0, k), home_y=s["y"][school] + rng.normal(0, 3.0, k),
        arrived=np.full(k, model.year), hired=np.full(k, model.year),
    )
    return model.add_teachers(values)


def learn(model) -> None:
    """Experience curve, peer effect toward the host school's mean, and radiation from
    backbone rotators present at the host."""
    c = model.config.careers
    wf = model.workforce
    rows = wf.active_rows()
    host = wf.host[rows]
    q = wf.quality[rows]
    n_s = model.world.n_schools
    staff = np.bincount(host, minlength=n_s)
    mean_q = np.bincount(host, weights=q, minlength=n_s) / np.maximum(staff, 1)
    bb_rot = np.bincount(host, weights=(wf.term_end[rows] >= 0) & (wf.backbone[rows] >= 2), minlength=n_s)
    gain = (c.learning_rate * 0.5 ** (wf.experience[rows] / c.learning_halflife)
            + c.peer_effect * (mean_q[host] - q)
            + c.radiation * (bb_rot / np.maximum(staff, 1))[host])
    wf.quality[rows] = np.maximum(q + gain, 0.1)


def promote(model) -> dict[str, int]:
    """Title and backbone steps; chances rise with quality and, as Beijing's rules say, after a
    rotation."""
    c = model.config.careers
    wf = model.workforce
    rows = wf.active_rows()
    u_title = model.stream("title").random(wf.n)[rows]
    u_bb = model.stream("backbone").random(wf.n)[rows]
    q = wf.quality[rows]
    boost = 1.0 + c.rotation_counts_for_promotion * (wf.n_rotations[rows] > 0)
    # prestige schools nominate more of their staff for titles and backbone selection
    boost = boost * np.exp(c.prestige_in_promotion * (model.world.schools["tier"][wf.school[rows]] - 2))
    title = wf.title[rows]
    exp = wf.experience[rows]
    nxt = np.minimum(title + 1, len(MIN_EXPERIENCE_FOR_TITLE) - 1)
    can = (title < 4) & (exp >= np.array(MIN_EXPERIENCE_FOR_TITLE)[nxt])
    p_title = np.where(title == 0, 1.0, c.title_promotion * np.exp(2.0 * (q - 1.0)) * boost)
    p_title = np.where(title == 3, p_title * 0.05, p_title)
    up = rows[can & (u_title < p_title)]
    wf.title[up] += 1
    bb = wf.backbone[rows]
    p_bb = c.backbone_promotion * np.exp(4.0 * (q - 1.1)) * boost
    p_bb = np.where(bb == 2, p_bb * 0.15, np.where(bb == 0, p_bb * 2.0, p_bb))
    step = (bb < 3) & (exp >= 5) & (u_bb < p_bb)
    wf.backbone[rows[step]] = np.where(bb[step] == 0, 1, bb[step] + 1)
    return {"title_promotions": len(up), "backbone_promotions": int(step.sum())}


def update_commute_and_satisfaction(model) -> None:
    """Commute from where the teacher lives to the host school; satisfaction falls with commutes
    past the tolerated length and while adapting to a rotation post."""
    c = model.config.careers
    wf = model.workforce
    s = model.world.schools
    rows = wf.active_rows()
    host = wf.host[rows]
    dist = np.hypot(wf.home_x[rows] - s["x"][host], wf.home_y[rows] - s["y"][host])
    commute = c.commute_fixed_minutes + c.commute_minutes_per_km * dist
    wf.commute[rows] = commute
    rotating = wf.term_end[rows] >= 0
    sat = (BASE_SATISFACTION
           - 0.25 * np.maximum(commute - c.dissatisfaction_commute_minutes, 0.0) / 60.0
           - 0.05 * rotating)
    wf.satisfaction[rows] = np.clip(sat, 0.0, 1.0)
