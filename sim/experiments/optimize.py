"""Multi-objective policy search: which rotation rules to choose, and what each option costs.

An optimisation file (YAML) names a base scenario, levers (dotted scenario keys, programs by name,
with a range, whole-number steps or choices: the same `Parameter` as a sweep's), objectives (a
metric:group at a year or averaged over a span, or `cost`, minimised or maximised), constraints
(a metric at most / at least a limit at year N in at least a share of replicates), the prices of
`sim.experiments.costs`, replicates on common random numbers and the search's generations, population and seed.

pymoo's NSGA-II proposes candidates (ask/tell); each candidate is run on every replicate seed on
the project's executors. Every evaluated candidate is appended to a journal as it finishes, so a
killed search is resumed by running it again: the same seed re-creates the same generations and
the candidates already in the journal are not run again. A candidate's result depends only on its
lever values and the seeds, so outputs are the same on any executor and after any kill.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from sim.config.designs import Parameter, ParameterKey, known_group, override
from sim.config.scenario import (
    Scenario,
    ScenarioError,
    Strict,
    load_scenario,
    parse_yaml,
    read_text,
    validation_line,
    with_settings,
)
from sim.experiments.costs import ITEMS, Costs, quantities, run_cost

KIND = "optimize"
JOURNAL = "evaluations.jsonl"  # one line per evaluated candidate, appended as each finishes
BASE_FILE = "base.json"  # the base scenario's runs on the same seeds, written by the answer (sim.optimize_answer)
MAX_RUNS = 200_000  # generations x population x replicates: the most runs one search may ask for
INTERVAL = 0.95  # level of the t-intervals over replicates


class OptimizeError(ValueError):
    """An optimisation file or folder that cannot be used; one line naming the file and the key."""


class CandidateFailed(RuntimeError):
    """A candidate's run raised (a bug, not bad input); the candidates evaluated before it are kept."""


class Lever(Parameter):
    """A scenario key the search may set: a range, whole numbers (integer: true) or values."""

    label: Annotated[str, Field(max_length=80)] = ""  # plain words for figures and answers


def _metric_key(text: str) -> str:
    """`metric:group` (group `all` when left out) of a registered metric, or `cost`."""
    from sim.metrics import REGISTRY

    if text == "cost":
        return text
    name, _, group = text.partition(":")
    if name not in REGISTRY:
        raise ValueError(f"unknown metric {name!r} (see docs/metrics.md), or 'cost'")
    return f"{name}:{group or 'all'}"


class Objective(Strict):
    """A metric:group at a year (default: the last) or averaged over years [first, last]; or cost."""

    metric: str
    year: Annotated[int, Field(ge=0, le=200)] | None = None
    years: Annotated[list[Annotated[int, Field(ge=0, le=200)]], Field(min_length=2, max_length=2)] | None = None
    sense: Literal["min", "max"] = "min"
    label: Annotated[str, Field(max_length=80)] = ""

    _key = field_validator("metric")(classmethod(lambda cls, v: _metric_key(v)))

    @model_validator(mode="after")
    def _one_time(self) -> Objective:
        if self.year is not None and self.years is not None:
            raise ValueError("give year or years (a span to average), not both")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"years: {self.years[0]} is after {self.years[1]}")
        if self.metric == "cost" and self.years is not None:
            raise ValueError("cost is a total up to a year: give year, not years")
        return self


class Constraint(Strict):
    """A metric:group at most (or at least) a limit at `year` in at least `share` of replicates."""

    metric: str
    at_most: float | None = None
    at_least: float | None = None
    year: Annotated[int, Field(ge=0, le=200)]
    share: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    label: Annotated[str, Field(max_length=80)] = ""

    _key = field_validator("metric")(classmethod(lambda cls, v: _metric_key(v)))

    @model_validator(mode="after")
    def _one_limit(self) -> Constraint:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError("give at_most or at_least (one of them)")
        return self

    def met(self, value: float) -> bool:
        return value <= self.at_most if self.at_most is not None else value >= self.at_least


class Search(Strict):
    """NSGA-II's settings; its seed is the search's, not the runs'."""

    generations: Annotated[int, Field(ge=1, le=500)] = 10
    population: Annotated[int, Field(ge=2, le=1000)] = 16
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0


class Posterior(Strict):
    """A calibration's posterior sample (sim.posterior): each candidate is judged in `worlds`
    plausible worlds drawn from it by weight, from `seed` (default: the replicates' root seed)."""

    file: Annotated[str, Field(min_length=1)]  # relative to the optimisation file
    worlds: Annotated[int, Field(ge=1, le=1000)] = 8
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = None


