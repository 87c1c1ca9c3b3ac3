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
