"""Promotion's and radiation's constants are scenario parameters (careers.*), read by the model."""

from __future__ import annotations

import numpy as np
from conftest import BASELINE, SMALL_BEIJING, SMALL_DONGCHENG, scenario

from sim.core.model import RotationModel


def backbone_levels(*overrides: str) -> np.ndarray:
    model = RotationModel(scenario(BASELINE, *SMALL_DONGCHENG, *overrides), rng=5)
    before = model.workforce.backbone[model.workforce.active_rows()].copy()
    model.run_for(3)
    return before, model.workforce.backbone[: len(before)]


def test_backbone_min_experience_is_read():
    before, after = backbone_levels()
    assert (after > before).any()  # the default lets teachers step up within 3 years
    before, after = backbone_levels("careers.backbone_min_experience=60")
    assert not (after > before).any()


def test_a_higher_municipal_factor_makes_more_municipal_backbones():
    _, few = backbone_levels("careers.municipal_backbone_factor=0.0")
    _, many = backbone_levels("careers.municipal_backbone_factor=1.0")
    assert (many == 3).sum() > (few == 3).sum()


def reference_drift(model) -> list[tuple[int, int, int]]:
    """Voluntary drift as its rule reads, without the caches of `careers.voluntary_drift`: for each
    mover in turn, the open stronger schools of its district that fit its level, chosen by the
    weights exp(tier). Returns (row, from, to) of the moves, reading the model without changing it."""
    from sim.codes import level_fits

    c, wf, s = model.config.careers, model.workforce, model.world.schools
    rng = model.stream("drift")
    u, pick = rng.random(wf.n), rng.random(wf.n)
    rows = np.flatnonzero(wf.active & (wf.term_end < 0) & (wf.years_at_school >= c.drift_min_years)
                          & (wf.cover_until < 0) & ((wf.role == 0) | (not c.cadres.pipeline)))
    movers = rows[u[rows] < c.drift_rate * np.exp(c.drift_quality_selection * (wf.quality[rows] - 1.0))]
    vacancies = s["norm"] - model.home_posts()
    moves = []
    for r in movers[np.argsort(-wf.quality[movers], kind="stable")].tolist():
        home = int(wf.school[r])
        pool = np.flatnonzero((s["district"] == s["district"][home]) & (s["tier"] > s["tier"][home])
                              & level_fits(s["level"], wf.level[r]))
        pool = pool[vacancies[pool] > 0]
        if len(pool):
            w = np.exp(s["tier"][pool].astype(float))
            h = int(pool[min(np.searchsorted(np.cumsum(w) / w.sum(), pick[r], side="right"), len(pool) - 1)])
            vacancies[h] -= 1
            vacancies[home] += 1
            moves.append((r, home, h))
    return moves


def test_drift_moves_the_teachers_its_rule_says(monkeypatch):
    """The cached pools of `voluntary_drift` (a pool's open schools redone only when one of them
    fills or opens) give the moves of the plain rule, mover by mover, every year."""
    from sim.codes import MOVE_KINDS
    from sim.core import careers

    expected, drift = [], careers.voluntary_drift

    def both(model):
        expected.append(reference_drift(model))
        return drift(model)

    monkeypatch.setattr(careers, "voluntary_drift", both)
    model = RotationModel(scenario(BASELINE, *SMALL_BEIJING, "careers.drift_rate=0.3"), rng=3)
    model.run_for(4)
    log = model.move_log.columns()
    for year, want in enumerate(expected, start=1):
        sel = (log["year"] == year) & (log["kind"] == MOVE_KINDS.index("drift"))
        got = list(zip(log["teacher"][sel].tolist(), log["from_school"][sel].tolist(),
                       log["to_school"][sel].tolist(), strict=True))
        assert got == want
    assert sum(map(len, expected)) > 100  # enough moves, with schools filling along the way


def test_commutes_follow_a_change_of_the_commute_settings_between_years():
    """The yearly commute is kept per row and worked out again only where the host changed; a
    notebook that changes the commute settings between steps gets commutes under the new ones."""
    from sim.world.system import commute_minutes

    model = RotationModel(scenario(BASELINE, *SMALL_DONGCHENG), rng=3)
    model.run_for(1)
    model.config.careers.commute_minutes_per_km *= 2.0
    model.run_for(1)
    wf, s, rows = model.workforce, model.world.schools, model.workforce.active_rows()
    host = wf.host[rows]
    fresh = commute_minutes(model.config.careers, wf.home_x[rows] - s["x"][host], wf.home_y[rows] - s["y"][host])
    np.testing.assert_array_equal(wf.commute[rows], fresh)