class OptimizeSpec(Strict):
    """A whole optimisation file."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_\-\.]*$")]
    description: str = ""
    base: Annotated[str, Field(min_length=1)]  # scenario file, relative to this file
    set: list[str] = []  # dotted.key=value overrides applied to the base, as --set
    years: Annotated[int, Field(ge=1, le=200)] | None = None  # None: the base's run.years
    replicates: Annotated[int, Field(ge=1, le=1000)] = 4
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = None  # root seed of the replicates; None: the base's
    levers: Annotated[dict[ParameterKey, Lever], Field(min_length=1)]
    objectives: Annotated[list[Objective], Field(min_length=1, max_length=6)]
    constraints: list[Constraint] = []
    costs: Costs
    search: Search = Search()
    posterior: Posterior | None = None


@dataclass
class Optimisation:
    """A checked optimisation file: the spec, the resolved base scenario, the plausible worlds (each
    a set of scenario values; one world of none without a posterior) and the seeds of every run:
    world k's replicate r has seed seeds[k * replicates + r], the same for every candidate."""

    path: Path
    spec: OptimizeSpec
    base: Scenario
    seeds: list[int]
    worlds: list[dict[str, Any]] = field(default_factory=lambda: [{}])

    @property
    def levers(self) -> list[str]:
        return list(self.spec.levers)

    def decode(self, x) -> dict[str, Any]:
        """The lever values of the search's numbers x (continuous values to 4 decimals)."""
        values = {}
        for (name, lever), v in zip(self.spec.levers.items(), x, strict=True):
            value = lever.value(float(v))
            values[name] = round(value, 4) if isinstance(value, float) else value
        return values

    def scenario(self, values: dict[str, Any], world: dict[str, Any] | None = None) -> Scenario:
        """The base in a plausible world (default none) with the lever values set (raises ScenarioError)."""
        return with_settings(self.base, [override(k, v) for k, v in {**(world or {}), **values}.items()])

    def fingerprint(self) -> str:
        spec = self.spec.model_dump(mode="json")
        spec.pop("description")
        body = {"spec": spec, "base": self.base.model_dump(mode="json"), "seeds": self.seeds, "worlds": self.worlds}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def candidate_key(values: dict[str, Any]) -> str:
    """A candidate's name: the hash of its lever values (the same values are evaluated once)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def load_optimisation(path) -> Optimisation:
    """Read and check an optimisation file: schema, base, groups, years, and each lever's values
    on the base. Raises OptimizeError (one line naming the file and the key) before anything runs."""
    from sim.config.checks import check_size
    from sim.seeds import replicate_seeds

    path = Path(path)
    try:
        data = parse_yaml(read_text(path), str(path))
    except ScenarioError as exc:
        raise OptimizeError(str(exc)) from None
    if not isinstance(data, dict):
        raise OptimizeError(f"{path}: top level must be a mapping of keys, not {type(data).__name__}")
    try:
        spec = OptimizeSpec.model_validate(data)
    except ValidationError as exc:
        raise OptimizeError(validation_line(exc, {}, str(path))) from None
    base_path = (path.parent / spec.base).resolve()
    if not base_path.is_file():
        raise OptimizeError(f"{path}: base: scenario file {spec.base!r} not found")
    try:
        first = load_scenario(base_path, spec.set)
        root = first.run.seed if spec.seed is None else spec.seed
        fixed = [*spec.set, "run.replicates=1", f"run.seed={root}"]
        if spec.years is not None:
            fixed.append(f"run.years={spec.years}")
        base = load_scenario(base_path, fixed)
        check_size(base)
    except ScenarioError as exc:
        raise OptimizeError(f"{path}: base: {exc}") from None
    worlds = _worlds(path, spec, root) if spec.posterior else [{}]
    opt = Optimisation(path, spec, base, replicate_seeds(root, spec.replicates * len(worlds)), worlds)
    _check_meaning(opt)
    return opt


def _worlds(path: Path, spec: OptimizeSpec, root: int) -> list[dict[str, Any]]:
    """The plausible worlds drawn from the file's posterior sample."""
    from sim.experiments.posterior import PosteriorError, draw_worlds, read_posterior

    post = spec.posterior
    try:
        params, rows, weights = read_posterior((path.parent / post.file).resolve())
    except PosteriorError as exc:
        raise OptimizeError(f"{path}: posterior.file: {exc}") from None
    both = sorted(set(params) & set(spec.levers))
    if both:
        raise OptimizeError(f"{path}: posterior.file: {both[0]!r} is a lever too; a lever cannot also be uncertain")
    return draw_worlds(rows, weights, post.worlds, root if post.seed is None else post.seed)[1]


def load_folder(folder) -> Optimisation:
    """The optimisation a finished search's folder was made by, from its manifest alone (what
    `teachersim report` reads: the file may have moved since). Raises OptimizeError."""
    from sim.experiments.run import scenario_from_json

    folder = Path(folder)
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        data = manifest["optimisation"]
        order = manifest.get("lever_order") or list(data["levers"])  # the file's order (the manifest sorts keys)
        spec = OptimizeSpec.model_validate({**data, "levers": {k: data["levers"][k] for k in order}})
        base = scenario_from_json(manifest["scenario"], manifest.get("source_dir", "."))
        worlds = manifest.get("worlds") or [{}]
        opt = Optimisation(path, spec, base, [int(s) for s in manifest["seeds"]], worlds)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OptimizeError(f"{path}: not the manifest of a policy search ({type(exc).__name__}: {exc})") from None
    if manifest.get("kind") != KIND or manifest.get("fingerprint") != opt.fingerprint():
        raise OptimizeError(f"{path}: not the manifest of a policy search, or changed since it was written")
    if manifest.get("status") != "done":
        raise OptimizeError(f"{folder}: the search has not finished; run teachersim optimize on it again first")
    return opt


