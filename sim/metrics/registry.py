"""Every outcome defined once: a registry of metrics, each with a name, label, unit and function.

Each metric is a function of the year's `YearContext` that returns (group, value) pairs; its
docstring is its formula, and `docs/metrics.md` is generated from this registry
(`python -m sim.metrics > docs/metrics.md`; a test fails when the file is stale). Groups are a
school level (`primary`, `junior`: each school section counts as a unit, so nine-year schools
count in both), `all` (whole schools), `level@district` for the per-district figures the
standard assesses (worlds with several districts), a tier, or a flow `from->to`.

Notation: `C_i` is the count of an indicator at school (section) i, `P_i` its enrolment,
`X_i = 100 C_i / P_i` the indicator per 100 students (for `quality`, X_i is the mean quality of
the teachers teaching there), `P = sum P_i`, `Xbar = sum P_i X_i / P`. Teachers count where they
teach (rotators at their host). Indices are student-weighted: each school counts with `P_i`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from operator import attrgetter, methodcaller

import numpy as np

from sim.codes import (
    ABOVE_QUALIFICATION,
    DISTRICT_BACKBONE,
    DISTRICT_TYPES,
    MOVE_KINDS,
    PE_ART_CODES,
    ROLES,
    SCHOOL_LEVELS,
    SENIOR_TITLE,
    SUBJECTS,
    TIERS,
)
from sim.metrics import inequality as ineq

HEADCOUNT_INDICATORS = ("teachers", "above_qualification", "senior_title", "backbone", "pe_art")
INDICATORS = HEADCOUNT_INDICATORS  # the five of the standard; `quality` is added to each family below
ALL_INDICATORS = (*HEADCOUNT_INDICATORS, "quality")
LEVEL_GROUPS = ("primary", "junior")
GROUPS = (*LEVEL_GROUPS, "all")
PARTITIONS = ("school_district", "group", "district")
# High-quality balanced development standard (2017): per-indicator CV limits and per-school
# minimums per 100 students by level; basic balance (2012): composite CV limits (docs/sources.md:
# MOE-2017, MOE-2012).
HIGH_QUALITY_CV = {"primary": 0.50, "junior": 0.45}
BASIC_CV = {"primary": 0.65, "junior": 0.55}
SCHOOL_MINIMUM = {"above_qualification": {"primary": 4.2, "junior": 5.3},
                  "backbone": {"primary": 1.0, "junior": 1.0},
                  "pe_art": {"primary": 0.9, "junior": 0.9}}
UNBOUNDED_PREFIXES = ("theil_l_", "max_min_", "p90_p10_")  # +inf when some school has none
ADAPTED = 0.6  # satisfaction at or above which a rotator counts as adapted (Beijing: >90% adapt)

INDICATOR_LABELS = {"teachers": "teachers", "above_qualification": "teachers above the required qualification",
          "senior_title": "senior-title teachers", "backbone": "district-level-or-above backbone teachers",
          "pe_art": "PE, music and art teachers", "quality": "mean teaching quality"}


# --------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Metric:
    """One outcome: stable snake_case name, label, unit, the groups it reports, its function."""

    name: str
    label: str
    unit: str
    groups: str
    fn: Callable = field(repr=False)
    family: str = ""

    @property
    def may_be_infinite(self) -> bool:
        """True for indices that are +inf when a school has none of the resource (ln 0, x / 0)."""
        return self.name.startswith(UNBOUNDED_PREFIXES)

    @property
    def formula(self) -> str:
        f = self.fn.func if isinstance(self.fn, partial) else self.fn
        return " ".join(inspect.cleandoc(f.__doc__ or "").split())


REGISTRY: dict[str, Metric] = {}


def _register(name: str, label: str, unit: str, groups: str, family: str = ""):
    def deco(fn):
        REGISTRY[name] = Metric(name, label, unit, groups, fn, family or name)
        return fn
    return deco


def _register_family(pattern: str, label: str, unit: str, groups: str, fn: Callable,
                     indicators: Iterable[str] = ALL_INDICATORS, **kw) -> None:
    for ind in indicators:
        name = pattern.format(ind=ind, **kw)
        REGISTRY[name] = Metric(name, label.format(what=INDICATOR_LABELS[ind], **kw), unit, groups,
                                partial(fn, ind, **kw), pattern.format(ind="<indicator>", **kw))


# ---------------------------------------------------------------------------------- the year


@dataclass
class Units:
    """The schools (or school sections) of one group, with their values per indicator."""

    school: np.ndarray
    enrolment: np.ndarray
    counts: dict[str, np.ndarray]
    quality: np.ndarray  # mean quality of the teachers teaching there (0 where none)
    _values: dict = field(default_factory=dict, repr=False, compare=False)
    _samples: dict = field(default_factory=dict, repr=False, compare=False)

    def values(self, ind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X_i, P_i, school id) for an indicator; quality uses staffed units only. Kept: many
        metrics read the same values."""
        if ind not in self._values:
            if ind == "quality":
                staffed = self.counts["teachers"] > 0
                self._values[ind] = self.quality[staffed], self.enrolment[staffed], self.school[staffed]
            else:
                self._values[ind] = 100.0 * self.counts[ind] / self.enrolment, self.enrolment, self.school
        return self._values[ind]

    def sample(self, ind: str) -> ineq.Sample:
        """The indicator's values weighted by students, shared by every index of this group, so the
        sums they have in common (mean, shares, sort order) are computed once a year."""
        if ind not in self._samples:
            x, w, _ = self.values(ind)
            self._samples[ind] = ineq.Sample(x, w)
        return self._samples[ind]


