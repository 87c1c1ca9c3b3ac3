"""Matching selected rotators to receiving schools.

Every matcher respects the same constraints, computed once in `Constraints`: the host lies in
the program's scope (same group, school district, district, or anywhere in the city), fits the
teacher's level (a nine-year school takes both; `cross_level` lifts the rule), lies in the allowed
direction (strong->weak: a lower tier; weak->strong: a higher tier), is not the home school, and
has room (present staff below `receiving_capacity` x norm; a school's room grows only when one of
its own rotators is placed elsewhere). A rotator with no feasible host is left at home and counted
as unmatched.
"""

from __future__ import annotations

import numpy as np

from sim.codes import DISTRICT_BACKBONE, PE_ART_CODES

SCOPE_COLUMN = {"group": "group", "school_district": "school_district", "district": "district"}


class Constraints:
    """Feasible hosts for rotators of one program, and the running room left at each school."""

    def __init__(self, model, program, present: np.ndarray):
        s = model.world.schools
        self.tier = s["tier"]
        self.level = s["level"]
        n = len(self.tier)
        self.block = np.zeros(n, dtype=np.int64) if program.scope == "city" else s[SCOPE_COLUMN[program.scope]]
        # for block-wide shares, a school outside any block (no group) is a block of its own
        self.share_block = np.where(self.block >= 0, self.block, self.block.max(initial=0) + 1 + np.arange(n))
        self.room = np.floor(s["norm"] * model.config.policy.receiving_capacity).astype(np.int64) - present
        self.cross_level = program.cross_level
        self.direction = program.direction

    def candidates(self, home: int) -> np.ndarray:
        """School ids in the home school's scope block (empty when it has none, e.g. no group)."""
        b = self.block[home]
        if b < 0:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(self.block == b)

    def place(self, home: int, host: int) -> None:
        """Book a move: one place fewer at the host, one more at the home school."""
        self.room[host] -= 1
        self.room[home] += 1

    def feasible(self, hosts: np.ndarray, home: int, level: int) -> np.ndarray:
        """Mask over `hosts` of those this rotator may go to now."""
        ok = (hosts != home) & (self.room[hosts] > 0)
        if not self.cross_level:
            ok &= (self.level[hosts] == level) | (self.level[hosts] == 2)
        if self.direction == "strong_to_weak":
            ok &= self.tier[hosts] < self.tier[home]
        elif self.direction == "weak_to_strong":
            ok &= self.tier[hosts] > self.tier[home]
        return ok


class RandomMatching:
    """Each rotator, in priority order, goes to a host drawn uniformly from its feasible hosts."""

    def match(self, model, program, rotators: np.ndarray, cons: Constraints,
              rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        hosts = np.full(len(rotators), -1, dtype=np.int64)
        draws = rng.random(len(rotators))
        for i, r in enumerate(rotators):
            home = int(wf.school[r])
            cand = cons.candidates(home)
            cand = cand[cons.feasible(cand, home, int(wf.level[r]))]
            if len(cand):
                h = int(cand[int(draws[i] * len(cand))])
                hosts[i] = h
                cons.place(home, h)
        return hosts


class NeedMatching:
    """Rotators go where the need is greatest, as Haidian's platform matches by schools' needs.

    Backbone teachers are placed first, each at the feasible school furthest below its block's
    backbone rate (backbone per 100 students); then PE/music/art teachers by the same rule for
    those subjects; then everyone else by quality shortfall: the block's mean quality times the
    school's norm, minus the quality of the teachers present. Within each class the strongest
    rotators are placed first, so they go to the schools in greatest need.
    """

    def match(self, model, program, rotators: np.ndarray, cons: Constraints,
              rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        s = model.world.schools
        n_s = len(s["tier"])
        enrol = (s["enrol_primary"] + s["enrol_junior"]).astype(float)
        act = wf.active_rows()
        lifted = np.zeros(wf.n, dtype=bool)
        lifted[rotators] = True
        here = act[~lifted[act]]
        present_host = wf.host[here]
        is_bb = wf.backbone >= DISTRICT_BACKBONE
        is_pa = np.isin(wf.subject, PE_ART_CODES)
        # current counts at each school (rotators lifted) against the block-wide equal shares
        need = {
            "backbone": self._shortfall(cons, enrol, wf.host[act], is_bb[act], present_host, is_bb[here]),
            "pe_art": self._shortfall(cons, enrol, wf.host[act], is_pa[act], present_host, is_pa[here]),
        }
        q_present = np.bincount(present_host, weights=wf.quality[here], minlength=n_s)
        block_q = self._block_mean(cons, wf.quality[act], wf.host[act])
        need["quality"] = block_q[cons.share_block] * s["norm"] - q_present
        jitter = rng.random(n_s) * 1e-9  # fixed per school this year: breaks exact ties fairly
        klass = np.where(is_bb[rotators], 0, np.where(is_pa[rotators], 1, 2))
        order = np.lexsort([-wf.quality[rotators], klass])
        hosts = np.full(len(rotators), -1, dtype=np.int64)
        names = ("backbone", "pe_art", "quality")
        for i in order:
            r = rotators[i]
            home = int(wf.school[r])
            cand = cons.candidates(home)
            cand = cand[cons.feasible(cand, home, int(wf.level[r]))]
            if len(cand) == 0:
                continue
            score = need[names[klass[i]]][cand] + jitter[cand]
            h = int(cand[int(np.argmax(score))])
            hosts[i] = h
            cons.place(home, h)
            need["quality"][h] -= wf.quality[r]
            need["backbone"][h] -= is_bb[r]
            need["pe_art"][h] -= is_pa[r]
        return hosts

    @staticmethod
    def _block_mean(cons: Constraints, values: np.ndarray, where: np.ndarray) -> np.ndarray:
        block = cons.share_block
        nb = int(block.max()) + 1
        total = np.bincount(block[where], weights=values, minlength=nb)
        count = np.bincount(block[where], minlength=nb)
        return np.divide(total, count, out=np.zeros(nb), where=count > 0)

    @staticmethod
    def _shortfall(cons: Constraints, enrol: np.ndarray, host_all: np.ndarray, flag_all: np.ndarray,
                   host_here: np.ndarray, flag_here: np.ndarray) -> np.ndarray:
        """Count a school would hold at its block's rate per student, minus what it holds now.

        The block's total includes the lifted rotators: they are what is being shared out."""
        block = cons.share_block
        nb = int(block.max()) + 1
        n_s = len(block)
        total = np.bincount(block[host_all], weights=flag_all, minlength=nb)
        students = np.bincount(block, weights=enrol, minlength=nb)
        rate = np.divide(total, students, out=np.zeros(nb), where=students > 0)
        present = np.bincount(host_here, weights=flag_here, minlength=n_s)
        return rate[block] * enrol - present
