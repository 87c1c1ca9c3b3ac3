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
    sort_keys = [tiebreak] + [PRIORITY_RULES[k](model, rows) for k in reversed(keys)]
    return rows[np.lexsort(sort_keys)]
