"""The log of every move in a run (rotations, returns, stays, drift, hires, exits), kept as
column arrays appended in batches, because a city-size year logs tens of thousands of moves."""

from __future__ import annotations

import bisect

import numpy as np

COLUMNS = ("year", "teacher", "from_school", "to_school", "kind", "program", "backbone", "title", "quality")


class MoveLog:
    """Append-only columns; `program` is stored as an index into `programs` (names; "" = none)."""

    def __init__(self):
        self.programs: list[str] = [""]
        self._chunks: list[dict[str, np.ndarray]] = []
        self._starts: list[int] = []  # position of each chunk's first move
        self._joined: dict[str, np.ndarray] | None = None
        self.n = 0

    def append(self, year: int, rows: np.ndarray, frm: np.ndarray, to: np.ndarray, kind: int, program: str,
               backbone: np.ndarray, title: np.ndarray, quality: np.ndarray) -> None:
        k = len(rows)
        if k == 0:
            return
        if program not in self.programs:
            self.programs.append(program)
        self._starts.append(self.n)
        self._chunks.append({
            "year": np.full(k, year, dtype=np.int64), "teacher": np.asarray(rows, dtype=np.int64),
            "from_school": np.broadcast_to(np.asarray(frm, dtype=np.int64), (k,)).copy(),
            "to_school": np.broadcast_to(np.asarray(to, dtype=np.int64), (k,)).copy(),
            "kind": np.full(k, kind, dtype=np.int64), "program": np.full(k, self.programs.index(program)),
            "backbone": np.asarray(backbone, dtype=np.int64), "title": np.asarray(title, dtype=np.int64),
            "quality": np.asarray(quality, dtype=np.float64),
        })
        self._joined = None
        self.n += k

    def columns(self, start: int = 0) -> dict[str, np.ndarray]:
        """All moves from position `start` on, as column arrays (a year's moves are read every
        year, so only the chunks from `start` on are joined for them)."""
        if start > 0:
            first = bisect.bisect_right(self._starts, start) - 1
            chunks = self._chunks[first:]
            offset = start - self._starts[first] if chunks else 0
            return {c: (np.concatenate([ch[c] for ch in chunks]) if chunks else _empty(c))[offset:] for c in COLUMNS}
        if self._joined is None:
            self._joined = {c: np.concatenate([ch[c] for ch in self._chunks]) if self._chunks else _empty(c)
                            for c in COLUMNS}
            self._chunks = [self._joined] if self._chunks else []
            self._starts = [0] if self._chunks else []
        return dict(self._joined)

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
