"""The log of every move in a run (rotations, returns, stays, drift, hires, exits), kept as
column arrays appended in batches, because a city-size year logs tens of thousands of moves."""

from __future__ import annotations

import numpy as np

COLUMNS = ("year", "teacher", "from_school", "to_school", "kind", "program", "backbone", "title", "quality")
FIRST_CAPACITY = 4096  # moves; a Dongcheng decade logs about 20,000, Beijing's about 420,000


class MoveLog:
    """Append-only columns; `program` is stored as an index into `programs` (names; "" = none).

    Each batch is copied into one buffer per column, doubled when full, so reading the log is a
    slice: joining the 138 batches of a Beijing decade at the end cost 0.05-0.09 s, and each year's
    read of its own moves a join of that year's batches."""

    def __init__(self):
        self.programs: list[str] = [""]
        self._buffers: dict[str, np.ndarray] = {c: _empty(c) for c in COLUMNS}
        self.n = 0

    def append(self, year: int, rows: np.ndarray, frm: np.ndarray, to: np.ndarray, kind: int, program: str,
               backbone: np.ndarray, title: np.ndarray, quality: np.ndarray) -> None:
        k = len(rows)
        if k == 0:
            return
        if program not in self.programs:
            self.programs.append(program)
        self._reserve(self.n + k)
        at = slice(self.n, self.n + k)
        b = self._buffers
        b["year"][at] = year
        b["teacher"][at] = rows
        b["from_school"][at] = frm  # a school code for the whole batch or one per move
        b["to_school"][at] = to
        b["kind"][at] = kind
        b["program"][at] = self.programs.index(program)
        b["backbone"][at] = backbone
        b["title"][at] = title
        b["quality"][at] = quality
        self.n += k

    def _reserve(self, size: int) -> None:
        capacity = len(self._buffers["year"])
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity, FIRST_CAPACITY)
        for c, old in self._buffers.items():
            grown = np.empty(capacity, dtype=old.dtype)
            grown[:self.n] = old[:self.n]
            self._buffers[c] = grown

    def columns(self, start: int = 0) -> dict[str, np.ndarray]:
        """All moves from position `start` on, as column arrays: read-only views of the log (moves
        already logged are never written again)."""
        out = {c: b[start:self.n] for c, b in self._buffers.items()}
        for view in out.values():
            view.flags.writeable = False
        return out

    def tuples(self, start: int = 0) -> list[tuple]:
        """Moves as (year, row, from, to, kind code, program name, backbone, title, quality)."""
        c = self.columns(start)
        names = np.asarray(self.programs, dtype=object)[c["program"]] if len(c["program"]) else []
        return list(zip(c["year"].tolist(), c["teacher"].tolist(), c["from_school"].tolist(),
                        c["to_school"].tolist(), c["kind"].tolist(), list(names), c["backbone"].tolist(),
                        c["title"].tolist(), c["quality"].tolist(), strict=True))


def _empty(column: str) -> np.ndarray:
    return np.empty(0, dtype=np.float64 if column == "quality" else np.int64)


def labelled_frame(columns: dict[str, np.ndarray], programs: list[str], head: dict):
    """The log's columns (`MoveLog.columns`, program as an index into `programs`) as the labelled
    moves frame (what moves.parquet holds), with `head`'s columns (scenario, replicate, seed) first.

    Built in one constructor from whole columns: copying a coded frame and replacing its columns
    (`label_moves`), with 420,000 program names made Python strings and converted to Arrow, cost a
    Beijing run 0.19 s; this costs about 0.02 s for the same frame."""
    import pandas as pd
    import pyarrow as pa

    from sim.codes import BACKBONE, MOVE_KINDS, TITLES

    names = pa.array([name or None for name in programs], pa.large_string())  # "" (no program) is null
    return pd.DataFrame({
        **head, "year": columns["year"], "teacher": columns["teacher"],
        "from_school": _school(columns["from_school"]), "to_school": _school(columns["to_school"]),
        "kind": pd.Categorical.from_codes(columns["kind"], categories=list(MOVE_KINDS)),
        "program": pd.array(names.take(columns["program"]), dtype=pd.StringDtype()),
        "backbone": pd.Categorical.from_codes(columns["backbone"], categories=list(BACKBONE)),
        "title": pd.Categorical.from_codes(columns["title"], categories=list(TITLES)),
        "quality": columns["quality"]})


def _school(codes: np.ndarray):
    """School codes as nullable integers, null for the log's -1 (the outside side of a hire or an exit)."""
    import pandas as pd

    codes = np.asarray(codes, dtype=np.int64)
    return pd.arrays.IntegerArray(codes, codes < 0)


def label_moves(moves):
    """A coded moves frame (a schema-1 moves.parquet) with labels instead of the log's codes, as
    `labelled_frame` makes them: title and backbone as categories of their names, no school (null)
    for the outside side of a hire or an exit (the log's -1), no program (null) for a move outside
    any program ("")."""
    import pandas as pd

    from sim.codes import BACKBONE, TITLES

    out = moves.copy()
    for column in ("from_school", "to_school"):
        codes = out[column].to_numpy()
        out[column] = pd.Series(codes, index=out.index, dtype="Int64").mask(codes < 0)
    out["program"] = pd.Series(out["program"], dtype="string").replace("", pd.NA)
    for column, names in (("backbone", BACKBONE), ("title", TITLES)):
        out[column] = pd.Categorical.from_codes(out[column].to_numpy(), categories=list(names))
    return out