class ActiveTeachers:
    """The year's active teachers: their workforce rows, and each column read over them gathered
    once (the school table and a dozen metrics read the same few columns of a city's 120,000
    teachers among 180,000 rows). Arrays are shared: do not modify them."""

    def __init__(self, workforce):
        self.workforce = workforce
        self.rows = workforce.active_rows()
        self._columns: dict[str, np.ndarray] = {}
        self._rotators: dict[str, np.ndarray] = {}
        self._per_school: dict[str, np.ndarray] = {}

    def column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            self._columns[name] = getattr(self.workforce, name).take(self.rows)  # take: faster than [rows]
        return self._columns[name]

    @cached_property
    def rotating(self) -> np.ndarray:
        """Mask over the active teachers of those away on a rotation."""
        return self.column("term_end") >= 0

    @cached_property
    def rotator_rows(self) -> np.ndarray:
        return self.rows.take(np.flatnonzero(self.rotating))  # boolean indexing is several times slower

    def rotator_column(self, name: str) -> np.ndarray:
        """A column over the rotators only (a tenth of the teachers: cheaper than masking them)."""
        if name not in self._rotators:
            self._rotators[name] = getattr(self.workforce, name).take(self.rotator_rows)
        return self._rotators[name]

    def per_school(self, column: str, n: int) -> np.ndarray:
        """Active teachers per school of a column (home post or host), counted once a year."""
        if column not in self._per_school:
            self._per_school[column] = np.bincount(self.column(column), minlength=n)
        return self._per_school[column]


@dataclass
class YearContext:
    """What the metrics of one year are computed from."""

    year: int
    table: dict[str, np.ndarray]
    schools: dict[str, np.ndarray]
    district_types: np.ndarray
    district_names: list[str]
    workforce: object
    counts: dict[str, float]
    moves: dict[str, np.ndarray]  # this year's moves as MoveLog columns
    program_names: list[str]  # MoveLog program index -> name
    disruption: float
    start: dict[str, float]  # year-0 values used by change metrics (hollowing out)
    program_forms: dict[str, str] = field(default_factory=dict)  # program name -> form label
    twinning: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int64))
    cadre_posts: np.ndarray | None = None  # (n_schools, len(ROLES)) leadership posts (sim.core.cadres)
    disruption_band: tuple[float, float] = (float("nan"), float("nan"))  # disruption at the published range's ends
    teachers: ActiveTeachers | None = None  # the active teachers' gathered columns (made when not given)
    units: dict[str, Units] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # results shared by several metrics this year

    def __post_init__(self):
        t = self.table
        enrol = t["enrolment"]
        sec_q = np.divide(t["quality_sum"], t["teachers"], out=np.zeros_like(t["teachers"]), where=t["teachers"] > 0)
        for li, level in enumerate(LEVEL_GROUPS):
            m = enrol[:, li] > 0
            self.units[level] = Units(np.flatnonzero(m), enrol[m, li],
                                      {k: t[k][m, li] for k in HEADCOUNT_INDICATORS}, sec_q[m, li])
        self.units["all"] = Units(np.arange(len(enrol)), enrol.sum(axis=1),
                                  {k: t[k].sum(axis=1) for k in HEADCOUNT_INDICATORS}, t["mean_quality"])

    def gathered(self) -> ActiveTeachers:
        """The active teachers and their columns gathered this year."""
        if self.teachers is None:
            self.teachers = ActiveTeachers(self.workforce)
        return self.teachers

    def active(self, column: str) -> np.ndarray:
        """A workforce column over the active teachers, in row order (kept; do not modify it)."""
        return self.gathered().column(column)

    def rotating(self) -> np.ndarray:
        """Mask over the active teachers (`active`) of those away on a rotation (kept)."""
        return self.gathered().rotating

    def rotators(self, column: str) -> np.ndarray:
        """A workforce column over the active teachers away on a rotation, in row order (kept)."""
        return self.gathered().rotator_column(column)

    def cadres(self) -> tuple[np.ndarray, np.ndarray]:
        """(role, home school) of the active teachers with a cadre role, in row order (kept)."""
        if "cadres" not in self.cache:
            role = self.active("role")
            at = np.flatnonzero(role > 0)
            self.cache["cadres"] = role.take(at), self.active("school").take(at)
        return self.cache["cadres"]

    def move_array(self, kind: str) -> np.ndarray:
        """(row, from, to, backbone) of this year's moves of one kind, as an int array (kept: several
        metrics read the rotations; do not modify it)."""
        key = ("moves", kind)
        if key not in self.cache:
            m = self.moves
            sel = m["kind"] == MOVE_KINDS.index(kind)
            self.cache[key] = np.stack([m["teacher"][sel], m["from_school"][sel], m["to_school"][sel],
                                        m["backbone"][sel]], axis=1)
        return self.cache[key]

    def achievement(self, disruption: float | None = None) -> np.ndarray:
        d = self.disruption if disruption is None else disruption
        return self.table["effective_quality"] - d * self.table["turnover"]


def _levels(ctx: YearContext, ind: str, index: Callable[[ineq.Sample], float],
            groups=GROUPS) -> list[tuple[str, float]]:
    """(group, index of the group's sample) for each group with schools."""
    out = []
    for g in groups:
        s = ctx.units[g].sample(ind)
        if len(s.x):
            out.append((g, float(index(s))))
    return out


# --------------------------------------------------------------------- distribution of teachers


def _level_of(group: str) -> str:
    return group.split("@")[0]


def _by_district(ctx, ind: str) -> dict[str, tuple[float, float]]:
    """{`level@district`: (Xbar, CV)} of an indicator over each district's schools (sections) of
    each group, for worlds with several districts ({} otherwise). One bincount per sum covers all
    districts at once (a city has 16 districts x 3 groups x 6 indicators: a sample each cost more
    than the rest of the indices); the formulas are Sample.mean's and Sample.cv's."""
    key = ("by_district", ind)
    if key not in ctx.cache:
        out = {}
        nd = len(ctx.district_names)
        for g in GROUPS if nd > 1 else ():
            x, w, school = ctx.units[g].values(ind)
            d = ctx.schools["district"][school]
            total_w = np.bincount(d, weights=w, minlength=nd)
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.bincount(d, weights=w * x, minlength=nd) / total_w
                spread = np.bincount(d, weights=w / total_w[d] * (x - mean[d]) ** 2, minlength=nd)
                cv = np.where(total_w > 0, np.where(mean == 0, 0.0, np.sqrt(spread) / mean), np.nan)
            for k in np.flatnonzero(np.bincount(d, minlength=nd)):
                out[f"{g}@{ctx.district_names[k]}"] = (float(mean[k]), float(cv[k]))
        ctx.cache[key] = out
    return ctx.cache[key]