def _check_meaning(opt: Optimisation) -> None:
    from sim.config.designs import Base

    path, spec, years = opt.path, opt.spec, opt.base.run.years
    runs = spec.search.generations * spec.search.population * spec.replicates
    if runs > MAX_RUNS:
        raise OptimizeError(f"{path}: search: {runs:,} runs (generations x population x replicates) is above "
                            f"the most a search may ask for ({MAX_RUNS:,})")
    bases = [Base(opt.base.name, path, (), opt.base)]
    items = [("objectives", i, o) for i, o in enumerate(spec.objectives)] + \
            [("constraints", i, c) for i, c in enumerate(spec.constraints)]
    for section, i, item in items:
        where = f"{path}: {section}.{i}"
        if item.metric != "cost" and not known_group(item.metric.split(":", 1)[1], bases):
            raise OptimizeError(f"{where}.metric: {item.metric.split(':', 1)[1]!r} is a group of no metric in "
                                "this base (see docs/metrics.md)")
        last = max([item.year or 0, *(getattr(item, "years", None) or [])])
        if last > years:
            raise OptimizeError(f"{where}: year {last} is after the run's last year ({years})")
    for k, world in enumerate(opt.worlds):
        try:
            opt.scenario({}, world)
        except ScenarioError as exc:
            raise OptimizeError(f"{path}: posterior.file: plausible world {k} makes the base invalid: {exc}") from None
    runs = runs * len(opt.worlds)
    if runs > MAX_RUNS:
        raise OptimizeError(f"{path}: search: {runs:,} runs (generations x population x replicates x worlds) is "
                            f"above the most a search may ask for ({MAX_RUNS:,})")
    for name, lever in spec.levers.items():
        values = lever.values if lever.values is not None else [lever.value(lever.bounds()[0]),
                                                               lever.value(lever.bounds()[1])]
        for value in values:
            try:
                opt.scenario({name: value})
            except ScenarioError as exc:
                raise OptimizeError(f"{path}: levers.{name}: value {value!r} makes the base invalid: {exc}") from None


# ------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class CandidateTask:
    """One candidate in every plausible world on every replicate seed, sendable to a worker."""

    key: str
    scenarios: tuple[dict, ...]  # the candidate in each world
    source_dir: str
    seeds: tuple[int, ...]  # world k's replicate r: seeds[k * replicates + r]
    spec: dict  # OptimizeSpec as JSON: objectives, constraints, costs


def metric_value(metrics: pd.DataFrame, key: str, year: int | None = None, years=None) -> float:
    """metric:group at a year (default the last), or its mean over years [first, last]; NaN when
    the run has no value there or the value is undefined (e.g. a mean over no schools): the
    search marks such a candidate invalid (`undefined_values`) instead of stopping."""
    name, group = key.split(":", 1)
    rows = metrics[(metrics["metric"] == name) & (metrics["subgroup"] == group)]
    if years is not None:
        rows = rows[(rows["year"] >= years[0]) & (rows["year"] <= years[1])]
    else:
        rows = rows[rows["year"] == (rows["year"].max() if year is None else year)]
    return float(rows["value"].mean()) if len(rows) else float("nan")


def undefined_values(spec, rows: list[dict]) -> str | None:
    """Why a candidate's runs cannot be scored: the first objective or constraint whose value is
    not a finite number in some run (None when every value is)."""
    items = [(f"objective_{i}", o.metric) for i, o in enumerate(spec.objectives)]
    items += [(f"constraint_{j}", c.metric) for j, c in enumerate(spec.constraints)]
    for row in rows:
        for column, metric in items:
            if not math.isfinite(row[column]):
                return (f"{metric} is undefined (no finite value) in world {row['world']}, replicate "
                        f"{row['replicate']} (seed {row['seed']})")
    return None


def evaluate(task: CandidateTask) -> list[dict]:
    """Run one candidate in each world on each replicate seed: one row per run with its world,
    replicate, seed, objectives, constraint values and cost (what the journal keeps). A search
    tries quotas above the eligible on purpose (they are capped, as always), so the runs'
    RunWarnings are not shown."""
    import warnings

    from sim.core.run_warning import RunWarning
    from sim.experiments.run import replicate_metrics, scenario_from_json

    spec = OptimizeSpec.model_validate(task.spec)
    rows = []
    for i, seed in enumerate(task.seeds):
        world, rep = divmod(i, spec.replicates)
        scenario = scenario_from_json(task.scenarios[world], task.source_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RunWarning)
            metrics = replicate_metrics(scenario, rep, seed)
        row = {"world": world, "replicate": rep, "seed": seed,
               "cost": run_cost(scenario, metrics, spec.costs)["total"],
               **{f"quantity_{item}": q for item, q in quantities(scenario, metrics).items()}}
        for i, o in enumerate(spec.objectives):
            row[f"objective_{i}"] = (run_cost(scenario, metrics, spec.costs, o.year)["total"] if o.metric == "cost"
                                     else metric_value(metrics, o.metric, o.year, o.years))
        for j, c in enumerate(spec.constraints):
            row[f"constraint_{j}"] = (run_cost(scenario, metrics, spec.costs, c.year)["total"] if c.metric == "cost"
                                      else metric_value(metrics, c.metric, c.year))
        rows.append(row)
    return rows


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and the two-sided t-interval of the mean over replicates (a point with one replicate)."""
    from scipy import stats

    mean = float(np.mean(values))
    if len(values) < 2 or np.all(values == values[0]):
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + INTERVAL / 2, len(values) - 1) * stats.sem(values))
    return mean, mean - half, mean + half


def per_world(rows: pd.DataFrame, column: str) -> np.ndarray:
    """What an interval is taken over: each run's value, or each plausible world's mean when the
    runs are of several worlds (runs of one world are not independent draws of the posterior)."""
    if "world" in rows and rows["world"].nunique() > 1:
        return rows.groupby("world", sort=True)[column].mean().to_numpy(float)
    return rows[column].to_numpy(float)


def worst(values: np.ndarray, sense: str) -> float:
    return float(np.max(values) if sense == "min" else np.min(values))


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Mask of the rows of F (minimised) that no other row dominates (checked here, not by pymoo)."""
    F = np.asarray(F, dtype=float)
    keep = np.ones(len(F), dtype=bool)
    for i in range(len(F)):
        better_eq = np.all(F <= F[i], axis=1)
        strictly = np.any(F < F[i], axis=1)
        keep[i] = not np.any(better_eq & strictly)
    return keep


