"""Rotation as an exchange of posts: paired moves (one for one) and covers for the posts left open.

Without these, a full-time rotator keeps the home post, nobody teaches in it while they are away,
and the host holds one teacher more: rotation moves teachers per student from senders to hosts.
Districts run it as an exchange instead (docs/ODD.md 7.6.13):
- `exchange: paired`: the host sends one of its teachers to the rotator's school, so both keep
  their head counts (the twinning pairs' "exchange rotation", sources.md: DC-2021-12);
- `backfill`: the rotator's post is covered for the term by a temporary hire or by a teacher of
  the district's pool (Miyun's district-wide deployment, sources.md: BJ-REPORT); the cover leaves
  when the term ends.
"""

from __future__ import annotations

import numpy as np

from sim.codes import DISTRICT_BACKBONE, DISTRICT_TYPES, SCHOOL_LEVELS, TIERS
from sim.policies.eligibility import eligible_mask
from sim.policies.priority import first_draws, grouped, priority_order

# eligibility rules that describe who is sent, not who may be sent back: lifted for counterparts
SENDER_RULES = {"sending_tiers": list(TIERS), "districts": None, "district_types": None, "school_districts": None,
                "twinned_only": False, "max_experience": None, "min_backbone": "none"}
NINE_YEAR = SCHOOL_LEVELS.index("nine_year")


def counterpart_mask(model, program) -> np.ndarray:
    """Teachers who may be sent back in a paired exchange: the program's eligibility (years at the
    school, years to retirement, roles, levels, exemptions) without the rules on the sending
    school, the sender's experience and backbone level, which describe the rotators sent out."""
    return eligible_mask(model, program.eligibility.model_copy(update=SENDER_RULES))