def _mean(ind, ctx):
    """Xbar = sum_i P_i X_i / P; for head counts, 100 * sum C / sum P. Also per district
    (group `level@district`) when the world has several."""
    return _levels(ctx, ind, attrgetter("mean")) + [(g, m) for g, (m, _) in _by_district(ctx, ind).items()]


def _cv(ind, ctx):
    """Official student-weighted CV (差异系数): sqrt(sum_i (P_i/P) (X_i - Xbar)^2) / Xbar. Also per
    district (group `level@district`), the unit the standard assesses, when the world has several."""
    return _levels(ctx, ind, attrgetter("cv")) + [(g, cv) for g, (_, cv) in _by_district(ctx, ind).items()]


def _cv_meets_high(ind, ctx):
    """1 if cv <= 0.50 (primary) or 0.45 (junior), the high-quality standard's limit, else 0 (also
    per district)."""
    cvs = _levels(ctx, ind, attrgetter("cv"), LEVEL_GROUPS) + [(g, cv) for g, (_, cv) in _by_district(ctx, ind).items()]
    return [(g, float(v <= HIGH_QUALITY_CV[_level_of(g)])) for g, v in cvs if _level_of(g) in HIGH_QUALITY_CV]


def _gini(ind, ctx):
    """Student-weighted Gini: sum_i sum_j P_i P_j |X_i - X_j| / (2 P^2 Xbar)."""
    return _levels(ctx, ind, attrgetter("gini"))


def _theil_t(ind, ctx):
    """Theil T: sum_i s_i ln(X_i / Xbar), s_i = P_i X_i / sum_j P_j X_j (0 ln 0 = 0)."""
    return _levels(ctx, ind, attrgetter("theil_t"))


def _theil_l(ind, ctx):
    """Theil L (mean log deviation): sum_i (P_i/P) ln(Xbar / X_i); +inf when a school has none."""
    return _levels(ctx, ind, attrgetter("theil_l"))


def _theil_part(ind, ctx, index: str, part: str, piece: str):
    """Exact decomposition over a partition of schools into units k (school districts, education
    groups with each ungrouped school on its own, or districts): T = between + within with
    between = sum_k S_k ln(Xbar_k / Xbar), within = sum_k S_k T_k, S_k the unit's share of the
    resource; L = between + within with between = sum_k (P_k/P) ln(Xbar / Xbar_k),
    within = sum_k (P_k/P) L_k."""
    out = []
    for g in GROUPS:
        key = (ind, g, index, part)
        if key not in ctx.cache:  # between and within come from one decomposition
            sample = ctx.units[g].sample(ind)
            if not len(sample.x):
                continue
            split_key = ("split", ind, g, part)  # T and L share the per-unit sums
            if split_key not in ctx.cache:
                ctx.cache[split_key] = sample.split(_unit_numbers(ctx, g, ind, part))
            ctx.cache[key] = ctx.cache[split_key].theil(index)
        _, between, within = ctx.cache[key]
        out.append((g, between if piece == "between" else within))
    return out


def _unit_numbers(ctx, g: str, ind: str, part: str) -> np.ndarray:
    """Unit 0..k-1 of each school of the group in a partition (each ungrouped school is its own
    education group). Kept per set of schools: every head count uses the same schools, quality
    only the staffed ones."""
    key = ("unit_numbers", g, ind == "quality", part)
    if key not in ctx.cache:
        school = ctx.units[g].values(ind)[2]
        labels = ctx.schools[part][school]
        if part == "group":
            labels = np.where(labels >= 0, labels, -1 - school)
        ctx.cache[key] = _dense_ranks(labels)
    return ctx.cache[key]


def _dense_ranks(labels: np.ndarray) -> np.ndarray:
    """Rank of each integer label among the distinct labels (np.unique's inverse), by marking the
    labels present instead of sorting them."""
    lo = labels.min()
    present = np.zeros(labels.max() - lo + 1, dtype=bool)
    present[labels - lo] = True
    return (np.cumsum(present) - 1)[labels - lo]


def _atkinson(ind, ctx, eps: str):
    """Atkinson: 1 - EDE / Xbar, EDE = (sum_i (P_i/P) X_i^(1-e))^(1/(1-e)) (geometric mean at
    e = 1); a school with none makes it 1 for e >= 1."""
    return _levels(ctx, ind, methodcaller("atkinson", {"05": 0.5, "1": 1.0, "2": 2.0}[eps]))


def _max_min(ind, ctx):
    """max_i X_i / min_i X_i over schools (+inf when the smallest is 0)."""
    return _levels(ctx, ind, attrgetter("max_min_ratio"))


def _p90_p10(ind, ctx):
    """Student-weighted 90th percentile of X_i over the 10th (+inf when the 10th is 0)."""
    return _levels(ctx, ind, attrgetter("p90_p10_ratio"))


def _meets_minimum(ind, ctx):
    """Share of schools with X_i at or above the standard's minimum per 100 students:
    above-qualification 4.2 (primary) / 5.3 (junior), backbone 1 / 1, PE and art 0.9 / 0.9."""
    out = []
    for g in LEVEL_GROUPS:
        x, _, _ = ctx.units[g].values(ind)
        if len(x):
            out.append((g, float(np.mean(x >= SCHOOL_MINIMUM[ind][g] - 1e-12))))
    return out


BY_DISTRICT = "; and level@district"
_register_family("mean_{ind}", "{what} per 100 students (quality: mean)", "per 100 students",
                 "primary, junior, all" + BY_DISTRICT, _mean)
