"""Roster files as district offices have them (issue 16 item 2) and hostile roster files (issue 13
items 8 and 11): encodings, .xlsx workbooks, Chinese headers and values through the one alias
table, and one-line errors for what cannot be read.

The command-line cases (exit 2, one line, nothing written) are in tests/bad_inputs/rosters/ and
run by tests/test_bad_inputs.py; here the reader is called directly.
"""

from __future__ import annotations

import codecs
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pytest

import sim.world.roster as roster
from sim.codes import BACKBONE, DISTRICT_TYPES, QUALIFICATIONS, ROLES, SCHOOL_LEVELS, SUBJECTS, TIERS, TITLES
from sim.world import RosterError, read_roster
from sim.world.aliases import BEGIN, COLUMNS, END, SHEETS, VALUES, markdown

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "roster"
EXAMPLE = REPO / "scenarios" / "rosters" / "example"
EXAMPLE_ZH = REPO / "scenarios" / "rosters" / "example_zh"
FILES = ("schools.csv", "teachers.csv", "twinning.csv")

# the tiny roster's files in Chinese: headers and values as a school writes them
ZH_HEADERS = {"schools.csv": "学校编号,学校名称,区县,学段,办学水平,在校生数,横坐标,纵坐标,区域类型,学区,"
                             "教育集团,龙头校",
              "teachers.csv": "教师编号,学校编号,年龄,职务,任教学段,任教学科,职称,骨干级别,本校任职年限",
              "twinning.csv": "学校甲,学校乙"}
ZH_VALUES = {",primary,": ",小学,", ",junior,": ",初中,", ",nine_year,": ",九年一贯制,", ",strong,": ",优质校,",
             ",weak,": ",薄弱校,", ",ordinary,": ",普通校,", ",rural,": ",农村校,", ",urban_core,": ",城区,",
             ",principal,": ",校长,", ",teacher,": ",教师,", ",chinese,": ",语文,", ",maths,": ",数学,",
             ",english,": ",英语,", ",pe,": ",体育,", ",science,": ",科学,", ",art,": ",美术,",
             ",senior,": ",中学高级教师,", ",first,": ",一级,", ",second,": ",二级教师,",
             ",district,": ",区级学科带头人,",
             ",municipal,": ",特级教师,", ",school,": ",校级骨干,", ",none,": ",无,", "Alpha Primary": "阿尔法小学"}


def chinese(name: str) -> str:
    """A tiny-roster file with Chinese headers and values (same world)."""
    lines = (TINY / name).read_text(encoding="utf-8").splitlines()
    body = "\n".join(lines[1:]) + "\n"
    for _ in range(2):  # values next to each other share a comma
        for old, new in ZH_VALUES.items():
            body = body.replace(old, new)
    body = body.replace(",1\n", ",是\n").replace(",0\n", ",否\n")
    return ZH_HEADERS[name] + "\n" + body


def same_world(a, b, names=True):
    assert a.n_schools == b.n_schools and a.n_teachers == b.n_teachers
    for k in a.schools:
        assert np.array_equal(a.schools[k], b.schools[k]), k
    for k in a.teachers:
        assert np.array_equal(a.teachers[k], b.teachers[k]), k
    assert np.array_equal(a.twinning, b.twinning)
    if names:
        assert a.school_names == b.school_names and a.district_names == b.district_names


def read(folder: Path, files=FILES):
    return read_roster(*(folder / f for f in files))


def error_of(folder: Path, files=FILES) -> str:
    with pytest.raises(RosterError) as info:
        read(folder, files)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


@pytest.fixture
def tiny():
    return read(TINY)


