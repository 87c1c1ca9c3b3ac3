"""Real districts from roster files: `schools`, `teachers` and optionally `twinning`, each a CSV
file (UTF-8 with or without BOM, GB18030/GBK, or UTF-16 with a BOM) or an .xlsx workbook.

The columns are documented in docs/roster.md; Chinese headers and values are read through the one
alias table in sim.world.aliases. Every problem is reported as one line naming the file, the line
(or worksheet row) and the column. `write_roster` writes a built world back out in the same format
(used to make examples and to check that a roster round-trips).
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import tempfile
import unicodedata
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sim.codes import (
    BACKBONE,
    DISTRICT_TYPES,
    QUALIFICATIONS,
    ROLES,
    SCHOOL_LEVELS,
    SUBJECTS,
    TEACHER_LEVELS,
    TIERS,
    TITLES,
)
from sim.files import FileRefused, open_regular
from sim.world.aliases import SHEETS, VALUES, header_names
from sim.world.system import SchoolSystem, norm_posts

SCHOOL_REQUIRED = ("school_id", "name", "district", "level", "tier", "enrolment", "x_km", "y_km")
SCHOOL_OPTIONAL = ("district_type", "school_district", "group", "leading", "junior_enrolment")
TEACHER_REQUIRED = ("teacher_id", "school_id", "age")
TEACHER_OPTIONAL = ("role", "level", "subject", "title", "qualification", "backbone", "experience",
                    "years_at_school", "quality", "home_x_km", "home_y_km", "gender", "birth_month",
                    "past_rotations", "years_since_rotation")
TABLES = {"schools": (SCHOOL_REQUIRED, SCHOOL_OPTIONAL), "teachers": (TEACHER_REQUIRED, TEACHER_OPTIONAL),
          "twinning": (("school_a", "school_b"), ())}

MAX_FILE_BYTES = 256 * 2**20  # a roster file larger than this is refused (2 million teachers fit in about 200 MB)
MAX_UNPACKED_BYTES = 2 * 2**30  # the XML inside an .xlsx workbook, summed over its parts (a zip bomb guard)
DAMAGED_UTF8_BYTES = 64  # valid multi-byte UTF-8 before a bad byte, above which the file is UTF-8 with damage
ACCEPTED = "UTF-8 (with or without BOM), GB18030/GBK, UTF-16 with a BOM, or an .xlsx workbook"


class RosterError(ValueError):
    """A roster that cannot be used; the message is one line naming the file, line and column."""


# ------------------------------------------------------------------------------ reading files


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading (`sim.files.open_regular`: folders, devices and pipes
    refused without blocking on a FIFO, and files above MAX_FILE_BYTES), in the roster's words."""
    try:
        return open_regular(path, MAX_FILE_BYTES, follow_links=True)
    except FileRefused as exc:
        if exc.reason == "too large":
            problem = f"{exc.size:,} bytes is above the limit for a roster file ({MAX_FILE_BYTES:,} bytes)"
        else:
            problem = {"missing": "file not found", "unreadable": f"cannot be read ({exc.strerror})",
                       "folder": "is a folder, not a file",
                       "special": "is not a regular file (a device, pipe or socket); give a file"}[exc.reason]
        raise RosterError(f"{path}: {problem}") from None


def _first_bad_line(fh: BinaryIO, encoding: str) -> tuple[int, int] | None:
    """The line of the first byte that is not valid in `encoding`, and how many bytes of
    non-ASCII characters came before it; None if the whole file is valid."""
    fh.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    lines = wide = 0
    while chunk := fh.read(1 << 20):
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            before = chunk[:max(exc.start, 0)]
            return lines + before.count(b"\n") + 1, wide + len(before) - len(before.decode(encoding, "ignore"))
        lines += chunk.count(b"\n")
        wide += len(chunk) - len(text)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return lines + 1, wide
    return None


