"""Shared builders and spies of the policy tests (tests/test_policy_*.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from sim.codes import MOVE_KINDS, SCHOOL_LEVELS, TIERS
from sim.config.scenario import scenario_from_dict
from sim.core.model import RotationModel
from sim.policies import RotationProgram
from sim.policies.eligibility import eligible_mask
from sim.policies.matching import Constraints

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DONGCHENG_2021 = SCENARIOS / "dongcheng_2021.yaml"  # the full plan: four programs, 78 classrooms

ROTATION = MOVE_KINDS.index("rotation")
NINE_YEAR = SCHOOL_LEVELS.index("nine_year")
RETURN = MOVE_KINDS.index("return")
HIRE = MOVE_KINDS.index("hire")
WEAK = TIERS.index("weak")
RURAL = TIERS.index("rural")

# one Dongcheng-shaped district of 20 schools of about 30 teachers
SMALL = {"preset": "dongcheng", "schools_per_district": 20, "teachers_per_school": 30}
# three Beijing districts (urban core, urban core, inner suburb) of 20 schools
SMALL3 = {"preset": "beijing", "districts": 3, "schools_per_district": 20, "teachers_per_school": 30}
SMALL_BEIJING = ("world.preset=beijing", "world.districts=3", "world.schools_per_district=20",
                 "world.teachers_per_school=30")  # SMALL3 as scenario overrides
# all 16 Beijing districts (rural ones included), 6 schools each
SMALL16 = {"preset": "beijing", "schools_per_district": 6, "teachers_per_school": 30}

SNAPSHOT = ("school", "host", "years_at_school", "age", "experience", "role", "woman", "quality",
            "backbone", "active", "term_end", "level")


# ---------------------------------------------------------------------------------- helpers


def build(*programs: dict, world: dict = SMALL, policy: dict | None = None, careers: dict | None = None,
          seed: int = 0) -> RotationModel:
    """A model of the given programs (plain dicts of Program fields) on a small world."""
    data = {"world": dict(world), "policy": {"programs": list(programs), **(policy or {})},
            "careers": dict(careers or {})}
    return RotationModel(scenario_from_dict(data), rng=seed)


def record_applies(monkeypatch) -> list[SimpleNamespace]:
    """Spy on RotationProgram.apply: for every program application, the state just before it
    (copies of workforce columns), the eligibility mask then, the counts it returned and the
    rotation moves it logged."""
    log: list[SimpleNamespace] = []
    original = RotationProgram.apply

    def spy(self, model):
        wf = model.workforce
        before = {c: getattr(wf, c).copy() for c in SNAPSHOT}
        eligible = eligible_mask(model, self.config.eligibility)
        first = len(model.moves)
        result = original(self, model)
        log.append(SimpleNamespace(year=model.year, cfg=self.config, before=before, eligible=eligible,
                                   result=result, moves=[mv for mv in model.moves[first:] if mv[4] == ROTATION],
                                   present=np.bincount(wf.host[wf.active], minlength=model.world.n_schools)))
        return result

    monkeypatch.setattr(RotationProgram, "apply", spy)
    return log


def commute(model, row: int, schools) -> np.ndarray:
    """Minutes from a teacher's home to schools: fixed + per-km x straight-line distance."""
    c = model.config.careers
    s = model.world.schools
    wf = model.workforce
    schools = np.asarray(schools)
    d = np.hypot(wf.home_x[row] - s["x"][schools], wf.home_y[row] - s["y"][schools])
    return c.commute_fixed_minutes + c.commute_minutes_per_km * d


def partners(model, school: int) -> set[int]:
    return {int(b) for a, b in model.world.twinning.tolist() if a == school} | \
        {int(a) for a, b in model.world.twinning.tolist() if b == school}


def expected_options(model, cfg, room: np.ndarray, row: int) -> np.ndarray:
    """The hosts a rotator may go to, from the rules as the schema states them: in scope, not home,
    with room (part-timers take no post), level-compatible unless cross_level, in the allowed
    direction, within the commute cap; the preferred hosts alone when one of them is feasible."""
    s = model.world.schools
    wf = model.workforce
    n = model.world.n_schools
    ids = np.arange(n)
    home = int(wf.school[row])
    if cfg.scope == "city":
        ok = np.ones(n, dtype=bool)
    elif cfg.scope == "twinning":
        ok = np.isin(ids, sorted(partners(model, home)))
    elif cfg.scope == "group":
        ok = (s["group"] == s["group"][home]) & (s["group"][home] >= 0)
    else:
        ok = s[cfg.scope] == s[cfg.scope][home]
    ok &= ids != home
    if cfg.form != "part_time":
        ok &= room > 0
    if not cfg.cross_level:
        ok &= (s["level"] == wf.level[row]) | (s["level"] == NINE_YEAR)
    if cfg.direction == "strong_to_weak":
        ok &= s["tier"] < s["tier"][home]
    elif cfg.direction == "weak_to_strong":
        ok &= s["tier"] > s["tier"][home]
    if cfg.commute_cap_minutes is not None:
        ok &= commute(model, row, ids) <= cfg.commute_cap_minutes
    base = ids[ok]
    for pref in cfg.prefer:
        if pref == "twinning":
            sub = base[np.isin(base, sorted(partners(model, home)))]
        else:
            sub = base[(s["group"][base] == s["group"][home]) & (s["group"][home] >= 0)]
        if len(sub):
            return sub
    return base


def record_options(monkeypatch) -> list[SimpleNamespace]:
    """Spy on Constraints.options and Constraints.feasible (many rotators at once, one record per
    rotator): what they offered each rotator and what the rules allow then."""
    calls: list[SimpleNamespace] = []
    original, original_many = Constraints.options, Constraints.feasible

    def note(cons, row, got):
        calls.append(SimpleNamespace(year=cons.model.year, program=cons.program.name, row=int(row),
                                     got=np.array(got), want=expected_options(cons.model, cons.program,
                                                                               cons.room, int(row))))

    def spy(self, wf, row):
        got = original(self, wf, row)
        note(self, row, got)
        return got

    def spy_many(self, wf, rows):
        schools, mask = original_many(self, wf, rows)
        assert np.all(np.diff(schools) > 0) and mask.any(axis=0).all()  # sorted, each some rotator's
        for row, ok in zip(rows.tolist(), mask, strict=True):
            note(self, row, schools[ok])
        return schools, mask

    monkeypatch.setattr(Constraints, "options", spy)
    monkeypatch.setattr(Constraints, "feasible", spy_many)
    return calls


def move_commutes(model, moves) -> np.ndarray:
    return np.array([float(commute(model, mv[1], [mv[3]])[0]) for mv in moves])


def hand_count(model, flag: np.ndarray | None = None) -> np.ndarray:
    """Teachers (or flagged teachers) where they teach, counted teacher by teacher: a part-timer
    is (1 - share) at home and share at the part-time host, everybody else 1 at the host."""
    wf = model.workforce
    out = np.zeros(model.world.n_schools)
    for r in np.flatnonzero(wf.active).tolist():
        w = 1.0 if flag is None else float(flag[r])
        if wf.part_host[r] >= 0:
            out[wf.host[r]] += w * (1.0 - wf.part_share[r])
            out[wf.part_host[r]] += w * wf.part_share[r]
        else:
            out[wf.host[r]] += w
    return out


def leader_of_group(model) -> dict[int, int]:
    s = model.world.schools
    leaders = {}
    for i in range(model.world.n_schools):
        if s["leading"][i] and s["group"][i] >= 0:
            assert int(s["group"][i]) not in leaders, "a group has two leading schools"
            leaders[int(s["group"][i])] = i
    return leaders
