"""Sweep files and their designs: which runs a sweep is made of, all checked before any runs.

A sweep file (YAML) names base scenarios, parameters by dotted scenario path with a range or a
list of values, a design (full grid, Latin hypercube, Sobol, Morris), replicates, years and the
outcomes to keep. A design point is a set of `--set` overrides applied to a base through
`load_scenario`, so every point passes the same schema as a scenario file. A point that makes an
invalid scenario stops the sweep before any run starts; so do a parameter that is not exactly one
scenario key, a group no metric reports, and a design larger than MAX_POINTS or MAX_RUNS (its size
is computed before it is drawn).

Runs are (base, point, replicate). Replicate i uses `replicate_seeds(root, R)[i]` in every base and
at every point (common random numbers), so a run's result depends only on its scenario and seed,
not on where or when it ran.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from sim.config.scenario import (
    Scenario,
    ScenarioError,
    Strict,
    field_problem,
    load_scenario,
    read_scenario_file,
    read_yaml_mapping,
    validation_line,
)

SET_BY_THE_SWEEP = ("run", "name", "description")  # the sweep itself sets these sections and keys
MAX_POINTS = 10_000  # design points of one sweep (each is checked against every base before any run)
MAX_RUNS = 100_000  # runs of one sweep: bases x design points x replicates


class SweepError(ValueError):
    """A sweep file that cannot be run; its message is one line naming the file and the key."""


class Parameter(Strict):
    """One swept scenario key: a range (low, high) or a list of values."""

    low: float | None = None
    high: float | None = None
    integer: bool = False  # whole numbers low..high, both included, equally likely
    values: Annotated[list[Any], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _range_or_values(self) -> Parameter:
        has_range = self.low is not None or self.high is not None
        if has_range == (self.values is not None):
            raise ValueError("give either low and high, or values")
        if self.values is not None:
            if self.integer:
                raise ValueError("integer applies to a range (low, high), not to values")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs both low and high")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.integer and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError("an integer range needs whole-number low and high")
        return self

    def bounds(self) -> tuple[float, float]:
        """The sampler's interval; values map to [0, k) by index, integers to [low, high + 1)."""
        if self.values is not None:
            return 0.0, float(len(self.values))
        if self.integer:
            return float(self.low), float(self.high) + 1.0
        return float(self.low), float(self.high)

    def value(self, x: float) -> Any:
        """The scenario value of the sampler's number x."""
        if self.values is not None:
            return self.values[min(int(math.floor(x)), len(self.values) - 1)]
        if self.integer:
            return int(min(math.floor(x), self.high))
        return float(x)

    def grid(self, levels: int) -> list[float]:
        """The sampler's numbers of a full-grid axis: every value, or `levels` evenly spaced numbers."""
        if self.values is not None:
            return [float(i) for i in range(len(self.values))]
        axis = np.linspace(float(self.low), float(self.high), levels)
        if self.integer:
            return sorted({float(round(v)) for v in axis})
        return [float(v) for v in axis]


def _parameter_key(path: str) -> str:
    """A parameter names exactly one scenario field that the sweep does not set itself."""
    if path.split(".")[0] in SET_BY_THE_SWEEP:
        raise ValueError("run length, replicates, seed and names are set by the sweep itself")
    problem = field_problem(path)
    if problem:
        raise ValueError(problem)
    return path


ParameterKey = Annotated[str, AfterValidator(_parameter_key)]


class Design(Strict):
    """How design points are chosen (the sampler seeds are part of the sweep, so designs repeat)."""

    kind: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    points: Annotated[int, Field(ge=1, le=1_000_000)] | None = None  # lhs: points; sobol: N; morris: trajectories
    levels: Annotated[int, Field(ge=2, le=1000)] | None = None  # grid: per range (default 3); morris (default 4)
    second_order: bool = False  # sobol: also second-order indices (2D+2 instead of D+2 points per N)
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0  # seed of the sampler, not of the runs

    @model_validator(mode="after")
    def _fits_kind(self) -> Design:
        if self.kind == "grid" and self.points is not None:
            raise ValueError("a grid has no 'points': its size is the product of the axes")
        if self.kind != "grid" and self.points is None:
            raise ValueError(f"a {self.kind} design needs 'points'")
        if self.kind == "sobol" and self.points & (self.points - 1):
            raise ValueError(f"a sobol design needs 'points' a power of two (got {self.points})")
        if self.kind in ("grid", "lhs") and self.second_order:
            raise ValueError("second_order applies to a sobol design")
        if self.kind == "lhs" and self.levels is not None:
            raise ValueError("a Latin hypercube has no 'levels'")
        return self