# ------------------------------------------------------------------------------------ search


@dataclass
class Journal:
    """The evaluated candidates of a folder: key -> {values, valid, rows}; appended line by line."""

    path: Path
    entries: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> Journal:
        """Read the journal, dropping a line a kill cut short, and rewrite it without that line."""
        from sim.storage.store import write_bytes_atomic

        journal = cls(path)
        if not path.is_file():
            path.write_bytes(b"")
            return journal
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and {"key", "values", "valid", "rows"} <= set(entry):
                journal.entries[entry["key"]] = entry
                kept.append(line)
        write_bytes_atomic(path, "".join(f"{line}\n" for line in kept).encode())
        return journal

    def add(self, entry: dict) -> None:
        import os

        line = json.dumps(entry, sort_keys=True)
        self.entries[entry["key"]] = json.loads(line)  # as a resumed search reads it back: the same outputs
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


@dataclass
class OptimizeSummary:
    out: Path
    evaluated: int
    ran: int
    feasible: int
    front: int
    cheapest: str
    seconds: float
    executor: str
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"optimize: {self.evaluated} candidates evaluated ({self.ran} run now, {self.feasible} meet the "
                f"constraints), front of {self.front}, in {self.seconds:.1f} s on {self.executor} -> {self.out}\n"
                f"{self.cheapest}")


def optimize(path, out: str | Path | None = None, *, workers: int | None = None, scheduler: str | None = None,
             slurm=None, serial: bool = False, executor=None, progress: bool = False) -> OptimizeSummary:
    """Run (or resume) an optimisation file and write its folder.

    Args:
        path: the optimisation file, or an Optimisation already loaded.
        out: the result folder (default results/<name>); run again into it to resume.
        workers: size of the local Dask cluster; scheduler: the address of an existing Dask scheduler;
            slurm: a `sim.executors.SlurmOptions` (Slurm through dask-jobqueue); serial: in this
            process; executor: an executor object instead of all of these.

    Raises OptimizeError (bad file, or a folder that is not this search's) before anything is written.
    """
    from sim.experiments.executors import executor_for, running
    from sim.storage.folders import OutputRefused, claim
    from sim.storage.store import check_writable

    opt = path if isinstance(path, Optimisation) else load_optimisation(path)
    out = Path(out) if out is not None else Path("results") / opt.spec.name
    try:
        check_writable(out)
    except OSError as exc:
        raise OptimizeError(f"--out {out}: {exc}") from None
    try:
        with claim(out, KIND) as claimed:
            resumed = _check_folder(opt, claimed.out)
            executor = executor or executor_for(serial, workers, scheduler, slurm)
            with running(executor, OptimizeError):  # an unreachable scheduler: nothing written yet
                if not resumed:
                    _start_folder(opt, claimed.out)
                t0 = time.perf_counter()
                journal = Journal.open(claimed.out / JOURNAL)
                order, history, ran = _search(opt, journal, executor, progress)
                summary = _write_outputs(opt, claimed.out, journal, order, history, ran,
                                         time.perf_counter() - t0, executor.describe())
            summary.notes = claimed.notes
            return summary
    except OutputRefused as exc:
        raise OptimizeError(str(exc)) from None


def _check_folder(opt: Optimisation, out: Path) -> bool:
    """True when `out` holds this search (resume it); False when it is new; another's is refused."""
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("fingerprint") == opt.fingerprint():
            return True
        raise OptimizeError(f"{out}: holds a different optimisation (another file, base, levers or seeds); "
                            "choose another --out")
    return False


def _start_folder(opt: Optimisation, out: Path) -> None:
    """A new folder gets a 'running' manifest (what a resumed search recognises)."""
    from sim.storage.store import write_bytes_atomic

    out.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(opt, "running", {JOURNAL: None, BASE_FILE: None})
    write_bytes_atomic(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode())


def _manifest(opt: Optimisation, status: str, files: dict, **more) -> dict:
    from sim.storage.store import SCHEMA_VERSION, git_commit, versions

    return {"schema_version": SCHEMA_VERSION, "kind": KIND, "status": status, "name": opt.spec.name,
            "fingerprint": opt.fingerprint(), "optimisation": opt.spec.model_dump(mode="json"),
            "lever_order": opt.levers, "scenario": opt.base.model_dump(mode="json"), "source_dir": opt.base.source_dir,
            "seeds": opt.seeds, "worlds": opt.worlds, "versions": versions(), "git_commit": git_commit(),
            "files": files, **more}