def text_encoding(path: Path, fh: BinaryIO) -> str:
    """Decide a CSV file's encoding honestly: a BOM names it; otherwise UTF-8 if the whole file is
    valid UTF-8, else GB18030 (a superset of GBK) if it is valid GB18030, else refuse."""
    fh.seek(0)
    head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise RosterError(f"{path}: has NUL bytes at its start (UTF-16 without a byte-order mark?); "
                          f"accepted: {ACCEPTED}")
    utf8 = _first_bad_line(fh, "utf-8")
    if utf8 is None:
        return "utf-8"
    bad_utf8, wide = utf8
    if wide >= DAMAGED_UTF8_BYTES:  # GBK text is never valid UTF-8 for so long: a damaged UTF-8 file
        raise RosterError(f"{path}: line {bad_utf8}: not valid UTF-8, though the text before it is (a damaged "
                          "file, or two encodings mixed?); save it again as UTF-8 or GBK")
    gb = _first_bad_line(fh, "gb18030")
    if gb is None:
        return "gb18030"
    bad_gb = gb[0]
    where = f"line {bad_utf8}" if bad_utf8 == bad_gb else f"UTF-8 fails on line {bad_utf8}, GB18030 on line {bad_gb}"
    raise RosterError(f"{path}: neither UTF-8 nor GB18030/GBK text ({where}); accepted: {ACCEPTED}")


def _csv_records(path: Path, fh: BinaryIO) -> Iterator[tuple[str, list[str]]]:
    text = io.TextIOWrapper(fh, encoding=text_encoding(path, fh), newline="")
    text.seek(0)
    reader = csv.reader(text, strict=True)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = str(exc)
            if problem.startswith("field larger than field limit"):
                problem = f"a field is longer than {csv.field_size_limit():,} characters"
            raise RosterError(f"{path}: line {reader.line_num}: invalid CSV: {problem}") from None
        yield f"line {reader.line_num}", fields


def _cell(value) -> str:
    """An .xlsx cell as the text a CSV file would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _xlsx_records(path: Path, fh: BinaryIO, table: str) -> Iterator[tuple[str, list[str]]]:
    """The rows of the workbook's sheet for `table`, after a guard against zip bombs."""
    try:
        with zipfile.ZipFile(fh) as z:
            unpacked = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise RosterError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise RosterError(f"{path}: unpacks to {unpacked:,} bytes, above the limit for a roster workbook "
                          f"({MAX_UNPACKED_BYTES:,} bytes)")
    with warnings.catch_warnings():  # openpyxl warns of features it drops (data validation, styles)
        warnings.simplefilter("ignore")
        rows = _xlsx_rows(path, fh, table)
    yield from rows


