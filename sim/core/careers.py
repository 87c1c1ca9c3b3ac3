"""Careers: ageing, retirement, attrition, voluntary drift, hiring, learning and promotion.

Each function takes the model and works on the Workforce arrays for all teachers at once;
random draws come from the model's named streams and are indexed by teacher row, so a change in
the rotation policy does not re-randomise who retires, leaves or learns (common random numbers).
"""

from __future__ import annotations

import bisect

import numpy as np

from sim.codes import BACKBONE, DISTRICT_BACKBONE, DISTRICT_TYPES, SENIOR_TITLE, TIERS, TITLES, level_fits
from sim.core import tenure
from sim.policies.eligibility import years_to_retirement
from sim.world.synthetic import SUBJECT_SHARES
from sim.world.system import commute_minutes

MIN_EXPERIENCE_FOR_TITLE = (0, 1, 5, 12, 20)  # years of experience before each title (rough norms)
BASE_SATISFACTION = 0.75
# SD of teacher quality of the synthetic presets' initial staff (dongcheng 0.160, china 0.176): the
# unit used when a roster gives every teacher the same quality (no spread to measure)
QUALITY_SD_REFERENCE = 0.16
# the published range of the loss per full turnover of a grade's teachers, student SDs in math
# (sources.md: RONFELDT-2013): the ends of the achievement band (metrics achievement_low/high)
TURNOVER_EFFECT_RANGE = (0.06, 0.10)


def quality_scale(wf) -> tuple[float, float]:
    """Mean and SD of the initial staff's quality: the model's own unit, which the published
    effects (in student SDs) are mapped to (ODD 7.9, 7.12)."""
    q = wf.quality[wf.active_rows()]
    sd = float(q.std()) if len(q) > 1 else 0.0
    return (float(q.mean()) if len(q) else 1.0), (sd if sd > 1e-6 else QUALITY_SD_REFERENCE)


def disruption_per_turnover(c, quality_sd: float, effect_sd: float | None = None) -> float:
    """Quality units lost per unit turnover share: the published loss in student SDs per full
    turnover (`turnover_effect_sd`, or `effect_sd`) x quality units per student SD (the staff's
    quality SD / `teacher_effect_sd`); `careers.disruption` when set overrides the mapping."""
    if c.disruption is not None and effect_sd is None:
        return c.disruption
    return (c.turnover_effect_sd if effect_sd is None else effect_sd) * quality_sd / c.teacher_effect_sd


def age_one_year(model) -> None:
    """A year older and more experienced; a year of hardship service for those on rotation or
    at a rural or weak school (it counts for Korean points and for title rules)."""
    wf = model.workforce
    a = wf.active
    # adding the masks (True = 1) in place: 4x faster than incrementing a masked selection
    wf.age += a
    wf.experience += a
    wf.years_at_school += tenure.accrues(model)  # not while away under careers.tenure pause
    hard_post = model.world.schools["tier"] <= TIERS.index("weak")  # per school, then looked up by host
    wf.hardship_years += a & ((wf.term_end >= 0) | hard_post[wf.host])


def retirements(model) -> np.ndarray:
    """Rows that reach their own statutory retirement age this year (by sex and birth date,
    `careers.retirement`; sim/world/retirement.py)."""
    wf = model.workforce
    # the rows' years left, kept for eligibility's and the cadre posts' reads this year
    return np.flatnonzero(wf.active & (years_to_retirement(model) <= 0))


