"""Real districts from CSV: `schools.csv`, `teachers.csv` and optionally `twinning.csv`.

The columns are documented in docs/roster.md. Every problem is reported as one line naming the
file, the line and the column. `write_roster` writes a built world back out in the same format
(used to make examples and to check that a roster round-trips).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

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
from sim.world.system import SchoolSystem, norm_posts

SCHOOL_REQUIRED = ("school_id", "name", "district", "level", "tier", "enrolment", "x_km", "y_km")
SCHOOL_OPTIONAL = ("district_type", "school_district", "group", "leading", "junior_enrolment")
TEACHER_REQUIRED = ("teacher_id", "school_id", "age")
TEACHER_OPTIONAL = ("role", "level", "subject", "title", "qualification", "backbone", "experience",
                    "years_at_school", "quality", "home_x_km", "home_y_km", "gender")


class RosterError(ValueError):
    """A roster that cannot be used; the message is one line naming the file, line and column."""


def _rows(path: Path, required: tuple[str, ...], optional: tuple[str, ...],
          may_be_empty: bool = False) -> list[tuple[int, dict]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"{path}: file not found") from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise RosterError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        unknown = [c for c in header if c not in required and c not in optional]
        if unknown:
            raise RosterError(f"{path}: line 1: unknown column(s) {', '.join(unknown)}")
        rows = [(reader.line_num, row) for row in reader]
    if not rows and not may_be_empty:
        raise RosterError(f"{path}: no data rows")
    return rows


def _number(path, line, row, col, kind=float, low=None, high=None, default=None):
    raw = (row.get(col) or "").strip()
    if raw == "":
        if default is not None:
            return default
        raise RosterError(f"{path}: line {line}: column {col}: value is empty")
    try:
        value = kind(float(raw)) if kind is int and float(raw).is_integer() else kind(raw)
    except ValueError:
        raise RosterError(f"{path}: line {line}: column {col}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise RosterError(f"{path}: line {line}: column {col}: {raw!r} is not a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise RosterError(f"{path}: line {line}: column {col}: {value} is outside [{low}, {high}]")
    return value


def _category(path, line, row, col, names, default=None):
    raw = (row.get(col) or "").strip()
    if raw == "" and default is not None:
        return names.index(default)
    if raw not in names:
        raise RosterError(f"{path}: line {line}: column {col}: {raw!r} is not one of {', '.join(names)}")
    return names.index(raw)


def read_roster(schools_csv: str | Path, teachers_csv: str | Path,
                twinning_csv: str | Path | None = None) -> SchoolSystem:
    """Load a real district. Raises RosterError with one line on the first problem found."""
    spath, tpath = Path(schools_csv), Path(teachers_csv)
    srows = _rows(spath, SCHOOL_REQUIRED, SCHOOL_OPTIONAL)
    ids: dict[str, int] = {}
    districts: dict[str, int] = {}
    dtype_of: dict[int, int] = {}
    sds: dict[tuple[int, str], int] = {}
    groups: dict[tuple[int, str], int] = {}
    cols: dict[str, list] = {c: [] for c in ("district", "school_district", "group", "leading", "level",
                                             "tier", "enrol_primary", "enrol_junior", "x", "y")}
    names = []
    for line, row in srows:
        sid = (row["school_id"] or "").strip()
        if not sid:
            raise RosterError(f"{spath}: line {line}: column school_id: value is empty")
        if sid in ids:
            raise RosterError(f"{spath}: line {line}: column school_id: duplicate id {sid!r}")
        ids[sid] = len(ids)
        names.append((row["name"] or sid).strip())
        dname = (row["district"] or "").strip()
        if not dname:
            raise RosterError(f"{spath}: line {line}: column district: value is empty")
        d = districts.setdefault(dname, len(districts))
        dt = _category(spath, line, row, "district_type", DISTRICT_TYPES, default="urban_core")
        dtype_of.setdefault(d, dt)
        level = _category(spath, line, row, "level", SCHOOL_LEVELS)
        enrol = _number(spath, line, row, "enrolment", int, 1, 20_000)
        junior = _number(spath, line, row, "junior_enrolment", int, 0, enrol,
                         default=enrol if level == 1 else (round(enrol * 0.38) if level == 2 else 0))
        if level == 0 and junior:
            raise RosterError(f"{spath}: line {line}: column junior_enrolment: a primary school has none")
        sd_name = (row.get("school_district") or "").strip() or f"{dname}-all"
        cols["school_district"].append(sds.setdefault((d, sd_name), len(sds)))
        g_name = (row.get("group") or "").strip()
        cols["group"].append(groups.setdefault((d, g_name), len(groups)) if g_name else -1)
        leading = (row.get("leading") or "").strip().lower()
        if leading not in ("", "0", "1", "true", "false", "yes", "no"):
            raise RosterError(f"{spath}: line {line}: column leading: {leading!r} is not 1 or 0")
        if leading in ("1", "true", "yes") and not g_name:
            raise RosterError(f"{spath}: line {line}: column leading: a leading school needs a group")
        cols["leading"].append(leading in ("1", "true", "yes"))
        cols["district"].append(d)
        cols["level"].append(level)
        cols["tier"].append(_category(spath, line, row, "tier", TIERS))
        cols["enrol_primary"].append(enrol - junior)
        cols["enrol_junior"].append(junior)
        cols["x"].append(_number(spath, line, row, "x_km", float, -500, 500))
        cols["y"].append(_number(spath, line, row, "y_km", float, -500, 500))
    schools = {k: np.array(v, dtype=bool if k == "leading" else (float if k in "xy" else np.int64))
               for k, v in cols.items()}
    schools["norm"] = norm_posts(schools["level"], schools["enrol_primary"], schools["enrol_junior"])

    trows = _rows(tpath, TEACHER_REQUIRED, TEACHER_OPTIONAL)
    seen: set[str] = set()
    t: dict[str, list] = {c: [] for c in ("school", "role", "level", "subject", "title", "qualification",
                                          "backbone", "age", "experience", "years_at_school", "quality",
                                          "home_x", "home_y", "woman")}
    for line, row in trows:
        tid = (row["teacher_id"] or "").strip()
        if not tid or tid in seen:
            raise RosterError(f"{tpath}: line {line}: column teacher_id: "
                              f"{'duplicate id ' + repr(tid) if tid else 'value is empty'}")
        seen.add(tid)
        sid = (row["school_id"] or "").strip()
        if sid not in ids:
            raise RosterError(f"{tpath}: line {line}: column school_id: unknown school {sid!r}")
        s = ids[sid]
        age = _number(tpath, line, row, "age", int, 18, 75)
        exp = _number(tpath, line, row, "experience", int, 0, age - 16, default=max(age - 22, 0))
        slevel = cols["level"][s]
        default_level = "junior" if slevel == 1 else "primary"
        tlevel = _category(tpath, line, row, "level", TEACHER_LEVELS, default=default_level)
        if slevel < 2 and tlevel != slevel:
            raise RosterError(f"{tpath}: line {line}: column level: {TEACHER_LEVELS[tlevel]} teacher at a "
                              f"{SCHOOL_LEVELS[slevel]} school")
        t["school"].append(s)
        t["role"].append(_category(tpath, line, row, "role", ROLES, default="teacher"))
        t["level"].append(tlevel)
        t["subject"].append(_category(tpath, line, row, "subject", SUBJECTS, default="other"))
        t["title"].append(_category(tpath, line, row, "title", TITLES, default="first"))
        t["qualification"].append(_category(tpath, line, row, "qualification", QUALIFICATIONS,
                                            default="required"))
        t["backbone"].append(_category(tpath, line, row, "backbone", BACKBONE, default="none"))
        t["age"].append(age)
        t["experience"].append(exp)
        t["years_at_school"].append(_number(tpath, line, row, "years_at_school", int, 0, exp + 1,
                                            default=min(exp, 6)))
        t["quality"].append(_number(tpath, line, row, "quality", float, 0.0, 5.0, default=1.0))
        t["home_x"].append(_number(tpath, line, row, "home_x_km", float, -500, 500, default=cols["x"][s]))
        t["home_y"].append(_number(tpath, line, row, "home_y_km", float, -500, 500, default=cols["y"][s]))
        t["woman"].append(_category(tpath, line, row, "gender", ("man", "woman"), default="woman") == 1)
    teachers = {k: np.array(v, dtype=float if k in ("quality", "home_x", "home_y")
                            else (bool if k == "woman" else np.int64)) for k, v in t.items()}

    twinning = []
    listed: set[frozenset[int]] = set()
    if twinning_csv is not None:
        wpath = Path(twinning_csv)
        for line, row in _rows(wpath, ("school_a", "school_b"), (), may_be_empty=True):  # a district without pairs
            pair = []
            for col in ("school_a", "school_b"):
                sid = (row[col] or "").strip()
                if sid not in ids:
                    raise RosterError(f"{wpath}: line {line}: column {col}: unknown school {sid!r}")
                pair.append(ids[sid])
            if pair[0] == pair[1]:
                raise RosterError(f"{wpath}: line {line}: a school cannot be twinned with itself")
            if frozenset(pair) in listed:
                raise RosterError(f"{wpath}: line {line}: the pair {row['school_a'].strip()}, "
                                  f"{row['school_b'].strip()} is listed twice")
            listed.add(frozenset(pair))
            twinning.append(pair)

    sd_list = sorted(sds.items(), key=lambda kv: kv[1])
    g_list = sorted(groups.items(), key=lambda kv: kv[1])
    system = SchoolSystem(
        district_names=list(districts), district_types=np.array([dtype_of[d] for d in range(len(districts))]),
        school_district_names=[name for (_, name), _ in sd_list],
        school_district_of=np.array([d for (d, _), _ in sd_list], dtype=np.int64),
        group_names=[name for (_, name), _ in g_list],
        group_district=np.array([d for (d, _), _ in g_list], dtype=np.int64),
        school_names=names, schools=schools, teachers=teachers,
        twinning=np.array(twinning, dtype=np.int64).reshape(-1, 2),
    )
    staffed = np.bincount(teachers["school"], minlength=len(names))
    if staffed.min() == 0:
        raise RosterError(f"{tpath}: school {names[int(np.argmin(staffed))]!r} has no teachers")
    return system


def write_roster(system: SchoolSystem, folder: str | Path) -> None:
    """Write a world as schools.csv, teachers.csv and twinning.csv in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    s = system.schools
    with (folder / "schools.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(SCHOOL_REQUIRED + SCHOOL_OPTIONAL)
        for i, name in enumerate(system.school_names):
            d = int(s["district"][i])
            g = int(s["group"][i])
            w.writerow([f"S{i}", name, system.district_names[d], SCHOOL_LEVELS[s["level"][i]],
                        TIERS[s["tier"][i]], int(s["enrol_primary"][i] + s["enrol_junior"][i]),
                        f"{s['x'][i]:.4f}", f"{s['y'][i]:.4f}",
                        DISTRICT_TYPES[int(system.district_types[d])],
                        system.school_district_names[int(s["school_district"][i])],
                        system.group_names[g] if g >= 0 else "", int(bool(s["leading"][i])),
                        int(s["enrol_junior"][i])])
    t = system.teachers
    with (folder / "teachers.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(TEACHER_REQUIRED + TEACHER_OPTIONAL)
        for r in range(system.n_teachers):
            w.writerow([f"T{r}", f"S{int(t['school'][r])}", int(t["age"][r]), ROLES[t["role"][r]],
                        TEACHER_LEVELS[t["level"][r]], SUBJECTS[t["subject"][r]],
                        TITLES[t["title"][r]],
                        QUALIFICATIONS[t["qualification"][r]], BACKBONE[t["backbone"][r]],
                        int(t["experience"][r]), int(t["years_at_school"][r]), f"{t['quality'][r]:.6f}",
                        f"{t['home_x'][r]:.4f}", f"{t['home_y'][r]:.4f}", "woman" if t["woman"][r] else "man"])
    with (folder / "twinning.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("school_a", "school_b"))
        for a, b in system.twinning:
            w.writerow([f"S{int(a)}", f"S{int(b)}"])