# ------------------------------------------------------------------------------ encodings


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8", "utf-16"])
def test_chinese_rosters_in_every_accepted_encoding_read_as_the_english_one(tmp_path, tiny, encoding):
    """GBK (Excel's "CSV" on Chinese Windows), UTF-8 with the BOM of Excel's "CSV UTF-8", plain
    UTF-8 and UTF-16 with a BOM: the same world as the English files, Chinese name kept."""
    for name in FILES:
        (tmp_path / name).write_bytes(chinese(name).encode(encoding))
    if encoding == "utf-8-sig":
        assert (tmp_path / "schools.csv").read_bytes().startswith(codecs.BOM_UTF8)
    got = read(tmp_path)
    same_world(got, tiny, names=False)
    assert got.school_names[0] == "阿尔法小学"
    assert got.school_names[1:] == tiny.school_names[1:]


def test_a_gbk_file_is_not_valid_utf8_so_the_choice_is_made(tmp_path):
    """The GBK case above is a real test of the decision: its bytes are not UTF-8."""
    data = chinese("schools.csv").encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    (tmp_path / "s.csv").write_bytes(data)
    with open(tmp_path / "s.csv", "rb") as fh:
        assert roster.text_encoding(tmp_path / "s.csv", fh) == "gb18030"


def test_gbk_whose_first_characters_happen_to_be_utf8_is_still_gbk(tmp_path):
    """学校 in GBK (D1 A7 D0 A3) is also valid UTF-8 (Cyrillic): the decision is the whole file's."""
    assert "学校".encode("gbk").decode("utf-8") == "ѧУ"
    (tmp_path / "s.csv").write_bytes(chinese("schools.csv").encode("gbk"))
    with open(tmp_path / "s.csv", "rb") as fh:
        assert roster.text_encoding(tmp_path / "s.csv", fh) == "gb18030"


def test_a_damaged_utf8_file_is_refused_not_read_as_gb18030(copy):
    """UTF-8 Chinese with one bad byte on line 10 is valid GB18030 (as mojibake): refused, not read."""
    rows = [f"S{i},东城学校,东城,primary,strong,600,0,0" for i in range(8)]
    text = "school_id,name,district,level,tier,enrolment,x_km,y_km\n" + "\n".join(rows) + "\n"
    damaged = text.encode() + b"S9,\xe4A,x,primary,strong,600,0,0\n"
    damaged.decode("gb18030")  # no error: only the UTF-8 text before the bad byte shows what the file is
    (copy / "schools.csv").write_bytes(damaged)
    assert error_of(copy) == (f"{copy / 'schools.csv'}: line 10: not valid UTF-8, though the text before it is "
                              "(a damaged file, or two encodings mixed?); save it again as UTF-8 or GBK")


def test_english_values_in_any_case_and_full_width_digits(tmp_path, tiny):
    for name in FILES:
        shutil.copy(TINY / name, tmp_path / name)
    s = (tmp_path / "schools.csv").read_text(encoding="utf-8")
    s = s.replace(",primary,strong,600,", ",Primary,STRONG,６００,")
    (tmp_path / "schools.csv").write_text(s, encoding="utf-8")
    same_world(read(tmp_path), tiny)


# ------------------------------------------------------------------------------ workbooks