def _objectives(opt: Optimisation, entry: dict) -> tuple[np.ndarray, np.ndarray]:
    """A journal entry as pymoo's F (means, minimised) and G (required share - share met, <= 0 ok)."""
    spec = opt.spec
    if not entry["valid"]:
        return np.full(len(spec.objectives), 1e12), np.full(len(spec.constraints), 1.0)
    rows = pd.DataFrame(entry["rows"])
    F = np.array([rows[f"objective_{i}"].mean() * (-1 if o.sense == "max" else 1)
                  for i, o in enumerate(spec.objectives)])
    G = np.array([c.share - float(np.mean([c.met(v) for v in rows[f"constraint_{j}"]]))
                  for j, c in enumerate(spec.constraints)])
    return F, G


def candidate_task(opt: Optimisation, key: str, values: dict) -> CandidateTask | dict:
    """The candidate's task, or its journal entry straight away when its values make the base invalid."""
    try:
        scenarios = [opt.scenario(values, world) for world in opt.worlds]
    except ScenarioError as exc:
        return {"key": key, "values": values, "valid": False, "error": str(exc), "rows": []}
    return CandidateTask(key, tuple(sc.model_dump(mode="json") for sc in scenarios), opt.base.source_dir,
                         tuple(opt.seeds), opt.spec.model_dump(mode="json"))


def _search(opt: Optimisation, journal: Journal, executor, progress: bool):
    """NSGA-II by ask and tell. Returns the candidates in the order first asked (key -> (generation,
    position)), the per-generation history and how many candidates were run now."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.problem import Problem
    from pymoo.problems.static import StaticProblem

    spec = opt.spec
    bounds = np.array([lever.bounds() for lever in spec.levers.values()], dtype=float)
    problem = Problem(n_var=len(bounds), n_obj=len(spec.objectives), n_ieq_constr=len(spec.constraints),
                      xl=bounds[:, 0], xu=bounds[:, 1])
    algorithm = NSGA2(pop_size=spec.search.population, eliminate_duplicates=True)
    # pymoo (>= 0.6.2) draws from its own generator seeded here: the search's one named stream
    algorithm.setup(problem, termination=("n_gen", spec.search.generations), seed=spec.search.seed, verbose=False)
    order: dict[str, tuple[int, int]] = {}
    history, ran, scale = [], 0, None
    for gen in range(1, spec.search.generations + 1):
        pop = algorithm.ask()
        values = [opt.decode(x) for x in pop.get("X")]
        keys = [candidate_key(v) for v in values]
        todo, asked = {}, dict(zip(keys, values, strict=True))
        for pos, (key, v) in enumerate(zip(keys, values, strict=True)):
            order.setdefault(key, (gen, pos))
            if key not in journal.entries and key not in todo:
                todo[key] = candidate_task(opt, key, v)
        tasks = []
        for task in todo.values():
            if isinstance(task, dict):
                journal.add(task)
            else:
                tasks.append(task)
        for task, rows, error in executor.map_unordered(evaluate, tasks):
            if error is not None:
                raise CandidateFailed(f"candidate {task.key} ({asked[task.key]}): {type(error).__name__}: {error}")
            why = undefined_values(spec, rows)  # invalid, as a lever set that makes no scenario: worst
            journal.add({"key": task.key, "values": asked[task.key], "valid": why is None,  # objective, infeasible
                         "rows": rows if why is None else [], **({"error": why} if why else {})})
            ran += 1
        FG = [_objectives(opt, journal.entries[k]) for k in keys]
        static = StaticProblem(problem, F=np.array([f for f, _ in FG]), G=np.array([g for _, g in FG])
                               if spec.constraints else None)
        Evaluator().eval(static, pop)
        algorithm.tell(infills=pop)
        scale = scale or _hv_scale(opt, journal, order)
        size, hv = _front_stats(opt, journal, order, scale)
        history.append({"generation": gen, "evaluated": len(order), "front_size": size, "hypervolume": hv})
        if progress:
            print(f"generation {gen}/{spec.search.generations}: {len(order)} candidates evaluated, front of "
                  f"{size}, hypervolume {hv:.4f}", file=sys.stderr, flush=True)
    return order, history, ran


def _table(opt: Optimisation, journal: Journal, order: dict) -> pd.DataFrame:
    """One row per evaluated candidate, in the order first asked: levers, objectives (mean and
    t-interval; with a posterior also the worst world's mean), constraint shares met (of all
    runs), cost, feasibility."""
    spec = opt.spec
    records = []
    for key, (gen, pos) in sorted(order.items(), key=lambda kv: kv[1]):
        entry = journal.entries[key]
        rec = {"candidate": key, "generation": gen, "position": pos, "valid": bool(entry["valid"])}
        rec |= {name: entry["values"][name] for name in opt.levers}
        rows = pd.DataFrame(entry["rows"])
        for i, o in enumerate(spec.objectives):
            vals = per_world(rows, f"objective_{i}") if entry["valid"] else np.array([np.nan])
            rec[f"objective_{i}"], rec[f"objective_{i}_low"], rec[f"objective_{i}_high"] = t_interval(vals)
            if spec.posterior:
                rec[f"objective_{i}_worst"] = worst(vals, o.sense)
        ok = bool(entry["valid"])
        for j, c in enumerate(spec.constraints):
            share = float(np.mean([c.met(v) for v in rows[f"constraint_{j}"]])) if entry["valid"] else 0.0
            rec[f"constraint_{j}_share_met"] = share
            ok = ok and share >= c.share
        rec["cost"], rec["cost_low"], rec["cost_high"] = (t_interval(per_world(rows, "cost"))
                                                          if entry["valid"] else (np.nan,) * 3)
        rec["feasible"] = ok
        records.append(rec)
    frame = pd.DataFrame(records)
    for name in opt.levers:  # a choice lever may mix types; keep its column one type
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in frame[name]):
            frame[name] = [v if isinstance(v, str) else json.dumps(v) for v in frame[name]]
    frame["non_dominated"] = front_mask(opt, frame)
    return frame


def _minimised(opt: Optimisation, frame: pd.DataFrame) -> np.ndarray:
    signs = np.array([-1.0 if o.sense == "max" else 1.0 for o in opt.spec.objectives])
    return frame[[f"objective_{i}" for i in range(len(signs))]].to_numpy(float) * signs


def front_mask(opt: Optimisation, frame: pd.DataFrame) -> np.ndarray:
    """The non-dominated candidates among the feasible ones (among the valid ones when none is)."""
    pool = frame["feasible"].to_numpy(bool)
    if not pool.any():
        pool = frame["valid"].to_numpy(bool)
    mask = np.zeros(len(frame), dtype=bool)
    idx = np.flatnonzero(pool)
    if len(idx):
        mask[idx[non_dominated(_minimised(opt, frame.iloc[idx]))]] = True
    return mask


def _hv_scale(opt: Optimisation, journal: Journal, order: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """The first generation's range per objective: hypervolumes are of objectives scaled by it,
    against the reference point 1.1 (so every generation is measured on the same scale)."""
    frame = _table(opt, journal, order)
    F = _minimised(opt, frame[frame["valid"]])
    if not len(F):
        return None
    low, high = F.min(axis=0), F.max(axis=0)
    return low, np.where(high > low, high - low, 1.0)


def _front_stats(opt: Optimisation, journal: Journal, order: dict, scale) -> tuple[int, float]:
    from pymoo.indicators.hv import HV

    frame = _table(opt, journal, order)
    front = frame[frame["non_dominated"] & frame["feasible"]]
    if scale is None or front.empty:
        return int(len(front)), 0.0
    F = (_minimised(opt, front) - scale[0]) / scale[1]
    F = F[np.all(F < 1.1, axis=1)]
    ref = np.full(F.shape[1], 1.1)
    return int(len(front)), float(HV(ref_point=ref)(F)) if len(F) else 0.0


# ------------------------------------------------------------------------------------ outputs


def lever_words(opt: Optimisation, name: str) -> str:
    """A lever in plain words: its label, else its key's last steps (program name first)."""
    label = opt.spec.levers[name].label
    if label:
        return label
    steps = name.split(".")
    words = " ".join(steps[-2:] if steps[-2] not in ("policy", "quota", "eligibility") else steps[-1:])
    words = words.replace("_", " ")
    return f"{steps[2]}: {words}" if steps[:2] == ["policy", "programs"] else words