class SweepSpec(Strict):
    """A whole sweep file."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_\-\.]*$")]
    description: str = ""
    bases: Annotated[list[str], Field(min_length=1)]  # scenario files, relative to the sweep file
    set: list[str] = []  # dotted.key=value overrides applied to every base, as --set
    parameters: dict[ParameterKey, Parameter] = {}
    design: Design = Design()
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 1
    years: Annotated[int, Field(ge=1, le=200)] | None = None  # None: each base's run.years
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = None  # root seed; None: the first base's run.seed
    outcomes: Annotated[list[str], Field(min_length=1)]  # metric names kept in the run files
    groups: Annotated[list[str], Field(min_length=1)] | None = None  # None: every group of those metrics

    @field_validator("outcomes")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        from sim.metrics import REGISTRY

        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r} (see docs/metrics.md)")
        if len(set(names)) != len(names):
            raise ValueError("a metric is named twice")
        return names



def override(path: str, value: Any) -> str:
    """`path=value` as a --set item whose YAML reads back to exactly `value`."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9).strip()
    return f"{path}={text.removesuffix('...').strip()}"


@dataclass
class Base:
    """A base scenario of the sweep, with the sweep's fixed overrides (no design point yet)."""

    name: str
    path: Path
    overrides: tuple[str, ...]
    scenario: Scenario
    # the file as read (`read_scenario_file`): each design point is validated from it, not read again
    read: tuple[dict, dict[str, str]] | None = None


@dataclass
class Sweep:
    """A validated sweep: bases, design points, seeds; every run can be built from it."""

    path: Path
    spec: SweepSpec
    bases: list[Base]
    points: list[dict[str, Any]]  # design point i -> {dotted path: value}
    raw: np.ndarray  # the sampler's numbers behind the points, (n_points, n_parameters)
    seed: int
    seeds: list[int]

    @property
    def parameters(self) -> list[str]:
        return list(self.spec.parameters)

    @property
    def n_runs(self) -> int:
        return len(self.bases) * len(self.points) * self.spec.replicates

    def point_overrides(self, point: int) -> list[str]:
        return [override(k, v) for k, v in self.points[point].items()]

    def scenario(self, base: Base, point: int) -> Scenario:
        """The scenario of one design point of one base (raises ScenarioError)."""
        return load_scenario(base.path, [*base.overrides, *self.point_overrides(point)], base.read)

    def runs(self):
        """Every run as (base, point, replicate, seed), base by base, point by point (a generator)."""
        for base in self.bases:
            for point in range(len(self.points)):
                for rep, seed in enumerate(self.seeds):
                    yield base, point, rep, seed

    def salib_problem(self) -> dict | None:
        """The SALib problem the sobol or morris sample was drawn for (what the analysis needs)."""
        if self.spec.design.kind not in ("sobol", "morris"):
            return None
        return salib_problem(self.spec)

    @property
    def columns(self) -> dict[str, str]:
        """Dotted parameter path -> the plain column its values have in the design table and the run files."""
        return column_names(self.parameters, [[p.name for p in b.scenario.policy.programs] for b in self.bases])

    def design_frame(self):
        """The design table: one row per point, one column per parameter under its plain name
        (the value applied), plus the sampler's number behind it as `raw_<column>`."""
        import pandas as pd

        frame = pd.DataFrame({"point": np.arange(len(self.points), dtype=np.int64)})
        for name, column in self.columns.items():
            col = [p[name] for p in self.points]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in col)
            frame[column] = col if numeric else [v if isinstance(v, str) else json.dumps(v) for v in col]
        for j, column in enumerate(self.columns.values()):
            frame[f"raw_{column}"] = self.raw[:, j] if len(self.points) else []
        return frame

    def fingerprint(self) -> str:
        """What makes two sweeps the same: spec (not its description), resolved bases, points, seeds."""
        spec = self.spec.model_dump(mode="json")
        spec.pop("description")
        body = {"spec": spec, "bases": [(b.name, b.scenario.model_dump(mode="json")) for b in self.bases],
                "points": self.points, "seeds": self.seeds}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


