"""The teachers' state as column arrays, one row per teacher ever employed in the run.

Every yearly stage touches every teacher, so the state lives here in numpy arrays and the Mesa
`Teacher` agents are thin views onto a row. Rows are never reused: a teacher who leaves keeps
the row with `active` False, so a row number is a stable teacher id within a run, and hires are
appended in a fixed order (which keeps random draws indexed by row comparable across scenarios).
"""

from __future__ import annotations

import numpy as np

# column -> dtype; the first block comes from the world, the rest is run state
COLUMNS = {
    "school": np.int64,  # home school: where the post is held
    "host": np.int64,  # school where the teacher teaches now (differs while rotated)
    "role": np.int64, "level": np.int64, "subject": np.int64, "title": np.int64,
    "qualification": np.int64, "backbone": np.int64,
    "age": np.int64, "experience": np.int64, "years_at_school": np.int64,
    "quality": np.float64, "home_x": np.float64, "home_y": np.float64, "woman": bool,
    "birth_month": np.int64,  # 1-12; with the age, places the birth date (sim/world/retirement.py)
    "active": bool,
    "satisfaction": np.float64,  # 0..1
    "commute": np.float64,  # minutes one way to the host school
    "n_rotations": np.int64,  # rotations started during the run
    "past_rotations": np.int64,  # rotations started before the run (careers.tenure history)
    "rotated_in": np.int64,  # year the last rotation started; -1 when none (one rotation a year)
    "term_end": np.int64,  # year the current rotation ends; -1 when not rotated
    "program": np.int64,  # index of the program of the current rotation; -1 when none
    "part_host": np.int64,  # school where a part-time rotator teaches part of the load; -1 when none
    "part_share": np.float64,  # share of the load taught at part_host
    "hardship_years": np.int64,  # years served on rotation or at rural or weak schools
    "dormitory": bool,  # holds a rotation dormitory bed this year
    "cohort": bool,  # eligible when the policy first looked (coverage denominator)
    "excused": bool,  # cohort member who left or lost eligibility before rotating
    "arrived": np.int64,  # year the teacher arrived at the current host
    "hired": np.int64,  # year hired; -1 for the initial staff
    "retire_months": np.int64,  # own statutory retirement age in months (sex and birth date; sim/world/retirement.py)
    "post_since": np.int64,  # year a cadre took the current leadership post (0 or less: before the run)
    "cover_until": np.int64,  # a cover teacher's last year in a rotator's post (backfill); -1 when none
}


class Workforce:
    """Growable column store of teachers. Access columns as attributes: `wf.quality[rows]`."""

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self._cols = {name: np.zeros(capacity, dtype=dt) for name, dt in COLUMNS.items()}
        self._expose()

    def _expose(self) -> None:
        """Make each column an attribute: a view of the first n rows (writes go to the store)."""
        for name, arr in self._cols.items():
            setattr(self, name, arr[: self.n])

    def add(self, **values: np.ndarray) -> np.ndarray:
        """Append teachers; columns not given get their defaults. Returns the new rows."""
        unknown = set(values) - set(COLUMNS)
        if unknown:  # before any write: the rows past n must stay zeros
            raise KeyError(f"unknown teacher column(s): {', '.join(sorted(unknown))}")
        k = len(next(iter(values.values())))
        if self.n + k > len(self._cols["school"]):
            size = max(2 * len(self._cols["school"]), self.n + k)
            for name, arr in self._cols.items():
                grown = np.zeros(size, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self._cols[name] = grown
        new = slice(self.n, self.n + k)  # a slice, not an index array: a plain copy into the store
        defaults = {"active": True, "satisfaction": 0.75, "term_end": -1, "program": -1, "hired": -1,
                    "part_host": -1, "rotated_in": -1, "cover_until": -1}
        for name in COLUMNS:
            if name in values:
                self._cols[name][new] = values[name]
            elif defaults.get(name, 0):  # the store is zeros past n (np.zeros, and rows are never reused)
                self._cols[name][new] = defaults[name]
        self.n += k
        self._expose()
        return np.arange(new.start, new.stop)

    def active_rows(self) -> np.ndarray:
        return np.flatnonzero(self.active)

    def rotating(self) -> np.ndarray:
        """Mask of rows currently on a rotation (full-time at a host, or part-time)."""
        return self.active & (self.term_end >= 0)

    def load(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each active teacher's (or each of `rows`') teaching load goes: (rows, school,
        share), one entry per school taught at; a part-time rotator appears twice, at home and at
        the part-time host (the second entries after all the first, each part in row order)."""
        rows = self.active_rows() if rows is None else rows
        at = np.flatnonzero(self.part_host[rows] >= 0)
        part = rows[at]
        share = np.ones(len(rows))
        share[at] = 1.0 - self.part_share[part]
        return (np.concatenate([rows, part]), np.concatenate([self.host[rows], self.part_host[part]]),
                np.concatenate([share, self.part_share[part]]))