def objective_words(opt: Optimisation, i: int) -> str:
    from sim.metrics import REGISTRY

    o = opt.spec.objectives[i]
    if o.label:
        return o.label
    if o.metric == "cost":
        return f"cost ({opt.spec.costs.currency}, years 1-{o.year or opt.base.run.years})"
    name, group = o.metric.split(":", 1)
    when = f"mean of years {o.years[0]}-{o.years[1]}" if o.years else f"year {o.year or opt.base.run.years}"
    return f"{REGISTRY[name].label} ({group}, {when})"


def constraint_words(opt: Optimisation, j: int) -> str:
    c = opt.spec.constraints[j]
    if c.label:
        return c.label
    limit = f"at most {c.at_most:g}" if c.at_most is not None else f"at least {c.at_least:g}"
    return f"{c.metric} {limit} in year {c.year} in at least {c.share:.0%} of replicates"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def value_words(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def candidate_words(opt: Optimisation, row) -> str:
    return "; ".join(f"{lever_words(opt, n)} {value_words(row[n])}" for n in opt.levers)


def cheapest(frame: pd.DataFrame) -> pd.Series | None:
    """The feasible candidate of least mean cost (among equals a non-dominated one, then the first
    asked), None when none is."""
    feasible = frame[frame["feasible"]]
    if feasible.empty:
        return None
    order = feasible.assign(dominated=~feasible["non_dominated"])
    return order.sort_values(["cost", "dominated", "generation", "position"], kind="stable").iloc[0]


def closest(opt: Optimisation, frame: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The valid candidates nearest to meeting the constraints: least total shortfall of the share
    of replicates met (then least cost, then first asked)."""
    short = sum((c.share - frame[f"constraint_{j}_share_met"]).clip(lower=0)
                for j, c in enumerate(opt.spec.constraints))
    pool = frame.assign(shortfall=short)[frame["valid"]]
    return pool.sort_values(["shortfall", "cost", "generation", "position"], kind="stable").head(n)


def _answer(opt: Optimisation, frame: pd.DataFrame, invalid: str = "") -> str:
    best = cheapest(frame)
    words = "No evaluated candidate meets the constraints." if best is None else _cheapest_words(opt, best)
    return f"{words} {invalid}" if invalid else words


def _invalid_words(frame: pd.DataFrame, journal: Journal) -> str:
    """How many candidates could not be scored (they count as failing every constraint), and why
    the first could not: without it an answer of "none meets the constraints" would hide the cause."""
    bad = frame.loc[~frame["valid"].to_numpy(bool), "candidate"].tolist()
    if not bad:
        return ""
    why = journal.entries[bad[0]].get("error", "no reason recorded")
    return f"{len(bad)} of {len(frame)} candidates could not be scored and count as failing (the first: {why})."


def _closest_lines(opt: Optimisation, frame: pd.DataFrame) -> list[str]:
    lines = ["Closest (share of replicates meeting each constraint):", ""]
    for _, row in closest(opt, frame).iterrows():
        met = ", ".join(f"{row[f'constraint_{j}_share_met']:.0%}" for j in range(len(opt.spec.constraints)))
        lines.append(f"- {candidate_words(opt, row)}: {met}")
    return [*lines, ""]


def _cheapest_words(opt: Optimisation, best) -> str:
    c = opt.spec.costs.currency
    return (f"Cheapest candidate meeting the constraints: {candidate_words(opt, best)} "
            f"(cost {best['cost']:,.0f} {c}, {INTERVAL:.0%} interval {best['cost_low']:,.0f} "
            f"to {best['cost_high']:,.0f}).")


def worlds_words(opt: Optimisation) -> str:
    post = opt.spec.posterior
    if not post:
        return ""
    return (f" in each of {post.worlds} plausible worlds drawn by weight from the posterior sample {post.file}; "
            "constraints are shares of all runs")


def _summary(opt: Optimisation, frame: pd.DataFrame, front: pd.DataFrame, invalid: str = "") -> str:
    spec = opt.spec
    lines = [f"# Optimisation {spec.name}", "", *([spec.description.strip(), ""] if spec.description.strip() else []),
             f"{len(frame)} candidates evaluated over {spec.search.generations} generations (NSGA-II, population "
             f"{spec.search.population}, seed {spec.search.seed}), each on {spec.replicates} replicates "
             f"(common random numbers){worlds_words(opt)}.", "", "## Answer", "", _answer(opt, frame, invalid), ""]
    if cheapest(frame) is None and spec.constraints:
        lines += _closest_lines(opt, frame)
    lines += ["## Constraints", ""]
    lines += [f"- {constraint_words(opt, j)}" for j in range(len(spec.constraints))] or ["- none"]
    among = "" if frame["feasible"].any() or not spec.constraints else ", none meeting the constraints"
    over = "plausible worlds' means (worst world after /)" if spec.posterior else "replicates"
    lines += ["", f"## Non-dominated candidates ({len(front)}{among}), means and {INTERVAL:.0%} t-intervals over "
              f"{over}", ""]
    for _, row in front.sort_values("objective_0", kind="stable").iterrows():
        objs = ", ".join(f"{objective_words(opt, i)} {_num(row[f'objective_{i}'])} "
                         f"[{_num(row[f'objective_{i}_low'])}, {_num(row[f'objective_{i}_high'])}]"
                         + (f" / {_num(row[f'objective_{i}_worst'])}" if spec.posterior else "")
                         for i in range(len(spec.objectives)))
        lines.append(f"- {candidate_words(opt, row)}: {objs}")
    lines += ["", "## Prices", ""]
    for item in ITEMS:
        p = getattr(spec.costs, item)
        explored = f"; explored {p.explored[0]:,.2f} to {p.explored[1]:,.2f}" if p.explored else ""
        lines.append(f"- {item.replace('_', ' ')}: {p.value:,.2f} {spec.costs.currency} {p.unit} "
                     f"({p.source if p.source else 'assumption'}{explored})")
    return "\n".join(lines) + "\n"


def _figures(opt: Optimisation, frame: pd.DataFrame, mask: np.ndarray, history: pd.DataFrame,
             folder: Path) -> list[str]:
    import matplotlib

    if "inline" not in matplotlib.get_backend():  # files drawn off-screen; a notebook keeps its inline figures
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(exist_ok=True)
    for name, fig in (("pareto.png", pareto_figure(opt, frame, mask)), ("convergence.png",
                                                                          convergence_figure(history))):
        fig.savefig(folder / name, dpi=110, metadata={"Software": None})
        plt.close(fig)
    return ["figures/pareto.png", "figures/convergence.png"]


def pareto_figure(opt: Optimisation, frame: pd.DataFrame, mask: np.ndarray | None = None):
    """Each pair of objectives: candidates missing a constraint, meeting them, and the front (`mask`,
    default the frame's `non_dominated`); the chosen options lettered and spelled out in words."""
    import textwrap

    import matplotlib.pyplot as plt

    mask = frame["non_dominated"].to_numpy(bool) if mask is None else mask
    n = len(opt.spec.objectives)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)][:6] or [(0, 0)]
    valid, feasible = frame["valid"].to_numpy(bool), frame["feasible"].to_numpy(bool)
    chosen = chosen_options(opt, frame, mask)
    lines = [textwrap.fill(f"{letter}: {why}: {candidate_words(opt, frame.loc[idx])}", 100 * len(pairs),
                           subsequent_indent="    ") for letter, (idx, why) in chosen.items()]
    lines = "\n".join(lines).splitlines()
    fig, axes = plt.subplots(1, len(pairs), figsize=(7 * len(pairs), 5.5 + 0.2 * len(lines)), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs, strict=True):
        x, y = frame[f"objective_{i}"], frame[f"objective_{j}"]
        ax.scatter(x[valid & ~feasible], y[valid & ~feasible], s=14, c="0.75", label="misses a constraint")
        ax.scatter(x[feasible & ~mask], y[feasible & ~mask], s=18, c="tab:blue", label="meets the constraints")
        ax.scatter(x[mask], y[mask], s=40, c="tab:red", label="non-dominated")
        for letter, (idx, _) in chosen.items():
            ax.annotate(letter, (x[idx], y[idx]), fontsize=10, fontweight="bold", xytext=(5, 5),
                        textcoords="offset points")
        ax.set_xlabel(_axis_words(opt, i))
        ax.set_ylabel(_axis_words(opt, j))
        ax.legend(fontsize=7)
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=8, va="bottom", ha="left")
    fig.suptitle(f"{opt.spec.name}: the options found")
    fig.tight_layout(rect=(0, 0.02 + 0.2 * len(lines) / fig.get_figheight(), 1, 0.97))
    return fig