RUN_COLUMNS = ("scenario", "point", "replicate", "seed", "year", "metric", "subgroup", "value")


def column_names(paths: list[str], programs: list[list[str]] | None = None) -> dict[str, str]:
    """Plain column names for dotted parameter paths, typed in SQL without quotes.

    A name is the path's last two keys joined by "_" (`policy.programs.0.quota.min_count` ->
    `quota_min_count`), with more keys from the left while two parameters would share one; a
    program's index is replaced by its name when every base (`programs`: each base's program
    names) names that program alike (`district_exchange_quota_min_count`). Characters other than
    letters, digits and "_" become "_"; a name that is a run file's own column, or starts with
    a digit, is prefixed with `param_`.
    """
    split = [_keys(path, programs or []) for path in paths]
    names: dict[str, str] = {}
    for i, (path, keys) in enumerate(zip(paths, split, strict=True)):
        n = min(2, len(keys))
        while n < len(keys) and any(k[-n:] == keys[-n:] for j, k in enumerate(split) if j != i):
            n += 1
        name = "_".join(keys[-n:])
        if name in RUN_COLUMNS or not name[0].isalpha():
            name = f"param_{name}"
        while name in names.values():  # only paths that differ in case or punctuation alone
            name += "_"
        names[path] = name
    return names


def _keys(path: str, programs: list[list[str]]) -> list[str]:
    import re

    parts = path.split(".")
    keys = []
    for i, part in enumerate(parts):
        if part.isdigit() and i > 0 and parts[i - 1] == "programs" and programs:
            named = {str(names[int(part)]) if int(part) < len(names) else None for names in programs}
            if len(named) == 1 and None not in named:
                part = named.pop()
        keys.append(re.sub(r"[^a-z0-9_]", "_", part.lower()))
    return keys


def salib_problem(spec: SweepSpec) -> dict:
    names = list(spec.parameters)
    return {"num_vars": len(names), "names": names,
            "bounds": [list(spec.parameters[n].bounds()) for n in names]}


def sample(spec: SweepSpec) -> np.ndarray:
    """The sampler's numbers, one row per design point (grid, qmc Latin hypercube, SALib)."""
    params = list(spec.parameters.values())
    d = spec.design
    if d.kind == "grid":
        axes = [p.grid(d.levels or 3) for p in params]
        return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(params))
    if d.kind == "lhs":
        from scipy.stats import qmc

        u = qmc.LatinHypercube(d=len(params), rng=np.random.default_rng(d.seed)).random(d.points)
        lo, hi = np.array([p.bounds() for p in params]).T
        return lo + u * (hi - lo)
    problem = salib_problem(spec)
    if d.kind == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, d.points, calc_second_order=d.second_order, scramble=True, seed=d.seed)
    from SALib.sample import morris

    return morris.sample(problem, d.points, num_levels=d.levels or 4, seed=d.seed)


def design_size(spec: SweepSpec) -> int:
    """Design points the sampler would draw, known before drawing them."""
    params = list(spec.parameters.values())
    d, k = spec.design, len(params)
    if d.kind == "grid":
        return math.prod(len(p.grid(d.levels or 3)) for p in params)
    if d.kind == "lhs":
        return d.points
    if d.kind == "sobol":
        return d.points * (2 * k + 2 if d.second_order else k + 2)
    return d.points * (k + 1)  # morris: trajectories of k + 1 points


def read_spec(path: Path) -> SweepSpec:
    try:
        data = read_yaml_mapping(path)
    except ScenarioError as exc:
        raise SweepError(str(exc)) from None
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepError(validation_line(exc, {}, str(path))) from None


