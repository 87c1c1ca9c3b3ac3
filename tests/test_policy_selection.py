"""Selection by sending schools, with gaming.

Most checks run small worlds (20 schools of about 30 teachers per district) for 1-3 years and
watch the model from the inside by wrapping library functions (`RotationProgram.apply`,
`Constraints.options`, the matchers, the classrooms) with spies that record the state at the
moment a rule is applied and then call the original unchanged. Expected values are recomputed
in the test from the rule as docs/sources.md and the schema state it, not from the code under test.
(Helpers: tests/policy_helpers.py.)
"""

from __future__ import annotations

import math

import numpy as np
from policy_helpers import (
    SMALL3,
    build,
    record_applies,
)

from sim.policies import SchoolSelection
from sim.policies.eligibility import eligible_mask
from sim.policies.selection import by_district

# --------------------------------------------------------------------- 10. selection with gaming


def _school_selected(gaming: float, seed: int = 0):
    model = build({"name": "p", "selection": "school", "gaming": gaming, "backbone_floor": 0.2,
                   "quota": {"share_of_eligible": 0.3}}, world=SMALL3, seed=seed)
    model.year = 1
    cfg = model.config.policy.programs[0]
    eligible = eligible_mask(model, cfg.eligibility)
    chosen = SchoolSelection().select(model, cfg, eligible, np.random.default_rng(11))
    return model, eligible, chosen


def test_school_selection_with_gaming_sends_weaker_teachers():
    """Tolerance: with full gaming the selected mean quality must sit at least 0.05 below the pool
    mean (the sd of quality is about 0.2) and below the mean under gaming 0 on the same draws."""
    model, eligible, gamed = _school_selected(1.0)
    _, _, fair = _school_selected(0.0)
    q = model.workforce.quality
    assert len(gamed) == len(fair) > 50
    assert q[gamed].mean() < q[eligible].mean() - 0.05
    assert q[gamed].mean() < q[fair].mean() - 0.05


def test_school_selection_keeps_the_backbone_floor_over_each_districts_total():
    """MOE-2014: backbone teachers at least 20% "of the total exchanged" (issue 15 item 9): the floor
    holds over each district's rotators, not school by school (where rounding up made it one of a
    school's two), and with full gaming it binds: without it fewer backbone teachers are sent."""
    model, eligible, chosen = _school_selected(1.0)
    wf = model.workforce
    bb = wf.backbone >= 2
    district = model.world.schools["district"][wf.school]
    for d in np.unique(district[chosen]):
        mine = chosen[district[chosen] == d]
        available = int(np.sum(eligible & bb & (district == d)))
        assert bb[mine].sum() >= min(math.ceil(0.2 * len(mine) - 1e-9), available), (d, len(mine), available)
        assert bb[mine].sum() <= max(math.ceil(0.2 * len(mine) - 1e-9), 1) + 1  # no more than the floor asks
    assert np.all(eligible[chosen]) and len(set(chosen.tolist())) == len(chosen)
    cfg = model.config.policy.programs[0].model_copy(update={"backbone_floor": 0.0})
    unfloored = SchoolSelection().select(model, cfg, eligible, np.random.default_rng(11))
    assert len(unfloored) == len(chosen) and bb[unfloored].sum() < bb[chosen].sum()


def test_school_selection_in_a_run_sends_teachers_weaker_than_the_pool(monkeypatch):
    log = record_applies(monkeypatch)
    model = build({"name": "p", "selection": "school", "gaming": 1.0, "backbone_floor": 0.2,
                   "quota": {"share_of_eligible": 0.3}}, world=SMALL3, seed=2)
    model.step()
    app = log[0]
    q = app.before["quality"]
    moved = [mv[1] for mv in app.moves]
    assert len(moved) > 50
    # tolerance: at least 0.05 below the pool mean, as above
    assert q[moved].mean() < q[app.eligible].mean() - 0.05


def test_by_district_gives_each_districts_rows_in_rank_order():
    """The reference is the rule as the selectors state it: for each district present, in district
    order, the ranked rows of that district in their rank order."""
    rng = np.random.default_rng(2)
    for size in (0, 1, 7, 300):
        ranked = rng.permutation(1000)[:size]
        district = rng.integers(0, 17, size)
        got = by_district(ranked, district)
        assert [d for d, _ in got] == sorted(set(district.tolist()))
        for d, rows in got:
            assert rows.tolist() == ranked[district == d].tolist()


def test_narrow_ints_keeps_keys_no_integer_type_holds():
    """A negative minimum with a maximum of 2**32 or more: numpy's smallest types for them (int8,
    uint64) have no common integer type, and its answer, float64, would merge distinct keys above
    2**53 and change the order."""
    from sim.policies.priority import narrow_ints

    floats = np.array([0.5, -1.5])
    assert narrow_ints(floats) is floats
    big = np.array([0, 2**62 + 1, 2**62], dtype=np.int64)
    assert np.lexsort([narrow_ints(big)]).tolist() == [0, 2, 1]
    mixed = np.array([-1, 2**63 - 1, 2**63 - 2], dtype=np.int64)
    assert narrow_ints(mixed).dtype == np.int64
    assert np.lexsort([narrow_ints(mixed)]).tolist() == [0, 2, 1]
    small = np.array([-3, 100, 7], dtype=np.int64)
    assert narrow_ints(small).dtype.itemsize <= 2 and narrow_ints(small).tolist() == [-3, 100, 7]