def pair_up(model, program, selected: np.ndarray, hosts: np.ndarray, counterparts: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The moves of a paired exchange: each matched rotator, in rank order, goes to its host only
    when the host has a counterpart to send back, who goes to the rotator's school. A counterpart
    teaches a level that school takes (any level with `cross_level`), the rotator's subject when
    one can, and is taken from the host's selected rotators first (in rank order), then from its
    other teachers in the program's priority order. Returns (rows, destinations, the rotator whose
    term each row serves: a pair starts and ends together)."""
    wf = model.workforce
    level = model.world.schools["level"].tolist()  # read per pair: a list's items are cheaper to get
    placed = hosts >= 0
    matched, matched_hosts = selected[placed], hosts[placed]
    is_host = np.zeros(model.world.n_schools, dtype=bool)
    is_host[matched_hosts] = True
    is_selected = np.zeros(wf.n, dtype=bool)
    is_selected[selected] = True
    # only teachers of a host school can be sent back: ranking the others could not change a pair
    # (each priority key is the row's own; the tiebreak draws are those of a draw for every row)
    others = np.flatnonzero(counterparts & ~is_selected)
    others = others[is_host[wf.school[others]]]
    in_host = selected[is_host[wf.school[selected]]]
    ranked = np.concatenate([in_host, priority_order(model, others, program.priority, first_draws(rng, others))])
    # each host's candidates in rank order as (row, level, subject): the loop reads only these
    at_school = {g: list(zip(mine.tolist(), wf.level[mine].tolist(), wf.subject[mine].tolist(), strict=True))
                 for g, mine in grouped(ranked, wf.school[ranked])}
    used: set[int] = set()
    rows, dest, term_of = [], [], []
    cross = program.cross_level
    for r, g, h, subject in zip(matched.tolist(), matched_hosts.tolist(), wf.school[matched].tolist(),
                                wf.subject[matched].tolist(), strict=True):
        if r in used:
            continue
        any_level = cross or level[h] == NINE_YEAR
        c = _counterpart(at_school.get(g, []), used, subject, None if any_level else level[h])
        if c < 0:
            continue
        used.update((r, c))
        rows += [r, c]
        dest += [g, h]
        term_of += [r, r]
    return tuple(np.array(x, dtype=np.int64) for x in (rows, dest, term_of))


def _counterpart(candidates: list[tuple[int, int, int]], used: set[int], subject: int, level) -> int:
    """The first unused candidate (row, level, subject) of the rotator's subject who teaches
    `level` (any level when None), else the first unused one who teaches it; -1 when none. Used
    candidates at the front are dropped from the list for good (they stay used)."""
    while candidates and candidates[0][0] in used:
        candidates.pop(0)
    first = -1
    for c, c_level, c_subject in candidates:
        if c in used or (level is not None and c_level != level):
            continue
        if c_subject == subject:
            return c
        if first < 0:
            first = c
    return first


def cover_posts(model, program, rows: np.ndarray) -> np.ndarray:
    """Cover teachers for the home posts of full-time rotators who just left, until their terms
    end (`cover_until`), teaching the rotator's level and subject. `temporary`: a temporary hire,
    drawn as a new teacher (careers.new_hire_*), found at the district's hiring fill rate (rural
    districts and schools fill fewer); `pool`: a teacher of the district's reserve, always found,
    drawn as a random ordinary (non-backbone, non-cadre) teacher of the district (an assumption:
    the pool's make-up is not reported). Returns the new rows."""
    wf, s, c, w = model.workforce, model.world.schools, model.config.careers, model.config.world
    rng = model.stream(f"backfill:{program.name}")
    u = rng.random(wf.n)
    home = wf.school[rows]
    if program.backfill == "temporary":
        rural = (model.world.district_types[s["district"]] == DISTRICT_TYPES.index("rural")) \
            | (s["tier"] == TIERS.index("rural"))
        found = u[rows] < np.where(rural, c.hire_fill_rural, c.hire_fill_urban)[home]
        rows, home = rows[found], home[found]
    k = len(rows)
    if k == 0:
        return rows
    values = dict(school=home, host=home, level=wf.level[rows], subject=wf.subject[rows],
                  home_x=s["x"][home] + rng.normal(0, 3.0, k), home_y=s["y"][home] + rng.normal(0, 3.0, k),
                  arrived=np.full(k, model.year), hired=np.full(k, model.year), cover_until=wf.term_end[rows])
    if program.backfill == "temporary":
        values |= dict(qualification=np.where(rng.random(k) < c.new_hire_above_qualification, 2, 1),
                       age=22 + rng.integers(0, 6, k), birth_month=rng.integers(1, 13, k),
                       woman=rng.random(k) < np.where(wf.level[rows] == 0, w.women_share_primary,
                                                       w.women_share_junior),
                       quality=np.clip(rng.normal(c.new_hire_quality, c.new_hire_quality_sd, k), 0.1, None))
    else:
        donor = _pool_donors(model, home, rng)
        values |= {col: getattr(wf, col)[donor] for col in
                   ("qualification", "age", "birth_month", "woman", "quality", "title", "experience")}
    return model.add_teachers(values, kind="cover")


def _pool_donors(model, home: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each post to cover, a random ordinary teacher of its district whose profile the pool
    teacher takes (the home school's own staff when the district has none)."""
    wf, district = model.workforce, model.world.schools["district"]
    needed = np.zeros(int(district.max()) + 1, dtype=bool)
    needed[district[home]] = True  # only the rows of the posts' districts are read
    ordinary = np.flatnonzero(needed[district][wf.school] & wf.active & (wf.role == 0)
                              & (wf.backbone < DISTRICT_BACKBONE) & (wf.cover_until < 0))
    pools: dict[int, np.ndarray] = {}
    by_district = district[wf.school[ordinary]]
    draws = rng.random(len(home))
    donor = np.empty(len(home), dtype=np.int64)
    for i, (h, x) in enumerate(zip(home.tolist(), draws.tolist(), strict=True)):
        d = int(district[h])
        if d not in pools:
            pools[d] = ordinary[by_district == d]
        pool = pools[d] if len(pools[d]) else np.flatnonzero(wf.active & (wf.school == h))
        donor[i] = pool[int(x * len(pool))]
    return donor


def end_covers(model) -> int:
    """Covers whose rotator's term is over leave (at the start of the year, as the rotator returns)."""
    wf = model.workforce
    due = np.flatnonzero(wf.active & (wf.cover_until >= 0) & (wf.cover_until <= model.year))
    if len(due):
        model.remove_teachers(due, "cover_end")
    return len(due)
