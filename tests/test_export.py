"""`teachersim export DIR --csv|--xlsx`: tables a spreadsheet reads without losing digits or meaning."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import sim
import sim.storage.export
from sim.present.outputs import write_run
from sim.storage.export import ExportError, export_csv, export_xlsx

REPO = Path(__file__).resolve().parents[1]
EXCHANGE = REPO / "tests" / "data" / "exchange.yaml"
TINY = ["world.schools_per_district=12", "world.teachers_per_school=12", "policy.programs.0.quota.min_count=10"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A tiny run, with one metric value made infinite (as the few unbounded indices can be)."""
    res = sim.run(sim.load_scenario(EXCHANGE, TINY), years=2, reps=1)
    res.metrics.loc[res.metrics.index[0], "value"] = math.inf
    return write_run(res, tmp_path_factory.mktemp("export") / "run", figures=False)


def test_workbook_keeps_seeds_infinities_and_labels(run_folder):
    book = load_workbook(export_xlsx(run_folder), read_only=True)
    assert book.sheetnames == ["metrics", "schools", "moves"]
    metrics = list(book["metrics"].iter_rows(values_only=True))
    header, first = metrics[0], metrics[1]
    seed = sim.load_results(run_folder).manifest["seeds"][0]
    assert len(str(seed)) > 15  # more digits than a spreadsheet number keeps
    assert first[header.index("seed")] == str(seed)
    assert first[header.index("value")] == "inf"
    moves = list(book["moves"].iter_rows(values_only=True))
    cols = moves[0]
    rows = moves[1:]
    assert {r[cols.index("title")] for r in rows} <= {"unranked", "second", "first", "senior", "professor"}
    kinds = {r[cols.index("kind")]: r for r in rows}
    assert kinds["hire"][cols.index("from_school")] == "outside"
    assert isinstance(kinds["hire"][cols.index("to_school")], int)
    assert len(rows) == len(sim.load_results(run_folder).moves)


def test_csv_reads_back_as_the_parquet_values(run_folder):
    folder = export_csv(run_folder)
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.csv", "moves.csv", "schools.csv"]
    res = sim.load_results(run_folder)
    back = pd.read_csv(folder / "metrics.csv")
    assert back["seed"].tolist() == res.metrics["seed"].tolist()  # 19 digits kept exactly
    assert np.isinf(back["value"].iloc[0])
    np.testing.assert_allclose(back["value"].to_numpy()[1:], res.metrics["value"].to_numpy()[1:], rtol=1e-9)
    moves = pd.read_csv(folder / "moves.csv")
    assert set(moves.loc[moves["kind"] == "hire", "from_school"]) == {"outside"}


def test_an_exported_run_can_still_be_replaced_by_the_same_run(run_folder):
    export_csv(run_folder)
    export_xlsx(run_folder)
    res = sim.load_results(run_folder)
    again = sim.run(sim.load_scenario(EXCHANGE, TINY), years=2, reps=1)
    assert again.scenario.model_dump(mode="json") == res.manifest["scenario"]
    write_run(again, run_folder, figures=False)  # report.html, export.xlsx and csv/ are ours
    assert not (run_folder / "export.xlsx").exists()


def test_a_table_longer_than_a_sheet_is_refused(run_folder, monkeypatch):
    monkeypatch.setattr(sim.storage.export, "SHEET_ROWS", 5)
    with pytest.raises(ExportError, match="more than a sheet holds.*--csv"):
        export_xlsx(run_folder)


def test_export_of_a_folder_that_is_not_a_result_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = subprocess.run([sys.executable, "-m", "sim", "export", str(tmp_path), "--xlsx"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "manifest" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