def with_options(path: Path, spec: SweepSpec, overrides: list[str] | tuple[str, ...] = (),
                 replicates: int | None = None, years: int | None = None, points: int | None = None) -> SweepSpec:
    """The sweep file's spec with the command line's --set, --reps, --years and --points; they are
    part of the sweep (its fingerprint), so resuming needs the same options."""
    data = spec.model_dump()
    given = {"set": ("--set", list(overrides)), "replicates": ("--reps", replicates), "years": ("--years", years),
             "design.points": ("--points", points)}
    origin = {}
    for key, (option, value) in given.items():
        if value is None or value == []:
            continue
        if key == "set":
            data["set"] = [*data["set"], *value]
        elif key == "design.points":
            data["design"]["points"] = value
        else:
            data[key] = value
        origin[key] = option
    if not origin:
        return spec
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepError(f"{path}: {validation_line(exc, origin, str(path))}") from None


def load_sweep(path, overrides: list[str] | tuple[str, ...] = (), replicates: int | None = None,
               years: int | None = None, points: int | None = None) -> Sweep:
    """Read and check a sweep file: schema, size, bases, groups, and every design point of every base.

    Args:
        path: the sweep file (a Sweep already loaded is returned as it is).
        overrides, replicates, years, points: the command line's --set, --reps, --years, --points.

    Raises SweepError with one line naming the file and the key (and, for a bad design point,
    the parameter and its value) before anything runs. A design of more than MAX_POINTS points or
    MAX_RUNS runs is refused before it is drawn.
    """
    from sim.seeds import replicate_seeds

    if isinstance(path, Sweep):
        return path
    path = Path(path)
    spec = with_options(path, read_spec(path), overrides, replicates, years, points)
    _check_size(path, spec)
    bases, root = _load_bases(path, spec)
    _check_groups(path, spec, bases)
    raw = sample(spec)
    params = list(spec.parameters.items())
    points = [{name: p.value(x) for (name, p), x in zip(params, row, strict=True)} for row in raw]
    sweep = Sweep(path, spec, bases, points, raw, root, replicate_seeds(root, spec.replicates))
    _check_points(sweep)
    return sweep


def _check_size(path: Path, spec: SweepSpec) -> None:
    """Refuse a sweep with no parameter, or one too large to run, before its design is drawn."""
    if not spec.parameters:
        raise SweepError(f"{path}: parameters: none given; a sweep varies at least one parameter "
                         "(to repeat scenarios alone, use teachersim compare or run --reps)")
    n_points = design_size(spec)
    if n_points > MAX_POINTS:
        raise SweepError(f"{path}: design: {n_points:,} design points is above the most a sweep may have "
                         f"({MAX_POINTS:,}); fewer points, levels or parameters")
    n_runs = len(spec.bases) * n_points * spec.replicates
    if n_runs > MAX_RUNS:
        raise SweepError(f"{path}: design: {len(spec.bases)} base(s) x {n_points:,} points x {spec.replicates} "
                         f"replicate(s) = {n_runs:,} runs is above the most a sweep may have ({MAX_RUNS:,})")


