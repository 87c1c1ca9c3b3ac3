"""Tenure accounting: how time on rotation counts toward years at the home school, and the
rotation history a world starts with.

`careers.tenure.rotation_counts` says what a full-time rotation does to `years_at_school`, the
tenure that eligibility, mandatory moves and drift read:

- `reset` (default): the count restarts at 0 when the rotator leaves and again on coming home,
  so a returned rotator needs the full `min_years_at_school` again (our reading of Beijing's
  "continuous years at the same school", sources.md BJ-2016-2021);
- `continue`: the years away count as years at the home school; nothing restarts;
- `pause`: the count stops while away and resumes on coming home.

A system that has rotated for `history_years` before the run (Dongcheng since 2014) starts with
each teacher's past rotations drawn (`initial_history`, stream `rotation_history`).
"""

from __future__ import annotations

import numpy as np

ROTATION_MOVES = ("rotation", "return")


def resets_on(model, kind: str) -> bool:
    """Whether a move of this kind restarts the mover's years at the school."""
    return kind not in ROTATION_MOVES or model.config.careers.tenure.rotation_counts == "reset"


def away(model) -> np.ndarray | None:
    """Under `pause`, the mask of full-time rotators away from home, taken at the start of a year
    (before terms end) so that `accrues` knows who spent the past year away; None otherwise."""
    wf = model.workforce
    if model.config.careers.tenure.rotation_counts != "pause":
        return None
    return (wf.term_end >= 0) & (wf.part_host < 0) & (wf.host != wf.school)


def accrues(model) -> np.ndarray:
    """Mask of teachers whose years at the school grow this year: all active ones, except, under
    `pause`, those who spent the past year away on a full-time rotation."""
    wf = model.workforce
    was_away = model.away_last_year
    return wf.active if was_away is None else wf.active & ~was_away


def initial_history(model) -> None:
    """Draw the rotations each initial teacher started in the `history_years` before the run: in
    each past year the teacher taught (no more than the experience), a start with probability
    `history_rate`. Each past rotation is taken as a one-year term (the shortest Beijing term)
    ended by year 0, so under `reset` the years at the school are at most the years since the last
    return, and under `pause` they lose a year per rotation. Sets `past_rotations` and keeps
    `arrived` consistent."""
    cfg = model.config.careers.tenure
    wf = model.workforce
    rows = wf.active_rows()
    ago = np.arange(1, cfg.history_years + 1)  # 1 = the year before the run
    u = model.stream("rotation_history").random((wf.n, cfg.history_years))[rows]
    started = (u < cfg.history_rate) & (ago[None, :] <= wf.experience[rows, None])
    past = started.sum(axis=1)
    wf.past_rotations[rows] = past
    tenure = wf.years_at_school[rows]
    if cfg.rotation_counts == "reset":
        since_return = np.where(past > 0, np.argmax(started, axis=1), tenure)  # most recent start, minus its year
        tenure = np.minimum(tenure, since_return)
    elif cfg.rotation_counts == "pause":
        tenure = np.maximum(tenure - past, 0)
    wf.years_at_school[rows] = tenure
    wf.arrived[rows] = -tenure
