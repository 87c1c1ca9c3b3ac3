"""Who may be rotated this year under a program's eligibility rules."""

from __future__ import annotations

import numpy as np

from sim.codes import BACKBONE, ROLES, TEACHER_LEVELS, TIERS


def eligible_mask(model, eligibility) -> np.ndarray:
    """Mask over workforce rows: active, at home, long enough at the school, far enough from
    retirement, and of an allowed role, level, sending-school tier and backbone level."""
    wf = model.workforce
    tier = model.world.schools["tier"][wf.school]
    return (
        wf.active
        & (wf.term_end < 0)
        & (wf.years_at_school >= eligibility.min_years_at_school)
        & (model.config.careers.retirement_age - wf.age >= eligibility.min_years_to_retirement)
        & np.isin(wf.role, [ROLES.index(r) for r in eligibility.roles])
        & np.isin(wf.level, [TEACHER_LEVELS.index(lv) for lv in eligibility.levels])
        & np.isin(tier, [TIERS.index(t) for t in eligibility.sending_tiers])
        & (wf.backbone >= BACKBONE.index(eligibility.min_backbone))
    )
