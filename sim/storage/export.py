"""Spreadsheet export of a result folder: one CSV file or one workbook sheet per table.

`teachersim export DIR --csv` writes DIR/csv/<table>.csv; `--xlsx` writes DIR/export.xlsx
(openpyxl). What a spreadsheet would otherwise get wrong is made explicit:

- a move's title and backbone level are names (as in moves.parquet); hires come from, and
  leavers go to, "outside" (null in moves.parquet);
- seeds are text: a workbook's cells are text cells, because Excel keeps 15 significant digits
  and a 19-digit seed would be rounded; in CSV they are quoted (like every text field), so a
  reader told to keep quoted fields as text (LibreOffice's "Format quoted field as text",
  Excel's Data > From Text/CSV with the column as Text, `pd.read_csv(dtype={"seed": str})`)
  keeps every digit;
- infinite values (the few indices that can be infinite, see docs/metrics.md) are the text
  `inf` / `-inf` in workbooks, where a number cannot be infinite, and `inf` in CSV;
- a table longer than a sheet (1,048,576 rows) is refused in one line: export it as CSV.

The folder is read through `load_results`, so its checksums are verified first.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.storage.results import load_results
from sim.storage.store import write_derived

SHEET_ROWS = 1_048_576 - 1  # Excel's rows per sheet, less the header
TEXT_COLUMNS = ("seed",)  # integers a spreadsheet must not round


class ExportError(ValueError):
    """The folder cannot be exported as asked (one line for the user)."""


def tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The folder's tables with labels instead of codes, in the order they are exported."""
    res = load_results(folder)
    found = {"metrics": res.metrics}
    if res.kind == "run":
        found |= {"schools": res.schools, "moves": labelled_moves(res.moves)}
    elif res.kind == "compare":
        found = {"comparison": res.comparison, "trajectories": res.trajectories} | found
    elif res.kind == "sweep":
        found = {"design": res.design, "runs": res.runs} | found
    return {name: df for name, df in found.items() if df is not None}


def labelled_moves(moves: pd.DataFrame) -> pd.DataFrame:
    """Moves with "outside" for the side of a hire or an exit (no school in moves.parquet)."""
    out = moves.copy()
    for column in ("from_school", "to_school"):
        out[column] = pd.Series([("outside" if pd.isna(c) else int(c)) for c in out[column]], index=out.index,
                                dtype=object)
    return out


def with_text_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with its seed columns as text (see the module docstring)."""
    seeds = [c for c in df.columns if c in TEXT_COLUMNS]
    return df.astype({c: str for c in seeds}) if seeds else df


def export_csv(folder: str | Path) -> Path:
    """Write every table as DIR/csv/<table>.csv; returns the csv folder."""
    folder = Path(folder)
    target = folder / "csv"
    found = tables(folder)
    target.mkdir(exist_ok=True)
    for name, df in found.items():
        text = with_text_seeds(df).to_csv(index=False, float_format="%.10g", quoting=csv.QUOTE_NONNUMERIC)
        write_derived(folder, target / f"{name}.csv", text.encode("utf-8"))
    return target


def export_xlsx(folder: str | Path) -> Path:
    """Write every table as a sheet of DIR/export.xlsx; returns the workbook's path."""
    from openpyxl import Workbook

    folder = Path(folder)
    found = tables(folder)
    for name, df in found.items():
        if len(df) > SHEET_ROWS:
            raise ExportError(f"{folder}: table {name} has {len(df):,} rows, more than a sheet holds "
                              f"({SHEET_ROWS:,}); export it with --csv")
    book = Workbook(write_only=True)
    for name, df in found.items():
        sheet = book.create_sheet(title=name[:31])
        sheet.append([str(c) for c in df.columns])
        columns = [_cells(df[c], c in TEXT_COLUMNS) for c in df.columns]
        for row in zip(*columns, strict=True):
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return write_derived(folder, folder / "export.xlsx", buffer.getvalue())


def _cells(series: pd.Series, as_text: bool) -> list:
    """A column as cell values a workbook keeps exactly: text for seeds and infinities, None for
    missing values, plain Python numbers otherwise."""
    values = series.astype(object).where(series.notna(), None).tolist()
    if as_text:
        return [None if v is None else str(v) for v in values]
    out = []
    for v in values:
        if isinstance(v, float) and math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        elif isinstance(v, (np.integer, np.floating, np.bool_)):
            out.append(v.item())
        elif v is None or isinstance(v, (int, float, str, bool)):
            out.append(v)
        else:
            out.append(str(v))
    return out