_register_family("cv_{ind}", "between-school CV of {what}", "ratio", "primary, junior, all" + BY_DISTRICT, _cv)
_register_family("cv_{ind}_meets_high", "CV of {what} within the high-quality limit", "1 = yes",
                 "primary, junior" + BY_DISTRICT, _cv_meets_high, HEADCOUNT_INDICATORS)
_register_family("gini_{ind}", "Gini of {what}", "0..1", "primary, junior, all", _gini)
_register_family("theil_t_{ind}", "Theil T of {what}", ">= 0", "primary, junior, all", _theil_t)
_register_family("theil_l_{ind}", "Theil L of {what}", ">= 0", "primary, junior, all", _theil_l)
for _index in ("t", "l"):
    for _part in PARTITIONS:
        for _piece in ("between", "within"):
            _register_family(f"theil_{_index}_{{ind}}_{_piece}_{_part}",
                             f"Theil {_index.upper()} of {{what}}: {_piece} {_part.replace('_', ' ')}s",
                             ">= 0", "primary, junior, all",
                             partial(_theil_part, index=_index.upper(), part=_part, piece=_piece))
for _eps in ("05", "1", "2"):
    _register_family(f"atkinson_{_eps}_{{ind}}", f"Atkinson (e = {_eps[0]}.{_eps[1:] or '0'}) of {{what}}"
                     if _eps == "05" else f"Atkinson (e = {_eps}) of {{what}}", "0..1", "primary, junior, all",
                     partial(_atkinson, eps=_eps))
_register_family("max_min_{ind}", "max/min ratio of {what}", "ratio", "primary, junior, all", _max_min)
_register_family("p90_p10_{ind}", "P90/P10 ratio of {what}", "ratio", "primary, junior, all", _p90_p10)
_register_family("share_meeting_minimum_{ind}", "share of schools meeting the minimum of {what}", "share",
                 "primary, junior", _meets_minimum, tuple(SCHOOL_MINIMUM))


@_register("cv_composite", "composite CV of the five teacher indicators", "ratio",
           "primary, junior, all" + BY_DISTRICT)
def _cv_composite(ctx):
    """Mean of cv_teachers, cv_above_qualification, cv_senior_title, cv_backbone, cv_pe_art (a
    teacher-only composite; the official basic-balance composite also counts facilities)."""
    if "cv_composite" not in ctx.cache:  # also read by cv_composite_meets_basic
        out = []
        for g in GROUPS:
            if len(ctx.units[g].enrolment):
                cvs = [ctx.units[g].sample(ind).cv for ind in HEADCOUNT_INDICATORS]
                out.append((g, float(np.mean(cvs))))
        by_district = [_by_district(ctx, ind) for ind in HEADCOUNT_INDICATORS]
        for g in by_district[0]:  # every head count has the same schools
            out.append((g, float(np.mean([b[g][1] for b in by_district]))))
        ctx.cache["cv_composite"] = out
    return ctx.cache["cv_composite"]


@_register("cv_composite_meets_basic", "composite CV within the basic-balance limit", "1 = yes",
           "primary, junior" + BY_DISTRICT)
def _cv_composite_basic(ctx):
    """1 if cv_composite <= 0.65 (primary) or 0.55 (junior), the basic-balance limit, else 0."""
    return [(g, float(v <= BASIC_CV[_level_of(g)])) for g, v in _cv_composite(ctx) if _level_of(g) in BASIC_CV]


@_register("allocation_inconsistency", "inconsistency of teacher allocation (1 - R^2)", "0..1",
           "primary, junior, all")
def _allocation(ctx):
    """1 - R^2 of the least-squares line of teachers C_i on enrolment P_i across schools
    (UNESCO IIEP); 0 when teachers are exactly proportional to (a line in) enrolment."""
    return [(g, ineq.allocation_inconsistency(ctx.units[g].counts["teachers"], ctx.units[g].enrolment))
            for g in GROUPS]


# ------------------------------------------------------------------------------ head counts

_COUNTS = {
    "teachers_in_post": "active teachers (home posts held) at the end of the year",
    "retirements": "teachers who reached their own statutory retirement age this year (by sex and birth month)",
    "attrition": "teachers who left for other reasons this year",
    "hires": "new teachers hired this year",
    "drift_transfers": "voluntary transfers to another school this year",
    "eligible": "teachers eligible for rotation under any program this year",
    "rotations": "rotations started this year (all forms)",
    "unmatched": "selected rotators for whom no host school was available",
    "returns": "rotators who went back to their home school at term end",
    "stays": "rotators who transferred to their host school at term end",
    "title_promotions": "title steps taken this year",
    "double_teacher_reach": "students reached by double-teacher classrooms this year",
    "backbone_promotions": "backbone-level steps taken this year",
    "cadre_promotions": "leadership posts filled by promotion this year",
    "principal_rotations": "principals who took the post of another school after their terms this year",
}


def _count(name, ctx):
    """The count kept by the model's step for this year."""
    return [("all", float(ctx.counts.get(name, 0)))]


for _name, _what in _COUNTS.items():
    REGISTRY[_name] = Metric(_name, _what, "students" if _name == "double_teacher_reach" else "teachers", "all",
                             partial(_count, _name), _name)


# -------------------------------------------------------------------------- rotation accounting


