"""Priority orderings of eligible teachers ("teachers before cadres, primary before junior,
backbone before ordinary"). Each key maps rows to a sort key; smaller goes first."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PRIORITY_KEYS: dict[str, Callable] = {
    "never_rotated": lambda wf, rows: (wf.n_rotations[rows] > 0).astype(np.int64),
    "teachers_before_cadres": lambda wf, rows: (wf.role[rows] > 0).astype(np.int64),
    "cadres_before_teachers": lambda wf, rows: (wf.role[rows] == 0).astype(np.int64),
    "primary_before_junior": lambda wf, rows: wf.level[rows],
    "backbone_first": lambda wf, rows: -wf.backbone[rows],
    "longest_tenure": lambda wf, rows: -wf.years_at_school[rows],
    "strongest_first": lambda wf, rows: -wf.quality[rows],
}


def priority_order(wf, rows: np.ndarray, keys: list[str], tiebreak: np.ndarray) -> np.ndarray:
    """`rows` sorted by the named keys in order, ties broken by `tiebreak` (a random draw per row)."""
    sort_keys = [tiebreak] + [PRIORITY_KEYS[k](wf, rows) for k in reversed(keys)]
    return rows[np.lexsort(sort_keys)]
