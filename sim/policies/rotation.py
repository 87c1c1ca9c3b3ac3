"""A rotation program in action: eligibility -> selection -> matching -> moves, and term ends.

The model calls `RotationProgram.apply` once a year for each program in the scenario, in order,
and `end_terms` at the start of each year. Selection and matching methods are plug-ins looked up
by the names the scenario gives (`SELECTORS`, `MATCHERS`); a new rule is a new class registered
there, and the model loop does not change. Three forms of move:
- full_time: the teacher teaches at the host for the term (the agent's cell moves), then
  returns home or, with `stay_share`, takes a post there;
- part_time: the teacher keeps the home post and cell and teaches `part_time_share` of the load
  at the host for the term; indicators at both schools count the shares;
- transfer: the home post moves to the host at once (Japan's and Korea's periodic transfers).
A program may make the move an exchange (`sim.policies.exchange`): paired moves, one for one, and
covers for the posts full-time rotators leave.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.codes import DISTRICT_BACKBONE
from sim.policies.eligibility import eligible_mask
from sim.policies.exchange import counterpart_mask, cover_posts, end_covers, pair_up
from sim.policies.matching import MATCHERS, Constraints
from sim.policies.priority import first_draws
from sim.policies.selection import SELECTORS


@dataclass(frozen=True)
class Form:
    """A form of move (module docstring), as the report names it."""

    words: str  # in the report, formatted with `share`: the program's part-time share in per cent


# The one list of forms of move: the scenario's `form` choices and the report's words come from it
# (RotationProgram.apply makes each form's moves).
FORMS = {"full_time": Form("Full-time rotation"),
         "part_time": Form("Part-time rotation ({share} of the load taught at the host)"),
         "transfer": Form("Transfer of the post")}


def form_label(program) -> str:
    """How a program's moves are counted in `rotations_by_form`."""
    return "training" if program.matching == "leading_school" else program.form


class RotationProgram:
    """One configured rotation stream (a `policy.programs` entry) with its plug-ins."""

    def __init__(self, config, index: int):
        self.config = config
        self.index = index
        self.selector = SELECTORS[config.selection]()
        self.matcher = MATCHERS[config.matching]()

    def eligible(self, model) -> np.ndarray:
        return eligible_mask(model, self.config.eligibility)

    def apply(self, model) -> dict[str, int]:
        """Select and move this year's rotators; returns counts for the year's metrics."""
        cfg = self.config
        wf = model.workforce
        eligible = self.eligible(model)
        selected = self.selector.select(model, cfg, eligible, model.stream(f"selection:{cfg.name}"))
        n_s = model.world.n_schools
        # teachers present at each host (`compress`: the active rows' hosts without a float cast)
        present = np.bincount(np.compress(wf.active, wf.host), minlength=n_s)
        pool = counterpart_mask(model, cfg) if cfg.exchange == "paired" else None
        cons = Constraints(model, cfg, present, None if pool is None else np.bincount(wf.school[pool], minlength=n_s))
        hosts = self.matcher.match(model, cfg, selected, cons, model.stream(f"matching:{cfg.name}"))
        if pool is None:
            moved, to = selected[hosts >= 0], hosts[hosts >= 0]
        else:
            moved, to, term_of = pair_up(model, cfg, selected, hosts, pool, model.stream(f"pairing:{cfg.name}"))
        # a draw per row, in row order from a fresh stream: the ones past the last mover, never read, are not drawn
        terms = model.stream(f"term:{cfg.name}").integers(cfg.term_years_min, cfg.term_years_max + 1,
                                                          int(moved.max(initial=-1)) + 1)
        if pool is not None:  # a pair's two members serve the same term
            terms[moved] = terms[term_of]
        if cfg.form == "full_time":
            model.move_teachers(moved, to, "rotation", cfg.name)
        elif cfg.form == "part_time":
            model.share_teachers(moved, to, cfg.part_time_share, cfg.name)
        else:
            model.transfer_posts(moved, to, "rotation", cfg.name)
        wf.n_rotations[moved] += 1
        wf.rotated_in[moved] = model.year
        if cfg.form != "transfer":
            wf.term_end[moved] = model.year + terms[moved]
            wf.program[moved] = self.index
        if cfg.backfill != "none":
            cover_posts(model, cfg, moved)
        # eligible_rotated: movers of the eligible pool; a paired exchange's counterparts from
        # outside it (a weak host's teachers sent back) are rotations but not of the eligible
        of_pool = moved[eligible[moved]]
        is_moved = np.zeros(wf.n, dtype=bool)  # a mask, not np.isin: the rows are row numbers
        is_moved[moved] = True
        return {"eligible": int(np.count_nonzero(eligible)), "rotations": len(moved), "eligible_rotated": len(of_pool),
                "eligible_rotated_backbone": int(np.count_nonzero(wf.backbone[of_pool] >= DISTRICT_BACKBONE)),
                "unmatched": int(np.count_nonzero(~is_moved[selected]))}


def end_terms(model, stay_shares: list[float]) -> dict[str, int]:
    """Rotators whose term is over go home (a part-timer simply stops teaching at the host), or,
    with the program's stay_share, take a post at the host; the teachers covering their posts leave."""
    wf = model.workforce
    end_covers(model)
    due = np.flatnonzero(wf.active & (wf.term_end >= 0) & (wf.term_end <= model.year))
    if len(due) == 0:
        return {"returns": 0, "stays": 0}
    u = first_draws(model.stream("term_end"), due)  # = random(wf.n)[due]
    share = np.array(stay_shares)[wf.program[due]]
    stays = due[u < share]
    returns = due[u >= share]
    sharing = wf.part_host[returns] >= 0
    model.end_sharing(returns[sharing])
    model.move_teachers(returns[~sharing], wf.school[returns[~sharing]], "return")
    model.transfer_posts(stays, wf.host[stays], "stay")
    wf.term_end[due] = -1
    wf.program[due] = -1
    return {"returns": len(returns), "stays": len(stays)}