def convergence_figure(history: pd.DataFrame):
    """The front's hypervolume by generation."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history["generation"], history["hypervolume"], marker="o")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume of the front (scaled objectives)")
    ax.set_title("convergence")
    fig.tight_layout()
    return fig


def _axis_words(opt: Optimisation, i: int) -> str:
    import textwrap

    better = "higher" if opt.spec.objectives[i].sense == "max" else "lower"
    return textwrap.fill(f"{objective_words(opt, i)} ({better} is better)", 60)


def chosen_options(opt: Optimisation, frame: pd.DataFrame, mask: np.ndarray) -> dict[str, tuple[int, str]]:
    """The options a figure names, by letter: the cheapest meeting the constraints, then the best
    non-dominated candidate on each objective."""
    picks: list[tuple[int, str]] = []
    best = cheapest(frame)
    if best is not None:
        picks.append((best.name, "cheapest meeting the constraints"))
    front = frame[mask]
    for i, o in enumerate(opt.spec.objectives):
        if front.empty:
            break
        col = front[f"objective_{i}"]
        idx = col.idxmax() if o.sense == "max" else col.idxmin()
        if idx not in [p for p, _ in picks]:
            picks.append((idx, f"best {objective_words(opt, i)}"))
    return {chr(ord("A") + k): pick for k, pick in enumerate(picks)}


def _replicates(opt: Optimisation, rows: pd.DataFrame) -> pd.DataFrame:
    """replicates.parquet in results/README.md's column order (the journal's rows have their keys
    sorted), quantities as floats (a bed count is whole, an allowance-weighted year is not)."""
    if rows.empty:
        return rows
    quantity = [c for c in rows.columns if c.startswith("quantity_")]
    order = ["candidate", "world", "replicate", "seed", "cost", *quantity,
             *(f"objective_{i}" for i in range(len(opt.spec.objectives))),
             *(f"constraint_{j}" for j in range(len(opt.spec.constraints)))]
    return rows[order].astype({c: "float64" for c in quantity})


def _write_outputs(opt: Optimisation, out: Path, journal: Journal, order: dict, history: list[dict], ran: int,
                   seconds: float, executor: str) -> OptimizeSummary:
    from sim.storage.store import parquet_bytes, sha256, write_bytes_atomic

    frame = _table(opt, journal, order)
    mask = frame["non_dominated"].to_numpy(bool)
    front = frame[mask].reset_index(drop=True)
    replicates = _replicates(opt, pd.DataFrame([{"candidate": key, **row} for key in frame["candidate"]
                                                 for row in journal.entries[key]["rows"]]))
    hist = pd.DataFrame(history)
    tables = {"candidates.parquet": frame, "replicates.parquet": replicates, "front.parquet": front,
              "convergence.parquet": hist}
    for name, table in tables.items():
        write_bytes_atomic(out / name, parquet_bytes(table))
    names = [*tables, *_figures(opt, frame, mask, hist, out / "figures")]
    invalid = _invalid_words(frame, journal)
    write_bytes_atomic(out / "summary.md", _summary(opt, frame, front, invalid).encode())
    files = {name: sha256(out / name) for name in [*names, "summary.md"]} | {JOURNAL: None, BASE_FILE: None}
    best = cheapest(frame)
    manifest = _manifest(opt, "done", files, evaluated=len(frame), generations=len(history),
                         cheapest=None if best is None else best["candidate"], executor=executor,
                         wall_seconds=round(seconds, 2))
    write_bytes_atomic(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
    answer = _answer(opt, frame, invalid)
    if best is None and opt.spec.constraints and frame["valid"].any():
        near = closest(opt, frame, 1).iloc[0]
        met = ", ".join(f"{near[f'constraint_{j}_share_met']:.0%}" for j in range(len(opt.spec.constraints)))
        answer += f" Closest: {candidate_words(opt, near)} (share of replicates meeting each constraint: {met})."
    front_size = int(mask.sum()) if frame["feasible"].any() else 0  # a front of candidates meeting the constraints
    return OptimizeSummary(out, len(frame), ran, int(frame["feasible"].sum()), front_size, answer, seconds, executor)
