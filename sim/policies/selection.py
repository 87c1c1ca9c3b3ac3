"""Selection: how many are rotated (quotas) and who (priorities, the backbone floor, gaming).

Quotas apply within each administrative district, the unit of "district management, school
employment": the number selected in a district is the largest of the quota rules that apply,
capped at the number eligible there (with a warning, once per run, when a rule asks more). A
head count (`min_count`, or a district's own in `min_count_by_district`) is per district or, with
`count_scope: city`, one total shared among the districts; on a synthetic world it is scaled by
`world.scale`. Teachers past a mandatory tenure are selected first.
Two selectors: the district ranks all its eligible teachers by the program's priorities
("district management"); or each sending school picks its share itself, and with `gaming` > 0
picks its weaker teachers (Wei & Zhou 2019), subject to the backbone floor. Both then apply the
leadership cap: at most that share of a school's cadres leaves in one year (Wuhan 2015: 30%).
"""

from __future__ import annotations

import math

import numpy as np

from sim.codes import BACKBONE
from sim.policies.priority import first_draws, first_n, grouped, ordered_by, rank_keys


def district_quota(quota, n_eligible: int, n_never_rotated: int, n_staff: int, year: int,
                   n_mandatory: int = 0, min_count: int | None = None) -> int:
    """Number to rotate in one district this year under a program's quota rules."""
    return min(district_need(quota, n_eligible, n_never_rotated, n_staff, year, n_mandatory, min_count), n_eligible)


def district_need(quota, n_eligible: int, n_never_rotated: int, n_staff: int, year: int,
                  n_mandatory: int = 0, min_count: int | None = None) -> int:
    """What the quota rules ask of one district this year, before the cap at the number eligible;
    `min_count` is the district's head count (`district_min_counts`), quota.min_count when None.
    With `share_beyond_mandatory`, the share is of the eligible below the mandatory tenure, on top
    of the `n_mandatory` who must move."""
    beyond = quota.share_beyond_mandatory and quota.mandatory_after_years is not None
    by_share = (n_mandatory + math.ceil(quota.share_of_eligible * (n_eligible - n_mandatory) - 1e-9) if beyond
                else math.ceil(quota.share_of_eligible * n_eligible - 1e-9))
    need = max(
        by_share,
        quota.min_count if min_count is None else min_count,
        math.ceil(quota.share_of_staff * n_staff - 1e-9),
        n_mandatory,
    )
    if quota.coverage_years:
        years_left = quota.coverage_years - (year - 1) % quota.coverage_years
        need = max(need, math.ceil(n_never_rotated / years_left))
    return need


def district_min_counts(model, program, district_of_row: np.ndarray) -> np.ndarray:
    """Each district's head-count quota this year: `min_count` times `world.scale` on a synthetic
    world (a count is set for the preset's size), in every district (`count_scope: district`, where
    `min_count_by_district` gives a district its own count) or shared among the districts in
    proportion to their eligible teachers (`city`, largest remainder)."""
    q = program.quota
    n_d = len(model.world.district_names)
    world = model.config.world
    total = scaled_count(q.min_count, world)
    if q.count_scope == "district" or total == 0:
        counts = np.full(n_d, total, dtype=np.int64)
        for d, name in enumerate(model.world.district_names):
            if name in q.min_count_by_district:
                counts[d] = scaled_count(q.min_count_by_district[name], world)
        return counts
    eligible = np.bincount(district_of_row, minlength=n_d)
    exact = total * eligible / max(eligible.sum(), 1)
    share = np.floor(exact).astype(np.int64)
    share[np.argsort(-(exact - share), kind="stable")[: total - share.sum()]] += 1
    return share


def scaled_count(count: int, world) -> int:
    """A head count set for a synthetic preset's size, at this world's scale (a roster's as given)."""
    return count if world.preset == "roster" else math.ceil(count * world.scale - 1e-9)


def warn_short_pool(model, program, district: int, need: int, n_eligible: int) -> None:
    """Say once per run, program and district that the quota asks more than the district's pool."""
    if need > n_eligible:
        model.warn_once((program.name, district),
                        f"program {program.name}, district {model.world.district_names[district]}, year "
                        f"{model.year}: the quota asks {need:,} but only {n_eligible:,} are eligible; all of "
                        f"them are selected (warned once per run)")


