"""Sharing without moving: double-teacher classrooms (and Datong's "air classrooms").

Each year, in each district, the strongest teachers of its leading and strong schools (one per
classroom, at home and on no rotation) teach live to classes at `reach` other schools of their
scope and level, the weakest first (by effective quality so far, so classrooms spread out). A
reached school's effective teaching rises by strength * max(0, q_lead - q_school) * (class size /
enrolment): the reached students get part of the lead teacher's quality gap. Nobody moves and no
head-count indicator changes; the lift enters effective quality and the achievement proxy.
"""

from __future__ import annotations

import numpy as np

from sim.codes import TIERS, level_fits
from sim.policies.matching import SCOPE_COLUMN


def double_teacher_classrooms(model) -> tuple[np.ndarray, float]:
    """This year's lift of effective quality per school, and the students reached."""
    cfg = model.config.policy.double_teacher
    s = model.world.schools
    n_s = len(s["tier"])
    lift = np.zeros(n_s)
    if cfg.classrooms == 0:
        return lift, 0.0
    wf = model.workforce
    rows = wf.active_rows()
    staff = np.bincount(wf.host[rows], minlength=n_s)
    mean_q = np.bincount(wf.host[rows], weights=wf.quality[rows], minlength=n_s) / np.maximum(staff, 1)
    enrol = (s["enrol_primary"] + s["enrol_junior"]).astype(float)
    block = np.zeros(n_s, dtype=np.int64) if cfg.scope == "city" else s[SCOPE_COLUMN[cfg.scope]]
    home_tier = s["tier"][wf.school[rows]]
    leads = rows[(home_tier >= TIERS.index("strong")) & (wf.term_end[rows] < 0) & (wf.role[rows] == 0)]
    reached = 0.0
    for d in range(len(model.world.district_names)):
        mine = leads[s["district"][wf.school[leads]] == d]
        mine = mine[np.argsort(-wf.quality[mine], kind="stable")][: cfg.classrooms]
        for r in mine.tolist():
            home = int(wf.school[r])
            if block[home] < 0:
                continue
            cand = np.flatnonzero((block == block[home]) & (np.arange(n_s) != home)
                                  & level_fits(s["level"], wf.level[r]))
            if len(cand) == 0:
                continue
            targets = cand[np.argsort(mean_q[cand] + lift[cand], kind="stable")][: cfg.reach]
            share = np.minimum(1.0, cfg.class_size / enrol[targets])
            lift[targets] += cfg.strength * np.maximum(0.0, wf.quality[r] - mean_q[targets]) * share
            reached += float(np.minimum(cfg.class_size, enrol[targets]).sum())
    return lift, reached
