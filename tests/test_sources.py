"""The project cites its own bibliography (docs/sources.md), not files outside the repository.

The domain brief and the seed articles the project started from live outside it; every citation
in the code, the scripts, the README, the docs, the scenarios and the tests points to a key of
docs/sources.md instead.
"""

from __future__ import annotations

import re

from conftest import REPO

SOURCES = REPO / "docs" / "sources.md"
CITATION = re.compile(r"sources\.md:\s*((?:[A-Z][A-Z0-9-]+)(?:,\s*[A-Z][A-Z0-9-]+)*)")
OUTSIDE = re.compile(r"DOMAIN\.md|seeds/\d|shared/")


def cited_files() -> list:
    files = [REPO / "README.md", *(REPO / "scripts").glob("*.py"), *(REPO / "sim").rglob("*.py"),
             *(REPO / "docs").glob("*.md"), *(REPO / "scenarios").rglob("*.yaml"), *(REPO / "optimize").glob("*.yaml"),
             *(p for p in (REPO / "tests").glob("*.py") if p.name != "test_sources.py")]
    return [p for p in files if p.is_file()]


def keys() -> set[str]:
    return set(re.findall(r"^\| ([A-Z][A-Z0-9-]+) \|", SOURCES.read_text(encoding="utf-8"), re.M))


def test_no_citation_points_outside_the_repository():
    found = [f"{p.relative_to(REPO)}:{n}" for p in cited_files()
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "cite docs/sources.md instead: " + ", ".join(found)


def test_every_cited_key_is_in_the_bibliography():
    known = keys()
    assert {"MOE-2014", "MOE-2017", "MOE-2012", "DC-2021-08", "DC-2021-12", "BJ-REPORT"} <= known
    cited = {(p.relative_to(REPO), k.strip()) for p in cited_files()
             for group in CITATION.findall(re.sub(r"#\s*", "", p.read_text(encoding="utf-8")))
             for k in group.split(",")}
    assert cited, "no file cites docs/sources.md by key"
    missing = sorted(f"{p}: {k}" for p, k in cited if k not in known)
    assert not missing, missing


def test_each_published_figure_names_its_source_and_denominator():
    text = SOURCES.read_text(encoding="utf-8")
    known = keys()
    figures = text[text.index("## Published figures"):text.index("## Figures that are the project's assumptions")]
    rows = [r for r in figures.splitlines() if r.startswith("| ") and not r.startswith(("| figure", "|---"))]
    assert len(rows) > 30
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 4 and cells[1] in known and cells[2] and cells[3], row
    # the denominators the calibration depends on, in the sources' own words
    assert "people rotated **in this school year**" in figures
    assert "of **eligible** teachers" in figures and "of **rotators**" in figures
    assert "of **cadres and teachers**, not of the eligible" in figures
