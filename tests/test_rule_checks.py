"""scripts/calibration.py (docs/rule_checks.md): the readings it computes from the results tables."""

from __future__ import annotations

import runpy

import numpy as np
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
