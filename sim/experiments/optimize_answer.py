"""The answer of a finished policy search, in a district office's words: the cheapest policy
meeting the constraints, its objectives with intervals, and how much better it is than the base
scenario, paired on the same seeds.

The base scenario (the optimisation file's base with its `set`, no lever changed) is run once on
the search's replicate seeds and kept in the folder (`base.json`, written atomically under the
folder's lock, with the search's fingerprint), so an answer never runs a candidate again. Each
replicate of the chosen policy is paired with the base's replicate of the same seed; the
difference's mean and t-interval are over those pairs (over plausible worlds' mean differences
when the search judged candidates across a calibration posterior).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.costs import ITEMS
from sim.experiments.optimize import (
    BASE_FILE,
    INTERVAL,
    KIND,
    Optimisation,
    OptimizeError,
    candidate_task,
    candidate_words,
    cheapest,
    closest,
    constraint_words,
    evaluate,
    objective_words,
    per_world,
    t_interval,
    worst,
)
from sim.storage.results import read_frame


@dataclass
class Compared:
    """One objective of the chosen policy: its mean and interval, the base's mean, and the paired
    difference (policy - base) with its interval."""

    words: str
    sense: str
    mean: float
    low: float
    high: float
    base: float
    diff: float
    diff_low: float
    diff_high: float
    worst: float | None = None  # the worst plausible world's mean, with a posterior

    @property
    def verdict(self) -> str:
        """better / worse when the interval of the difference leaves out 0, else no clear difference."""
        if self.diff_low <= 0 <= self.diff_high:
            return "no clear difference"
        lower = self.diff_high < 0
        return "better" if lower == (self.sense == "min") else "worse"


@dataclass
class PriceEnd:
    """The cheapest candidate meeting the constraints when one price is at an end of its explored
    range (the others as in the file), among the candidates the search evaluated."""

    item: str
    end: str  # "low" or "high"
    price: float
    candidate: str | None
    words: str  # the candidate in words, "" when it is the chosen one


def price_ends(opt: Optimisation, frame: pd.DataFrame, reps: pd.DataFrame) -> list[PriceEnd]:
    """Each explored price at its two ends: runs re-priced from their quantities (nothing re-run).
    Feasibility is as evaluated (a constraint on cost is at the file's prices)."""
    costs = opt.spec.costs
    chosen = cheapest(frame)
    out = []
    for item in ITEMS:
        price = getattr(costs, item)
        for end, value in zip(("low", "high"), price.explored or [], strict=False):
            prices = {i: getattr(costs, i).value for i in ITEMS} | {item: value}
            cost = sum(reps[f"quantity_{i}"] * prices[i] for i in ITEMS)
            means = reps.assign(cost=cost).groupby("candidate")["cost"].mean()
            best = cheapest(frame.assign(cost=frame["candidate"].map(means)))
            key = None if best is None else str(best["candidate"])
            same = chosen is not None and key == chosen["candidate"]
            out.append(PriceEnd(item, end, value, key, "" if same or best is None else candidate_words(opt, best)))
    return out


@dataclass
class Answer:
    """What `teachersim optimize FILE --answer` prints."""

    name: str
    runs: str  # "5 replicates" or "4 plausible worlds x 2 replicates"
    policy: str | None  # the chosen candidate in words; None when no candidate meets the constraints
    candidate: str | None
    objectives: list[Compared] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)  # the chosen policy's share met, in words
    base_constraints: list[str] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)  # of the policy's runs meeting each constraint
    base_shares: list[float] = field(default_factory=list)
    prices: list[PriceEnd] = field(default_factory=list)
    currency: str = ""
    base_meets: bool = False  # the base scenario meets every constraint itself
    base_cheaper: bool = False  # ... and costs less than the chosen policy
    closest: str = ""

    def lines(self) -> list[str]:
        if self.policy is None:
            return [f"{self.name}: no evaluated candidate meets the constraints. {self.closest}".strip()]
        out = [f"{self.name}: the cheapest policy meeting the constraints is: {self.policy}.",
               f"Over {self.runs} on common seeds (means, {INTERVAL:.0%} t-intervals; difference = policy - base "
               "scenario, paired by seed):"]
        for c in self.objectives:
            worst_world = "" if c.worst is None else f" (worst world {_n(c.worst)})"
            out.append(f"- {c.words}: {_n(c.mean)} [{_n(c.low)}, {_n(c.high)}]{worst_world}; "
                       f"base scenario {_n(c.base)}; difference {_n(c.diff, True)} "
                       f"[{_n(c.diff_low, True)}, {_n(c.diff_high, True)}]: {c.verdict}")
        if self.constraints:
            out.append(f"Constraints met by the policy: {'; '.join(self.constraints)}.")
            out.append(f"By the base scenario: {'; '.join(self.base_constraints)}.")
        if self.base_meets:
            out.append("The base scenario meets the constraints itself" + (
                ", and costs less than the cheapest candidate found: keep it, unless the other objectives' "
                "differences are worth the cost." if self.base_cheaper else "."))
        changed = [p for p in self.prices if p.words]
        if self.prices and not changed:
            out.append("Prices: with any one price at either end of its explored range, the cheapest choice is the "
                       "same.")
        for p in changed:
            out.append(f"Prices: with {p.item.replace('_', ' ')} at {p.price:,.0f} {self.currency} (the {p.end} end "
                       f"of its explored range) the cheapest choice would instead be: {p.words}.")
        return out

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"


