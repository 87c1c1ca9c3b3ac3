"""RotationModel: the Mesa model of teacher flows under a rotation policy, one step per year."""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import mesa
import numpy as np
from mesa.discrete_space import Network
from mesa.experimental.scenarios import Scenario as MesaScenario

from sim.codes import DISTRICT_BACKBONE, MOVE_KINDS, TIERS
from sim.config.examples import find_scenario
from sim.config.scenario import Eligibility, Scenario, load_scenario, with_settings
from sim.core import cadres, careers, tenure
from sim.core.agents import School, SchoolCell, Teacher
from sim.core.movelog import MoveLog
from sim.core.run_warning import RunWarning
from sim.core.workforce import Workforce
from sim.metrics import INDICATORS, YearContext, school_table, year_metrics
from sim.metrics.registry import ActiveTeachers
from sim.policies import RotationProgram, end_terms, form_label
from sim.policies.eligibility import eligible_mask
from sim.policies.sharing import double_teacher_classrooms
from sim.world import SchoolSystem, build_world, check_history, retirement

# the DataCollector's official indicators: each CV of the standard, for the levels its limits apply to
LEVEL_GROUPS = ("primary", "junior")
OFFICIAL_BY_LEVEL = tuple((f"cv_{indicator}", level) for indicator in INDICATORS for level in LEVEL_GROUPS)

SCHOOL_FRAME_COLUMNS = (
    "teachers", "above_qualification", "senior_title", "backbone", "pe_art",
)
# the Mesa DataCollector's model reporters (the report's headline table is sim.present.report's)
REPORTER_METRICS = ("cv_backbone", "cv_senior_title", "cv_quality", "rotations", "coverage_eligible",
                    "teachers_in_post")


