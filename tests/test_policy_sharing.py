"""Double-teacher classrooms (sim/policies/sharing.py).

Most checks run small worlds (20 schools of about 30 teachers per district) for 1-3 years and
watch the model from the inside by wrapping library functions (`RotationProgram.apply`,
`Constraints.options`, the matchers, the classrooms) with spies that record the state at the
moment a rule is applied and then call the original unchanged. Expected values are recomputed
in the test from the rule as docs/sources.md and the schema state it, not from the code under test.
(Helpers: tests/policy_helpers.py.)
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import metric_series
from policy_helpers import (
    DONGCHENG_2021,
    NINE_YEAR,
)

import sim.core.model
from sim.codes import TIERS
from sim.config.scenario import load_scenario
from sim.core.model import RotationModel
from sim.policies.sharing import double_teacher_classrooms

# --------------------------------------------------------------------- 5. double-teacher classrooms


def _dongcheng_with_classrooms(classrooms: int, seed: int = 5, extra: tuple[str, ...] = (), **dt) -> RotationModel:
    overrides = ["world.schools_per_district=20", "world.teachers_per_school=30",
                 f"policy.double_teacher.classrooms={classrooms}",
                 *(f"policy.double_teacher.{k}={v}" for k, v in dt.items()), *extra]
    return RotationModel(load_scenario(DONGCHENG_2021, overrides), rng=seed)


def test_double_teacher_classrooms_change_no_head_count():
    """Nothing the classrooms compute feeds back: the lift enters only effective quality and the
    achievement proxy, after hiring and before learning, so every head count (and mean quality)
    is identical with and without them, in year 1 and in every later year."""
    with_dt = _dongcheng_with_classrooms(30)
    without = _dongcheng_with_classrooms(0)
    with_dt.run_for(3)
    without.run_for(3)
    for year in range(4):
        a, b = with_dt.school_rows[year], without.school_rows[year]
        for col in ("teachers", "backbone", "senior_title", "above_qualification", "pe_art", "mean_quality",
                    "home_posts", "hosted_rotators"):
            np.testing.assert_array_equal(a[col], b[col], err_msg=f"{col} in year {year}")
    assert len(with_dt.moves) == len(without.moves)
    assert np.any(with_dt.school_rows[1]["achievement"] != without.school_rows[1]["achievement"])


def test_double_teacher_effective_quality_lift_goes_to_weaker_schools():
    model = _dongcheng_with_classrooms(4, reach=2)
    model.step()
    frame = model.school_rows[-1]
    eff, mean = frame["effective_quality"], frame["mean_quality"]
    assert np.all(eff >= mean - 1e-12)
    lifted = eff > mean + 1e-12
    assert 0 < lifted.sum() <= 8  # at most classrooms x reach schools
    # the lifted schools are weaker than the rest: classrooms go to the lowest mean quality first
    # (tolerance: a plain comparison of unweighted means; the exact rule is checked below)
    assert mean[lifted].mean() < mean[~lifted].mean()
    none = _dongcheng_with_classrooms(0)
    none.step()
    np.testing.assert_array_equal(none.school_rows[-1]["effective_quality"], none.school_rows[-1]["mean_quality"])
    assert metric_series(none, "double_teacher_lift")[1] == 0.0
    assert metric_series(none, "double_teacher_reach")[1] == 0.0


def test_double_teacher_one_classroom_lifts_exactly_the_weakest_compatible_schools(monkeypatch):
    """With one classroom per district the rule is fully determined: the strongest non-cadre
    teacher of a strong or leading school who is at home (not on a rotation) teaches live to the
    `reach` schools of the district with the lowest mean quality (of the teacher's level or
    nine-year), lifting each by strength x (q_lead - q_school) x min(1, class_size / enrolment);
    reach counts min(class_size, enrolment) students per reached class."""
    seen = []

    def spy(model):
        wf = model.workforce
        rows = np.flatnonzero(wf.active)
        n = model.world.n_schools
        mean_q = np.array([wf.quality[rows][wf.host[rows] == i].mean() for i in range(n)])
        home_tier = model.world.schools["tier"][wf.school[rows]]
        candidates = rows[(home_tier >= TIERS.index("strong")) & (wf.role[rows] == 0)]
        leads = candidates[wf.term_end[candidates] < 0]
        lead = int(leads[np.argmax(wf.quality[leads])])
        strongest_away = wf.term_end[candidates[np.argmax(wf.quality[candidates])]] >= 0
        out = double_teacher_classrooms(model)
        seen.append(SimpleNamespace(mean_q=mean_q, lead=lead, lead_q=float(wf.quality[lead]),
                                    lead_level=int(wf.level[lead]), lead_home=int(wf.school[lead]),
                                    strongest_away=strongest_away, out=out))
        return out

    monkeypatch.setattr(sim.core.model, "double_teacher_classrooms", spy)
    # the district exchange sends its strongest first, so strong teachers are often away (seed 2:
    # a world in which both cases below occur)
    model = _dongcheng_with_classrooms(1, reach=3, strength=0.4, class_size=200, seed=2,
                                       extra=("policy.programs.3.priority=[strongest_first]",))
    s = model.world.schools
    n = model.world.n_schools
    enrol = (s["enrol_primary"] + s["enrol_junior"]).astype(float)
    small_class_reached = False
    for year in (1, 2, 3):
        model.step()
        call = seen[-1]
        cand = [i for i in range(n) if i != call.lead_home and s["level"][i] in (call.lead_level, NINE_YEAR)]
        targets = sorted(cand, key=lambda i: call.mean_q[i])[:3]
        want = np.zeros(n)
        for t in targets:
            want[t] = 0.4 * max(0.0, call.lead_q - call.mean_q[t]) * min(1.0, 200 / enrol[t])
        lift, reach = call.out
        np.testing.assert_allclose(lift, want, rtol=1e-9, atol=1e-12, err_msg=f"year {year}")
        assert np.count_nonzero(want) == 3
        np.testing.assert_allclose(model.double_teacher_lift, want, rtol=1e-9, atol=1e-12)
        frame = model.school_rows[-1]
        np.testing.assert_allclose(frame["effective_quality"] - frame["mean_quality"], want, rtol=1e-9, atol=1e-12)
        assert metric_series(model, "double_teacher_reach")[year] == \
            pytest.approx(sum(min(200.0, enrol[t]) for t in targets))
        small_class_reached |= any(enrol[t] < 200 for t in targets)
    # the cases the rule distinguishes occur: a reached school smaller than a class, and a year in
    # which the strongest candidate is away on rotation (so someone else teaches the classroom)
    assert small_class_reached
    assert any(call.strongest_away for call in seen)


def test_double_teacher_reach_metric_is_classrooms_times_reach_times_class_size():
    model = _dongcheng_with_classrooms(12, reach=3, class_size=45)
    model.step()
    enrol = model.world.schools["enrol_primary"] + model.world.schools["enrol_junior"]
    assert enrol.min() >= 45  # so every reached class holds a full class_size
    assert metric_series(model, "double_teacher_reach")[1] == 12 * 3 * 45


def test_double_teacher_lift_scales_with_strength():
    """With one classroom the reached schools do not depend on the lift so far, so the lift is
    linear in strength (with several, later classrooms avoid schools already lifted, and a
    stronger lift moves them elsewhere)."""
    half = _dongcheng_with_classrooms(1, reach=4, strength=0.25)
    full = _dongcheng_with_classrooms(1, reach=4, strength=0.5)
    half.step()
    full.step()
    assert np.any(full.double_teacher_lift > 0)
    np.testing.assert_allclose(full.double_teacher_lift, 2 * half.double_teacher_lift, rtol=1e-9, atol=1e-12)
