"""Shared helpers and fixtures: paths, small scenarios and a few runs reused across modules.

Worlds are kept small through scenario overrides so the suite stays fast; the few full-size
runs (Dongcheng preset, three years; the Beijing world) are built once per session.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from sim.codes import MOVE_KINDS
from sim.config.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
BASE = SCENARIOS / "_base.yaml"
BASELINE = SCENARIOS / "baseline_drift.yaml"
DONGCHENG_2021 = SCENARIOS / "dongcheng_2021.yaml"
# one rotation program (the district exchange of dongcheng_2021): tests override policy.programs.0
DONGCHENG = REPO / "tests" / "data" / "exchange.yaml"

# A small Dongcheng-shaped world: one district of 20 schools of about 30 teachers.
SMALL_DONGCHENG = ("world.schools_per_district=20", "world.teachers_per_school=30")
# A small Beijing-shaped world: 3 districts (urban core, urban core, inner suburb) of 20 schools.
SMALL_BEIJING = ("world.preset=beijing", "world.districts=3", "world.schools_per_district=20",
                 "world.teachers_per_school=30")

ROTATION = MOVE_KINDS.index("rotation")


def scenario(path: Path = DONGCHENG, *overrides: str):
    """Load a scenario file with overrides."""
    return load_scenario(path, list(overrides))


def metric_series(model, name: str, group: str = "all") -> dict[int, float]:
    """year -> value of one metric from a model's tidy metric rows."""
    out = {y: v for y, m, g, v in model.metric_rows if m == name and g == group}
    assert out, f"metric {name}/{group} not found in the model's rows"
    return out


def moves_of_kind(model, kind: str) -> list[tuple]:
    k = MOVE_KINDS.index(kind)
    return [mv for mv in model.moves if mv[4] == k]


def moves_by_year(model, kind: str) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = defaultdict(list)
    for mv in moves_of_kind(model, kind):
        out[mv[0]].append(mv)
    return out


@pytest.fixture(scope="session")
def dongcheng_run():
    """dongcheng_2021 on the full Dongcheng preset, seed 7, three years."""
    from sim.core.model import RotationModel

    model = RotationModel(scenario(DONGCHENG_2021, "run.years=3"), rng=7)
    model.run_for(3)
    return model


@pytest.fixture(scope="session")
def baseline_run():
    """baseline_drift on the full Dongcheng preset, the same seed, three years."""
    from sim.core.model import RotationModel

    model = RotationModel(scenario(BASELINE, "run.years=3"), rng=7)
    model.run_for(3)
    return model


@pytest.fixture(scope="session")
def beijing_world():
    """The full Beijing preset world (built once; about 1 s)."""
    from sim.core.model import RotationModel

    sc = scenario(BASELINE, "world.preset=beijing")
    model = RotationModel(sc, rng=11)
    return model


def school_arrays(model):
    s = model.world.schools
    return s, np.asarray(s["enrol_primary"] + s["enrol_junior"], dtype=float)


# Hypothesis draws the same examples every run (derandomize) and keeps no example database; its
# caches go to a temporary folder removed at exit, so the suite writes nothing into the working tree.
settings.register_profile("teachersim", database=None, deadline=None, derandomize=True)
settings.load_profile("teachersim")
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="teachersim-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, True)


# ---------------------------------------------------------------- the browser tests (Debian's chromium)

BROWSER_MISSING = ("chromium or chromedriver is not installed: the browser tests (marked `browser`) are "
                   "skipped; scripts/test installs them where apt-get can run as root "
                   "(apt-get install chromium chromium-driver)")


def chromium_path() -> str | None:
    """Debian's chromium, which the report and app tests open pages in, when its driver is there too
    (scripts/test installs both)."""
    import shutil as _shutil

    browser = _shutil.which("chromium") or _shutil.which("chromium-browser")
    return browser if browser and _shutil.which("chromedriver") else None


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: opens pages in a real headless chromium")


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what will not run
def pytest_collection_modifyitems(config, items):
    """Without chromium the browser tests are skipped with one line, or, where the browser is
    required (TEACHERSIM_REQUIRE_BROWSER=1, as .ci/run sets), the session stops with that line."""
    import os as _os

    browser_tests = [item for item in items if item.get_closest_marker("browser")]
    if not browser_tests or chromium_path():
        return
    if _os.environ.get("TEACHERSIM_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(BROWSER_MISSING.replace("are skipped", "cannot run"))
    for item in browser_tests:
        item.add_marker(pytest.mark.skip(reason=BROWSER_MISSING))
    config._teachersim_browser_skipped = len(browser_tests)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = getattr(config, "_teachersim_browser_skipped", 0)
    if skipped:
        terminalreporter.write_line(f"teachersim: {skipped} browser tests skipped: {BROWSER_MISSING}")
