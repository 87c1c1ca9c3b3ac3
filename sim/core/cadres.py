"""The cadre pipeline: leadership posts sized by the school, filled every year by promotion,
and principals rotated after their terms.

Every school has one principal post, vice-principal and middle-manager posts by enrolment
(`careers.cadres` norms). Once a year, after retirements, attrition and drift and before the
rotation programs:

1. principals who have served the configured terms at one school rotate: those due in a
   district exchange posts among themselves; each may defer a year (`principal_defer_share`),
   never past `principal_max_years`;
2. each role in turn (principal, vice principal, middle manager), cadres beyond the school's
   posts (a transfer or a stay moved them there) take a vacant post of their role in the
   district or go back to teaching, and every vacant post is filled by promotion from the
   pools in `promote_from` (the school, its education group, the district), ranked by
   `promotion_keys`. A vice principal promoted to principal leaves a vice-principal post that
   the next pass fills, so vacancies cascade down the ladder in the same year.

A teacher promoted from another school takes the post there (`transfer_posts`, logged as
`promotion`); the post left behind is refilled by the year's hiring. Cadres hold their posts
while away on a full-time rotation. Random draws come from the streams `cadre_tenure` (year 0),
`principal_rotation` and `promotion`, so the teacher streams are not re-randomised.
"""

from __future__ import annotations

import math

import numpy as np

from sim.codes import ROLES, SCHOOL_LEVELS, level_fits
from sim.policies.eligibility import years_to_retirement

PRINCIPAL, VICE, MIDDLE = (ROLES.index(r) for r in ("principal", "vice_principal", "middle_manager"))
CADRE_ROLES = (PRINCIPAL, VICE, MIDDLE)  # filled in this order, top down
# the `cadre_rank` promotion key by role code: a cadre's own code (the next rank down first), a teacher's last
CADRE_RANK = np.array([len(ROLES), *range(1, len(ROLES))])


def leadership_posts(schools: dict[str, np.ndarray], cfg) -> np.ndarray:
    """Posts per school and role code, shape (n_schools, len(ROLES)); column 0 (teachers) is 0.
    One principal; vice principals one per `students_per_vice_principal` students (rounded up)
    between the minimum and maximum; middle managers one per `students_per_middle_manager`."""
    enrol = (schools["enrol_primary"] + schools["enrol_junior"]).astype(float)
    posts = np.zeros((len(enrol), len(ROLES)), dtype=np.int64)
    posts[:, PRINCIPAL] = 1
    posts[:, VICE] = np.clip(np.ceil(enrol / cfg.students_per_vice_principal - 1e-9),
                             cfg.vice_principals_min, cfg.vice_principals_max)
    posts[:, MIDDLE] = np.rint(enrol / cfg.students_per_middle_manager)
    return posts


def initial_posts(model) -> None:
    """Year 0: bring each school's roles to its posts without moving anyone (surplus cadres
    teach, vacancies go to the school's own best candidates) and draw principals' years in post
    (uniform below the cap, never more than their years at the school)."""
    wf = model.workforce
    cfg = model.config.careers.cadres
    held = wf.active & (wf.role > 0)
    draw = model.stream("cadre_tenure").integers(0, cfg.principal_max_years, wf.n)
    wf.post_since[held] = -np.minimum(draw, wf.years_at_school)[held]
    for role in CADRE_ROLES:
        _fill(model, role, ("school",), _surplus(model, role, reassign=False))


def yearly(model) -> dict[str, int]:
    """The year's principal rotation, then every role's posts filled. Returns counts."""
    cfg = model.config.careers.cadres
    rotated = rotate_principals(model) if cfg.principal_terms else 0
    promoted = 0
    for role in CADRE_ROLES:
        promoted += _fill(model, role, tuple(cfg.promote_from), _surplus(model, role, reassign=True))
    return {"principal_rotations": rotated, "cadre_promotions": promoted}