def _load_bases(path: Path, spec: SweepSpec) -> tuple[list[Base], int]:
    """Each base scenario with the sweep's fixed settings, and the root seed. The root seed is the
    sweep's own or the first base's, so every base shares the replicate seeds (common random numbers)."""
    base_paths = [(path.parent / b).resolve() for b in spec.bases]
    for given, bp in zip(spec.bases, base_paths, strict=True):
        if not bp.is_file():
            problem = "is not a regular file" if bp.exists() else "not found"
            raise SweepError(f"{path}: bases: scenario file {given!r} {problem}")
    first_read = _read_base(path, base_paths[0])
    first = _load_base(path, base_paths[0], spec.set, first_read)
    root = first.run.seed if spec.seed is None else spec.seed
    fixed = [*spec.set, f"run.replicates={spec.replicates}", f"run.seed={root}"]
    if spec.years is not None:
        fixed.append(f"run.years={spec.years}")
    bases = []
    for i, bp in enumerate(base_paths):
        read = first_read if i == 0 else _read_base(path, bp)
        sc = _load_base(path, bp, fixed, read)
        bases.append(Base(sc.name, bp, tuple(fixed), sc, read))
    names = [b.name for b in bases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SweepError(f"{path}: bases: two bases are both named {dupes[0]!r}; runs are named by base")
    return bases, root


def _check_groups(path: Path, spec: SweepSpec, bases: list[Base]) -> None:
    """Refuse a kept group that no metric reports in these bases (it would be an empty column)."""
    for group in spec.groups or []:
        if not known_group(group, bases):
            raise SweepError(f"{path}: groups: {group!r} is a group of no metric in these bases (groups are "
                             "primary, junior, all, a tier, level@district, ...; see docs/metrics.md)")


def _check_points(sweep: Sweep) -> None:
    """Check every design point of every base as a scenario, so a bad value is found before any run."""
    for base in sweep.bases:
        for i in range(len(sweep.points)):
            try:
                checked_scenario(base.path, [*base.overrides, *sweep.point_overrides(i)], base.read)
            except ScenarioError as exc:
                raise SweepError(_point_error(sweep, base, i, exc)) from None


# the groups metrics report besides the levels and tiers (sim.metrics: rotations_by_form, _by_scope)
OTHER_GROUPS = ("full_time", "part_time", "transfer", "training", "within_group", "cross_group",
                "within_school_district", "cross_school_district", "cross_district", "twinning_pair")


def known_group(group: str, bases: list[Base]) -> bool:
    """Whether some metric can report this group in a base's world: a level or `all`, a tier, a
    role, a school level, a form or scope of rotation, `level@district`, or a flow `from->to`
    between tiers or districts. A roster's district names are known only once it is read: any name is accepted there."""
    from sim.codes import ROLES, SCHOOL_LEVELS, TIERS
    from sim.metrics import GROUPS
    from sim.world.presets import synthetic_shape

    if group in (*GROUPS, *TIERS, *ROLES, *SCHOOL_LEVELS, *OTHER_GROUPS):
        return True
    any_district = any(b.scenario.world.preset == "roster" for b in bases)
    districts = {d for b in bases if b.scenario.world.preset != "roster"
                 for d in synthetic_shape(b.scenario.world).district_names}
    level, at, district = group.partition("@")
    if at:
        return level in GROUPS and (any_district or district in districts)
    source, arrow, target = group.partition("->")
    if arrow:
        return (source in TIERS and target in TIERS) or any_district or {source, target} <= districts
    return False


def checked_scenario(path: Path, overrides: list[str], read: tuple[dict, dict[str, str]] | None = None) -> Scenario:
    """A scenario loaded with overrides and size-checked (`read`: the file already read); errors name the file."""
    from sim.config.checks import check_size

    scenario = load_scenario(path, overrides, read)
    try:
        check_size(scenario)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return scenario


def _read_base(sweep_path: Path, base_path: Path) -> tuple[dict, dict[str, str]]:
    try:
        return read_scenario_file(base_path)
    except ScenarioError as exc:
        raise SweepError(f"{sweep_path}: bases: {exc}") from None


def _load_base(sweep_path: Path, base_path: Path, overrides: list[str], read: tuple[dict, dict[str, str]]) -> Scenario:
    try:
        return checked_scenario(base_path, overrides, read)
    except ScenarioError as exc:
        raise SweepError(f"{sweep_path}: bases: {exc}") from None


def _point_error(sweep: Sweep, base: Base, i: int, exc: ScenarioError) -> str:
    """Name the parameter that makes the point invalid on its own, else every parameter of the point."""
    culprits = []
    for name, value in sweep.points[i].items():
        try:
            checked_scenario(base.path, [*base.overrides, override(name, value)], base.read)
        except ScenarioError:
            culprits.append(name)
    named = culprits[:1] or list(sweep.points[i])
    where = "parameters." + named[0] if len(named) == 1 else "parameters"
    values = ", ".join(f"{n}={sweep.points[i][n]!r}" for n in named)
    return f"{sweep.path}: {where}: design point {i} ({values}) makes base {base.name!r} invalid: {exc}"
