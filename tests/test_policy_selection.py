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
from types import SimpleNamespace

import numpy as np
from policy_helpers import (
    SMALL3,
    build,
    record_applies,
)

from sim.policies import SchoolSelection
from sim.policies.eligibility import eligible_mask
from sim.policies.priority import grouped, priority_order

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


def test_grouped_gives_each_districts_rows_in_rank_order():
    """The reference is the rule as the selectors state it: for each district present, in district
    order, the ranked rows of that district in their rank order."""
    rng = np.random.default_rng(2)
    for size in (0, 1, 7, 300):
        ranked = rng.permutation(1000)[:size]
        district = rng.integers(0, 17, size)
        got = grouped(ranked, district)
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


def test_first_n_is_the_head_of_a_stable_argsort():
    """The reference is np.argsort(kind="stable")[:n]: random keys with and without equal values
    (ties inside the n taken and across its boundary), every n from 0 to past the length."""
    from sim.policies.priority import first_n

    rng = np.random.default_rng(3)
    for trial in range(300):
        size = int(rng.integers(0, 60))
        key = rng.integers(0, 2**60 if trial % 2 else 6, size).astype(np.uint64)
        for n in range(size + 2):
            assert first_n(key, n).tolist() == np.argsort(key, kind="stable")[:n].tolist(), (trial, n)


def test_sorted_positions_takes_positions_in_any_order():
    """Positions given in any order (first_n hands over its partition unsorted) come back sorted by
    key, equal keys in position order: the reference is a stable argsort over the sorted positions."""
    from sim.policies.priority import sorted_positions

    rng = np.random.default_rng(5)
    for trial in range(200):
        key = rng.integers(0, 2**60 if trial % 2 else 4, 40).astype(np.uint64)
        positions = rng.permutation(40)[: int(rng.integers(0, 41))]
        ascending = np.sort(positions)
        expected = ascending[np.argsort(key[ascending], kind="stable")]
        assert sorted_positions(key, positions).tolist() == expected.tolist(), trial


def test_first_draws_are_the_draws_of_the_whole_column():
    """Drawing only up to the last eligible row reads the same values as a draw for every row
    (numpy's Generator.random fills in order): the selection's tiebreaks do not move."""
    from sim.policies.priority import first_draws

    rng = np.random.default_rng(4)
    for size in (0, 1, 50):
        rows = np.sort(rng.choice(200, size, replace=False))
        assert first_draws(np.random.default_rng(9), rows).tolist() == \
            np.random.default_rng(9).random(200)[rows].tolist()


def test_district_selection_first_n_path_picks_what_the_full_ranking_picks(monkeypatch):
    """Without a floor, mandatory tenure or per-school shares each district takes its first n:
    the partition path must pick the same rows in the same order as ranking every eligible row
    (the general path, forced here), for integer keys with many ties, a float key, and draws."""
    import sim.policies.selection as selection
    from sim.policies import DistrictSelection

    for priority in (["never_rotated", "teachers_before_cadres", "primary_before_junior", "backbone_first"],
                     ["youngest_first"], ["strongest_first"], []):
        model = build({"name": "p", "priority": priority, "quota": {"share_of_eligible": 0.3}}, world=SMALL3)
        model.year = 1
        cfg = model.config.policy.programs[0]
        assert selection.takes_the_first(cfg)
        eligible = eligible_mask(model, cfg.eligibility)
        fast = DistrictSelection().select(model, cfg, eligible, np.random.default_rng(5))
        with monkeypatch.context() as m:
            m.setattr(selection, "takes_the_first", lambda program: False)
            full = DistrictSelection().select(model, cfg, eligible, np.random.default_rng(5))
        assert len(fast) > 20 and fast.tolist() == full.tolist(), priority


def test_rank_keys_refuses_what_one_integer_cannot_hold():
    """A float key, draws that are not multiples of 2**-53 in [0, 1) (NaN, 1.0, a finer fraction)
    and keys of more than 2**11 combinations have no packed key; priority_order sorts them as
    np.lexsort does all the same."""
    from sim.policies.priority import rank_keys

    n = 40
    rng = np.random.default_rng(6)
    wf = SimpleNamespace(age=rng.integers(20, 60, n), years_at_school=rng.integers(0, 4000, n),
                         quality=rng.random(n), n_rotations=np.zeros(n, int), past_rotations=np.zeros(n, int))
    model = SimpleNamespace(workforce=wf)
    rows, draws = np.arange(n), rng.random(n)
    assert rank_keys(model, rows, ["youngest_first"], draws) is not None
    assert rank_keys(model, rows, ["strongest_first"], draws) is None
    assert rank_keys(model, rows, ["longest_tenure"], draws) is None  # about 4,000 values
    for bad in (np.nan, 1.0, 2.0**-60):
        odd = draws.copy()
        odd[3] = bad
        assert rank_keys(model, rows, ["youngest_first"], odd) is None
        expected = rows[np.lexsort([odd, wf.age])]
        assert priority_order(model, rows, ["youngest_first"], odd).tolist() == expected.tolist()