def stream_seed(seed: int, name: str, year: int) -> np.random.SeedSequence:
    """The seed of the named random stream for one year: run seed + name + year, nothing else."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()), year))


def world_stream(seed: int) -> np.random.Generator:
    """The generator a run with this seed builds its world from (the "world" stream of year 0), so
    a report can rebuild the same world without knowing how the model names its streams."""
    return np.random.default_rng(stream_seed(seed, "world", 0))


class RotationModel(mesa.Model):
    """Teachers (CellAgents, views of the workforce rows) on the schools of a place graph, rotated under a policy.

    A normal Mesa model: Mesa's own runners drive it without glue (`mesa.batch_run(RotationModel,
    parameters={"scenario": "dongcheng_2021", "careers__drift_rate": [0.0, 0.05]}, rng=[1, 2, 3],
    max_steps=50)`): it stops by itself at the scenario's years (`running`), takes what Mesa passes
    as `rng`, and its DataCollector holds the headline metrics and the official indicators' CVs by
    level (`cv_backbone_primary`, ...).

    Example:
        >>> model = RotationModel("dongcheng_2021", rng=42)
        >>> while model.running:
        ...     model.step()
        >>> model.datacollector.get_model_vars_dataframe().tail(1)

    Args:
        scenario: a Scenario, a scenario file, or the name of a shipped scenario.
        rng: the run seed: an int, a numpy SeedSequence or a sequence of ints (as Mesa passes
            them), or None for a fresh seed from the system's entropy (Mesa's convention; the seed
            drawn is `model.seed`, so the run can be repeated). Every random decision draws from a
            stream named for its kind and derived from this seed (`stream`).
        world: an already built SchoolSystem (skips building; used by tests and sweeps).
        years: the year after which `running` turns False (default: the scenario's `run.years`).
        **settings: scenario settings by path with `__` for the dots, as `--set` takes them
            (`careers__drift_rate=0.05`, `policy__programs__district_exchange__quota__min_count=2500`).

    Mesa 4 replaces batch_run with `mesa.experimental.scenarios`; Mesa 3.5 ships its `Scenario`
    (not yet `run_scenarios`), and `RotationModel(scenario=mesa.experimental.scenarios.Scenario(
    rng=42, file="dongcheng_2021", careers__drift_rate=0.05))` works: `file` names the teachersim
    scenario, the other parameters are settings.
    """

    def __init__(self, scenario: Scenario | str | Path, rng=None, world: SchoolSystem | None = None,
                 years: int | None = None, **settings):
        mesa_scenario = None
        if isinstance(scenario, MesaScenario):  # Mesa 4's way: Scenario(rng=..., file=..., settings)
            mesa_scenario, scenario, rng, settings = _from_mesa_scenario(scenario, rng, settings)
        scenario = resolve_scenario(scenario, settings)
        seed = run_seed(rng)
        if mesa_scenario is not None:
            mesa_scenario.rng = seed
        super().__init__(rng=seed, scenario=mesa_scenario)
        self.seed = seed
        self.config = scenario
        self.year = 0
        self.years = scenario.run.years if years is None else int(years)
        self._place_schools(world)
        self._hire_initial_staff()
        self._set_policy()
        self._start_records()
        self.cadre_posts = cadres.leadership_posts(self.world.schools, scenario.careers.cadres)
        if scenario.careers.cadres.pipeline:
            cadres.initial_posts(self)
        careers.update_commute_and_satisfaction(self)
        self._start_collector()

    def _place_schools(self, world: SchoolSystem | None) -> None:
        """The world (built from the "world" stream unless given), its place graph as the Mesa
        space, a School on each school's cell, and the cells reading their teachers from the
        workforce."""
        scenario = self.config
        self.world = world if world is not None else build_world(
            scenario.world, world_stream(self.seed), scenario.source_dir, scenario.careers.retirement)
        check_history(self.world, scenario)
        self.space = Network(self.world.graph, layout=None, random=self.random, cell_klass=SchoolCell)
        self.school_agents = [School(self, i, self.space[i]) for i in range(self.world.n_schools)]
        self.workforce = Workforce(capacity=int(self.world.n_teachers * 1.6) + 16)
        self._teacher_views: dict[int, Teacher] = {}  # row -> its Teacher, made on first access
        self._hosts_index: tuple = (None, None, None)  # (key, rows by host, bounds): teachers_at
        self._views_synced: tuple | None = None  # workforce state when every teacher had a view
        for school in self.school_agents:
            school.cell.attach(self, school.index)
        self.space.__dict__.pop("all_cells", None)  # Mesa's cached collection holds the lists replaced above

    def _hire_initial_staff(self) -> None:
        """The world's teachers into the workforce, the model's quality unit from them (to which
        the published effects are mapped: careers.quality_scale), and their rotation history."""
        careers_cfg = self.config.careers
        t = self.world.teachers
        self.add_teachers({**{k: t[k] for k in t}, "host": t["school"], "arrived": -t["years_at_school"]})
        self.quality_mean0, self.quality_sd0 = careers.quality_scale(self.workforce)
        self.quality_max = self.quality_mean0 + careers_cfg.quality_ceiling_sd * self.quality_sd0
        self.disruption = careers.disruption_per_turnover(careers_cfg, self.quality_sd0)
        self.disruption_band = tuple(careers.disruption_per_turnover(careers_cfg, self.quality_sd0, e)
                                     for e in careers.TURNOVER_EFFECT_RANGE)
        if careers_cfg.tenure.history_years:
            tenure.initial_history(self)

    def _set_policy(self) -> None:
        """The programs with their plug-ins, and the rules whose cohort the coverage is of."""
        programs = self.config.policy.programs
        self.programs = [RotationProgram(p, i) for i, p in enumerate(programs)]
        # the last entry is for new hires training at a leading school (careers.hire_placement)
        self._stay_shares = [p.stay_share for p in programs] + [0.0]
        self.double_teacher_lift = np.zeros(self.world.n_schools)
        # coverage is of the cohort eligible under the programs with a coverage target (all
        # programs when none has one)
        self._coverage_rules = ([p.eligibility for p in programs if p.quota.coverage_years]
                                or [p.eligibility for p in programs] or [Eligibility()])

    def _start_records(self) -> None:
        """Empty records: the move log, the metric and school rows, this year's counters, warnings."""
        self._history: tuple[int, dict] = (-1, {})
        self.move_log = MoveLog()
        self.metric_rows: list[tuple[int, str, str, float]] = []
        self.school_rows: list[dict[str, np.ndarray]] = []
        self.school_frame_latest: dict[str, np.ndarray] = {}
        self.latest: dict[str, float] = {}
        self.latest_by_group: dict[tuple[str, str], float] = {}
        self._arrivals = np.zeros(self.world.n_schools)
        self._year_moves_from = 0
        self.away_last_year: np.ndarray | None = None  # set each year by tenure.away
        self.warnings: list[str] = []  # problems a run meets and goes on from (warn_once)
        self._warned: set = set()
        self._start: dict[str, float] = {}

    def _start_collector(self) -> None:
        """Mesa's DataCollector of the headline metrics and the official CVs by level, and year 0."""
        reporters = {name: (lambda m, n=name: m.latest.get(n, float("nan"))) for name in REPORTER_METRICS}
        reporters |= {f"{metric}_{level}": (lambda m, k=(metric, level): m.latest_by_group.get(k, float("nan")))
                      for metric, level in OFFICIAL_BY_LEVEL}
        self.datacollector = mesa.DataCollector(model_reporters=reporters)
        self._collect({"teachers_in_post": int(self.workforce.active.sum())})

    # ---------------------------------------------------------------------------- randomness

    def stream(self, name: str) -> np.random.Generator:
        """A fresh generator for one kind of decision in the current year (common random numbers)."""
        return np.random.default_rng(stream_seed(self.seed, name, self.year))

    # ----------------------------------------------------------------------------- the year

    def step(self) -> None:
        """One simulated year, in this order:

        1. Terms end: rotators whose term is over return home, or stay at the host (stay_share).
        2. Careers: ageing, tenure and experience; retirements; attrition (hazard rises at rural
           and weak posts, with commute and dissatisfaction); voluntary transfers toward stronger
           schools of the district (not cadres, whom the bureau appoints, when the cadre
           pipeline is on).
        3. Rotation: each program in order: eligibility -> selection under quotas, priorities, the
           backbone floor, gaming by sending schools and the leadership cap -> matching to hosts
           within scope, direction, level, commute cap and receiving capacity -> moves (full-time:
           the Teacher's cell changes; part-time: a share of the load counts at the host;
           transfer: the home post moves).
        4. Cadres (`sim.core.cadres`): principals due after their terms exchange posts; cadres the
           year's moves left beyond a school's posts take vacant posts or teach; every vacant
           leadership post is filled by promotion. Then hiring fills home-post vacancies
           against the staffing norms, placed as the careers section says (vacancies, weak
           schools first, or training at a leading school first).
        5. Sharing without moving: double-teacher classrooms let the strongest teachers of strong
           schools reach classes at the weakest schools, lifting their effective teaching.
        6. Learning and promotion: experience curve, peer effect, radiation from backbone
           rotators; title and backbone steps (a senior title may require years of rotation or
           rural service); then commute, dormitory beds and satisfaction at the host.
        7. Students: achievement proxy = effective quality minus disruption times turnover share.
        8. Collect: school indicators and every metric of the year.
        """
        self.year += 1
        self._arrivals = np.zeros(self.world.n_schools)
        self._year_moves_from = self.move_log.n
        self.away_last_year = tenure.away(self)  # careers.tenure pause: who spent the year away
        counts = dict(end_terms(self, self._stay_shares))                      # 1
        counts.update(self._careers())                                          # 2
        counts.update(self._rotate())                                           # 3
        if self.config.careers.cadres.pipeline:
            counts.update(cadres.yearly(self))                                  # 4
        counts["hires"] = len(careers.hire(self))                               # 4
        counts.update(self._share_lessons())                                    # 5
        careers.learn(self)                                                     # 6
        counts.update(careers.promote(self))
        careers.update_commute_and_satisfaction(self)
        counts["teachers_in_post"] = int(self.workforce.active.sum())
        self._collect(counts)                                                   # 7, 8
        self.running = self.year < self.years

    def _careers(self) -> dict[str, int]:
        careers.age_one_year(self)
        retiring = careers.retirements(self)
        self.remove_teachers(retiring, "retirement")
        leaving = careers.attrition(self)
        self.remove_teachers(leaving, "attrition")
        return {"retirements": len(retiring), "attrition": len(leaving),
                "drift_transfers": careers.voluntary_drift(self)}

    def _rotate(self) -> dict[str, int]:
        wf = self.workforce
        # the coverage rules and the pre-pass read the same state (cohort and excused are no
        # rule's input), and most rules are both: each rule's mask is computed once here
        masks: list[tuple] = []  # (rule, its mask), read only

        def mask_of(rule) -> np.ndarray:
            for seen, mask in masks:
                if seen == rule:
                    return mask
            masks.append((rule, eligible_mask(self, rule)))
            return masks[-1][1]

        covered = np.zeros(wf.n, dtype=bool)
        for rule in self._coverage_rules:
            covered |= mask_of(rule)
        if self.year == 1:
            wf.cohort[:] = covered
        wf.excused[:] |= wf.cohort & (wf.n_rotations == 0) & ~covered & (wf.term_end < 0)
        elig_any = np.zeros(wf.n, dtype=bool)
        for program in self.programs:
            elig_any |= mask_of(program.config.eligibility)  # = program.eligible(self)
        total = {"eligible": int(elig_any.sum()), "rotations": 0, "eligible_rotated": 0,
                 "eligible_rotated_backbone": 0, "unmatched": 0}
        for program in self.programs:
            got = program.apply(self)
            for key in ("rotations", "eligible_rotated", "eligible_rotated_backbone", "unmatched"):
                total[key] += got[key]
        return total

    def _share_lessons(self) -> dict[str, float]:
        self.double_teacher_lift, reach = double_teacher_classrooms(self)
        return {"double_teacher_reach": reach}

    def warn_once(self, key, text: str) -> None:
        """Record a problem the run goes on from, and issue it as a Python warning, once per key."""
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(text)
            warnings.warn(text, RunWarning, stacklevel=2)

    # ----------------------------------------------------------------------- state changes

    def add_teachers(self, values: dict[str, np.ndarray], kind: str = "hire") -> np.ndarray:
        """Append teachers to the workforce and give each a Teacher agent on its host's cell; after
        year 0 the move log records them as `kind` (a hire, or a cover for a rotator's post)."""
        rows = self.workforce.add(**values)
        wf, world = self.workforce, self.config.world
        wf.retire_months[rows] = retirement.statutory_age(
            self.config.careers.retirement, self.year, world.start_year, wf.age[rows], wf.birth_month[rows],
            wf.woman[rows])
        if self.year > 0:
            np.add.at(self._arrivals, self.workforce.host[rows], 1.0)  # a float: numpy's fast add.at path
            self._log(rows, np.full(len(rows), -1), self.workforce.host[rows], kind, "")
        return rows

    def remove_teachers(self, rows: np.ndarray, kind: str) -> None:
        wf = self.workforce
        self._log(rows, wf.host[rows], np.full(len(rows), -1), kind, "")
        wf.excused[rows] |= wf.cohort[rows] & (wf.n_rotations[rows] == 0)
        wf.active[rows] = False
        if self._teacher_views:
            for r in rows.tolist():  # the leavers' views, if made, leave Mesa's registries
                view = self._teacher_views.pop(r, None)
                if view is not None:
                    view.remove()

    def move_teachers(self, rows: np.ndarray, schools: np.ndarray, kind: str, program: str = "") -> None:
        """Change where teachers teach (rotation out or return home); their home posts stay."""
        wf = self.workforce
        rows, schools = np.asarray(rows, dtype=np.int64), np.asarray(schools, dtype=np.int64)
        self._log(rows, wf.host[rows], schools, kind, program)
        wf.host[rows] = schools
        if tenure.resets_on(self, kind):  # careers.tenure.rotation_counts
            wf.years_at_school[rows] = 0
        wf.arrived[rows] = self.year
        np.add.at(self._arrivals, schools, 1.0)  # a float: an int 1 takes numpy's slow add.at path (30x)

    def transfer_posts(self, rows: np.ndarray, schools: np.ndarray, kind: str, program: str = "") -> None:
        """Move teachers' home posts: voluntary drift, staying on at the host after a term, or a
        rotation in the transfer form. A teacher who was not already at the new school moves there."""
        wf = self.workforce
        rows, schools = np.asarray(rows, dtype=np.int64), np.asarray(schools, dtype=np.int64)
        self._log(rows, wf.school[rows], schools, kind, program)
        wf.school[rows] = schools
        wf.post_since[rows] = self.year  # a cadre's post at the new school starts now
        moving = wf.host[rows] != schools
        here = rows[~moving]  # a stayer's tenure at the new home is the years since arriving there
        wf.years_at_school[here] = self.year - wf.arrived[here]
        rows, schools = rows[moving], schools[moving]
        wf.host[rows] = schools
        wf.years_at_school[rows] = 0
        wf.arrived[rows] = self.year
        np.add.at(self._arrivals, schools, 1.0)  # a float: numpy's fast add.at path

    def share_teachers(self, rows: np.ndarray, schools: np.ndarray, share: float, program: str) -> None:
        """Start part-time rotations: the teachers keep their home posts and cells and teach
        `share` of their load at `schools`."""
        wf = self.workforce
        rows, schools = np.asarray(rows, dtype=np.int64), np.asarray(schools, dtype=np.int64)
        self._log(rows, wf.host[rows], schools, "rotation", program)
        wf.part_host[rows] = schools
        wf.part_share[rows] = share
        np.add.at(self._arrivals, schools, share)

    def end_sharing(self, rows: np.ndarray) -> None:
        """End part-time rotations: the whole load is back at the home school."""
        wf = self.workforce
        rows = np.asarray(rows, dtype=np.int64)
        self._log(rows, wf.part_host[rows], wf.host[rows], "return", "")
        wf.part_host[rows] = -1
        wf.part_share[rows] = 0.0

    @property
    def rotation_history(self) -> dict[int, list[tuple[int, int, int]]]:
        """Teacher row -> [(year, from school, to school), ...] of the rotations it started,
        derived from the move log when asked for (and kept until the log grows)."""
        if self._history[0] != self.move_log.n:
            c = self.move_log.columns()
            sel = np.flatnonzero(c["kind"] == MOVE_KINDS.index("rotation"))
            history: dict[int, list[tuple[int, int, int]]] = {}
            for r, y, a, b in zip(c["teacher"][sel].tolist(), c["year"][sel].tolist(),
                                  c["from_school"][sel].tolist(), c["to_school"][sel].tolist(), strict=True):
                history.setdefault(r, []).append((y, a, b))
            self._history = (self.move_log.n, history)
        return self._history[1]

    # ------------------------------------------------------------------ the Mesa agents

    def teacher(self, row: int) -> Teacher | None:
        """The Teacher agent of workforce row `row` (made on first access, then the same object);
        None once the teacher has left."""
        row = int(row)
        view = self._teacher_views.get(row)
        if view is None and 0 <= row < self.workforce.n and self.workforce.active[row]:
            view = self._teacher_views[row] = Teacher(self, row)
        return view

    def teachers_at(self, school: int) -> list[Teacher]:
        """The teachers whose host is `school`, in row order (what its cell's `agents` lists)."""
        order, bounds = self._host_index()
        return [self.teacher(r) for r in order[bounds[school]:bounds[school + 1]].tolist()]

    def teacher_count_at(self, school: int) -> int:
        _, bounds = self._host_index()
        return int(bounds[school + 1] - bounds[school])

    def _host_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Active rows grouped by host school, and each school's slice bounds; rebuilt when the
        workforce has changed (every change of host or of who is active is logged or adds rows)."""
        key = (self.move_log.n, self.workforce.n)
        if self._hosts_index[0] != key:
            wf = self.workforce
            rows = wf.active_rows()
            order = rows[np.argsort(wf.host[rows], kind="stable")]
            bounds = np.searchsorted(wf.host[order], np.arange(self.world.n_schools + 1))
            self._hosts_index = (key, order, bounds)
        return self._hosts_index[1], self._hosts_index[2]

    def _view_every_teacher(self) -> None:
        """Give every active teacher its Teacher before Mesa's registries are read."""
        if "move_log" not in vars(self):
            return  # the model's own set-up, before its teachers and records exist
        key = (self.move_log.n, self.workforce.n)
        if self._views_synced != key:
            for r in self.workforce.active_rows().tolist():
                self.teacher(r)
            self._views_synced = key

    @property
    def agents(self):
        """Mesa's set of all agents, with a Teacher for every active teacher."""
        self._view_every_teacher()
        return super().agents

    @property
    def agents_by_type(self):
        """Mesa's agent sets by type (`model.agents_by_type[Teacher]`), every teacher included."""
        self._view_every_teacher()
        return super().agents_by_type

    @property
    def agent_types(self) -> list[type]:
        self._view_every_teacher()
        return super().agent_types

    def remove_all_agents(self) -> None:
        """Mesa's `remove_all_agents`: every teacher leaves (logged as attrition, all at once), then
        the other agents are removed as Mesa does."""
        self.remove_teachers(self.workforce.active_rows(), "attrition")
        super().remove_all_agents()

    def home_posts(self) -> np.ndarray:
        """Home posts held at each school (teachers whose post is there, including those away; a
        cover teacher holds none: the rotator it covers does)."""
        wf = self.workforce
        # np.compress, not a boolean index: the same rows, gathered in about a third of the time
        return np.bincount(np.compress(wf.active & (wf.cover_until < 0), wf.school), minlength=self.world.n_schools)

    def filled_posts(self) -> np.ndarray:
        """Posts counted as filled at each school when hiring: its home posts, or the teachers
        teaching there when more (a full-time rotator hosted in a vacancy fills it until the term
        ends, so the host does not hire for it as well; a cover fills the post it covers)."""
        wf = self.workforce
        present = np.bincount(np.compress(wf.active, wf.host), minlength=self.world.n_schools)
        return np.maximum(self.home_posts(), present)

    def _log(self, rows, frm, to, kind: str, program: str) -> None:
        wf = self.workforce
        self.move_log.append(self.year, rows, frm, to, MOVE_KINDS.index(kind), program,
                             wf.backbone[rows], wf.title[rows], wf.quality[rows])

    @property
    def moves(self) -> list[tuple]:
        """Every move so far as (year, row, from, to, kind code, program, backbone, title, quality);
        kind codes index `sim.codes.MOVE_KINDS`. `move_log.columns()` gives the same as arrays."""
        return self.move_log.tuples()

    # -------------------------------------------------------------------------------- collect

    def _collect(self, counts: dict[str, float]) -> None:
        wf = self.workforce
        teachers = ActiveTeachers(wf)  # the active teachers' columns, gathered once for all that follows
        staff = teachers.per_school("host", self.world.n_schools)
        turnover = np.divide(self._arrivals, staff, out=np.zeros(len(staff)), where=staff > 0)
        table = school_table(wf, self.world.schools, turnover, self.double_teacher_lift, teachers)
        ctx = YearContext(
            year=self.year, table=table, schools=self.world.schools, district_types=self.world.district_types,
            district_names=self.world.district_names, workforce=wf, counts=counts,
            moves=self.move_log.columns(self._year_moves_from), program_names=self.move_log.programs,
            disruption=self.disruption, start=self._start,
            program_forms={p.name: form_label(p) for p in self.config.policy.programs},
            twinning=self.world.twinning, cadre_posts=self.cadre_posts, disruption_band=self.disruption_band,
            teachers=teachers)
        if self.year == 0:
            leading = self.world.schools["tier"] == TIERS.index("leading")
            enrol_all = table["enrolment"].sum(axis=1)
            self._start.update(
                leading_quality=float(np.sum(enrol_all[leading] * table["mean_quality"][leading])
                                      / enrol_all[leading].sum()) if leading.any() else float("nan"),
                leading_backbone=float(100 * table["backbone"][leading].sum() / enrol_all[leading].sum())
                if leading.any() else float("nan"))
        rows_out = year_metrics(ctx)
        self.metric_rows.extend((self.year, m, g, v) for m, g, v in rows_out)
        self.latest = {m: v for m, g, v in rows_out if g == "all"}
        self.latest_by_group = {(m, g): v for m, g, v in rows_out if g in LEVEL_GROUPS}
        enrol = table["enrolment"].sum(axis=1)
        frame = {col: table[col].sum(axis=1) for col in SCHOOL_FRAME_COLUMNS}
        frame.update({f"{col}_per100": 100.0 * frame[col] / enrol for col in SCHOOL_FRAME_COLUMNS})
        frame["mean_quality"] = table["mean_quality"]
        frame["turnover"] = turnover
        frame["achievement"] = table["effective_quality"] - self.disruption * turnover
        frame["home_posts"] = self.home_posts()
        # the rotators' columns the metrics already gathered (ctx.rotators), not gathered again
        host, part_host = ctx.rotators("host"), ctx.rotators("part_host")
        full = part_host < 0
        part = ~full
        bb = ctx.rotators("backbone") >= DISTRICT_BACKBONE
        n_s = self.world.n_schools
        frame["hosted_rotators"] = (np.bincount(host[full], minlength=n_s)
                                    + np.bincount(part_host[part], minlength=n_s))
        frame["away_rotators"] = np.bincount(ctx.rotators("school"), minlength=n_s)
        frame["backbone_rotators_hosted"] = (np.bincount(host[full & bb], minlength=n_s)
                                             + np.bincount(part_host[part & bb], minlength=n_s))
        frame["effective_quality"] = table["effective_quality"]
        self.school_frame_latest = frame
        self.school_rows.append(frame)
        self.datacollector.collect(self)


def resolve_scenario(scenario: Scenario | str | Path, settings: dict) -> Scenario:
    """The scenario a model is made from: a Scenario, a file or a shipped name, with keyword
    settings (`careers__drift_rate=0.05`) applied as `--set` items."""
    overrides = [f"{key.replace('__', '.')}={_setting_text(value)}" for key, value in settings.items()]
    if isinstance(scenario, Scenario):
        return with_settings(scenario, overrides) if overrides else scenario
    if not isinstance(scenario, (str, Path)):
        raise TypeError(f"scenario must be a Scenario, a scenario file or a shipped scenario's name, "
                        f"not {type(scenario).__name__}")
    return load_scenario(find_scenario(str(scenario)), overrides)


def _from_mesa_scenario(mesa_scenario, rng, settings):
    """(the Mesa scenario, the teachersim scenario it names under `file`, its rng, its other
    parameters as settings) from a `mesa.experimental.scenarios.Scenario`."""
    params = {k: v for k, v in vars(mesa_scenario).items() if not k.startswith("_") and k not in ("model", "rng")}
    if "file" not in params:
        raise TypeError("a Mesa Scenario for RotationModel names the teachersim scenario as file=... "
                        "(a scenario file or a shipped scenario's name)")
    chosen = mesa_scenario.rng if rng is None else rng
    return mesa_scenario, params.pop("file"), chosen, {**params, **settings}


def _setting_text(value) -> str:
    import json

    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    return value if isinstance(value, str) else json.dumps(value)


def run_seed(rng) -> int:
    """A non-negative int run seed from what Mesa passes as `rng`: an int, a SeedSequence, a
    sequence of ints, or None (fresh entropy, as Mesa does)."""
    if isinstance(rng, bool):
        raise TypeError("rng must be an int seed, a SeedSequence, a sequence of ints or None, not a bool")
    if isinstance(rng, (int, np.integer)):
        if rng < 0:
            raise TypeError(f"rng must be a non-negative seed, got {rng}")
        return int(rng)
    if rng is None:
        rng = np.random.SeedSequence()
    elif isinstance(rng, Sequence) and not isinstance(rng, str) and all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0 for x in rng):
        rng = np.random.SeedSequence([int(x) for x in rng])
    if isinstance(rng, np.random.SeedSequence):
        high, low = rng.generate_state(2, dtype=np.uint32)
        return (int(high) << 31) ^ int(low)  # 63 bits: fits the scenario's seed range and Parquet int64
    raise TypeError(f"rng must be an int seed, a SeedSequence, a sequence of ints or None, not {type(rng).__name__}")
