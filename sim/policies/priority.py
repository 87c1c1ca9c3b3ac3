"""Priority orderings of eligible teachers ("teachers before cadres, primary before junior,
backbone before ordinary"). Each key maps rows to a sort key; smaller goes first."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.codes import SENIOR_TITLE


def _needs_rotation_for_title(model, rows):
    """Teachers one step below a senior title who lack the rotation years it requires."""
    wf = model.workforce
    need = model.config.policy.title_requires_rotation_years
    short = (wf.title[rows] == SENIOR_TITLE - 1) & (wf.hardship_years[rows] < need)
    return (~short).astype(np.int64)


# The one list of priority rules: the scenario's `priority` choices come from it.
PRIORITY_RULES: dict[str, Callable] = {
    # rotations before the run (careers.tenure history) count too
    "never_rotated": lambda model, rows: (model.workforce.n_rotations[rows] + model.workforce.past_rotations[rows]
                                          > 0).astype(np.int64),
    "needs_rotation_for_title": _needs_rotation_for_title,
    "youngest_first": lambda model, rows: model.workforce.age[rows],
    "teachers_before_cadres": lambda model, rows: (model.workforce.role[rows] > 0).astype(np.int64),
    "cadres_before_teachers": lambda model, rows: (model.workforce.role[rows] == 0).astype(np.int64),
    "primary_before_junior": lambda model, rows: model.workforce.level[rows],
    "backbone_first": lambda model, rows: -model.workforce.backbone[rows],
    "longest_tenure": lambda model, rows: -model.workforce.years_at_school[rows],
    "strongest_first": lambda model, rows: -model.workforce.quality[rows],
}


def priority_order(model, rows: np.ndarray, keys: list[str], tiebreak: np.ndarray) -> np.ndarray:
    """`rows` sorted by the named keys in order, ties broken by `tiebreak` (a random draw per row)."""
    # Sorted by the draw first, then stably by the keys: the order np.lexsort([tiebreak, *keys])
    # gives, in about half the time (a quicksort of the draws, radix sorts of the small keys).
    by_draw = np.argsort(tiebreak)
    if not np.all(np.diff(tiebreak[by_draw]) > 0):  # equal draws (or NaN): a quicksort may swap them
        by_draw = np.argsort(tiebreak, kind="stable")
    ordered = rows[by_draw]
    sort_keys = [narrow_ints(PRIORITY_RULES[k](model, ordered)) for k in reversed(keys)]
    return ordered[np.lexsort(sort_keys)] if sort_keys else ordered


def narrow_ints(values: np.ndarray) -> np.ndarray:
    """Integer values in the smallest integer type that holds them (the same values, so the same
    order): numpy's stable sort, which lexsort uses for each key, is a radix sort for 8- and
    16-bit integers and a merge sort otherwise, several times slower."""
    if values.dtype.kind not in "iu" or len(values) == 0:
        return values
    narrow = np.result_type(np.min_scalar_type(values.min()), np.min_scalar_type(values.max()))
    # a negative minimum with a maximum of 2**32 or more: int8 and uint64 have no common integer type (numpy: float64)
    return values.astype(narrow) if narrow.kind in "iu" else values
