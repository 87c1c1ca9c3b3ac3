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
    return ordered_by(model, rows, keys, tiebreak, rank_keys(model, rows, keys, tiebreak))


def ordered_by(model, rows: np.ndarray, keys: list[str], tiebreak: np.ndarray, key: np.ndarray | None) -> np.ndarray:
    """`priority_order` for a caller that has made `rank_keys(model, rows, keys, tiebreak)` already."""
    if key is not None:  # the keys and the draw packed in one integer: one sort, no lexsort
        return rows[sorted_positions(key, np.arange(len(rows)))]
    # Sorted by the draw first, then stably by the keys: the order np.lexsort([tiebreak, *keys])
    # gives, in about half the time (a quicksort of the draws, radix sorts of the small keys).
    by_draw = np.argsort(tiebreak)
    if not np.all(np.diff(tiebreak[by_draw]) > 0):  # equal draws (or NaN): a quicksort may swap them
        by_draw = np.argsort(tiebreak, kind="stable")
    ordered = rows[by_draw]
    sort_keys = [narrow_ints(PRIORITY_RULES[k](model, ordered)) for k in reversed(keys)]
    return ordered[np.lexsort(sort_keys)] if sort_keys else ordered


DRAW_BITS = 53  # a draw of Generator.random is a multiple of 2**-53 in [0, 1): 53 bits
KEY_BITS = 64 - DRAW_BITS  # what is left of an unsigned 64-bit integer for the priority keys


def rank_keys(model, rows: np.ndarray, keys: list[str], tiebreak: np.ndarray) -> np.ndarray | None:
    """One unsigned 64-bit integer per row that orders the rows as priority_order does (equal ones
    by position): the keys' values in mixed radix, first key most significant, in the top 11 bits,
    the draw's 53 bits below. None when a key is not an integer, the keys take more than 2**11
    combinations, or a draw is not a multiple of 2**-53 in [0, 1)."""
    if len(rows) and not (tiebreak.min() >= 0 and tiebreak.max() < 1):  # NaN fails both
        return None
    scaled = tiebreak * 2.0**DRAW_BITS  # exact: a power of two
    draw = scaled.astype(np.uint64)
    if not np.array_equal(draw, scaled):
        return None
    packed, span = np.zeros(len(rows), dtype=np.uint64), 1
    for name in keys:
        values = PRIORITY_RULES[name](model, rows)
        if values.dtype.kind not in "iu":
            return None
        low = int(values.min()) if len(values) else 0
        width = (int(values.max()) if len(values) else 0) - low + 1
        span *= width
        if span > 2**KEY_BITS:
            return None
        packed = packed * np.uint64(width) + (values - low).astype(np.uint64)
    return (packed << np.uint64(DRAW_BITS)) | draw


def sorted_positions(key: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`positions` (in any order) sorted by `key` at them, equal keys in position order."""
    values = key[positions]
    order = np.argsort(values)  # a quicksort: when no two keys are equal, their order is the only one
    ranked = values[order]
    if np.any(ranked[1:] == ranked[:-1]):  # equal keys: a stable sort of the positions in ascending order
        positions = np.sort(positions)
        order = np.argsort(key[positions], kind="stable")
    return positions[order]


def first_n(key: np.ndarray, n: int) -> np.ndarray:
    """The positions of the n smallest keys in order, equal keys in position order: what
    np.argsort(key, kind="stable")[:n] gives, without sorting the rest (a partition first)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n < len(key):
        part = np.argpartition(key, n - 1)[:n]
        if np.count_nonzero(key <= key[part].max()) == n:  # no key left out ties the last one taken
            return sorted_positions(key, part)
    return sorted_positions(key, np.arange(len(key)))[:n]


def narrow_ints(values: np.ndarray) -> np.ndarray:
    """Integer values in the smallest integer type that holds them (the same values, so the same
    order): numpy's stable sort, which lexsort uses for each key, is a radix sort for 8- and
    16-bit integers and a merge sort otherwise, several times slower."""
    if values.dtype.kind not in "iu" or len(values) == 0:
        return values
    narrow = np.result_type(np.min_scalar_type(values.min()), np.min_scalar_type(values.max()))
    # a negative minimum with a maximum of 2**32 or more: int8 and uint64 have no common integer type (numpy: float64)
    return values.astype(narrow) if narrow.kind in "iu" else values


def first_draws(rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
    """rng.random(wf.n)[rows] for ascending `rows`: the draws of a fresh stream come in order, so the
    ones past the last row, never read, are not drawn. The stream is then not where rng.random(wf.n)
    leaves it: draw nothing more from `rng` (callers give a fresh named stream per use)."""
    return rng.random(int(rows[-1]) + 1 if len(rows) else 0)[rows]


def grouped(ranked: np.ndarray, group_of_row: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(group, its rows of `ranked` in rank order) for each group present (a district, a school),
    in group order: one stable sort of the groups instead of a mask of every row per group."""
    if len(ranked) == 0:
        return []
    order = np.argsort(narrow_ints(group_of_row), kind="stable")
    group = group_of_row[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    return list(zip(group[starts].tolist(), np.split(ranked[order], starts[1:]), strict=True))