def _xlsx_rows(path: Path, fh: BinaryIO, table: str) -> list[tuple[str, list[str]]]:
    import openpyxl  # imported here: only workbooks need it, and it is slow to import

    fh.seek(0)
    try:
        book = openpyxl.load_workbook(fh, read_only=True, data_only=True)
    except Exception as exc:  # any failure of the parser on a user's file is one line
        raise RosterError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        sheets = book.worksheets
        if len(sheets) == 1:
            sheet, prefix = sheets[0], ""
        else:
            named = [s for s in sheets if s.title.strip().lower() in SHEETS[table]]
            if len(named) != 1:
                raise RosterError(f"{path}: the workbook has sheets {', '.join(s.title for s in sheets)}; "
                                  f"name one of them {' or '.join(SHEETS[table])} (or keep only one sheet)")
            sheet, prefix = named[0], f"sheet {named[0].title!r} "
        try:
            return [(f"{prefix}row {n}", [_cell(v) for v in values])
                    for n, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
        except Exception as exc:  # as above
            raise RosterError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    finally:
        book.close()


def _records(path: Path, table: str) -> Iterator[tuple[str, list[str]]]:
    """The rows of a roster file as lists of text, each with where it is ("line 5", "row 5")."""
    suffix = path.suffix.lower()
    if suffix in (".xls", ".xlsb", ".ods", ".et"):
        raise RosterError(f"{path}: {suffix} workbooks are not read; save it as .xlsx or as CSV")
    with _open_regular(path) as fh:
        if suffix in (".xlsx", ".xlsm"):
            yield from _xlsx_records(path, fh, table)
        else:
            yield from _csv_records(path, fh)


def _clean(text: str) -> str:
    """A header or category value as compared with the alias table: NFKC (full-width letters,
    digits and brackets become plain ones) and stripped."""
    return unicodedata.normalize("NFKC", text).strip()


@dataclass
class Table:
    """A roster file read: its rows keyed by the model's column names, each with where it is."""

    path: Path
    labels: dict[str, str]  # model column -> the header as written in the file
    rows: list[tuple[str, dict[str, str]]]

    def label(self, col: str) -> str:
        written = self.labels.get(col, col)
        return col if written == col else f"{written} ({col})"

    def error(self, where: str, col: str, problem: str) -> RosterError:
        return RosterError(f"{self.path}: {where}: column {self.label(col)}: {problem}")


def _header(path: Path, table: str, where: str, header: list[str]) -> tuple[list[str | None], dict[str, str]]:
    required, optional = TABLES[table]
    names = header_names(table)
    cols: list[str | None] = []
    first: dict[str, int] = {}
    labels: dict[str, str] = {}
    unknown = []
    for i, raw in enumerate(header):
        if "\x00" in raw:
            raise RosterError(f"{path}: {where}: column {i + 1}: the header contains a NUL character")
        text = _clean(raw)
        col = names.get(text) or names.get(text.lower()) if text else None
        if text and col is None:
            unknown.append(text)
        if col in first:
            raise RosterError(f"{path}: {where}: column {col} appears twice (columns {first[col] + 1} and {i + 1})")
        if col:
            first[col] = i
            labels[col] = text
        cols.append(col)
    missing = [c for c in required if c not in first]
    if missing:
        raise RosterError(f"{path}: {where}: missing column(s) {', '.join(missing)}")
    if unknown:
        raise RosterError(f"{path}: {where}: unknown column(s) {', '.join(unknown)}")
    return cols, labels


def _table(path: Path, table: str) -> tuple[Table, Iterator[tuple[str, dict[str, str]]]]:
    """The header read and checked, and an iterator of the non-empty rows as dicts (a row's
    problem is raised when the iterator reaches it)."""
    records = _records(path, table)
    where, header = next(records, ("", []))
    while header is not None and not any(h.strip() for h in header):  # blank lines before the header
        where, header = next(records, ("", None))
    if header is None:
        raise RosterError(f"{path}: empty file (no header row)")
    cols, labels = _header(path, table, where, header)
    tab = Table(path, labels, [])
    return tab, _rows(tab, cols, records)


def _rows(tab: Table, cols: list[str | None], records) -> Iterator[tuple[str, dict[str, str]]]:
    for where, fields in records:
        row = {}
        for i, value in enumerate(fields):
            col = cols[i] if i < len(cols) else None
            if col is None and value.strip():
                if i < len(cols):
                    raise RosterError(f"{tab.path}: {where}: column {i + 1} has a value "
                                      f"({value.strip()[:40]!r}) but no header")
                used = max(j for j, v in enumerate(fields) if v.strip()) + 1
                raise RosterError(f"{tab.path}: {where}: {used} fields, but the header has {len(cols)} columns")
            if col is None:
                continue
            if "\x00" in value:
                raise tab.error(where, col, "contains a NUL character")
            row[col] = value
        if any(v.strip() for v in row.values()):
            yield where, row


def read_table(path: str | Path, table: str) -> Table:
    """Read one roster file (`table` is schools, teachers or twinning) into memory."""
    tab, rows = _table(Path(path), table)
    tab.rows = list(rows)
    return tab


def count_rows(path: str | Path, table: str) -> int:
    """Data rows of a roster file, counted while streaming (nothing kept), so a file above
    world.max_teachers is refused before it is read into memory."""
    return sum(1 for _ in _table(Path(path), table)[1])


# ------------------------------------------------------------------------------ reading values


def _number(tab: Table, where, row, col, kind=float, low=None, high=None, default=None):
    raw = _clean(row.get(col) or "")
    if raw == "":
        if default is not None:
            return default
        raise tab.error(where, col, "value is empty")
    try:
        value = kind(float(raw)) if kind is int and float(raw).is_integer() else kind(raw)
    except ValueError:
        raise tab.error(where, col, f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise tab.error(where, col, f"{raw!r} is not a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise tab.error(where, col, f"{value} is outside [{low}, {high}]")
    return value


def _category(tab: Table, where, row, col, names, default=None):
    """The code of a category value, written as the model names it (any case) or as an alias."""
    raw = _clean(row.get(col) or "")
    if raw == "" and default is not None:
        return names.index(default)
    value = VALUES.get(col, {}).get(raw, raw.lower())
    if value not in names:
        raise tab.error(where, col, f"{raw!r} is not one of {', '.join(names)}")
    return names.index(value)


def _text(row: dict[str, str], col: str) -> str:
    return (row.get(col) or "").strip()


def read_roster(schools_csv: str | Path, teachers_csv: str | Path,
                twinning_csv: str | Path | None = None) -> SchoolSystem:
    """Load a real district. Raises RosterError with one line on the first problem found.
    Schools are read first because teachers and twinning pairs name them by id."""
    schools, places = _read_schools(schools_csv)
    teachers, tpath = _read_teachers(teachers_csv, schools, places)
    twinning = [] if twinning_csv is None else _read_twinning(twinning_csv, places.ids)
    sd_list = sorted(places.sds.items(), key=lambda kv: kv[1])
    g_list = sorted(places.groups.items(), key=lambda kv: kv[1])
    system = SchoolSystem(
        district_names=list(places.districts),
        district_types=np.array([places.dtype_of[d] for d in range(len(places.districts))]),
        school_district_names=[name for (_, name), _ in sd_list],
        school_district_of=np.array([d for (d, _), _ in sd_list], dtype=np.int64),
        group_names=[name for (_, name), _ in g_list],
        group_district=np.array([d for (d, _), _ in g_list], dtype=np.int64),
        school_names=places.names, schools=schools, teachers=teachers,
        twinning=np.array(twinning, dtype=np.int64).reshape(-1, 2),
    )
    staffed = np.bincount(teachers["school"], minlength=len(places.names))
    if staffed.min() == 0:
        raise RosterError(f"{tpath}: school {places.names[int(np.argmin(staffed))]!r} has no teachers")
    return system


@dataclass
class _Places:
    """The names a schools file defines, each numbered in order of first appearance (the model's
    codes): school ids, districts, school districts and groups (these two per district)."""

    ids: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    districts: dict[str, int] = field(default_factory=dict)
    dtype_of: dict[int, int] = field(default_factory=dict)
    sds: dict[tuple[int, str], int] = field(default_factory=dict)
    groups: dict[tuple[int, str], int] = field(default_factory=dict)


SCHOOL_COLUMNS = ("district", "school_district", "group", "leading", "level", "tier", "enrol_primary",
                  "enrol_junior", "x", "y")


def _read_schools(path: str | Path) -> tuple[dict[str, np.ndarray], _Places]:
    """The schools table as model arrays (with each school's norm posts) and the names it defines."""
    tab = read_table(path, "schools")
    if not tab.rows:
        raise RosterError(f"{tab.path}: no data rows")
    places = _Places()
    cols: dict[str, list] = {c: [] for c in SCHOOL_COLUMNS}
    for where, row in tab.rows:
        for key, value in _school_row(tab, where, row, places).items():
            cols[key].append(value)
    schools = {k: np.array(v, dtype=bool if k == "leading" else (float if k in "xy" else np.int64))
               for k, v in cols.items()}
    schools["norm"] = norm_posts(schools["level"], schools["enrol_primary"], schools["enrol_junior"])
    return schools, places


def _school_row(tab: Table, where: str, row: dict[str, str], places: _Places) -> dict:
    """One school's values (the SCHOOL_COLUMNS), registering its id and names in `places`."""
    sid = _text(row, "school_id")
    if not sid:
        raise tab.error(where, "school_id", "value is empty")
    if sid in places.ids:
        raise tab.error(where, "school_id", f"duplicate id {sid!r}")
    places.ids[sid] = len(places.ids)
    places.names.append(_text(row, "name") or sid)
    dname = _text(row, "district")
    if not dname:
        raise tab.error(where, "district", "value is empty")
    d = places.districts.setdefault(dname, len(places.districts))
    dt = _category(tab, where, row, "district_type", DISTRICT_TYPES, default="urban_core")
    places.dtype_of.setdefault(d, dt)
    level = _category(tab, where, row, "level", SCHOOL_LEVELS)
    enrol = _number(tab, where, row, "enrolment", int, 1, 20_000)
    junior = _number(tab, where, row, "junior_enrolment", int, 0, enrol,
                     default=enrol if level == 1 else (round(enrol * 0.38) if level == 2 else 0))
    if level == 0 and junior:
        raise tab.error(where, "junior_enrolment", "a primary school has none")
    sd_name = _text(row, "school_district") or f"{dname}-all"
    school_district = places.sds.setdefault((d, sd_name), len(places.sds))
    g_name = _text(row, "group")
    group = places.groups.setdefault((d, g_name), len(places.groups)) if g_name else -1
    raw_leading = _clean(row.get("leading") or "")
    leading = VALUES["leading"].get(raw_leading, raw_leading.lower())
    if leading not in ("", "0", "1", "true", "false", "yes", "no"):
        raise tab.error(where, "leading", f"{raw_leading!r} is not 1 or 0")
    if leading in ("1", "true", "yes") and not g_name:
        raise tab.error(where, "leading", "a leading school needs a group")
    tier = _category(tab, where, row, "tier", TIERS)
    return {"district": d, "school_district": school_district, "group": group,
            "leading": leading in ("1", "true", "yes"), "level": level, "tier": tier,
            "enrol_primary": enrol - junior, "enrol_junior": junior,
            "x": _number(tab, where, row, "x_km", float, -500, 500),
            "y": _number(tab, where, row, "y_km", float, -500, 500)}


TEACHER_COLUMNS = ("school", "role", "level", "subject", "title", "qualification", "backbone", "age",
                   "experience", "years_at_school", "quality", "home_x", "home_y", "woman", "birth_month",
                   "past_rotations")


def _read_teachers(path: str | Path, schools: dict[str, np.ndarray],
                   places: _Places) -> tuple[dict[str, np.ndarray], Path]:
    """The teachers table as model arrays; a school's level and place give the defaults."""
    tab = read_table(path, "teachers")
    if not tab.rows:
        raise RosterError(f"{tab.path}: no data rows")
    seen: set[str] = set()
    t: dict[str, list] = {c: [] for c in TEACHER_COLUMNS}
    for where, row in tab.rows:
        for key, value in _teacher_row(tab, where, row, schools, places.ids, seen).items():
            t[key].append(value)
    teachers = {k: np.array(v, dtype=float if k in ("quality", "home_x", "home_y")
                            else (bool if k == "woman" else np.int64)) for k, v in t.items()}
    if "past_rotations" not in tab.labels:  # no history given: careers.tenure may draw one
        del teachers["past_rotations"]
    return teachers, tab.path


def _teacher_row(tab: Table, where: str, row: dict[str, str], schools: dict[str, np.ndarray],
                 ids: dict[str, int], seen: set[str]) -> dict:
    """One teacher's values (the TEACHER_COLUMNS), read in the order that decides which problem of
    a bad row is reported first."""
    tid = _text(row, "teacher_id")
    if not tid or tid in seen:
        raise tab.error(where, "teacher_id", f"duplicate id {tid!r}" if tid else "value is empty")
    seen.add(tid)
    sid = _text(row, "school_id")
    if sid not in ids:
        raise tab.error(where, "school_id", f"unknown school {sid!r}")
    s = ids[sid]
    age = _number(tab, where, row, "age", int, 18, 75)
    exp = _number(tab, where, row, "experience", int, 0, age - 16, default=max(age - 22, 0))
    slevel = int(schools["level"][s])
    default_level = "junior" if slevel == 1 else "primary"
    tlevel = _category(tab, where, row, "level", TEACHER_LEVELS, default=default_level)
    if slevel < 2 and tlevel != slevel:
        raise tab.error(where, "level", f"{TEACHER_LEVELS[tlevel]} teacher at a {SCHOOL_LEVELS[slevel]} school")
    out = {"school": s, "role": _category(tab, where, row, "role", ROLES, default="teacher"), "level": tlevel,
           "subject": _category(tab, where, row, "subject", SUBJECTS, default="other"),
           "title": _category(tab, where, row, "title", TITLES, default="first"),
           "qualification": _category(tab, where, row, "qualification", QUALIFICATIONS, default="required"),
           "backbone": _category(tab, where, row, "backbone", BACKBONE, default="none"),
           "age": age, "experience": exp}
    # rotation history before the run: past rotations, and the years since the last one ended
    past = _number(tab, where, row, "past_rotations", int, 0, exp, default=0)
    since = _number(tab, where, row, "years_since_rotation", int, 0, exp, default=-1)
    if since >= 0 and past == 0:
        raise tab.error(where, "years_since_rotation", "given for a teacher with no past_rotations")
    out["past_rotations"] = past
    # continuous years at the school restart on coming home (the default tenure rule, reset)
    out["years_at_school"] = _number(tab, where, row, "years_at_school", int, 0, exp + 1,
                                     default=min(exp, 6) if since < 0 else since)
    out["quality"] = _number(tab, where, row, "quality", float, 0.0, 5.0, default=1.0)
    out["home_x"] = _number(tab, where, row, "home_x_km", float, -500, 500, default=float(schools["x"][s]))
    out["home_y"] = _number(tab, where, row, "home_y_km", float, -500, 500, default=float(schools["y"][s]))
    out["woman"] = _category(tab, where, row, "gender", ("man", "woman"), default="woman") == 1
    out["birth_month"] = _number(tab, where, row, "birth_month", int, 1, 12, default=9)
    return out


def _read_twinning(path: str | Path, ids: dict[str, int]) -> list[list[int]]:
    """Twinning pairs as school numbers; a pair is refused when it names an unknown school, pairs a
    school with itself or repeats a pair (in either order)."""
    tab = read_table(path, "twinning")  # may have no rows: a district without pairs
    twinning = []
    listed: set[frozenset[int]] = set()
    for where, row in tab.rows:
        pair = []
        for col in ("school_a", "school_b"):
            sid = _text(row, col)
            if sid not in ids:
                raise tab.error(where, col, f"unknown school {sid!r}")
            pair.append(ids[sid])
        if pair[0] == pair[1]:
            raise RosterError(f"{tab.path}: {where}: a school cannot be twinned with itself")
        if frozenset(pair) in listed:
            raise RosterError(f"{tab.path}: {where}: the pair {_text(row, 'school_a')}, "
                              f"{_text(row, 'school_b')} is listed twice")
        listed.add(frozenset(pair))
        twinning.append(pair)
    return twinning


def _write_csv(path: Path, rows) -> None:
    """One CSV file through a new temporary file beside it, renamed onto `path` (never written
    through a planted link; readers never see half a file)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_roster(system: SchoolSystem, folder: str | Path) -> None:
    """Write a world as schools.csv, teachers.csv and twinning.csv (UTF-8) in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    s = system.schools
    schools = [SCHOOL_REQUIRED + SCHOOL_OPTIONAL]
    for i, name in enumerate(system.school_names):
        d = int(s["district"][i])
        g = int(s["group"][i])
        schools.append([f"S{i}", name, system.district_names[d], SCHOOL_LEVELS[s["level"][i]],
                        TIERS[s["tier"][i]], int(s["enrol_primary"][i] + s["enrol_junior"][i]),
                        f"{s['x'][i]:.4f}", f"{s['y'][i]:.4f}",
                        DISTRICT_TYPES[int(system.district_types[d])],
                        system.school_district_names[int(s["school_district"][i])],
                        system.group_names[g] if g >= 0 else "", int(bool(s["leading"][i])),
                        int(s["enrol_junior"][i])])
    t = system.teachers
    history = "past_rotations" in t  # a world with its own rotation history (a roster that gave one)
    teachers = [TEACHER_REQUIRED + TEACHER_OPTIONAL[:-2 if not history else None]]
    for r in range(system.n_teachers):
        teachers.append([f"T{r}", f"S{int(t['school'][r])}", int(t["age"][r]), ROLES[t["role"][r]],
                         TEACHER_LEVELS[t["level"][r]], SUBJECTS[t["subject"][r]], TITLES[t["title"][r]],
                         QUALIFICATIONS[t["qualification"][r]], BACKBONE[t["backbone"][r]],
                         int(t["experience"][r]), int(t["years_at_school"][r]), f"{t['quality'][r]:.6f}",
                         f"{t['home_x'][r]:.4f}", f"{t['home_y'][r]:.4f}", "woman" if t["woman"][r] else "man",
                         int(t["birth_month"][r]), *((int(t["past_rotations"][r]), "") if history else ())])
    twinning = [("school_a", "school_b"), *([f"S{int(a)}", f"S{int(b)}"] for a, b in system.twinning)]
    for name, rows in (("schools.csv", schools), ("teachers.csv", teachers), ("twinning.csv", twinning)):
        _write_csv(folder / name, rows)
