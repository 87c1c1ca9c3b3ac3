"""The documentation site builds with warnings as errors, and its generated pages match the code."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_scenario_reference_is_what_the_schema_gives():
    render = runpy.run_path(str(REPO / "scripts" / "scenario_reference.py"))["render"]
    page = (REPO / "docs" / "scenario_reference.md").read_text(encoding="utf-8")
    assert page == render(), "docs/scenario_reference.md is stale: run python scripts/scenario_reference.py"


def test_every_scenario_key_is_on_the_reference_page():
    from sim.config.scenario import Scenario

    page = (REPO / "docs" / "scenario_reference.md").read_text(encoding="utf-8")
    for section in ("world", "careers", "careers.cadres", "policy", "policy.programs[]", "run"):
        assert f"## `{section}`" in page
    for name in Scenario.model_fields["careers"].annotation.model_fields:
        assert f"| `{name}` |" in page


def test_the_site_builds_strictly_with_links_checked(tmp_path):
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path / "site")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "scenario_reference" / "index.html").is_file()
    assert "load_results" in (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")


def test_the_notebooks_are_pages_of_the_site_as_committed(tmp_path):
    """Every notebook of notebooks/ is rendered (mkdocs-jupyter) without being run: the pages show
    the code, and no output, since the notebooks are committed without outputs; the build
    writes nothing into the checkout (no cache folder)."""
    import html
    import re

    import nbformat

    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path / "site")]
    before = set(REPO.iterdir())
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(REPO.iterdir()) == before
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        page = (tmp_path / "site" / "notebooks" / notebook.stem / "index.html").read_text(encoding="utf-8")
        assert not re.search(r'class="jp-OutputArea[ "]', page), f"{notebook.name}: rendered with outputs"
        first = next(c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
        line = next(x for x in first.source.splitlines() if x.strip() and not x.startswith("#"))
        assert html.unescape(line.strip()) in html.unescape(re.sub(r"<[^>]+>", "", page)), notebook.name


def test_a_broken_internal_link_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\nSee [the missing page](missing.md).\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: t\nstrict: true\n")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "missing.md" in done.stderr