def _share(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


@_register("rotating", "teachers away on a rotation at the end of the year", "teachers", "all")
def _rotating(ctx):
    """Count of active teachers whose current rotation has not ended."""
    return [("all", float(np.sum(ctx.rotating())))]


@_register("rotations_by_form", "rotations started this year by form", "teachers",
           "full_time, part_time, transfer, training")
def _by_form(ctx):
    """Count of rotation moves this year by the form of their program: full_time (teaches at the
    host), part_time (a share of the load at the host), transfer (the post moves), training (young
    teachers to their group's leading school). Every form is reported, with 0 when unused."""
    forms = ("full_time", "part_time", "transfer", "training")
    sel = ctx.moves["kind"] == MOVE_KINDS.index("rotation")
    form_of = np.array([forms.index(ctx.program_forms.get(name, "full_time")) for name in ctx.program_names])
    found = np.bincount(form_of[ctx.moves["program"][sel]], minlength=len(forms))
    return [(f, float(found[i])) for i, f in enumerate(forms)]


@_register("rotations_by_scope", "rotations this year by the relation of host to home", "teachers",
           "within_group, cross_group, within_school_district, cross_school_district, cross_district, twinning_pair")
def _by_scope(ctx):
    """Count of rotation moves whose host is in the same education group as home or not; in the
    same school district, another school district of the same district, or another district; and
    whether host and home are a twinning pair."""
    m = ctx.move_array("rotation")
    s = ctx.schools
    a, b = m[:, 1], m[:, 2]
    same_group = (s["group"][a] == s["group"][b]) & (s["group"][a] >= 0)
    same_sd = s["school_district"][a] == s["school_district"][b]
    same_d = s["district"][a] == s["district"][b]
    n = len(s["tier"])
    t = ctx.twinning
    pair_codes = np.sort(np.concatenate([t[:, 0] * n + t[:, 1], t[:, 1] * n + t[:, 0]]))
    twin = _count_in(a * n + b, pair_codes)
    return [("within_group", float(same_group.sum())), ("cross_group", float((~same_group).sum())),
            ("within_school_district", float(same_sd.sum())),
            ("cross_school_district", float((same_d & ~same_sd).sum())),
            ("cross_district", float((~same_d).sum())), ("twinning_pair", float(twin))]


def _count_in(values: np.ndarray, sorted_codes: np.ndarray) -> int:
    """How many of values are in sorted_codes: a binary search each (np.isin sorts both arrays,
    slow for a city's tens of thousands of rotations)."""
    if not len(sorted_codes):
        return 0
    at = np.minimum(np.searchsorted(sorted_codes, values), len(sorted_codes) - 1)
    return int((sorted_codes[at] == values).sum())


@_register("full_time_share", "full-time share of this year's rotations", "share", "all")
def _full_time_share(ctx):
    """Full-time rotations (forms full_time and training) / rotations (0 when none)."""
    by = dict(_by_form(ctx))
    return [("all", _share(by["full_time"] + by["training"], sum(by.values())))]


@_register("participation", "rotations as a share of eligible", "share", "all")
def _participation(ctx):
    """rotations / eligible this year (0 when none is eligible). Both directions of a paired
    exchange count, over the eligible pool only: see participation_senders."""
    return [("all", _share(ctx.counts.get("rotations", 0), ctx.counts.get("eligible", 0)))]


@_register("participation_senders", "rotated of the eligible, the eligible pool's own movers only", "share", "all")
def _participation_senders(ctx):
    """Rotations by teachers eligible this year / eligible (0 when none is). A paired exchange's
    counterparts from outside the pool (a weak host's teachers sent back) are left out, so this
    is "rotated of the eligible" with numerator and denominator of one pool; without a paired
    exchange it equals participation."""
    return [("all", _share(ctx.counts.get("eligible_rotated", 0), ctx.counts.get("eligible", 0)))]


@_register("backbone_share_rotators", "backbone share of this year's rotators", "share", "all")
def _backbone_share(ctx):
    """Rotators with backbone level district or above / rotations (0 when none)."""
    m = ctx.move_array("rotation")
    return [("all", _share(np.sum(m[:, 3] >= DISTRICT_BACKBONE), len(m)))]


@_register("backbone_share_senders", "backbone share of this year's rotators of the eligible pool", "share", "all")
def _backbone_share_senders(ctx):
    """Rotators of the eligible pool with backbone level district or above / rotators of that
    pool (0 when none): the 2014 floor's 其中 reading, the sending schools' own rotators, beside
    backbone_share_rotators over all who move (a paired exchange's counterparts sent back are
    left out, as in participation_senders; without a paired exchange the two are equal)."""
    return [("all", _share(ctx.counts.get("eligible_rotated_backbone", 0), ctx.counts.get("eligible_rotated", 0)))]


@_register("coverage_eligible", "cumulative share of the eligible cohort who have rotated", "share", "all")
def _coverage_eligible(ctx):
    """Cohort = teachers eligible when the policy first looked (year 1), under the programs with a
    coverage target (all programs when none has one); rotated members / (cohort - members who
    left or lost eligibility before rotating). Never decreases."""
    wf = ctx.workforce
    cohort = wf.cohort & ~wf.excused
    return [("all", _share(np.sum(cohort & (wf.n_rotations > 0)), np.sum(cohort)))]


@_register("coverage_staff", "share of teachers in post who have rotated during the run", "share", "all")
def _coverage_staff(ctx):
    """Active teachers with at least one rotation since year 1 / active teachers."""
    rotated = ctx.active("n_rotations") > 0
    return [("all", _share(np.sum(rotated), len(rotated)))]


@_register("strong_to_weak_share", "share of this year's rotations that go to a weaker tier", "share", "all")
def _strong_to_weak(ctx):
    """Rotation moves with tier(host) < tier(home) / rotation moves (0 when none)."""
    m = ctx.move_array("rotation")
    tier = ctx.schools["tier"]
    return [("all", _share(np.sum(tier[m[:, 2]] < tier[m[:, 1]]), len(m)))]


@_register("flow_tier", "rotations this year between tiers", "teachers", "from_tier->to_tier (non-zero cells)")
def _flow_tier(ctx):
    """Count of rotation moves from a school of one tier to a school of another (a flow matrix
    in long form; cells with no move are omitted)."""
    m = ctx.move_array("rotation")
    tier = ctx.schools["tier"]
    cells = np.bincount(tier[m[:, 1]] * len(TIERS) + tier[m[:, 2]], minlength=len(TIERS) ** 2)
    return [(f"{TIERS[k // len(TIERS)]}->{TIERS[k % len(TIERS)]}", float(v)) for k, v in enumerate(cells) if v]


@_register("flow_district", "rotations this year between districts", "teachers", "from->to (non-zero cells)")
def _flow_district(ctx):
    """Count of rotation moves from a school of one district to a school of another district or the
    same one (a flow matrix in long form; cells with no move are omitted)."""
    m = ctx.move_array("rotation")
    d = ctx.schools["district"]
    n = len(ctx.district_names)
    cells = np.bincount(d[m[:, 1]] * n + d[m[:, 2]], minlength=n * n)
    return [(f"{ctx.district_names[k // n]}->{ctx.district_names[k % n]}", float(v))
            for k, v in enumerate(cells) if v]


@_register("return_rate", "share of ending rotations that return home", "share", "all")
def _return_rate(ctx):
    """returns / (returns + stays) among rotations ending this year (0 when none ends)."""
    r, s = ctx.counts.get("returns", 0), ctx.counts.get("stays", 0)
    return [("all", _share(r, r + s))]


# ----------------------------------------------------------------------- teachers and students


@_register("mean_commute", "mean one-way commute of teachers in post", "minutes", "all")
def _mean_commute(ctx):
    """Mean over active teachers of the straight-line commute from home to the host school."""
    return [("all", float(ctx.active("commute").mean()))]


@_register("p90_commute", "90th percentile of the commute of teachers in post", "minutes", "all")
def _p90_commute(ctx):
    """90th percentile over active teachers of the one-way commute."""
    return [("all", float(np.percentile(ctx.active("commute"), 90)))]


@_register("mean_commute_rotators", "mean one-way commute of teachers on rotation", "minutes", "all")
def _commute_rotators(ctx):
    """Mean commute over teachers away on a rotation (0 when none)."""
    commute = ctx.rotators("commute")
    return [("all", float(commute.mean()) if len(commute) else 0.0)]


@_register("mean_satisfaction", "mean satisfaction of teachers in post", "0..1", "all")
def _satisfaction(ctx):
    """Mean satisfaction over active teachers."""
    return [("all", float(ctx.active("satisfaction").mean()))]


@_register("adapted_share_rotators", "share of rotators who have adapted", "share", "all")
def _adapted(ctx):
    """Teachers on rotation with satisfaction >= 0.6 / teachers on rotation (0 when none)."""
    satisfaction = ctx.rotators("satisfaction")
    return [("all", _share(np.sum(satisfaction >= ADAPTED), len(satisfaction)))]


@_register("cadres_in_post", "cadres holding a leadership post at the end of the year", "teachers",
           "all, principal, vice_principal, middle_manager, primary, junior, nine_year (school level)")
def _cadres_in_post(ctx):
    """Count of active teachers with a cadre role (principal, vice principal, middle manager), counted at
    their home school (a cadre away on a full-time rotation keeps the post); by role and by the level of
    the school."""
    role, school = ctx.cadres()
    by_role = np.bincount(role, minlength=len(ROLES))
    by_level = np.bincount(ctx.schools["level"][school], minlength=len(SCHOOL_LEVELS))
    return ([("all", float(len(role)))] + [(ROLES[r], float(by_role[r])) for r in range(1, len(ROLES))]
            + [(SCHOOL_LEVELS[v], float(by_level[v])) for v in range(len(SCHOOL_LEVELS))])


@_register("cadre_posts_filled", "share of leadership posts held", "share", "all")
def _cadre_posts_filled(ctx):
    """Sum over schools and cadre roles of min(holders, posts) / sum of posts (posts from the
    `careers.cadres` norms; a surplus holder does not fill another school's post)."""
    if ctx.cadre_posts is None:
        return []
    role, school = ctx.cadres()
    n = len(ctx.schools["level"])
    held = np.bincount(school * len(ROLES) + role, minlength=n * len(ROLES)).reshape(n, -1)
    posts = ctx.cadre_posts[:, 1:]
    return [("all", _share(np.minimum(held[:, 1:], posts).sum(), posts.sum()))]


@_register("schools_without_principal", "schools with no principal in post at the end of the year", "schools",
           "all, primary, junior, nine_year (school level)")
def _no_principal(ctx):
    """Count of schools where no active teacher whose home post is there has the principal role."""
    level = ctx.schools["level"]
    has = np.zeros(len(level), dtype=bool)
    role, school = ctx.cadres()
    has[school[role == ROLES.index("principal")]] = True
    by_level = np.bincount(level[~has], minlength=len(SCHOOL_LEVELS))
    return [("all", float((~has).sum()))] + [(SCHOOL_LEVELS[v], float(by_level[v])) for v in range(len(SCHOOL_LEVELS))]


@_register("attrition_rate", "attrition rate by tier of the school left", "share", "each tier and all")
def _attrition_rate(ctx):
    """Leavers (not retirements) this year from schools of a tier / (teachers there at the end of
    the year + those leavers)."""
    left = ctx.move_array("attrition")
    tier = ctx.schools["tier"]
    per_school = ctx.gathered().per_school("host", len(tier))
    staff = np.bincount(tier, weights=per_school, minlength=len(TIERS)).astype(np.int64)
    gone = np.bincount(tier[left[:, 1]], minlength=len(TIERS))
    out = [(TIERS[t], _share(gone[t], staff[t] + gone[t])) for t in range(len(TIERS)) if staff[t] + gone[t]]
    return [*out, ("all", _share(gone.sum(), staff.sum() + gone.sum()))]


@_register("hollowing_out_quality", "change in mean quality at leading schools since year 0", "quality units", "all")
def _hollow_quality(ctx):
    """Student-weighted mean quality of leading schools now minus in year 0 (negative = hollowed out)."""
    return [("all", _tier_mean(ctx, ctx.table["mean_quality"], "leading") - ctx.start["leading_quality"])]


@_register("hollowing_out_backbone", "change in backbone per 100 students at leading schools since year 0",
           "per 100 students", "all")
def _hollow_backbone(ctx):
    """Backbone per 100 students at leading schools now minus in year 0 (negative = hollowed out)."""
    return [("all", _leading_backbone(ctx) - ctx.start["leading_backbone"])]


def _tier_mean(ctx, values: np.ndarray, *tiers: str) -> float:
    return _student_mean(ctx, values, np.isin(ctx.schools["tier"], [TIERS.index(t) for t in tiers]))


def _student_mean(ctx, values: np.ndarray, mask: np.ndarray) -> float:
    """Student-weighted mean of a school value over the masked schools (nan when none)."""
    p = ctx.units["all"].enrolment
    return float(np.sum(p[mask] * values[mask]) / p[mask].sum()) if mask.any() else float("nan")


def _leading_backbone(ctx) -> float:
    mask = ctx.schools["tier"] == TIERS.index("leading")
    u = ctx.units["all"]
    return float(100 * u.counts["backbone"][mask].sum() / u.enrolment[mask].sum()) if mask.any() else float("nan")


@_register("sending_loss_quality", "share of sending schools' teaching quality away on full-time rotation",
           "share", "all")
def _sending_loss(ctx):
    """Over schools with at least one teacher away full-time: quality of their teachers away /
    quality of all their home-post teachers (what sending schools have lent out)."""
    home = ctx.rotators("school")
    away = (ctx.rotators("part_host") < 0) & (ctx.rotators("host") != home)
    n = len(ctx.schools["tier"])
    lent = np.bincount(home[away], weights=ctx.rotators("quality")[away], minlength=n)
    sending = lent > 0
    # every school's total in one bincount (only the sending schools' are read; the same sums, and
    # cheaper than selecting their teachers first)
    own = np.bincount(ctx.active("school"), weights=ctx.active("quality"), minlength=n)
    return [("all", _share(lent[sending].sum(), own[sending].sum()))]


@_register("mean_effective_quality", "mean effective teaching quality (with double-teacher classrooms)",
           "quality units", "all")
def _effective_quality(ctx):
    """Student-weighted mean over schools of mean quality + the double-teacher-classroom lift."""
    return [("all", _tier_mean(ctx, ctx.table["effective_quality"], *TIERS))]


@_register("cv_effective_quality", "between-school CV of effective teaching quality", "ratio", "all")
def _cv_effective_quality(ctx):
    """Official CV formula with X_i = school i's mean quality + its double-teacher-classroom lift
    (schools with teachers only)."""
    staffed = ctx.units["all"].counts["teachers"] > 0
    return [("all", ineq.weighted_cv(ctx.table["effective_quality"][staffed], ctx.units["all"].enrolment[staffed]))]


@_register("double_teacher_lift", "mean lift of effective quality from double-teacher classrooms",
           "quality units", "all")
def _dt_lift(ctx):
    """Student-weighted mean over all schools of effective quality - mean quality."""
    lift = ctx.table["effective_quality"] - ctx.table["mean_quality"]
    return [("all", _tier_mean(ctx, lift, *TIERS))]


@_register("achievement", "student achievement proxy", "quality units", "all and each tier")
def _achievement(ctx):
    """Student-weighted mean over schools of (effective quality - disruption * turnover share),
    turnover share = teachers who arrived at the school this year / teachers there."""
    a = ctx.achievement()
    out = [("all", _tier_mean(ctx, a, *TIERS))]
    return out + [(t, _tier_mean(ctx, a, t)) for t in TIERS if np.any(ctx.schools["tier"] == TIERS.index(t))]


@_register("achievement_low", "student achievement proxy, largest published turnover loss", "quality units", "all")
def _achievement_low(ctx):
    """`achievement` with the loss per full turnover at the top of Ronfeldt, Loeb and Wyckoff's
    range (0.10 student SD; sim.core.careers.TURNOVER_EFFECT_RANGE): the low edge of its band."""
    return [("all", _tier_mean(ctx, ctx.achievement(ctx.disruption_band[1]), *TIERS))]


@_register("achievement_high", "student achievement proxy, smallest published turnover loss", "quality units", "all")
def _achievement_high(ctx):
    """`achievement` with the loss per full turnover at the bottom of the published range (0.06
    student SD): the high edge of its band."""
    return [("all", _tier_mean(ctx, ctx.achievement(ctx.disruption_band[0]), *TIERS))]


@_register("achievement_gap", "achievement gap between strong and weak schools", "quality units", "all")
def _achievement_gap(ctx):
    """Achievement of leading and strong schools minus that of weak and rural schools."""
    tier = ctx.schools["tier"]
    if not (np.any(tier >= TIERS.index("strong")) and np.any(tier <= TIERS.index("weak"))):
        return []
    a = ctx.achievement()
    return [("all", _tier_mean(ctx, a, "leading", "strong") - _tier_mean(ctx, a, "weak", "rural"))]


@_register("achievement_gap_urban_rural", "achievement gap between urban and rural schools", "quality units", "all")
def _achievement_gap_ur(ctx):
    """Achievement of schools in urban-core and inner-suburb districts minus that of rural-tier
    schools and schools in rural districts (omitted when either is absent)."""
    dt = ctx.district_types[ctx.schools["district"]]
    rural = (dt == DISTRICT_TYPES.index("rural")) | (ctx.schools["tier"] == TIERS.index("rural"))
    urban = (dt <= DISTRICT_TYPES.index("inner_suburb")) & ~rural
    if not (rural.any() and urban.any()):
        return []
    a = ctx.achievement()
    return [("all", _student_mean(ctx, a, urban) - _student_mean(ctx, a, rural))]


@_register("disruption_loss", "achievement lost to teacher turnover", "quality units", "all")
def _disruption(ctx):
    """Student-weighted mean over schools of disruption * turnover share."""
    p = ctx.units["all"].enrolment
    return [("all", float(np.sum(p * ctx.disruption * ctx.table["turnover"]) / p.sum()))]


# ------------------------------------------------------------------------------- computing


_PE_ART = np.isin(np.arange(len(SUBJECTS)), PE_ART_CODES)  # by subject code: a lookup, cheaper than np.isin


_FLAGS = ("above_qualification", "senior_title", "backbone", "pe_art")  # bit k of a teacher's flag code
_CODES_WITH = [np.flatnonzero(np.arange(2 ** len(_FLAGS)) >> k & 1) for k in range(len(_FLAGS))]


def school_table(wf, schools: dict[str, np.ndarray], turnover: np.ndarray,
                 lift: np.ndarray | None = None, teachers: ActiveTeachers | None = None) -> dict[str, np.ndarray]:
    """Per school and per section (primary, junior) counts of each indicator where teachers teach.

    Returns arrays of shape (n_schools, 2) for counts and enrolments, and (n_schools,) for
    whole-school values. Teachers count where they teach: full-time rotators at their host,
    part-time rotators split between home and host by their load share. `lift` is the year's
    double-teacher-classroom lift of effective quality; `teachers` the year's gathered columns.
    """
    n = len(schools["tier"])
    a = teachers if teachers is not None else ActiveTeachers(wf)
    # each teacher's section (level 0 or 1) and four flags as a 5-bit code, so one bincount by
    # (school, code) counts every head count; made over whole columns as bytes and gathered once
    # (cheaper than gathering five columns)
    code = wf.level.astype(np.uint8) << 4
    code |= (wf.qualification >= ABOVE_QUALIFICATION).view(np.uint8)
    code |= (wf.title >= SENIOR_TITLE).view(np.uint8) << 1
    code |= (wf.backbone >= DISTRICT_BACKBONE).view(np.uint8) << 2
    code |= _PE_ART[wf.subject].view(np.uint8) << 3
    code = code.take(a.rows)
    # the load: every active teacher at the host, and a part-time rotator again at the part-time
    # host; the home share is 1 - the part-time share (the order of Workforce.load)
    part_host = a.column("part_host")
    part = np.flatnonzero(part_host >= 0)
    part_share = wf.part_share.take(a.rows.take(part))
    key = np.concatenate([a.column("host") * 32 + code, part_host.take(part) * 32 + code.take(part)])
    share = np.ones(len(key))
    share[part] = 1.0 - part_share
    share[len(code):] = part_share
    by_code = np.bincount(key, weights=share, minlength=32 * n).reshape(n, 2, 16)
    out = {"teachers": by_code.sum(axis=2)}
    out |= {ind: by_code[:, :, _CODES_WITH[k]].sum(axis=2) for k, ind in enumerate(_FLAGS)}
    quality = a.column("quality")
    out["quality_sum"] = np.bincount(key >> 4, weights=share * np.concatenate([quality, quality.take(part)]),
                                     minlength=2 * n).reshape(n, 2)
    out["enrolment"] = np.stack([schools["enrol_primary"], schools["enrol_junior"]], axis=1).astype(float)
    staff = out["teachers"].sum(axis=1)
    out["mean_quality"] = np.divide(out["quality_sum"].sum(axis=1), staff, out=np.zeros(n), where=staff > 0)
    out["effective_quality"] = out["mean_quality"] + (np.zeros(n) if lift is None else lift)
    out["turnover"] = turnover
    return out


def year_metrics(ctx: YearContext) -> list[tuple[str, str, float]]:
    """Every registered metric for the year as tidy (metric, group, value) rows."""
    return [(name, group, float(value)) for name, m in REGISTRY.items() for group, value in m.fn(ctx)]


def official_cv(counts: np.ndarray, enrolment: np.ndarray) -> float:
    """Student-weighted between-school CV of an indicator per 100 students (差异系数).

    CV = sqrt(sum_i (P_i/P) (X_i - Xbar)^2) / Xbar with X_i = 100 C_i / P_i and
    Xbar = 100 sum C / P. Returns 0 when the indicator is zero everywhere.
    """
    p = np.asarray(enrolment, dtype=float)
    return ineq.weighted_cv(100.0 * np.asarray(counts, dtype=float) / p, p)


weighted_cv = ineq.weighted_cv
weighted_gini = ineq.weighted_gini


def metrics_markdown() -> str:
    """docs/metrics.md, generated from REGISTRY: one row per metric family."""
    lines = [
        "# Metrics reference",
        "",
        "Generated from `sim/metrics/registry.py` (`python -m sim.metrics > docs/metrics.md`); do not edit by hand.",
        "Every metric lands in `metrics.parquet` as rows (scenario, replicate, seed, year, metric, subgroup,",
        "value). Year 0 is the initial state. The limits and per-school minimums are those of the 2017",
        "high-quality standard and the 2012 basic-balance measures; `docs/sources.md` gives the source of each",
        "published figure and its denominator.",
        "",
        " ".join(inspect.cleandoc(__doc__).split("\n\n")[2].split()),
        "",
        f"`<indicator>` stands for each of: {', '.join(f'`{i}`' for i in ALL_INDICATORS)} "
        "(`quality` is the mean latent teaching quality of the teachers teaching at a school, not a head count;",
        "`mean_effective_quality` adds the double-teacher-classroom lift).",
        "",
        "| metric | label | unit | groups | formula |",
        "|---|---|---|---|---|",
    ]
    seen = set()
    for m in REGISTRY.values():
        if m.family in seen:
            continue
        seen.add(m.family)
        members = [x for x in REGISTRY.values() if x.family == m.family]
        inds = {x.name for x in members}
        label = m.label if len(members) == 1 else m.label.replace(INDICATOR_LABELS[_indicator_of(m)], "<indicator>")
        which = "" if len(members) == 1 or len(inds) == len(ALL_INDICATORS) else \
            f" (indicators: {', '.join(_indicator_of(x) for x in members)})"
        lines.append(f"| `{m.family}` | {label}{which} | {m.unit} | {m.groups} | {m.formula} |")
    return "\n".join(lines) + "\n"


def _indicator_of(m: Metric) -> str:
    return m.fn.args[0] if isinstance(m.fn, partial) and m.fn.args else ""

