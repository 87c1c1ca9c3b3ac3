"""scripts/calibration.py (docs/rule_checks.md): the readings it computes from the results tables."""

from __future__ import annotations

import runpy

import numpy as np
import pytest
from conftest import REPO

from sim.experiments.run import run

SCRIPT = runpy.run_path(str(REPO / "scripts" / "calibration.py"))


def test_senders_backbone_reads_the_pool_participation_senders_counts():
    """The 2014 floor's backbone share "of the senders" is taken over the rotators from the sending
    tiers' schools: exactly the movers `participation_senders` counts (the eligible pool's own; a
    counterpart meets every rule but the sending tiers). Counterparts from weak hosts are seldom
    backbone, so the senders' share is above the share of all who move, which the floor holds."""
    res = run(REPO / "scenarios" / "china_2014_floor.yaml", years=2, reps=1, overrides=("world.scale=0.1",))
    m, mv = res.metrics, res.moves
    tier = res.schools[res.schools.year == 0].drop_duplicates("school").set_index("school")["tier"].astype(str)

    def value(name, year):
        return float(m[(m.metric == name) & (m.subgroup == "all") & (m.year == year)]["value"].iloc[0])
    for year in (1, 2):
        rot = mv[(mv.kind == "rotation") & (mv.year == year)]
        senders = rot.from_school.map(tier).isin(SCRIPT["SENDING_TIERS_2014"])
        pool_movers = value("rotations", year) * value("participation_senders", year) / value("participation", year)
        assert senders.sum() == round(pool_movers) < len(rot), year  # counterparts exist and are left out
    share = SCRIPT["senders_backbone"](res, (1, 2))
    assert np.all(share.to_numpy() > m[(m.metric == "backbone_share_rotators") & (m.year >= 1)]["value"].to_numpy())


def test_backbone_share_senders_is_the_senders_reading_of_the_floor():
    """The registered metric `backbone_share_senders` gives, year by year, the share the script
    computes from the move log (the sending tiers' own rotators), and it is above the share over
    all who move (the counterparts sent back by weak hosts are seldom backbone)."""
    res = run(REPO / "scenarios" / "china_2014_floor.yaml", years=2, reps=1, overrides=("world.scale=0.1",))
    m = res.metrics[(res.metrics.subgroup == "all") & (res.metrics.year >= 1)].set_index(["metric", "year"])["value"]
    share = SCRIPT["senders_backbone"](res, (1, 2)).iloc[0]
    for year in (1, 2):
        assert m["backbone_share_senders", year] == pytest.approx(share[year], rel=1e-12)
        assert m["backbone_share_senders", year] > m["backbone_share_rotators", year]