def selection_floor(program) -> float:
    """The backbone share the selected must have for the program's floor to hold over everyone
    who moves: the floor itself, or in a paired exchange twice it (at most 1), since as many
    counterparts come back, chosen without regard to backbone (sim.policies.exchange)."""
    return min(1.0, 2.0 * program.backbone_floor) if program.exchange == "paired" else program.backbone_floor


def apply_backbone_floor(wf, ranked: np.ndarray, n: int, floor: float, level: str,
                         protected: int = 0) -> np.ndarray:
    """Take the first n of `ranked`, then swap in backbone teachers until they are at least
    `floor` of the selection (or none is left): the lowest-ranked non-backbone selected make way
    for the highest-ranked backbone not selected. The first `protected` (teachers who must move
    under a mandatory tenure) are never swapped out."""
    chosen = ranked[:n]
    if floor <= 0 or n == 0:
        return chosen
    is_bb = wf.backbone[ranked] >= BACKBONE.index(level)
    need = math.ceil(floor * n - 1e-9) - int(is_bb[:n].sum())
    if need <= 0:
        return chosen
    spare_bb = np.flatnonzero(is_bb[n:])[:need] + n
    swappable = np.flatnonzero(~is_bb[:n])
    out_pos = swappable[swappable >= protected][::-1][: len(spare_bb)]
    spare_bb = spare_bb[: len(out_pos)]
    keep = np.ones(n, dtype=bool)
    keep[out_pos] = False
    return np.concatenate([chosen[keep], ranked[spare_bb]])


def mandatory_first(wf, ranked: np.ndarray, quota) -> tuple[np.ndarray, int]:
    """Move teachers past the mandatory tenure to the front; return the order and their count."""
    if quota.mandatory_after_years is None:
        return ranked, 0
    must = wf.years_at_school[ranked] >= quota.mandatory_after_years
    return np.concatenate([ranked[must], ranked[~must]]), int(must.sum())


def _must_move(wf, ranked: np.ndarray, quota) -> np.ndarray:
    """Mask over `ranked` of teachers past the mandatory tenure."""
    if quota.mandatory_after_years is None:
        return np.zeros(len(ranked), dtype=bool)
    return wf.years_at_school[ranked] >= quota.mandatory_after_years


def cap_leadership(wf, selected: np.ndarray, cap: float) -> np.ndarray:
    """Drop the lowest-ranked cadres of a school beyond `cap` of its cadres (at least one may go)."""
    if cap >= 1.0 or len(selected) == 0:
        return selected
    cadre = wf.role[selected] > 0
    if not cadre.any():
        return selected
    act = wf.active & (wf.role > 0)
    per_school = np.bincount(wf.school[act], minlength=int(wf.school.max()) + 1)
    allowed = np.maximum(1, np.floor(cap * per_school + 1e-9)).astype(np.int64)
    taken = np.zeros_like(per_school)
    keep = np.ones(len(selected), dtype=bool)
    for i in np.flatnonzero(cadre):  # selected is in rank order, so the first ones stay
        s = wf.school[selected[i]]
        if taken[s] >= allowed[s]:
            keep[i] = False
        else:
            taken[s] += 1
    return selected[keep]


