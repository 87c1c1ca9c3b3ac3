"""`teachersim report DIR`: a self-contained HTML report, checked in a real headless browser.

The reports are made from the frozen results fixture (tests/data/fixture/). Debian's `chromium`
opens each one: a script added to a copy of the page records, after the load event, whether
every <img> decoded (naturalWidth > 0), and a screenshot must show the figures' colours. CI
installs chromium (.ci/run); locally: `apt-get install chromium`.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from sim.cli import main

FIXTURE = REPO / "tests" / "data" / "fixture"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=15000"]
CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = document.createElement('pre');
  out.id = 'img-check';
  out.textContent = JSON.stringify({total: imgs.length,
    loaded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    widths: imgs.map(function (i) { return i.naturalWidth; })});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed for the report tests: apt-get install -y chromium (.ci/run does it)"
    return path


def browser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def images_in_browser(page: Path, tmp_path: Path) -> dict:
    """Open a copy of `page` with the check script in chromium; what the script saw after load."""
    probe = tmp_path / f"probe-{page.name}"
    text = page.read_text(encoding="utf-8")
    assert "</body>" in text
    probe.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    done = browser(tmp_path, "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="img-check">(.*?)</pre>', done.stdout, re.S)
    assert found, "the check script did not run: " + done.stdout[-500:]
    return json.loads(found.group(1).replace("&quot;", '"'))


def screenshot(page: Path, tmp_path: Path, height: int = 2400) -> np.ndarray:
    shot = tmp_path / f"{page.stem}.png"
    done = browser(tmp_path, f"--screenshot={shot}", f"--window-size=1200,{height}", page.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    return mpimg.imread(shot)[..., :3]


class Reports:
    """The report of each fixture folder, written with the command line when a test first asks."""

    KINDS = ("run", "compare", "sweep")

    def __init__(self, out: Path):
        self.out, self.paths = out, {}

    def __getitem__(self, kind: str) -> Path:
        if kind not in self.paths:
            path = self.out / f"{kind}.html"
            assert main(["report", str(FIXTURE / kind), "--out", str(path)]) == 0
            self.paths[kind] = path
        return self.paths[kind]

    def items(self):
        return [(k, self[k]) for k in self.KINDS]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Reports:
    return Reports(tmp_path_factory.mktemp("reports"))


def embedded_pngs(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


@pytest.mark.parametrize(("kind", "figures"), [("run", 10), ("compare", 5), ("sweep", 5)])
def test_report_is_self_contained_with_its_figures(reports, kind, figures):
    text = reports[kind].read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<img ") == figures
    pngs = embedded_pngs(text)
    assert len(pngs) == figures and all(p.startswith(PNG_MAGIC) and len(p) > 5000 for p in pngs)
    # nothing is fetched from elsewhere: no links to files, stylesheets or scripts
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "<script" not in text and "<link" not in text
    assert "Figure not drawn" not in text and "not drawn" not in text


def test_run_report_says_the_scenario_in_words_and_gives_intervals(reports):
    text = reports["run"].read_text(encoding="utf-8")
    manifest = json.loads((FIXTURE / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert "<h1>Run: dongcheng_2021</h1>" in text
    # the programs in words, from the resolved scenario
    assert "<strong>district_exchange</strong>: Full-time rotation of teachers and cadres after 6 years at one " \
           "school" in text
    assert "at least 55 a year in each district and every eligible teacher within 3 years" in text
    assert "anywhere in the city" in text  # the fixture widened the exchange to the city
    assert "2 districts of 12 schools" in text
    assert "<code>policy.double_teacher.classrooms</code> = 78" in text
    # headline table: mean [low, high] over the three replicates
    cells = re.findall(r"<td>(-?[\d.e+-]+) \[(-?[\d.e+-]+), (-?[\d.e+-]+)\]</td>", text)
    assert len(cells) >= 20
    assert all(float(lo) <= float(m) <= float(hi) for m, lo, hi in cells)
    # provenance: seeds, commit and versions from the manifest
    assert ", ".join(str(s) for s in manifest["seeds"]) in text
    assert (manifest["git_commit"] or "unknown") in text
    assert f"mesa {manifest['versions']['mesa']}" in text


def test_compare_report_has_the_paired_table(reports):
    text = reports["compare"].read_text(encoding="utf-8")
    text = text[:text.index("<h2>Time averages</h2>")]
    assert "<h1>Comparison: baseline_drift vs dongcheng_2021 vs china_2014_floor</h1>" in text
    assert "Baseline: <strong>baseline_drift</strong>" in text
    assert "paired t-test, two-sided" in text
    rows = re.findall(r"<tr><td><code>(\w+)</code></td><td>(\w+)</td><td>(\d+)</td><td>(\w+)</td>", text)
    assert len(rows) == 6 * 2 * 3  # outcomes x reported years x scenarios
    assert text.count("(baseline)</td>") == 6 * 2
    # a scenario's mean CV has no interval below zero (cut and marked, as the caption says)
    means = re.findall(r"<tr><td><code>cv_\w+</code></td><td>\w+</td><td>\d+</td><td>\w+</td><td>([^<]*)</td>", text)
    assert len(means) >= 12 and not any("[-" in m for m in means)
    assert any(m.endswith("*") for m in means) == ("* interval cut to the metric" in text)
    assert "Part-time" not in text and "from ordinary, strong and leading schools" in text  # china_2014_floor


def test_compare_report_gives_every_year_of_the_cvs_and_their_time_averages(reports):
    text = reports["compare"].read_text(encoding="utf-8")
    averages = text[text.index("<h2>Time averages</h2>"):text.index("<h2>Headline CVs, every year</h2>")]
    rows = re.findall(r"<tr><td><code>(\w+)</code></td><td>(\w+)</td><td>years 1-4</td><td>(\w+)</td>", averages)
    assert len(rows) == 6 * 3  # outcomes x scenarios
    path = text[text.index("<h2>Headline CVs, every year</h2>"):text.index("<h2>Provenance</h2>")]
    assert "<th>0</th><th>1</th><th>2</th><th>3</th><th>4</th>" in path
    t = pd.read_parquet(FIXTURE / "compare" / "trajectories.parquet")
    want = t[(t["metric"] == "cv_backbone") & (t["subgroup"] == "junior") & (t["scenario"] == "dongcheng_2021")]
    cells = "".join(f"<td>{v:.3f}</td>" for v in want.sort_values("year")["mean"])
    assert "<td><code>cv_backbone</code></td><td>junior</td><td>dongcheng_2021</td>" + cells in path


def test_sweep_report_has_points_and_sensitivity(reports):
    text = reports["sweep"].read_text(encoding="utf-8")
    assert "<h1>Sweep: fixture_sobol</h1>" in text
    assert "Design: sobol with 16 points" in text and "Runs: 48 done, 0 failed, 0 missing." in text
    assert "<h2>Sensitivity indices</h2>" in text and text.count("sobol indices [95% bootstrap interval]") == 3
    points = re.findall(r"<tr><td>exchange</td><td>(\d+)</td>", text)
    assert [int(p) for p in points] == list(range(16))
    assert "<code>policy.programs.0.quota.min_count</code> (column <code>quota_min_count</code>)" in text


@pytest.mark.browser
def test_reports_open_in_chromium_with_every_figure_loaded(reports, tmp_path):
    for kind, page in reports.items():
        seen = images_in_browser(page, tmp_path)
        assert seen["total"] == len(embedded_pngs(page.read_text(encoding="utf-8"))), kind
        assert seen["loaded"] == seen["total"] > 0, (kind, seen)
        assert min(seen["widths"]) > 300, (kind, seen)


@pytest.mark.browser
def test_the_browser_check_sees_a_broken_figure(tmp_path):
    """The harness itself: an image that does not decode is reported as not loaded."""
    good = base64.b64encode(_tiny_png()).decode()
    page = tmp_path / "broken.html"
    page.write_text(f'<!DOCTYPE html><html><body><img src="data:image/png;base64,{good}">'
                    '<img src="data:image/png;base64,bm90IGEgcG5n"></body></html>', encoding="utf-8")
    seen = images_in_browser(page, tmp_path)
    assert seen == {"total": 2, "loaded": 1, "widths": [4, 0]}


def _tiny_png() -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    plt.imsave(buf, np.zeros((3, 4, 3)), format="png")
    return buf.getvalue()


@pytest.mark.browser
def test_screenshot_of_the_run_report_shows_the_figures(reports, tmp_path):
    pixels = screenshot(reports["run"], tmp_path)
    assert pixels.shape[:2] == (2400, 1200)
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    coloured = (saturation > 0.05).mean()  # the figures' lines, bands and heat cells
    assert coloured > 0.02, f"only {coloured:.4%} coloured pixels: figures did not show"
    assert pixels.std() > 0.05
    # the same page with its images removed has (almost) no colour: the colour comes from the figures
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<img [^>]*>", "", reports["run"].read_text(encoding="utf-8")), encoding="utf-8")
    plain = screenshot(bare, tmp_path)
    assert ((plain.max(axis=2) - plain.min(axis=2)) > 0.05).mean() < coloured / 10


def test_report_of_a_folder_that_is_not_a_result_is_bad_input(tmp_path, capsys):
    assert main(["report", str(REPO / "scenarios")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a teachersim result folder" in err[0]
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert not list(tmp_path.iterdir())


def test_report_default_location_is_inside_the_folder(tmp_path):
    folder = tmp_path / "sweep"
    shutil.copytree(FIXTURE / "sweep", folder)
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").is_file()
    assert embedded_pngs((folder / "report.html").read_text(encoding="utf-8"))


def test_report_never_writes_through_a_planted_link(tmp_path):
    """A symbolic link planted at the temporary name the report once used (.report.html.tmp)
    must not make it overwrite the link's target (issue 13 item 6)."""
    folder = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", folder)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    (folder / ".report.html.tmp").symlink_to(victim)
    before = sorted(p.name for p in folder.iterdir())
    assert main(["report", str(folder)]) == 0
    assert victim.read_text(encoding="utf-8") == "precious"
    assert (folder / ".report.html.tmp").is_symlink()  # left as it was, not followed
    # no temporary left: the report, and the note that teachersim wrote it (sim.storage.folders)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*before, "report.html", ".teachersim-derived.json"])
    assert (folder / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not (folder / "report.html").is_symlink()


def test_report_of_a_roster_run_draws_its_network_map(tmp_path):
    """The roster files are not where the report runs: the map comes from the graph the run stored."""
    scenario = REPO / "scenarios" / "rosters" / "example" / "roster_example.yaml"
    out = tmp_path / "roster_run"
    assert main(["run", str(scenario), "--out", str(out), "--reps", "1", "--years", "2", "--no-figures",
                 "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "graph.json" in manifest["files"]
    moved = tmp_path / "elsewhere" / "roster_run"  # sent to a colleague: no roster files beside it
    moved.parent.mkdir()
    out.rename(moved)
    page = tmp_path / "roster.html"
    assert main(["report", str(moved), "--out", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "not drawn" not in text
    assert 'alt="The place graph with the rotations of year 1' in text


def test_run_report_shows_trajectories_why_and_whole_head_counts(reports):
    text = reports["run"].read_text(encoding="utf-8")
    assert ("<th>lowest (year)</th><th>highest (year)</th><th>mean, years 1-4</th>"
            "<th>mean, last 5 years (years 1-4)</th>") in text
    assert "<h2>Why the CVs move</h2>" in text and "come home in years 2-4" in text
    assert "<h2>By year</h2>" in text
    assert not re.search(r"\d\.\d+e[+-]\d", text.split("<h2>Provenance</h2>")[0])  # never 8.96e+03
    teachers = re.search(r"<code>teachers_in_post</code>\)</td><td>all</td><td>([^<]*)</td><td>([^<]*)</td>", text)
    assert teachers and re.fullmatch(r"\d{1,3}(,\d{3})* \[\d{1,3}(,\d{3})*, \d{1,3}(,\d{3})*\]", teachers.group(1))
    assert re.fullmatch(r"\d{1,3}(,\d{3})* \(year\s\d\)", teachers.group(2))
    # intervals are cut to the metric's range and say so: no CV or count below zero
    headline = text[text.index("<h2>Headline metrics</h2>"):text.index("<h2>Why the CVs move</h2>")]
    cv_rows = [r for r in headline.split("<tr>") if "<code>cv_" in r]
    assert len(cv_rows) >= 13 and not any("[-" in r for r in cv_rows)
    assert "]*</td>" in headline and "* interval cut to the metric" in headline
    # the figures mark the years the first rotators' terms end
    assert "the rotators of year 1 reach the end of their terms" in text


@pytest.mark.browser
def test_a_wide_table_does_not_widen_the_page(tmp_path):
    """A sweep's design table with many long parameter columns scrolls inside its box; the page
    itself is never wider than the window (checked in chromium)."""
    import pandas as pd

    from sim.present.html_report import Report, render, table_html

    wide = pd.DataFrame([{f"policy.programs.district_exchange.quota.parameter_{i}": 1000 * i for i in range(14)}
                         | {f"cv_backbone (primary) outcome {i}": "0.512 [0.488, 0.536]" for i in range(8)}])
    rep = Report("wide", "sweep")
    rep.add("Design points", table_html(wide, "a wide table"))
    page = tmp_path / "wide.html"
    page.write_text(render(rep), encoding="utf-8")
    probe = tmp_path / "probe-wide.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", WIDTH_SCRIPT + "</body>"), encoding="utf-8")
    done = browser(tmp_path, "--window-size=1200,900", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="width-check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-500:]
    seen = json.loads(found.group(1).replace("&quot;", '"'))
    assert seen["table"] > seen["window"], seen  # the table is wider than the window...
    assert seen["page"] <= seen["window"], seen  # ...and the page is not


@pytest.mark.browser
def test_sweep_report_tables_fit_the_page(reports, tmp_path):
    probe = tmp_path / "probe-sweep.html"
    probe.write_text(reports["sweep"].read_text(encoding="utf-8").replace("</body>", WIDTH_SCRIPT + "</body>"),
                     encoding="utf-8")
    done = browser(tmp_path, "--window-size=1200,900", "--dump-dom", probe.as_uri())
    seen = json.loads(re.search(r'<pre id="width-check">(.*?)</pre>', done.stdout, re.S).group(1)
                      .replace("&quot;", '"'))
    assert seen["page"] <= seen["window"], seen


WIDTH_SCRIPT = """<script>
window.addEventListener('load', function () {
  var out = document.createElement('pre');
  out.id = 'width-check';
  var tables = Array.prototype.slice.call(document.querySelectorAll('table'));
  out.textContent = JSON.stringify({page: document.documentElement.scrollWidth,
    window: document.documentElement.clientWidth,
    table: Math.max.apply(null, tables.map(function (t) { return t.scrollWidth; }))});
  document.body.appendChild(out);
});
</script>"""