def attrition(model) -> np.ndarray:
    """Rows that leave this year for other reasons; the hazard rises at rural and weak posts,
    with long commutes and with dissatisfaction."""
    c = model.config.careers
    wf = model.workforce
    rows = wf.active_rows()
    tier = model.world.schools["tier"]
    # the host's part, per school and then looked up (the same sums, in the same order, as per row)
    post = (c.attrition_base
            + c.attrition_rural_extra * (tier == TIERS.index("rural"))
            + c.attrition_weak_extra * (tier == TIERS.index("weak")))
    hazard = (post[wf.host[rows]]
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
    rows = np.flatnonzero(wf.active & (wf.term_end < 0) & (wf.years_at_school >= c.drift_min_years)
                          & (wf.cover_until < 0)  # a cover teacher holds a post for a term only
                          & ((wf.role == 0) | (not c.cadres.pipeline)))  # the bureau appoints cadres
    p = c.drift_rate * np.exp(c.drift_quality_selection * (wf.quality[rows] - 1.0))
    movers = rows[u[rows] < p]
    movers = movers[np.argsort(-wf.quality[movers], kind="stable")]
    vacancies = s["norm"] - model.home_posts()
    district, tier = s["district"].tolist(), s["tier"].tolist()
    pools, in_pools = _drift_pools(model)
    # a pool's open schools and their cumulative choice shares, dropped when one of its schools
    # fills or opens (a dict lookup per mover instead of numpy calls on the pool); `is_open`, read
    # by those rebuilds, changes only then (a numpy write per event, not two per move)
    choices: dict[tuple[int, int, int], tuple[list[int], list[float]]] = {}
    vac = vacancies.tolist()
    is_open = vacancies > 0
    moved, dest = [], []
    for mover, home, level, draw in zip(movers.tolist(), wf.school[movers].tolist(), wf.level[movers].tolist(),
                                        pick[movers].tolist(), strict=True):
        key = (district[home], tier[home], level)
        entry = choices.get(key)
        if entry is None:
            if key not in pools:
                pool = np.flatnonzero((s["district"] == key[0]) & (s["tier"] > key[1])
                                      & level_fits(s["level"], level))
                pools[key] = pool, np.exp(s["tier"][pool].astype(float))
                for j in pool.tolist():
                    in_pools.setdefault(j, []).append(key)
            pool, pool_weight = pools[key]
            open_ = is_open[pool]
            weight = pool_weight[open_]
            shares = weight.cumsum()  # the methods, in place: a rebuild is most of a pool's cost
            shares /= weight.sum()
            entry = choices[key] = pool[open_].tolist(), shares.tolist()
        cand, cdf = entry
        if not cand:
            continue
        h = cand[min(bisect.bisect_right(cdf, draw), len(cand) - 1)]  # as np.searchsorted(side="right")
        vac[h] -= 1
        vac[home] += 1
        if vac[h] == 0:  # h filled: the pools it is in change
            is_open[h] = False
            for k in in_pools[h]:
                choices.pop(k, None)
        if vac[home] == 1:  # home opened
            is_open[home] = True
            for k in in_pools.get(home, ()):
                choices.pop(k, None)
        moved.append(mover)
        dest.append(h)
    model.transfer_posts(np.array(moved, dtype=np.int64), np.array(dest, dtype=np.int64), "drift")
    return len(moved)


def _drift_pools(model) -> tuple[dict, dict]:
    """The stronger schools of the district that fit a teacher's level with their choice weights,
    by (district, tier, level), and school -> the pools it is in; filled as drift asks, and kept
    for the run (the schools do not change: about 150 pools a year were built again)."""
    cached = getattr(model, "_drift_pool_cache", None)
    if cached is None:
        cached = model._drift_pool_cache = ({}, {})
    return cached


def hire(model) -> np.ndarray:
    """Fill vacancies (norm minus filled posts: `RotationModel.filled_posts`) with new teachers;
    rural districts and rural schools fill only a share of theirs. Returns the new rows."""
    c, w = model.config.careers, model.config.world
    s = model.world.schools
    rng = model.stream("hiring")
    vacancies = np.maximum(s["norm"] - model.filled_posts(), 0)
    rural = (model.world.district_types[s["district"]] == DISTRICT_TYPES.index("rural")) \
        | (s["tier"] == TIERS.index("rural"))
    fill = np.where(rural, c.hire_fill_rural, c.hire_fill_urban)
    n_hire = np.floor(vacancies * fill + rng.random(len(vacancies))).astype(np.int64)
    n_hire = np.minimum(n_hire, vacancies)
    if c.hire_placement == "weak_first":
        # each district recruits as many as before, but fills weak and rural schools' vacancies first
        budget = np.bincount(s["district"], weights=n_hire, minlength=len(model.world.district_names)).astype(int)
        n_hire = np.zeros_like(n_hire)
        for i in np.lexsort([np.arange(len(vacancies)), s["tier"]]):
            d = s["district"][i]
            n_hire[i] = min(vacancies[i], budget[d])
            budget[d] -= n_hire[i]
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
        quality=np.clip(rng.normal(c.new_hire_quality, c.new_hire_quality_sd, k), 0.1, model.quality_max),
        home_x=s["x"][school] + rng.normal(0, 3.0, k), home_y=s["y"][school] + rng.normal(0, 3.0, k),
        arrived=np.full(k, model.year), hired=np.full(k, model.year),
        woman=rng.random(k) < np.where(level == 0, w.women_share_primary, w.women_share_junior),
        birth_month=rng.integers(1, 13, k),
    )
    if c.hire_placement == "training_first":
        # a new teacher first trains at the leading school of the post's group, then takes the post
        leader_of = model.world.group_leaders
        lead = np.array([leader_of.get(int(g), -1) for g in s["group"][school]], dtype=np.int64)
        train = (lead >= 0) & (lead != school)
        values["host"] = np.where(train, lead, school)
        values["term_end"] = np.where(train, model.year + c.training_years, -1)
        values["program"] = np.where(train, len(model.programs), -1)
    return model.add_teachers(values)