class DistrictSelection:
    """The district selects ("district management"): by priority across all its schools, with
    per-school shares when the quota says so, and the backbone floor."""

    words = "the district"  # in the report: "Chosen by ...", formatted with the program's settings

    def select(self, model, program, eligible: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        rows = np.flatnonzero(eligible)
        if len(rows) == 0:
            return rows
        tiebreak = first_draws(rng, rows)
        staff = _district_staff(model, program.quota)
        key = rank_keys(model, rows, program.priority, tiebreak)  # made once, for either path
        if key is not None and takes_the_first(program):
            return self._first_of_each(model, program, rows, key, staff)
        ranked_all = ordered_by(model, rows, program.priority, tiebreak, key)
        district_of_row = model.world.schools["district"][wf.school[ranked_all]]
        counts = district_min_counts(model, program, district_of_row)
        picked = []
        for d, in_district in grouped(ranked_all, district_of_row):
            ranked, n_must, n = _district_quota(model, program, in_district, int(d), int(staff[d]), int(counts[d]))
            if program.quota.per_school and program.quota.share_of_eligible > 0:
                ranked = _per_school_first(wf, ranked, program.quota.share_of_eligible)
                n = max(n, _per_school_total(wf, ranked, program.quota.share_of_eligible))
            chosen = apply_backbone_floor(wf, ranked, n, selection_floor(program), program.backbone_floor_level,
                                          protected=n_must)
            picked.append(cap_leadership(wf, chosen, program.leadership_cap))
        return np.concatenate(picked)

    @staticmethod
    def _first_of_each(model, program, rows: np.ndarray, key: np.ndarray, staff: np.ndarray) -> np.ndarray:
        """The loop above when each district takes its first n (`takes_the_first`): the first n by
        `key` (rank_keys) without ranking the rest of the district."""
        wf = model.workforce
        district_of_row = model.world.schools["district"][wf.school[rows]]
        counts = district_min_counts(model, program, district_of_row)
        picked = []
        for d, at in grouped(np.arange(len(rows)), district_of_row):
            need = district_need(program.quota, len(at), _never_rotated(wf, rows[at], program.quota),
                                 int(staff[d]), model.year, 0, int(counts[d]))
            warn_short_pool(model, program, int(d), need, len(at))
            chosen = rows[at[first_n(key[at], min(need, len(at)))]]
            picked.append(cap_leadership(wf, chosen, program.leadership_cap))
        return np.concatenate(picked)


def takes_the_first(program) -> bool:
    """Whether each district takes its first n in rank order and nothing after them matters: no
    mandatory tenure and no per-school shares reorder the ranking, no backbone floor swaps in
    teachers ranked below n (the leadership cap reads only the n taken)."""
    q = program.quota
    return (q.mandatory_after_years is None and not (q.per_school and q.share_of_eligible > 0)
            and selection_floor(program) <= 0)


def _district_quota(model, program, in_district: np.ndarray, district: int, staff: int,
                    min_count: int) -> tuple[np.ndarray, int, int]:
    """One district's ranked eligible (those mandatory under tenure first), how many of them are
    mandatory, and how many it sends (the quota, at most the pool; a short pool is warned of)."""
    wf = model.workforce
    ranked, n_must = mandatory_first(wf, in_district, program.quota)
    need = district_need(program.quota, len(ranked), _never_rotated(wf, ranked, program.quota), staff,
                         model.year, n_must, min_count)
    warn_short_pool(model, program, district, need, len(ranked))
    return ranked, n_must, min(need, len(ranked))


def _never_rotated(wf, ranked: np.ndarray, quota) -> int:
    """Teachers of `ranked` not rotated in the run: only the coverage rule reads the count."""
    return int(np.sum(wf.n_rotations[ranked] == 0)) if quota.coverage_years else 0


class SchoolSelection:
    """Each sending school picks its own share of the district's quota. With gaming g, a school
    ranks its eligible teachers by g * (quality rank) + (1 - g) * (random rank): at g = 1 it
    sends its weakest, at g = 0 a random draw (never-rotated teachers first either way; the
    program's `priority` list is not used: the school's own choice replaces it). With
    `quota.per_school`, each school sends its own share of its eligible, rounded up. The backbone
    floor holds over the district's total (MOE-2014: "of the total exchanged"), not school by
    school, where rounding up would make it one of a school's two rotators."""

    words = "the sending school (gaming strength {gaming:g})"

    def select(self, model, program, eligible: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        rows = np.flatnonzero(eligible)
        if len(rows) == 0:
            return rows
        u = first_draws(rng, rows)
        q_rank = np.argsort(np.argsort(wf.quality[rows], kind="stable"), kind="stable") / max(len(rows) - 1, 1)
        key = program.gaming * q_rank + (1.0 - program.gaming) * u
        never = (wf.n_rotations[rows] + wf.past_rotations[rows] > 0).astype(np.int64)
        ranked_all = rows[np.lexsort([key, never])]
        schools = model.world.schools
        district_of_row = schools["district"][wf.school[ranked_all]]
        staff = _district_staff(model, program.quota)
        counts = district_min_counts(model, program, district_of_row)
        picked = []
        for d, in_district in grouped(ranked_all, district_of_row):
            ranked, _, n = _district_quota(model, program, in_district, int(d), int(staff[d]), int(counts[d]))
            must = _must_move(wf, ranked, program.quota)
            # those who must move go first; the rest of the quota is split among the schools, or with
            # quota.per_school each school sends its own share of its eligible (rounded up)
            rest = ranked[~must]
            if program.quota.per_school and program.quota.share_of_eligible > 0 and len(rest):
                schools_, sizes = np.unique(wf.school[rest], return_counts=True)
                per = np.ceil(program.quota.share_of_eligible * sizes - 1e-9).astype(np.int64)
                shares = dict(zip(schools_.tolist(), per.tolist(), strict=True))
                if per.sum() < n - int(must.sum()):  # another rule asks more: the rest split as usual
                    for k, v in _school_shares(wf, rest, n - int(must.sum()) - int(per.sum())):
                        shares[k] = shares.get(k, 0) + v
            else:
                shares = dict(_school_shares(wf, rest, max(n - int(must.sum()), 0)))
            chosen = []
            for school in np.unique(wf.school[ranked]).tolist():
                mine = ranked[wf.school[ranked] == school]  # its teachers who must move come first
                n_must = int(must[wf.school[ranked] == school].sum())
                share = n_must + shares.get(school, 0)
                if share:
                    chosen.append(mine[:share])
            if chosen:
                # the floor is of the district's total exchanged (MOE-2014: 不低于交流总数的20%): schools'
                # choices in the district's order, then the rest, and the floor swaps in backbone teachers
                taken = np.isin(ranked, np.concatenate(chosen))
                order = np.concatenate([ranked[taken], ranked[~taken]])
                floored = apply_backbone_floor(wf, order, int(taken.sum()), selection_floor(program),
                                               program.backbone_floor_level, protected=int((taken & must).sum()))
                picked.append(cap_leadership(wf, floored, program.leadership_cap))
        return np.concatenate(picked) if picked else rows[:0]


def _school_shares(wf, ranked: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Split n among the schools in proportion to their eligible teachers (largest remainder)."""
    schools, sizes = np.unique(wf.school[ranked], return_counts=True)
    exact = n * sizes / sizes.sum()
    base = np.floor(exact).astype(np.int64)
    extra = n - base.sum()
    base[np.argsort(-(exact - base), kind="stable")[:extra]] += 1
    return [(int(s), int(k)) for s, k in zip(schools, base, strict=True) if k > 0]


def _district_staff(model, quota) -> np.ndarray:
    """Active teachers by the district of their home school (zeros when the quota has no share of
    staff, the only rule that reads them)."""
    if quota.share_of_staff <= 0:
        return np.zeros(len(model.world.district_names), dtype=np.int64)
    wf = model.workforce
    # counts by school (weighted by `active`: no gather of the active rows), then by district
    by_school = np.bincount(wf.school, weights=wf.active, minlength=model.world.n_schools)
    return np.bincount(model.world.schools["district"], weights=by_school,
                       minlength=len(model.world.district_names)).astype(np.int64)


def _per_school_counts(wf, ranked: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    school = wf.school[ranked]
    _, inverse, sizes = np.unique(school, return_inverse=True, return_counts=True)
    want = np.ceil(share * sizes - 1e-9).astype(np.int64)
    rank_in_school = np.empty(len(ranked), dtype=np.int64)
    seen = np.zeros(len(sizes), dtype=np.int64)
    for i, s in enumerate(inverse):  # position of each row within its school's ranking
        rank_in_school[i] = seen[s]
        seen[s] += 1
    return rank_in_school < want[inverse], want


def _per_school_first(wf, ranked: np.ndarray, share: float) -> np.ndarray:
    """Reorder so each school's own quota (its best-ranked) comes first, the rest after."""
    inside, _ = _per_school_counts(wf, ranked, share)
    return np.concatenate([ranked[inside], ranked[~inside]])


def _per_school_total(wf, ranked: np.ndarray, share: float) -> int:
    return int(_per_school_counts(wf, ranked, share)[1].sum())


# The one list of selectors: the scenario's `selection` choices and the report's words come from it.
SELECTORS = {"district": DistrictSelection, "school": SchoolSelection}
