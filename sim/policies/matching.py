"""Matching selected rotators to receiving schools.

Every matcher respects the same constraints, computed in `Constraints`: the host lies in the
program's scope (the twin partner, same group, school district, district, or anywhere in the
city), fits the teacher's level (a nine-year school takes both; `cross_level` lifts the rule),
lies in the allowed direction (strong->weak: a lower tier; weak->strong: a higher tier), is not
the home school, keeps the commute under the cap, and has room (present staff below
the program's `host_cap` or the policy's `receiving_capacity` x norm, 1.0 by default; for a
transfer a vacancy under the norm; in a paired exchange a teacher of the host to send back; a
school's room grows only when one of its own rotators is placed elsewhere and no cover takes the
post; part-time rotators take no post), and lies in the receiving districts, district types and
tiers the program names.
Preferred hosts (twin partner, group) are used when one is feasible. A rotator with no feasible
host stays home and is counted as unmatched.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim.codes import DISTRICT_BACKBONE, PE_ART_CODES, SUBJECTS, level_fits
from sim.policies.eligibility import schools_in
from sim.world.system import commute_minutes

PE_ART_SUBJECT = np.isin(np.arange(len(SUBJECTS)), PE_ART_CODES)  # subject code -> teaches PE/music/art
SCOPE_COLUMN = {"group": "group", "school_district": "school_district", "district": "district"}


@dataclass(frozen=True)
class Scope:
    """Where a program's hosts may be, relative to the rotator's school."""

    words: str  # in the report: "Placed by need-based matching, within the district, ..."


# The one list of host scopes: the scenario's `scope` choices and the report's words come from it
# (Constraints below draws the blocks; SCOPE_COLUMN is the schools' column of a block-wide one).
SCOPES = {"twinning": Scope("within twinning pairs"), "group": Scope("within the education group"),
          "school_district": Scope("within the school district"), "district": Scope("within the district"),
          "city": Scope("anywhere in the city")}
OPTIMAL_CHUNK = 128  # rotators per exact assignment problem (strongest first)


class Constraints:
    """Feasible hosts for rotators of one program, and the running room left at each school."""

    def __init__(self, model, program, present: np.ndarray, counterparts: np.ndarray | None = None):
        s = model.world.schools
        self.model = model
        self.program = program
        self.tier = s["tier"]
        self.level = s["level"]
        self.x, self.y = s["x"], s["y"]
        n = len(self.tier)
        if program.scope == "city":
            self.block = np.zeros(n, dtype=np.int64)
        elif program.scope == "twinning":
            self.block = s["district"]  # twins share a district; candidates() narrows to the partner
        else:
            self.block = s[SCOPE_COLUMN[program.scope]]
        # for block-wide shares, a school outside any block (no group) is a block of its own
        self.share_block = np.where(self.block >= 0, self.block, self.block.max(initial=0) + 1 + np.arange(n))
        if counterparts is not None:
            # a paired exchange: a host takes as many as it has teachers to send back
            self.room = counterparts.astype(np.int64).copy()
        elif program.form == "transfer":
            # a transfer takes a post: only vacancies (and posts its own movers free) can be filled
            self.room = s["norm"] - model.home_posts()
        else:
            cap = model.config.policy.receiving_capacity if program.host_cap is None else program.host_cap
            self.room = np.floor(s["norm"] * cap).astype(np.int64) - present
        self.books_room = program.form != "part_time" or counterparts is not None
        # a sender's place opens to others unless a counterpart or a cover takes it
        self.frees_home = counterparts is None and program.backfill == "none"
        self.receive_ok = receiving_mask(model, program)
        self.twins = model.world.twins
        self._members = {}
        self._static_cache: dict[tuple[int, int], np.ndarray] = {}
        self.careers = model.config.careers

    def candidates(self, home: int) -> np.ndarray:
        """School ids in the home school's scope (empty when it has none, e.g. no group or twin)."""
        if self.program.scope == "twinning":
            return np.array(sorted(self.twins.get(home, [])), dtype=np.int64)
        b = self.block[home]
        if b < 0:
            return np.empty(0, dtype=np.int64)
        if b not in self._members:
            self._members[b] = np.flatnonzero(self.block == b)
        return self._members[b]

    def commute(self, wf, row: int, hosts: np.ndarray) -> np.ndarray:
        """Minutes from the teacher's home to each host."""
        return commute_minutes(self.careers, wf.home_x[row] - self.x[hosts], wf.home_y[row] - self.y[hosts])

    def fits(self, hosts: np.ndarray, level, home_tier) -> np.ndarray:
        """Mask of the hosts that may receive (`receiving_mask`), teach the teacher's level (a
        nine-year school takes both) and lie in the program's direction from the home school's tier.
        The arguments broadcast: a row of hosts against a column of levels and tiers gives a matrix."""
        ok = self.receive_ok[hosts]
        if not self.program.cross_level:
            ok = ok & level_fits(self.level[hosts], level)
        if self.program.direction == "strong_to_weak":
            ok = ok & (self.tier[hosts] < home_tier)
        elif self.program.direction == "weak_to_strong":
            ok = ok & (self.tier[hosts] > home_tier)
        return ok

    def _static(self, wf, row: int, home: int) -> np.ndarray:
        """Hosts allowed by scope, level, direction and commute cap (room aside), cached by home
        school and level when no commute cap makes them depend on where the teacher lives."""
        key = (home, int(wf.level[row]))
        cap = self.program.commute_cap_minutes
        found = self._static_cache.get(key) if cap is None else None
        if found is not None:
            return found
        hosts = self.candidates(home)
        ok = (hosts != home) & self.fits(hosts, wf.level[row], self.tier[home])
        if cap is not None:
            ok &= self.commute(wf, row, hosts) <= cap
            return hosts[ok]
        self._static_cache[key] = hosts[ok]
        return self._static_cache[key]

    def options(self, wf, row: int) -> np.ndarray:
        """The hosts this rotator may go to now, preferred ones only when one is feasible."""
        home = int(wf.school[row])
        hosts = self._static(wf, row, home)
        if self.books_room and len(hosts):
            hosts = hosts[self.room[hosts] > 0]
        if not self.program.prefer:
            return hosts
        for pref in self.program.prefer:
            if pref == "twinning":
                mask = np.isin(hosts, self.twins.get(home, []))
            else:
                g = self.model.world.schools["group"][home]
                mask = (self.model.world.schools["group"][hosts] == g) & (g >= 0)
            if mask.any():
                return hosts[mask]
        return hosts

    def feasible(self, wf, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`options` of many rotators at once, as the optimal matcher needs them: the schools any
        of them may go to now (sorted) and a rotator-by-school mask whose row i is `options(wf,
        rows[i])`. One array expression per rule instead of one small array per rotator."""
        homes = wf.school[rows].astype(np.int64)
        if self.program.scope == "twinning":
            cols = np.array(sorted({t for h in homes.tolist() for t in self.twins.get(h, [])}), dtype=np.int64)
            ok = self._twin_mask(homes, cols)
        else:
            blocks = np.unique(self.block[homes])
            cols = np.flatnonzero(np.isin(self.block, blocks[blocks >= 0]))
            ok = (self.block[cols] == self.block[homes][:, None]) & (self.block[homes] >= 0)[:, None]
        ok &= (cols != homes[:, None]) & self.fits(cols, wf.level[rows][:, None], self.tier[homes][:, None])
        cap = self.program.commute_cap_minutes
        if cap is not None:
            ok &= commute_minutes(self.careers, wf.home_x[rows][:, None] - self.x[cols],
                                  wf.home_y[rows][:, None] - self.y[cols]) <= cap
        if self.books_room:
            ok &= self.room[cols] > 0
        if self.program.prefer:
            chosen = np.zeros(len(rows), dtype=bool)  # rows already narrowed to an earlier preference
            narrowed = ok.copy()
            for pref in self.program.prefer:
                if pref == "twinning":
                    sub = ok & self._twin_mask(homes, cols)
                else:
                    g = self.model.world.schools["group"]
                    sub = ok & (g[cols] == g[homes][:, None]) & (g[homes] >= 0)[:, None]
                take = sub.any(axis=1) & ~chosen
                narrowed[take] = sub[take]
                chosen |= take
            ok = narrowed
        used = ok.any(axis=0)
        return cols[used], ok[:, used]

    def _twin_mask(self, homes: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Home-by-column mask of each home school's twinning partners."""
        return np.array([np.isin(cols, self.twins.get(h, [])) for h in homes.tolist()],
                        dtype=bool).reshape(len(homes), len(cols))

    def place(self, home: int, host: int) -> None:
        """Book a move: one place fewer at the host, one more at the home school (unless a
        counterpart or a cover takes the sender's place)."""
        if self.books_room:
            self.room[host] -= 1
            if self.frees_home:
                self.room[home] += 1

    def place_many(self, homes: np.ndarray, hosts: np.ndarray) -> None:
        """`place` of many moves at once (whole-number rooms: the order does not matter)."""
        if self.books_room:
            np.subtract.at(self.room, hosts, 1)
            if self.frees_home:
                np.add.at(self.room, homes, 1)


def receiving_mask(model, program) -> np.ndarray:
    """Schools that may receive this program's rotators: in `receiving_districts`, of a
    `receiving_district_types` type and of a `receiving_tiers` tier when the program names them
    (all schools otherwise)."""
    return schools_in(model, program.receiving_districts, program.receiving_district_types,
                      program.receiving_tiers)


class RandomMatching:
    """Each rotator, in priority order, goes to a host drawn uniformly from its feasible hosts."""

    words = "random placement"  # in the report: "Placed by ..."

    def match(self, model, program, rotators: np.ndarray, cons: Constraints,
              rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        hosts = np.full(len(rotators), -1, dtype=np.int64)
        draws = rng.random(len(rotators))
        for i, r in enumerate(rotators):
            cand = cons.options(wf, int(r))
            if len(cand):
                h = int(cand[int(draws[i] * len(cand))])
                hosts[i] = h
                cons.place(int(wf.school[r]), h)
        return hosts


class Needs:
    """What each school lacks against its block's equal share, for backbone, PE/art and quality.

    Backbone and PE/art: the count a school would hold at its block's rate per student, minus what
    it holds now (selected rotators lifted off their schools: they are what is shared out).
    Quality: the block's mean teacher quality times the school's norm, minus the quality present.
    """

    def __init__(self, model, rotators: np.ndarray, cons: Constraints):
        wf = model.workforce
        s = model.world.schools
        n_s = len(s["tier"])
        enrol = (s["enrol_primary"] + s["enrol_junior"]).astype(float)
        self.is_bb = wf.backbone >= DISTRICT_BACKBONE
        self.is_pa = PE_ART_SUBJECT[wf.subject]
        block = cons.share_block
        nb = int(block.max()) + 1
        students = np.bincount(block, weights=enrol, minlength=nb)
        # whole columns, no gathers of the active rows: a left teacher counts at an extra school n_s,
        # whose sums are dropped (each school's sum adds the same rows in the same order as a sum
        # over the active rows, so the same floats); arithmetic, not np.where: no per-row branch
        at = wf.host + (n_s - wf.host) * ~wf.active
        # teachers per school and flag combination (backbone 1, PE/art 2): exact integer counts
        key = at * 4
        key += self.is_bb.view(np.int8) + (self.is_pa.view(np.int8) << 1)  # int8 views: no int64 temporaries
        count = np.bincount(key, minlength=4 * (n_s + 1)).reshape(-1, 4)[:n_s]
        block_of = np.append(block, nb)  # the left teachers' school n_s: a block of its own
        q_total = np.bincount(block_of[at], weights=wf.quality, minlength=nb + 1)[:nb]
        here_count = count
        if cons.books_room:
            lifted = np.zeros(wf.n, dtype=bool)
            lifted[rotators] = True
            lifted &= wf.active
            lifted_rows = np.flatnonzero(lifted)
            here_count = count - np.bincount(key[lifted_rows], minlength=4 * (n_s + 1)).reshape(-1, 4)[:n_s]
            at[lifted_rows] = n_s  # lifted off: their quality is not present at their schools
        self.need = {}
        for name, bits in (("backbone", [1, 3]), ("pe_art", [2, 3])):
            total = np.bincount(block, weights=count[:, bits].sum(axis=1), minlength=nb)
            rate = np.divide(total, students, out=np.zeros(nb), where=students > 0)
            self.need[name] = rate[block] * enrol - here_count[:, bits].sum(axis=1)
        q_count = np.bincount(block, weights=count.sum(axis=1), minlength=nb)
        self.block_q = np.divide(q_total, q_count, out=np.ones(nb), where=q_count > 0)
        q_present = np.bincount(at, weights=wf.quality, minlength=n_s + 1)[:n_s]
        self.need["quality"] = self.block_q[block] * s["norm"] - q_present
        self.wf = wf

    def book(self, row: int, host: int) -> None:
        self.need["quality"][host] -= self.wf.quality[row]
        if self.is_bb[row]:
            self.need["backbone"][host] -= 1.0
        if self.is_pa[row]:
            self.need["pe_art"][host] -= 1.0


class NeedMatching:
    """Rotators go where the need is greatest, as Haidian's platform matches by schools' needs.

    Backbone teachers are placed first, each at the feasible school furthest below its block's
    backbone rate; then PE/music/art teachers by the same rule for those subjects; then everyone
    else by quality shortfall. Within each class the strongest rotators are placed first.
    """

    words = "need-based matching"

    def match(self, model, program, rotators: np.ndarray, cons: Constraints,
              rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        needs = Needs(model, rotators, cons)
        jitter = rng.random(model.world.n_schools) * 1e-9  # fixed per school this year: breaks exact ties
        for need in needs.need.values():
            need += jitter
        klass = np.where(needs.is_bb[rotators], 0, np.where(needs.is_pa[rotators], 1, 2))
        order = np.lexsort([-wf.quality[rotators], klass])
        hosts = np.full(len(rotators), -1, dtype=np.int64)
        by_class = [needs.need["backbone"], needs.need["pe_art"], needs.need["quality"]]
        if NeedQueues.applies(program):
            queues = NeedQueues(cons, by_class)
            found = queues.hosts(order, wf.school[rotators], wf.level[rotators], klass, wf.quality[rotators],
                                 needs.is_bb[rotators], needs.is_pa[rotators])
            hosts[:] = found
            cons.room[:] = queues.room
            return hosts
        # plain Python values in the loop: it runs once per rotator
        rows, homes, kl = rotators.tolist(), wf.school[rotators].tolist(), klass.tolist()
        for i in order.tolist():
            cand = cons.options(wf, rows[i])
            if len(cand) == 0:
                continue
            h = int(cand[by_class[kl[i]][cand].argmax()])
            hosts[i] = h
            cons.place(homes[i], h)
            needs.book(rows[i], h)
        return hosts


class _QueuedRotators(NamedTuple):
    """One need class's rotators as plain Python lists, in placement order (the loop runs once per
    rotator)."""

    sids: list[int]  # host set of each rotator (-1: none)
    homes: list[int]
    step: list[float]  # what a placement takes off the host's need of this class


class NeedQueues:
    """Need matching's "feasible host with the greatest need" in O(log n) per rotator.

    Without a commute cap, preferences or twinning, a rotator's hosts are one of a few shared sets
    (scope block, teacher level, tier bound of the direction) less the home school. Rotators are
    placed one need class at a time (the order puts each class's rotators together); for the class
    in play each set keeps a lazy max-heap of (-need, school), built from the needs as they are when
    the set is first asked. An entry whose need has changed, or whose school has no room, is dropped
    when it reaches the top, and a school gets fresh entries when its need changes or its room
    reopens. Ties go to the lower school id, as `argmax` over the sorted host list does, so the
    result equals the loop over `Constraints.options` (a test holds them equal).
    """

    @staticmethod
    def applies(program) -> bool:
        """Whether hosts are shared sets less the home school (heaps are built only for the sets
        asked, so they pay off at any number of rotators)."""
        return program.commute_cap_minutes is None and not program.prefer and program.scope != "twinning"

    def __init__(self, cons: Constraints, need_by_class: list[np.ndarray]):
        p = cons.program
        self.cons = cons
        self.need = [np.array(n, dtype=float) for n in need_by_class]
        self.room = cons.room.tolist()
        self.books_room, self.frees_home = cons.books_room, cons.frees_home
        self.cross_level, self.direction = p.cross_level, p.direction

    def set_ids(self, homes: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each rotator's host set as a small integer (-1: no block, so no host), and one rotator
        index per set to draw its members from. A set is (block, teacher level or any, home tier
        or any), packed into one integer key."""
        cons = self.cons
        block = cons.block[homes]
        level = np.zeros_like(levels) if self.cross_level else levels.astype(np.int64)
        tier = np.zeros_like(homes) if self.direction == "any" else cons.tier[homes].astype(np.int64)
        n_level, n_tier = int(level.max(initial=0)) + 1, int(cons.tier.max(initial=0)) + 1
        key = ((block + 1) * n_level + level) * n_tier + tier
        _, first, sid = np.unique(key, return_index=True, return_inverse=True)
        return np.where(block >= 0, sid.reshape(-1), -1), first

    def _members(self, home: int, level: int) -> list[int]:
        """Schools of a host set, drawn from one home school it serves (the same for each)."""
        in_block = self.cons.candidates(home)
        return in_block[self.cons.fits(in_block, level, self.cons.tier[home])].tolist()

    def hosts(self, order: np.ndarray, homes: np.ndarray, levels: np.ndarray, klass: np.ndarray,
              quality: np.ndarray, backbone: np.ndarray, pe_art: np.ndarray) -> np.ndarray:
        """Each rotator's host (-1: none open), placing rotators in `order`, one run of a need class
        after another, and booking each move as `Constraints.place` and `Needs.book` do."""
        sids, first = self.set_ids(homes, levels)
        out = np.full(len(homes), -1, dtype=np.int64)
        taken = (np.asarray(backbone, dtype=float), np.asarray(pe_art, dtype=float), np.asarray(quality, dtype=float))
        members = [self._members(h, lv) for h, lv in zip(homes[first].tolist(), levels[first].tolist(), strict=True)]
        starts = np.flatnonzero(np.diff(klass[order])) + 1
        for run in np.split(order, starts):
            if not len(run):
                continue
            k = int(klass[run[0]])
            # plain Python values in the loop: it runs once per rotator, tens of thousands a year;
            # the needs negated (exactly), so a heap entry's key is a need as it is kept
            neg_need = (-self.need[k]).tolist()
            rotators = _QueuedRotators(sids[run].tolist(), homes[run].tolist(), taken[k][run].tolist())
            found = np.array(self._place_class(rotators, neg_need, members), dtype=np.int64)
            out[run] = found
            self.need[k] = -np.array(neg_need)
            # the other classes' needs are not read in this run: booked after it, in placement order
            # (ufunc.at subtracts one index at a time, so the same floats as booking one by one)
            placed, to = run[found >= 0], found[found >= 0]
            for c in range(3):
                if c != k and np.any(taken[c][placed]):
                    np.subtract.at(self.need[c], to, taken[c][placed])
        return out

    def _place_class(self, rotators: _QueuedRotators, neg_need: list[float], members: list[list[int]]) -> list[int]:
        """Hosts of the rotators of one need class (-1: none open), placing them in order, each at
        the open host of its set with the greatest need of that class (not its home school), and
        booking the need (`neg_need`: the class's needs negated) and the room."""
        out = [-1] * len(rotators.sids)
        room, books, frees = self.room, self.books_room, self.frees_home
        heaps: list = [None] * len(members)  # per host set, built when first asked
        # school -> host sets it is in: tuples of ints, which the garbage collector stops tracking
        holding: list[tuple[int, ...]] = [()] * len(room)
        heapify, heappop, heappush, heapreplace = heapq.heapify, heapq.heappop, heapq.heappush, heapq.heapreplace
        for i, j, home, d in zip(range(len(out)), rotators.sids, rotators.homes, rotators.step, strict=True):
            if j < 0:
                continue
            heap = heaps[j]
            if heap is None:
                schools = members[j]
                heap = heaps[j] = [(neg_need[h], h) for h in schools]
                heapify(heap)
                for h in schools:
                    holding[h] += (j,)
            own = None
            while heap:
                neg, h = heap[0]
                if neg != neg_need[h] or (books and room[h] <= 0):
                    heappop(heap)  # stale: a fresh entry exists, or will when the room reopens
                elif h == home:
                    own = heappop(heap)
                else:
                    break
            else:  # no open host
                if own is not None:
                    heappush(heap, own)
                continue
            out[i] = h
            neg = neg_need[h] + d  # -(need - d), exactly
            neg_need[h] = neg
            entry = (neg, h)
            heapreplace(heap, entry)  # h is this heap's top: its stale entry is replaced, not left to pop
            held = holding[h]
            if len(held) > 1:  # h is in other sets too (a nine-year school, in both levels' sets)
                for m in held:
                    if m != j:
                        heappush(heaps[m], entry)
            if own is not None:
                heappush(heap, own)
            if books:
                room[h] -= 1
                if frees:
                    room[home] += 1
                    if room[home] == 1:  # reopened: fresh entries for the home school
                        entry = (neg_need[home], home)
                        for m in holding[home]:
                            heappush(heaps[m], entry)
        return out


class OptimalMatching:
    """Assignment that maximises the equity gain minus a commute cost, solved exactly with
    `scipy.optimize.linear_sum_assignment` on blocks of at most 128 rotators (strongest first).

    A school offers one slot per place of room (up to the rotators in play); the j-th slot of school
    h is worth, to rotator r, (q_r / qbar) * (quality need_h / qbar - j) + [r is backbone] *
    (backbone need_h - j * b) + [r teaches PE/art] * (PE/art need_h - j * a), minus
    commute_weight * commute minutes (b, a: the backbone and PE/art shares among the rotators), so
    strong teachers go where the shortfall is largest unless the journey costs more than it gains.
    """

    words = "optimal assignment (equity gain minus commute cost)"

    def match(self, model, program, rotators: np.ndarray, cons: Constraints,
              rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        needs = Needs(model, rotators, cons)
        hosts = np.full(len(rotators), -1, dtype=np.int64)
        qbar = float(np.mean(needs.block_q))
        b = float(np.mean(needs.is_bb[rotators])) if len(rotators) else 0.0
        a = float(np.mean(needs.is_pa[rotators])) if len(rotators) else 0.0
        pending = np.argsort(-wf.quality[rotators], kind="stable")
        while len(pending):
            chunk, pending = pending[:OPTIMAL_CHUNK], pending[OPTIMAL_CHUNK:]
            placed_before = int(np.sum(hosts >= 0))
            schools, feasible = cons.feasible(wf, rotators[chunk])
            if len(schools) == 0:
                continue
            k = len(chunk)
            # slots per school: its room, but no more than a few times the chunk's even share (later
            # slots are worth less and would only grow the problem); rotators left over by the cap
            # are placed in the next chunk
            even = int(np.ceil(3 * k / len(schools))) + 2
            per = np.minimum(cons.room[schools] if cons.books_room else np.full(len(schools), k), min(k, even))
            per = np.maximum(per, 0)
            slot_pos = np.repeat(np.arange(len(schools)), per)  # each slot's index into `schools`
            if len(slot_pos) == 0:
                continue
            slot_j = np.arange(len(slot_pos)) - np.repeat(np.cumsum(per) - per, per)  # 0, 1, ... per school
            value = self.values(wf, program, cons, needs, rotators[chunk], feasible, schools, slot_pos, slot_j,
                                qbar, b, a)
            rr, cc = best_assignment(value)
            ok = value[rr, cc] > -1e8  # an infeasible slot is no placement
            placed, to = chunk[rr[ok]], schools[slot_pos[cc[ok]]]
            hosts[placed] = to
            self.book(wf, cons, needs, rotators[placed], to)
            left = chunk[hosts[chunk] < 0]
            if len(left):
                left = left[cons.feasible(wf, rotators[left])[1].any(axis=1)]
            if len(left) and int(np.sum(hosts >= 0)) > placed_before:  # progress made: try the rest again
                pending = np.concatenate([left, pending])
        return hosts

    @staticmethod
    def book(wf, cons: Constraints, needs: Needs, rows: np.ndarray, to: np.ndarray) -> None:
        """`Constraints.place` and `Needs.book` of a chunk's moves at once, in the solver's row
        order (ufunc.at subtracts one index at a time, so the same floats as booking one by one)."""
        cons.place_many(wf.school[rows], to)
        np.subtract.at(needs.need["quality"], to, wf.quality[rows])
        np.subtract.at(needs.need["backbone"], to[needs.is_bb[rows]], 1.0)
        np.subtract.at(needs.need["pe_art"], to[needs.is_pa[rows]], 1.0)

    @staticmethod
    def values(wf, program, cons: Constraints, needs: Needs, rows: np.ndarray, feasible: np.ndarray,
               schools: np.ndarray, slot_pos: np.ndarray, slot_j: np.ndarray, qbar: float, b: float,
               a: float) -> np.ndarray:
        """Rotator-by-slot matrix of the class docstring's values; -1e9 where the slot's school is
        not among the rotator's options (`feasible`: rotator by school). Computed element by element
        in one matrix; the parts that depend on the school alone (needs, commute) are computed per
        school and then repeated per slot, which gives the same numbers."""
        nq, nb, npa = (needs.need[key][schools][slot_pos] for key in ("quality", "backbone", "pe_art"))
        v = (wf.quality[rows][:, None] / qbar) * (nq / qbar - slot_j)
        # the backbone and PE/art terms added in place to their rows only: adding bb * x with bb 0
        # adds 0.0 (or -0.0), which leaves v as it was, so the numbers are those of v + bb * x
        v[needs.is_bb[rows]] += nb - slot_j * b
        v[needs.is_pa[rows]] += npa - slot_j * a
        cost = commute_minutes(cons.careers, wf.home_x[rows][:, None] - cons.x[schools],
                               wf.home_y[rows][:, None] - cons.y[schools])
        cost *= program.commute_weight
        v -= cost[:, slot_pos]
        v[~feasible[:, slot_pos]] = -1e9
        return v


def best_assignment(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`linear_sum_assignment(value, maximize=True)` solved on the columns that can matter: each
    row's k best (k = number of rows). An optimal assignment never needs another column (one of the
    row's k best is always free to swap in), so a unique optimum is the same on the fewer columns,
    and the solver's cost falls from rows^2 x all slots to rows^2 x the slots kept."""
    from scipy.optimize import linear_sum_assignment  # here: the scenario schema imports this module

    k, m = value.shape
    if m <= 2 * k:
        return linear_sum_assignment(value, maximize=True)
    keep = np.zeros(m, dtype=bool)
    keep[np.argpartition(-value, k - 1, axis=1)[:, :k]] = True  # a mask: what np.unique gives, sorted, faster
    keep = np.flatnonzero(keep)
    rr, cc = linear_sum_assignment(value[:, keep], maximize=True)
    return rr, keep[cc]


class PointsMatching:
    """Korea-style placement: rotators are ranked by points (years at rural or weak schools,
    performance, backbone bonus) and, in that order, each takes the first school on their ranked
    preference list that still has room; one whose listed schools are all full is placed by the
    office at the feasible school with the most room left (its largest vacancy; an assumption), not
    by the teacher's taste, so the list's length matters. Utility = tier weight * tier - commute
    weight * commute + taste, taste drawn once per teacher and school this year."""

    words = "Korean-style points and ranked preferences"

    def match(self, model, program, rotators: np.ndarray, cons: Constraints,
              rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        p = program.points
        pts = points(model, rotators, p)
        taste = rng.normal(0.0, p.preference_noise, (len(rotators), model.world.n_schools)) \
            if len(rotators) * model.world.n_schools <= 5e7 else None
        hosts = np.full(len(rotators), -1, dtype=np.int64)
        self.first_choice = np.zeros(len(rotators), dtype=bool)
        for i in np.argsort(-pts, kind="stable"):
            r = int(rotators[i])
            cand = cons.candidates(int(wf.school[r]))
            feasible = cons.options(wf, r)
            listed = self.preferences(wf, r, cand, cons, p, taste[i] if taste is not None else None)
            listed = listed[: p.preferences]
            open_listed = listed[np.isin(listed, feasible)]
            if len(open_listed):
                h = int(open_listed[0])
                self.first_choice[i] = h == listed[0]
            elif len(feasible):  # no listed school has room: the office places the teacher
                h = int(feasible[np.argmax(cons.room[feasible])])
            else:
                continue
            hosts[i] = h
            cons.place(int(wf.school[r]), h)
        return hosts

    @staticmethod
    def preferences(wf, row: int, schools: np.ndarray, cons: Constraints, p, taste) -> np.ndarray:
        """The teacher's ranking of `schools` (other than home), best first."""
        schools = schools[schools != wf.school[row]]
        u = p.preference_tier_weight * cons.tier[schools] - p.preference_commute_weight * cons.commute(wf, row, schools)
        if taste is not None:
            u = u + taste[schools]
        return schools[np.argsort(-u, kind="stable")]


def points(model, rows: np.ndarray, p) -> np.ndarray:
    """Placement points of teachers (Seoul): location, performance and backbone bonus."""
    wf = model.workforce
    mean_q = float(wf.quality[wf.active].mean())
    return (p.location_weight * wf.hardship_years[rows] + p.performance_weight * (wf.quality[rows] - mean_q)
            + p.bonus_backbone * wf.backbone[rows])


class LeadingSchoolMatching:
    """Training flow: each young teacher goes to the leading school of their own education group
    for full-time study (weak -> strong, as Dongcheng and Yanqing do)."""

    words = "placement at the group's leading school"

    def match(self, model, program, rotators: np.ndarray, cons: Constraints,
              rng: np.random.Generator) -> np.ndarray:
        wf = model.workforce
        s = model.world.schools
        leader_of = model.world.group_leaders
        hosts = np.full(len(rotators), -1, dtype=np.int64)
        for i, r in enumerate(rotators.tolist()):
            g = int(s["group"][wf.school[r]])
            lead = leader_of.get(g)
            if lead is None:
                continue
            if lead in cons.options(wf, r):
                hosts[i] = lead
                cons.place(int(wf.school[r]), lead)
        return hosts


# The one list of matchers: the scenario's `matching` choices and the report's words come from it.
MATCHERS = {"random": RandomMatching, "need": NeedMatching, "optimal": OptimalMatching,
            "points": PointsMatching, "leading_school": LeadingSchoolMatching}