def learn(model) -> None:
    """Experience curve, peer effect toward the host school's mean, and radiation: learning from
    the backbone rotators present at the host, closing part of the gap to their quality (never
    beyond it); quality stays under the ceiling `model.quality_max`."""
    c = model.config.careers
    wf = model.workforce
    rows = wf.active_rows()
    host = wf.host[rows]
    q = wf.quality[rows]
    n_s = model.world.n_schools
    staff = np.bincount(host, minlength=n_s)
    mean_q = np.bincount(host, weights=q, minlength=n_s) / np.maximum(staff, 1)
    # the load of the backbone rotators, weighted where it is at a host: only their entries, as the
    # others' zero weights change no school's sum (and are most of the rows); found by one
    # whole-column mask (cheaper than gathering two columns at every active row)
    lrows, lschool, lshare = wf.load(np.flatnonzero(
        wf.active & (wf.term_end >= 0) & (wf.backbone >= BACKBONE.index(c.radiation_min_backbone))))
    w = lshare * (lschool != wf.school[lrows])
    bb_rot = np.bincount(lschool, weights=w, minlength=n_s)
    bb_q = np.divide(np.bincount(lschool, weights=w * wf.quality[lrows], minlength=n_s), bb_rot,
                     out=np.zeros(n_s), where=bb_rot > 0)  # mean quality of the visiting backbone rotators
    experience = wf.experience[rows]
    # the experience curve by years of experience, looked up (a power per row is 10x slower)
    curve = 0.5 ** (np.arange(int(experience.max(initial=0)) + 1) / c.learning_halflife)
    gain = (c.learning_rate * curve[experience]
            + c.peer_effect * (mean_q[host] - q)
            + c.radiation * np.minimum(bb_rot / np.maximum(staff, 1), 1.0)[host] * np.maximum(bb_q[host] - q, 0.0))
    # bounded: never above the ceiling (a teacher who starts above it keeps, but does not add to, the start)
    wf.quality[rows] = np.clip(q + gain, 0.1, np.maximum(q, model.quality_max))


def promote(model) -> dict[str, int]:
    """Title and backbone steps; chances rise with quality and, as Beijing's rules say, after a
    rotation."""
    c = model.config.careers
    wf = model.workforce
    rows = wf.active_rows()
    u_title = model.stream("title").random(wf.n)[rows]
    u_bb = model.stream("backbone").random(wf.n)[rows]
    q = wf.quality[rows]
    # rotated before, on the whole columns and then one gather of the flags (not two of the counts)
    boost = 1.0 + c.rotation_counts_for_promotion * (wf.n_rotations + wf.past_rotations > 0)[rows]
    # prestige schools nominate more of their staff for titles and backbone selection (per school, looked up)
    boost = boost * np.exp(c.prestige_in_promotion * (model.world.schools["tier"] - 2))[wf.school[rows]]
    title = wf.title[rows]
    exp = wf.experience[rows]
    nxt = np.minimum(title + 1, len(MIN_EXPERIENCE_FOR_TITLE) - 1)
    can = (title < 4) & (exp >= np.array(MIN_EXPERIENCE_FOR_TITLE)[nxt])
    need = model.config.policy.title_requires_rotation_years  # Ningxia / Wuhan rule
    if need:
        can &= (nxt != SENIOR_TITLE) | (wf.hardship_years[rows] >= need)
    # the step to the professor title is rarer; an unranked teacher always steps up (a draw is below 1);
    # factors looked up by level, 1.0 for most (x * 1.0 is x): fewer passes than a select per level
    factor = np.ones(len(TITLES))
    factor[SENIOR_TITLE] = c.professor_title_factor
    p_title = c.title_promotion * np.exp(c.title_quality_slope * (q - 1.0)) * boost * factor[title]
    up = rows[can & ((title == 0) | (u_title < p_title))]
    wf.title[up] += 1
    bb = wf.backbone[rows]
    factor = np.ones(len(BACKBONE))
    factor[0], factor[DISTRICT_BACKBONE] = c.school_backbone_factor, c.municipal_backbone_factor
    p_bb = (c.backbone_promotion * np.exp(c.backbone_quality_slope * (q - c.backbone_quality_centre)) * boost
            * factor[bb])
    step = (bb < len(BACKBONE) - 1) & (exp >= c.backbone_min_experience) & (u_bb < p_bb)
    wf.backbone[rows[step]] += 1
    return {"title_promotions": len(up), "backbone_promotions": int(step.sum())}