def rotate_principals(model) -> int:
    """Principals at home who have served `principal_terms` terms of `principal_term_years` at
    their school rotate, unless they defer (each year with `principal_defer_share`, never once
    `principal_max_years` are served). Those going in a district take each other's posts (a random
    cycle, so nobody stays); one alone who must go swaps with the district's longest-serving other
    principal; one alone who may defer does. Returns the number moved."""
    cfg = model.config.careers.cadres
    wf = model.workforce
    year = model.year
    s = model.world.schools
    rows = np.flatnonzero(wf.active & (wf.role == PRINCIPAL) & (wf.term_end < 0))
    served = year - wf.post_since[rows]
    rng = model.stream("principal_rotation")
    u, order_key = rng.random(wf.n)[rows], rng.random(wf.n)[rows]
    must = served >= cfg.principal_max_years
    due = served >= cfg.principal_terms * cfg.principal_term_years
    going = due & (must | (u >= cfg.principal_defer_share))
    movers, dest = [], []
    d_of = (s["district"] * len(SCHOOL_LEVELS) + s["level"])[wf.school[rows]]
    # those going, each district-level's together in row order (sorted once, not a mask per district)
    gone = np.flatnonzero(going)
    gone = gone[np.argsort(d_of[gone], kind="stable")]
    levels, starts, counts = np.unique(d_of[gone], return_index=True, return_counts=True)
    for d, start, count in zip(levels.tolist(), starts.tolist(), counts.tolist(), strict=True):
        go = gone[start:start + count]
        if len(go) == 1:
            if not must[go[0]]:
                continue
            others = np.flatnonzero((d_of == d) & ~going)
            if len(others) == 0:  # the district's only school of its level: any other school of the district
                others = np.flatnonzero((d_of // len(SCHOOL_LEVELS) == d // len(SCHOOL_LEVELS)) & ~going)
            if len(others) == 0:
                continue
            go = np.append(go, others[np.lexsort((order_key[others], -served[others]))[0]])
        go = rows[go[np.argsort(order_key[go], kind="stable")]]
        movers += go.tolist()
        school = wf.school[go].tolist()
        dest += school[1:] + school[:1]  # each takes the next one's post (np.roll on a list: 10x cheaper)
    if not movers:
        return 0
    movers_a, dest_a = np.array(movers, dtype=np.int64), np.array(dest, dtype=np.int64)
    model.transfer_posts(movers_a, dest_a, "cadre_rotation")
    wf.post_since[movers_a] = year
    return len(movers_a)


def _surplus(model, role: int, reassign: bool) -> np.ndarray:
    """Cadres of `role` beyond their school's posts (the latest to take the post there first; one
    away on a rotation keeps it): with `reassign`, each at home takes a vacant post of the role at
    another school of its district (the vacant schools in id order); the rest go back to teaching.
    Returns the posts of `role` held at each school after, which `_fill` starts from."""
    wf = model.workforce
    posts = model.cadre_posts[:, role]
    holders = np.flatnonzero(wf.active & (wf.role == role))
    held = np.bincount(wf.school[holders], minlength=len(posts))
    if not np.any(held > posts):
        return held
    # by school: those away on a rotation keep their posts, then the earliest to take the post
    holders = holders[np.lexsort((wf.post_since[holders], wf.term_end[holders] < 0, wf.school[holders]))]
    rank = np.arange(len(holders)) - np.searchsorted(wf.school[holders], wf.school[holders])
    extra = holders[rank >= posts[wf.school[holders]]]
    if reassign:
        district = model.world.schools["district"]
        open_ = np.maximum(posts - held, 0)
        moved, to = [], []
        for r in extra[wf.term_end[extra] < 0].tolist():
            cand = np.flatnonzero((open_ > 0) & (district == district[wf.school[r]]))
            if len(cand):
                open_[cand[0]] -= 1
                moved.append(r)
                to.append(int(cand[0]))
        if moved:
            model.transfer_posts(np.array(moved), np.array(to), "promotion")
            wf.post_since[moved] = model.year
        extra = np.setdiff1d(extra, moved)
    wf.role[extra] = 0
    return np.bincount(wf.school[wf.active & (wf.role == role)], minlength=len(posts))


def _fill(model, role: int, pools: tuple[str, ...], held: np.ndarray) -> int:
    """Fill the vacant posts of `role` (`held`: those held at each school), trying each pool in
    turn; returns promotions made."""
    cfg = model.config.careers.cadres
    wf = model.workforce
    s = model.world.schools
    posts = model.cadre_posts[:, role]
    vacant = np.maximum(posts - held, 0)
    if not vacant.any():
        return 0
    min_exp = {PRINCIPAL: cfg.principal_min_experience, VICE: cfg.vice_principal_min_experience,
               MIDDLE: cfg.middle_manager_min_experience}[role]
    years_left = years_to_retirement(model)
    tiebreak = model.stream(f"promotion:{ROLES[role]}").random(wf.n)
    unit_of = {"school": np.arange(len(posts)), "group": s["group"], "district": s["district"]}
    promoted = 0
    for pool in pools:
        unit = unit_of[pool]
        open_schools = np.flatnonzero((vacant > 0) & (unit >= 0))  # a school in no group skips that pool
        if len(open_schools) == 0:
            continue
        # units with a vacancy; the extra last entry (False) is what a row in no unit (-1) reads
        open_unit = np.zeros(int(unit.max()) + 2, dtype=bool)
        open_unit[unit[open_schools]] = True
        # one mask over whole columns (contiguous passes beat gathering a third of the rows for
        # each condition); an earlier pool's promoted now hold `role`
        r = wf.role
        cand = np.flatnonzero(open_unit[wf.school if pool == "school" else unit[wf.school]] & wf.active
                              & ((r == 0) | (r > role)) & (wf.term_end < 0) & (wf.experience >= min_exp)
                              & (years_left >= cfg.min_years_to_retirement))
        if pool == "school":  # only those who can teach at their own school
            cand = cand[level_fits(s["level"][wf.school[cand]], wf.level[cand])]
        places = vacant if pool == "school" else None  # a school takes only its own best
        cand = _ranked(wf, cand, cfg.promotion_keys, tiebreak, unit[wf.school[cand]], places)
        cand_unit = unit[wf.school[cand]]  # each unit's candidates together, in rank order
        bounds = np.searchsorted(cand_unit, np.arange(len(open_unit)))
        if pool == "school":  # each school's own best candidates, all schools at once
            rows_a = cand[np.arange(len(cand)) - bounds[cand_unit] < vacant[cand_unit]]
            to_a = wf.school[rows_a]
        else:  # the unit's best candidate who can teach at the school, vacancy by vacancy
            free = np.ones(len(cand), dtype=bool)
            rows, to = [], []
            for school in open_schools.tolist():
                mine = np.arange(bounds[unit[school]], bounds[unit[school] + 1])
                mine = mine[free[mine] & level_fits(s["level"][school], wf.level[cand[mine]])]
                pick = mine[: vacant[school]]
                free[pick] = False
                rows += cand[pick].tolist()
                to += [school] * len(pick)
            rows_a, to_a = np.array(rows, dtype=np.int64), np.array(to, dtype=np.int64)
        if len(rows_a):
            np.subtract.at(vacant, to_a, 1)
            away = wf.school[rows_a] != to_a
            model.transfer_posts(rows_a[away], to_a[away], "promotion")
            wf.role[rows_a] = role
            wf.post_since[rows_a] = model.year
            promoted += len(rows_a)
    return promoted


def _ranked(wf, rows: np.ndarray, keys, tiebreak: np.ndarray, unit: np.ndarray,
            places: np.ndarray | None = None) -> np.ndarray:
    """`rows` in promotion order, each unit's (`unit`, one per row) together: by the keys in turn
    (the next rank down the ladder first, then higher title, backbone level and experience), ties
    by a random draw, then by row order. With `places` (per unit), rows that the keys alone put
    past their unit's first `places` are left out (no draw could bring them in)."""
    columns = {"cadre_rank": lambda r: CADRE_RANK[wf.role[r]],
               "title": lambda r: -wf.title[r], "backbone": lambda r: -wf.backbone[r],
               "experience": lambda r: -wf.experience[r]}
    ints = [unit] + [columns[k](rows) for k in keys]
    if len(rows) == 0:
        return rows
    # the integer keys as one mixed-radix int64 (the same order), so that one sort of it and one of
    # the draws replace a sort per key (about 2x less time at Beijing scale); lexsort when too wide
    low = [int(c.min()) for c in ints]
    span = [int(c.max()) - lo + 1 for c, lo in zip(ints, low, strict=True)]
    if math.prod(span) >= 2**62:
        return rows[np.lexsort([tiebreak[rows]] + ints[::-1])]
    combined = np.zeros(len(rows), dtype=np.int64)
    for c, lo, n in zip(ints, low, span, strict=True):
        combined = combined * n + (c - lo)
    if places is not None:
        keep = _within_places(combined, unit, places)
        rows, combined = rows[keep], combined[keep]
    return rows[np.lexsort((tiebreak[rows], combined))]


def _within_places(combined: np.ndarray, unit: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the rows with fewer than their unit's `places` rows strictly
    before them by `combined` (unit-major): only those can be among the first `places` once
    ties are broken, and only those are ranked by the draw (a smaller sort). Those are the rows
    at or below their unit's places-th smallest key, found by rounds: each takes every unit's
    lowest key left (`np.minimum.at`: no sort; a round per place, and most units have one)."""
    last = np.full(len(places), -1, dtype=np.int64)  # the unit's key to keep up to (-1: none)
    need = places.astype(np.int64)
    live = np.flatnonzero(need[unit] > 0)  # rows of units still short of their places
    while len(live):
        at, key = unit[live], combined[live]
        low = np.full(len(places), np.iinfo(np.int64).max)
        np.minimum.at(low, at, key)
        lowest = key == low[at]
        n_low = np.bincount(at[lowest], minlength=len(places))
        last[n_low > 0] = low[n_low > 0]
        need -= n_low
        live = live[~lowest & (need[at] > 0)]
    return np.flatnonzero(combined <= last[unit])
