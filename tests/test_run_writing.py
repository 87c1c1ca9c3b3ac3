"""Writing a run folder: the frames read back as they were made, the Parquet encoding choices, and
the Parquet files written in a thread while the figures and the summary are drawn (issue 20),
with a failure on either side leaving nothing behind."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import sim
from sim.codes import MOVE_KINDS
from sim.core.movelog import MoveLog, label_moves
from sim.experiments.run import moves_frame
from sim.present.outputs import write_run
from sim.storage import store
from sim.storage.store import write_run_folder

REPO = Path(__file__).resolve().parents[1]
EXCHANGE = REPO / "tests" / "data" / "exchange.yaml"
TINY = ["world.schools_per_district=12", "world.teachers_per_school=12", "policy.programs.0.quota.min_count=10"]
HEAD = {"scenario": "s", "replicate": 1, "seed": 7}


@pytest.fixture(scope="module")
def tiny_result():
    return sim.run(sim.load_scenario(EXCHANGE, TINY), years=2, reps=2)


def same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert [repr(t) for t in a.dtypes] == [repr(t) for t in b.dtypes]


def a_log() -> MoveLog:
    log = MoveLog()
    log.append(1, np.array([4, 5]), -1, np.array([2, 3]), 4, "", np.array([0, 1]), np.array([0, 2]), np.array([.1, .2]))
    log.append(1, np.array([6]), np.array([3]), np.array([0]), 0, "district_exchange", np.array([3]),
               np.array([4]), np.array([.3]))
    log.append(2, np.array([4]), np.array([2]), -1, 6, "", np.array([0]), np.array([1]), np.array([.4]))
    return log


@pytest.mark.parametrize("log", [a_log(), MoveLog()], ids=["moves", "empty"])
def test_the_moves_frame_is_the_coded_frame_labelled(log):
    """The frame built from the log's columns equals the coded frame labelled as a schema-1 file is
    (`label_moves`), head columns first: outside schools and "no program" null, codes as names."""
    c = log.columns()
    coded = pd.DataFrame(c)
    coded["kind"] = pd.Categorical.from_codes(c["kind"], categories=MOVE_KINDS)
    coded["program"] = np.asarray(log.programs, dtype=object)[c["program"]]
    want = label_moves(coded)
    for i, (k, v) in enumerate(HEAD.items()):
        want.insert(i, k, v)
    got = moves_frame(log, HEAD)
    same_frames(got, want)
    if len(log.columns()["year"]):
        assert got["from_school"].isna().tolist() == [True, True, False, False]
        assert got["program"].isna().tolist() == [True, True, False, True]


def test_a_run_reads_back_as_it_was_written(tiny_result, tmp_path):
    """Regression guard for the writer options: every frame, dtypes included, reads back unchanged."""
    back = sim.load_results(write_run(tiny_result, tmp_path / "run", figures=False))
    for name in ("metrics", "schools", "moves"):
        same_frames(getattr(back, name), getattr(tiny_result, name))


def test_dictionaries_and_statistics_only_where_they_pay(tiny_result, tmp_path):
    folder = write_run(tiny_result, tmp_path / "run", figures=False)
    meta = pq.ParquetFile(folder / "moves.parquet").metadata.row_group(0)
    chunks = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    dictionary = {name for name, chunk in chunks.items() if any("DICTIONARY" in e for e in chunk.encodings)}
    assert {"kind", "program", "title", "from_school", "year", "scenario"} <= dictionary
    assert "quality" not in dictionary  # floats rarely repeat
    with_statistics = {name for name, chunk in chunks.items() if chunk.is_stats_set}
    assert with_statistics == {"scenario", "replicate", "seed", "year"}



def test_wide_integer_columns_are_written_without_a_dictionary(tmp_path):
    """Integers spanning DICTIONARY_SPAN values or more (teacher ids) are written plain; narrower
    ones, all-null ones and strings get a dictionary; floats never."""
    frame = pd.DataFrame({
        "wide": pd.array([0, store.DICTIONARY_SPAN, 5], dtype="Int64"),
        "narrow": pd.array([0, store.DICTIONARY_SPAN - 1, 5], dtype="Int64"),
        "empty": pd.array([None, None, None], dtype="Int64"),
        "text": ["a", "b", "a"],
        "real": [0.5, 0.5, 0.25],
    })
    store._write_table(store._table(frame), tmp_path / "f.parquet")
    meta = pq.ParquetFile(tmp_path / "f.parquet").metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    dictionary = {name for name, found in encodings.items() if any("DICTIONARY" in e for e in found)}
    assert dictionary == {"narrow", "empty", "text"}
    assert pd.read_parquet(tmp_path / "f.parquet").equals(frame)

def test_figures_are_drawn_while_the_parquet_files_are_written(tiny_result, tmp_path, monkeypatch):
    """The writer thread is still encoding when `extra` (figures, summary) runs."""
    extra_ran, overlapped = threading.Event(), []
    real = store._write_table

    def slow_write(table, where):
        overlapped.append(extra_ran.wait(timeout=5))  # sequential writing would wait here in vain
        real(table, where)

    def extra(tmp):
        extra_ran.set()
        return []

    monkeypatch.setattr(store, "_write_table", slow_write)
    folder = write_run_folder(tiny_result, tmp_path / "run", extra)
    assert overlapped and all(overlapped)
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "metrics.parquet", "moves.parquet",
                                                        "schools.parquet"]


def test_a_failure_in_the_writer_thread_propagates_and_leaves_nothing(tiny_result, tmp_path, monkeypatch):
    real = store._write_table

    def full_disk(table, where):
        if str(where).endswith("moves.parquet"):
            raise OSError(28, "No space left on device")
        real(table, where)

    monkeypatch.setattr(store, "_write_table", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_run(tiny_result, tmp_path / "run", figures=False)
    assert list(tmp_path.iterdir()) == []  # no result, no lock, no hidden build folder


def test_a_failure_while_drawing_waits_for_the_writer_and_leaves_nothing(tiny_result, tmp_path, monkeypatch):
    real, finished = store._write_table, []

    def slow_write(table, where):
        time.sleep(0.2)
        real(table, where)
        finished.append(where)

    def broken_figures(tmp):
        raise RuntimeError("a figure failed")

    monkeypatch.setattr(store, "_write_table", slow_write)
    with pytest.raises(RuntimeError, match="a figure failed"):
        write_run_folder(tiny_result, tmp_path / "run", broken_figures)
    assert len(finished) == 3  # the writer was waited for before the build folder was removed
    assert list(tmp_path.iterdir()) == []