def update_commute_and_satisfaction(model) -> None:
    """Commute from where the teacher lives to the schools taught at (a part-timer's weighted by
    load); rotators with the longest commutes get the district's rotation dormitory beds, which
    cut their commute. Satisfaction falls with commutes past the tolerated length and while
    adapting to a rotation post, and rises with the rotation allowance."""
    c = model.config.careers
    pol = model.config.policy
    wf = model.workforce
    s = model.world.schools
    rows = wf.active_rows()
    commute = _host_commute(model, rows)
    part = np.flatnonzero(wf.part_host[rows] >= 0)  # part-timers: the part-time host's commute too
    if len(part):
        who = rows[part]
        share = wf.part_share[who]
        commute[part] = (1 - share) * commute[part] + share * _minutes(model, who, wf.part_host[who])
    rotating = wf.term_end[rows] >= 0
    wf.dormitory &= ~wf.active  # the active rows' beds cleared, in place (no scatter through `rows`)
    if pol.dormitories_per_district:
        district = s["district"][wf.host[rows]]
        for d in np.unique(district[rotating]):
            cand = np.flatnonzero(rotating & (district == d) & (commute > pol.dormitory_commute_minutes))
            beds = cand[np.argsort(-commute[cand], kind="stable")][: pol.dormitories_per_district]
            wf.dormitory[rows[beds]] = True
            commute[beds] = pol.dormitory_commute_minutes
    wf.commute[rows] = commute
    sat = (BASE_SATISFACTION
           - 0.25 * np.maximum(commute - c.dissatisfaction_commute_minutes, 0.0) / 60.0
           - 0.05 * rotating + pol.allowance * rotating)
    wf.satisfaction[rows] = np.clip(sat, 0.0, 1.0)


def _minutes(model, rows: np.ndarray, school: np.ndarray) -> np.ndarray:
    """Minutes of the commute from each row's home to the matching school."""
    wf, s = model.workforce, model.world.schools
    return commute_minutes(model.config.careers, wf.home_x[rows] - s["x"][school], wf.home_y[rows] - s["y"][school])


def _host_commute(model, rows: np.ndarray) -> np.ndarray:
    """`_minutes` from the rows' homes to their hosts, kept per row for the run and worked out
    again only where the host changed (homes do not move, and a year moves few teachers).
    `rows`: the active rows (the changed hosts are looked for among them)."""
    wf, careers = model.workforce, model.config.careers
    key = (wf, careers.commute_fixed_minutes, careers.commute_minutes_per_km)  # wf compared by identity
    cached_key, host_of, minutes = getattr(model, "_commute_cache", (None, None, None))
    if cached_key != key:  # another workforce or other commute settings (a notebook's edit): start afresh
        host_of, minutes = np.empty(0, dtype=np.int64), np.empty(0)
    n = wf.n
    if len(host_of) < n:  # rows added since: no host seen yet (grown by half again, not each year)
        more = max(n, len(host_of) * 3 // 2) - len(host_of)
        host_of = np.concatenate([host_of, np.full(more, -1, dtype=np.int64)])
        minutes = np.concatenate([minutes, np.zeros(more)])
    model._commute_cache = key, host_of, minutes
    # the active rows whose host changed, by whole-column passes (no gathers through `rows`)
    stale = np.flatnonzero(wf.active & (host_of[:n] != wf.host))
    if len(stale):
        host = wf.host[stale]
        minutes[stale] = _minutes(model, stale, host)
        host_of[stale] = host
    return minutes[rows]
