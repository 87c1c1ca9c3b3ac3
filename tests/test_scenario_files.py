"""Every shipped scenario file runs.

Most checks run small worlds (20 schools of about 30 teachers per district) for 1-3 years and
watch the model from the inside by wrapping library functions (`RotationProgram.apply`,
`Constraints.options`, the matchers, the classrooms) with spies that record the state at the
moment a rule is applied and then call the original unchanged. Expected values are recomputed
in the test from the rule as docs/sources.md and the schema state it, not from the code under test.
(Helpers: tests/policy_helpers.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import metric_series, moves_of_kind
from policy_helpers import (
    SCENARIOS,
)

from sim.config.scenario import load_scenario
from sim.core.model import RotationModel

# ------------------------------------------------------------------- 14. every scenario file runs


SCENARIO_FILES = sorted(p for p in SCENARIOS.glob("*.yaml") if not p.name.startswith("_"))


def test_scenario_files_found():
    assert {p.stem for p in SCENARIO_FILES} >= {"baseline_drift", "china_2014_floor", "dongcheng_2021",
                                                "beijing_2022_citywide", "japan_prefectural", "korea_points",
                                                "shanghai_10yr"}


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_scenario_runs_two_years(path: Path):
    preset = load_scenario(path).world.preset
    overrides = ["world.scale=0.1"] if preset == "beijing" else []
    model = RotationModel(load_scenario(path, overrides), rng=1)
    model.run_for(2)
    rotations = metric_series(model, "rotations")
    assert len(model.school_rows) == 3
    if path.stem == "baseline_drift":
        assert rotations[1] == rotations[2] == 0
        assert not moves_of_kind(model, "rotation")
    else:
        assert rotations[1] > 0 and rotations[2] > 0
        assert rotations[1] + rotations[2] == len(moves_of_kind(model, "rotation"))