def _n(x: float, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{x:{sign},.0f}" if abs(x) >= 1000 else f"{x:{sign}.4g}"


def base_rows(opt: Optimisation, out: Path, progress: bool = False) -> list[dict]:
    """The base scenario's rows on the search's seeds: read from `out`/base.json when it holds this
    search's, else run once here and written there (under the folder's lock)."""
    from sim.storage.folders import OutputRefused, claim
    from sim.storage.store import write_bytes_atomic

    cached = _read_base(opt, out)
    if cached is not None:
        return cached
    task = candidate_task(opt, "base", {})
    if isinstance(task, dict):
        raise OptimizeError(f"{opt.path}: base: {task['error']}")
    if progress:
        print(f"running the base scenario on the search's {len(opt.seeds)} seeds (once; kept in {out}/{BASE_FILE})",
              file=sys.stderr, flush=True)
    from sim.config.scenario import ScenarioError
    from sim.world import RosterError

    try:
        rows = evaluate(task)
    except (RosterError, ScenarioError, OSError) as exc:  # a roster moved since the search, say
        raise OptimizeError(f"{out}: cannot run the base scenario for the paired comparison: {exc}") from None
    body = json.dumps({"fingerprint": opt.fingerprint(), "rows": rows}, sort_keys=True).encode()
    try:
        with claim(out, KIND):
            write_bytes_atomic(out / BASE_FILE, body)
    except OutputRefused as exc:
        raise OptimizeError(str(exc)) from None
    return json.loads(body)["rows"]  # as a later answer reads them back


def _read_base(opt: Optimisation, out: Path) -> list[dict] | None:
    path = out / BASE_FILE
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != opt.fingerprint():
        return None
    return data.get("rows")


def finished(opt: Optimisation, out: Path) -> bool:
    """Whether `out` holds this search, finished (its outputs written)."""
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return manifest.get("fingerprint") == opt.fingerprint() and manifest.get("status") == "done"


def answer(opt: Optimisation, out: str | Path, progress: bool = False) -> Answer:
    """The answer of the finished search in `out` (raises OptimizeError when it is not finished)."""
    out = Path(out)
    if not finished(opt, out):
        raise OptimizeError(f"{out}: holds no finished search of {opt.path}; run teachersim optimize on it first")
    frame = read_frame(out / "candidates.parquet")
    spec = opt.spec
    runs = (f"{len(opt.worlds)} plausible worlds x {spec.replicates} replicates" if spec.posterior
            else f"{spec.replicates} replicates")
    best = cheapest(frame)
    if best is None:
        near = ""
        if spec.constraints and frame["valid"].any():
            row = closest(opt, frame, 1).iloc[0]
            met = ", ".join(f"{row[f'constraint_{j}_share_met']:.0%}" for j in range(len(spec.constraints)))
            near = f"Closest: {candidate_words(opt, row)} (share of runs meeting each constraint: {met})."
        return Answer(spec.name, runs, None, None, closest=near)
    reps = read_frame(out / "replicates.parquet")
    mine = reps[reps["candidate"] == best["candidate"]].drop(columns="candidate")
    base = pd.DataFrame(base_rows(opt, out, progress))
    paired = mine.merge(base, on=["world", "replicate"], suffixes=("", "_base"), validate="one_to_one")
    if len(paired) != len(mine) or not (paired["seed"] == paired["seed_base"]).all():
        raise OptimizeError(f"{out}/{BASE_FILE}: the base scenario's runs are not on the search's seeds")
    result = Answer(spec.name, runs, candidate_words(opt, best), str(best["candidate"]),
                    prices=price_ends(opt, frame, reps), currency=spec.costs.currency)
    for i, o in enumerate(spec.objectives):
        col = f"objective_{i}"
        paired[f"diff_{i}"] = paired[col] - paired[f"{col}_base"]
        mean, low, high = t_interval(per_world(paired, col))
        diff, diff_low, diff_high = t_interval(per_world(paired, f"diff_{i}"))
        result.objectives.append(Compared(objective_words(opt, i), o.sense, mean, low, high,
                                          float(paired[f"{col}_base"].mean()), diff, diff_low, diff_high,
                                          worst(per_world(paired, col), o.sense) if spec.posterior else None))
    for j, c in enumerate(spec.constraints):
        words = constraint_words(opt, j)
        result.shares.append(float(np.mean([c.met(v) for v in paired[f"constraint_{j}"]])))
        result.base_shares.append(float(np.mean([c.met(v) for v in base[f"constraint_{j}"]])))
        result.constraints.append(f"{words}: met in {result.shares[-1]:.0%}")
        result.base_constraints.append(f"{words}: met in {result.base_shares[-1]:.0%}")
    base_cost = float(base["cost"].mean())
    result.base_meets = bool(spec.constraints) and all(s >= c.share for s, c in
                                                       zip(result.base_shares, spec.constraints, strict=True))
    result.base_cheaper = result.base_meets and base_cost < float(best["cost"])
    return result

