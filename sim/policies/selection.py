"""Selection: how many are rotated (quotas) and who (priorities and the backbone floor).

Quotas apply within each administrative district, the unit of "district management, school
employment": the number selected in a district is the largest of the quota rules that apply,
capped at the number eligible there.
"""

from __future__ import annotations

import math

import numpy as np

from sim.codes import BACKBONE
from sim.policies.priority import priority_order


def district_quota(quota, n_eligible: int, n_never_rotated: int, n_staff: int, year: int) -> int:
    """Number to rotate in one district this year under a program's quota rules."""
    need = max(
        math.ceil(quota.share_of_eligible * n_eligible - 1e-9),
        quota.min_count,
        math.ceil(quota.share_of_staff * n_staff - 1e-9),
    )
    if quota.coverage_years:
        years_left = quota.coverage_years - (year - 1) % quota.coverage_years
        need = max(need, math.ceil(n_never_rotated / years_left))
    return min(need, n_eligible)


def apply_backbone_floor(wf, ranked: np.ndarray, n: int, floor: float, level: str) -> np.ndarray:
    """Take the first n of `ranked`, then swap in backbone teachers until they are at least
    `floor` of the selection (or none is left): the lowest-ranked non-backbone selected make way
    for the highest-ranked backbone not selected."""
    chosen = ranked[:n]
    if floor <= 0 or n == 0:
        return chosen
    is_bb = wf.backbone[ranked] >= BACKBONE.index(level)
    need = math.ceil(floor * n - 1e-9) - int(is_bb[:n].sum())
    if need <= 0:
        return chosen
    spare_bb = np.flatnonzero(is_bb[n:])[:need] + n
    out_pos = np.flatnonzero(~is_bb[:n])[::-1][: len(spare_bb)]
    keep = np.ones(n, dtype=bool)
    keep[out_pos] = False
    return np.concatenate([chosen[keep], ranked[spare_bb]])


class DistrictSelection:
    """The district selects ("district management"): by priority across all its schools, with
    per-school shares when the quota says so, and the backbone floor."""

    def select(self, model, program, eligible: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        rows = np.flatnonzero(eligible)
        if len(rows) == 0:
            return rows
        tiebreak = rng.random(wf.n)[rows]
        ranked_all = priority_order(wf, rows, program.priority, tiebreak)
        district_of_row = model.world.schools["district"][wf.school[ranked_all]]
        staff = np.bincount(model.world.schools["district"][wf.school[wf.active]],
                            minlength=len(model.world.district_names))
        picked = []
        for d in np.unique(district_of_row):
            ranked = ranked_all[district_of_row == d]
            never = int(np.sum(wf.n_rotations[ranked] == 0))
            n = district_quota(program.quota, len(ranked), never, int(staff[d]), model.year)
            if program.quota.per_school and program.quota.share_of_eligible > 0:
                ranked = _per_school_first(wf, ranked, program.quota.share_of_eligible)
                n = max(n, _per_school_total(wf, ranked, program.quota.share_of_eligible))
            picked.append(apply_backbone_floor(wf, ranked, n, program.backbone_floor,
                                               program.backbone_floor_level))
        return np.concatenate(picked) if picked else rows[:0]


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


SELECTORS = {"district": DistrictSelection}