def write_xlsx(path: Path, sheets: dict[str, str]) -> None:
    """CSV text as worksheets, numbers as number cells (as a district office's workbook has them)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, text in sheets.items():
        sheet = book.create_sheet(title)
        for row in csv.reader(text.splitlines()):
            cells = []
            for v in row:
                try:
                    cells.append(int(v))
                except ValueError:
                    try:
                        cells.append(float(v))
                    except ValueError:
                        cells.append(v or None)
            sheet.append(cells)
    book.save(path)


def test_xlsx_rosters_read_as_the_csv_ones(tmp_path, tiny):
    for name in FILES:
        write_xlsx(tmp_path / name.replace(".csv", ".xlsx"), {"Sheet1": chinese(name)})
    got = read(tmp_path, [f.replace(".csv", ".xlsx") for f in FILES])
    same_world(got, tiny, names=False)
    assert got.school_names[0] == "阿尔法小学"


def test_one_workbook_with_named_sheets_serves_every_file(tmp_path, tiny):
    book = tmp_path / "名册.xlsx"
    write_xlsx(book, {"说明": "这是说明", "学校": chinese("schools.csv"), "teachers": chinese("teachers.csv"),
                      "结对": chinese("twinning.csv")})
    same_world(read_roster(book, book, book), tiny, names=False)


def test_xlsx_errors_name_the_row(tmp_path):
    write_xlsx(tmp_path / "s.xlsx", {"Sheet1": chinese("schools.csv").replace(",300,", ",0,")})
    with pytest.raises(RosterError) as info:
        read_roster(tmp_path / "s.xlsx", TINY / "teachers.csv")
    assert str(info.value) == f"{tmp_path / 's.xlsx'}: row 3: column 在校生数 (enrolment): 0 is outside [1, 20000]"


def test_a_workbook_with_sheets_none_named_for_the_file_is_one_line(tmp_path):
    write_xlsx(tmp_path / "b.xlsx", {"A": chinese("schools.csv"), "B": chinese("teachers.csv")})
    with pytest.raises(RosterError) as info:
        read_roster(tmp_path / "b.xlsx", TINY / "teachers.csv")
    assert str(info.value) == (f"{tmp_path / 'b.xlsx'}: the workbook has sheets A, B; name one of them "
                               "schools or 学校 or 学校名单 (or keep only one sheet)")


@pytest.mark.parametrize("name, data, problem", [
    ("s.xlsx", b"PK\x03\x04 not really a zip", "not a readable .xlsx workbook"),
    ("s.xlsx", b"", "not a readable .xlsx workbook"),
    ("s.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
     ".xls workbooks are not read; save it as .xlsx or as CSV"),
])
def test_unreadable_workbooks_are_one_line(tmp_path, name, data, problem):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(RosterError) as info:
        read_roster(tmp_path / name, TINY / "teachers.csv")
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / name}: ") and problem in msg and "\n" not in msg


def test_a_workbook_that_unpacks_too_large_is_refused(tmp_path, monkeypatch):
    write_xlsx(tmp_path / "s.xlsx", {"Sheet1": chinese("schools.csv")})
    monkeypatch.setattr(roster, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(RosterError, match=r"s\.xlsx: unpacks to [\d,]+ bytes, above the limit"):
        read_roster(tmp_path / "s.xlsx", TINY / "teachers.csv")


# --------------------------------------------------------------------------- the alias table


def test_the_doc_shows_the_alias_table_as_the_code_has_it():
    doc = (REPO / "docs" / "roster.md").read_text(encoding="utf-8")
    start, end = doc.index(BEGIN), doc.index(END) + len(END)
    assert doc[start:end] == markdown(), "docs/roster.md: paste sim.world.aliases.markdown() between the markers"


def test_every_alias_names_a_real_column_or_value_and_none_is_ambiguous():
    categories = {"level": SCHOOL_LEVELS, "tier": TIERS, "district_type": DISTRICT_TYPES, "leading": ("0", "1"),
                  "role": ROLES, "subject": SUBJECTS, "title": TITLES, "qualification": QUALIFICATIONS,
                  "backbone": BACKBONE, "gender": ("man", "woman")}
    assert set(VALUES) == set(categories)
    for col, values in VALUES.items():
        assert set(values.values()) <= set(categories[col]), col
    for table, cols in COLUMNS.items():
        required, optional = roster.TABLES[table]
        assert list(cols) == list(required + optional), table
        written = [a for aliases in cols.values() for a in aliases]
        assert len(written) == len(set(written)), f"{table}: an alias names two columns"
        assert not set(written) & set(cols), table
        assert table in SHEETS[table]


def test_chinese_levels_map_as_the_domain_reads_them(tmp_path):
    """Titles of the 2015 reform and before; backbone levels with county-level-or-above >= district."""
    lines = ["教师编号,学校编号,年龄,职称,骨干级别"]
    cases = [("正高级", "professor", "特级教师", "municipal"),
             ("中学高级教师", "senior", "市级学科带头人", "municipal"),
             ("小学高级教师", "first", "市级骨干", "municipal"), ("一级教师", "first", "区级学科带头人", "district"),
             ("小学一级教师", "second", "区级骨干", "district"), ("二级", "second", "校级骨干", "school"),
             ("三级", "unranked", "无", "none"), ("高级", "senior", "", "none")]
    for i, (title, _, backbone, _) in enumerate(cases):
        lines.append(f"T{i},A,40,{title},{backbone}")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n", encoding="gbk")
    (tmp_path / "s.csv").write_text("school_id,name,district,level,tier,enrolment,x_km,y_km\n"
                                    "A,甲小学,东城区,小学,普通校,500,0,0\n", encoding="gbk")
    w = read_roster(tmp_path / "s.csv", tmp_path / "t.csv")
    assert [TITLES[c] for c in w.teachers["title"]] == [c[1] for c in cases]
    assert [BACKBONE[c] for c in w.teachers["backbone"]] == [c[3] for c in cases]


def test_an_unknown_chinese_value_names_the_column_as_written(tmp_path):
    (tmp_path / "s.csv").write_text(chinese("schools.csv").replace(",优质校,", ",示范校,"), encoding="gbk")
    with pytest.raises(RosterError) as info:
        read_roster(tmp_path / "s.csv", TINY / "teachers.csv")
    assert str(info.value) == (f"{tmp_path / 's.csv'}: line 2: column 办学水平 (tier): '示范校' is not one of "
                               "rural, weak, ordinary, strong, leading")


# ------------------------------------------------------------------- the Chinese example


def test_the_chinese_example_is_gbk_and_reads_as_the_english_example():
    for name in FILES:
        data = (EXAMPLE_ZH / name).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        assert data.decode("gbk").splitlines()[0].split(",")[0] in ("学校编号", "教师编号", "学校甲")
    en, zh = read(EXAMPLE), read(EXAMPLE_ZH)
    same_world(zh, en, names=False)
    assert zh.district_names == ["东城区"]


def test_the_chinese_example_scenario_runs_as_the_english_one():
    import sim

    en = sim.run(EXAMPLE / "roster_example.yaml", years=2)
    zh = sim.run(EXAMPLE_ZH / "roster_example_zh.yaml", years=2)
    a = en.metrics[en.metrics["group"] == "all"].reset_index(drop=True)
    b = zh.metrics[zh.metrics["group"] == "all"].reset_index(drop=True)
    assert len(a) > 0
    assert a[["year", "metric", "value"]].equals(b[["year", "metric", "value"]])


# ------------------------------------------------------------------ problems: one line each


@pytest.fixture
def copy(tmp_path):
    for name in FILES:
        shutil.copy(TINY / name, tmp_path / name)
    return tmp_path


def test_a_repeated_column_is_an_error_not_the_last_one_kept(copy):
    t = (copy / "teachers.csv").read_text(encoding="utf-8").splitlines()
    head, rows = t[0].replace(",age,", ",age,age,"), [r.split(",") for r in t[1:]]
    t = [head] + [",".join(r[:3] + ["70"] + r[3:]) for r in rows]
    (copy / "teachers.csv").write_text("\n".join(t) + "\n", encoding="utf-8")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: line 1: column age appears twice (columns 3 and 4)"


def test_a_column_under_two_names_is_an_error(copy):
    t = (copy / "teachers.csv").read_text(encoding="utf-8").replace("teacher_id,", "教师编号,", 1)
    (copy / "teachers.csv").write_text(t.replace(",age,", ",年龄,", 1).replace("years_at_school", "age"),
                                       encoding="utf-8")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: line 1: column age appears twice (columns 3 and 9)"


def test_extra_fields_are_an_error_not_dropped(copy):
    t = (copy / "teachers.csv").read_text(encoding="utf-8").replace("T3,B,29,teacher,primary,english,second,none,3",
                                                                    "T3,B,29,teacher,primary,english,second,none,3,9")
    (copy / "teachers.csv").write_text(t, encoding="utf-8")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: line 4: 10 fields, but the header has 9 columns"


def test_trailing_empty_fields_and_blank_lines_are_not_data(copy, tiny):
    t = (copy / "teachers.csv").read_text(encoding="utf-8").splitlines()
    (copy / "teachers.csv").write_text("\n".join(r + ",," for r in t) + "\n,,,\n\n", encoding="utf-8")
    same_world(read(copy), tiny)


def test_a_value_in_a_column_without_header_is_an_error(copy):
    t = (copy / "teachers.csv").read_text(encoding="utf-8").splitlines()
    t = [t[0] + ",", *(r + "," for r in t[1:3]), t[3] + ",x", *(r + "," for r in t[4:])]
    (copy / "teachers.csv").write_text("\n".join(t) + "\n", encoding="utf-8")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: line 4: column 10 has a value ('x') but no header"


@pytest.mark.parametrize("where", ["id", "header"])
def test_a_nul_character_is_an_error(copy, where):
    t = (copy / "teachers.csv").read_text(encoding="utf-8")
    t = t.replace("T2,", "T\x002,") if where == "id" else t.replace(",role,", ",ro\x00le,")
    (copy / "teachers.csv").write_text(t, encoding="utf-8")
    expected = ("line 3: column teacher_id: contains a NUL character" if where == "id"
                else "line 1: column 4: the header contains a NUL character")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: {expected}"


@pytest.mark.parametrize("data, expected", [
    ("T1,A,45,é,\n".encode("latin-1"), "neither UTF-8 nor GB18030/GBK text (line 2)"),
    (b"\xff" + b"T1,A,45\n", "neither UTF-8 nor GB18030/GBK text (line 2)"),
])
def test_text_in_no_accepted_encoding_is_one_line(copy, data, expected):
    (copy / "teachers.csv").write_bytes(b"teacher_id,school_id,age,role\n" + data)
    assert error_of(copy) == f"{copy / 'teachers.csv'}: {expected}; accepted: {roster.ACCEPTED}"


def test_utf16_without_a_bom_is_one_line(copy):
    (copy / "teachers.csv").write_bytes((TINY / "teachers.csv").read_text(encoding="utf-8").encode("utf-16-be"))
    assert error_of(copy) == (f"{copy / 'teachers.csv'}: has NUL bytes at its start (UTF-16 without a byte-order "
                              f"mark?); accepted: {roster.ACCEPTED}")


def test_a_field_over_the_csv_limit_is_one_line(copy):
    t = (copy / "teachers.csv").read_text(encoding="utf-8").replace("T5,", "T" + "5" * 131_073 + ",")
    (copy / "teachers.csv").write_text(t, encoding="utf-8")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: line 6: invalid CSV: a field is longer than 131,072 characters"


def test_bad_quoting_is_one_line(copy):
    t = (copy / "teachers.csv").read_text(encoding="utf-8").replace("T5,", '"T5"x,')
    (copy / "teachers.csv").write_text(t, encoding="utf-8")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: line 6: invalid CSV: ',' expected after '\"'"


def test_a_folder_is_one_line(copy):
    os.remove(copy / "teachers.csv")
    (copy / "teachers.csv").mkdir()
    assert error_of(copy) == f"{copy / 'teachers.csv'}: is a folder, not a file"


def test_a_fifo_is_refused_without_blocking(copy):
    os.remove(copy / "teachers.csv")
    os.mkfifo(copy / "teachers.csv")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: is not a regular file (a device, pipe or socket); give a file"


def test_a_device_is_refused():
    with pytest.raises(RosterError, match=r"^/dev/zero: is not a regular file"):
        read_roster(Path("/dev/zero"), TINY / "teachers.csv")


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(copy, monkeypatch):
    monkeypatch.setattr(roster, "MAX_FILE_BYTES", 100)
    size = (copy / "schools.csv").stat().st_size
    assert size > 100
    assert error_of(copy) == f"{copy / 'schools.csv'}: {size:,} bytes is above the limit for a roster file (100 bytes)"


def test_an_empty_file_is_one_line(copy):
    (copy / "teachers.csv").write_bytes(b"")
    assert error_of(copy) == f"{copy / 'teachers.csv'}: empty file (no header row)"


def test_counting_rows_streams_the_same_reader(copy):
    """The size check before reading (world.max_teachers) counts the rows of any accepted file."""
    (copy / "teachers.csv").write_bytes(chinese("teachers.csv").encode("gbk"))
    assert roster.count_rows(copy / "teachers.csv", "teachers") == 8
    write_xlsx(copy / "t.xlsx", {"教师": chinese("teachers.csv")})
    assert roster.count_rows(copy / "t.xlsx", "teachers") == 8


# ------------------------------------------------------------------------ through the command


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MPLBACKEND": "Agg"}, check=False)


def test_a_chinese_workbook_roster_runs_from_the_command_line_and_a_broken_one_is_one_line(tmp_path):
    book = tmp_path / "名册.xlsx"
    write_xlsx(book, {"学校": chinese("schools.csv"), "教师": chinese("teachers.csv"), "结对": chinese("twinning.csv")})
    sc = tmp_path / "s.yaml"
    sc.write_text(f"extends: {TINY / 'roster_scenario.yaml'}\nname: zh_book\nworld:\n  roster:\n"
                  "    schools_csv: 名册.xlsx\n    teachers_csv: 名册.xlsx\n    twinning_csv: 名册.xlsx\n",
                  encoding="utf-8")
    done = cli("run", sc, "--years", "1", "--out", tmp_path / "out", "--quiet", "--no-figures")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert (tmp_path / "out" / "metrics.parquet").is_file()

    write_xlsx(book, {"学校": chinese("schools.csv"), "教师": chinese("teachers.csv").replace(",45,", ",450,"),
                      "结对": chinese("twinning.csv")})
    done = cli("run", sc, "--years", "1", "--out", tmp_path / "out2", "--quiet", "--no-figures")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"teachersim: {book}: sheet '教师' row 2: column 年龄 (age): 450 is outside "
                                        "[18, 75]"]
    assert not (tmp_path / "out2").exists()


# ------------------------------------------------------------------------------- writing


def test_write_roster_replaces_a_planted_link_instead_of_writing_through_it(tmp_path, tiny):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "teachers.csv").symlink_to(victim)
    roster.write_roster(tiny, out)
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert not (out / "teachers.csv").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == list(FILES)  # no temporary file left
    back = read(out)
    for k in ("school", "age", "title", "backbone"):
        assert np.array_equal(back.teachers[k], tiny.teachers[k]), k


def test_names_in_a_scenario_are_checked_against_a_chinese_roster_before_the_run(tmp_path):
    """The check before any work (sim.config.checks.check_size) reads district names with the same reader."""
    sc = tmp_path / "s.yaml"
    text = (f"extends: {EXAMPLE_ZH / 'roster_example_zh.yaml'}\nname: e\npolicy:\n  programs:\n    - name: x\n"
            "      eligibility: {districts: [DISTRICT]}\n      quota: {min_count: 2}\n")
    sc.write_text(text.replace("DISTRICT", "东城区"), encoding="utf-8")
    assert cli("validate", sc).returncode == 0
    sc.write_text(text.replace("DISTRICT", "西城区"), encoding="utf-8")
    done = cli("validate", sc)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"teachersim: {sc}: policy.programs.0.eligibility.districts: district '西城区' "
                                        f"has no schools in {EXAMPLE_ZH / 'schools.csv'} (it has 东城区)"]
