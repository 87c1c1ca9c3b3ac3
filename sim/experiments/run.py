"""Running a scenario: replicates with paired seeds, collected into tidy frames.

Replicate seeds come from the root seed through `numpy.random.SeedSequence`, so replicate i has
the same seed in every scenario run with the same root (common random numbers), and every row
of every frame records its replicate and seed.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from sim.codes import SCHOOL_LEVELS, TIERS
from sim.collector import collector_paused
from sim.config.checks import check_size
from sim.config.examples import find_scenario
from sim.config.scenario import Scenario, ScenarioError, load_scenario
from sim.seeds import replicate_seeds

if TYPE_CHECKING:
    from sim.core.model import RotationModel


@dataclass
class RunResult:
    """What a run produced: tidy frames plus what the manifest needs."""

    scenario: Scenario
    metrics: pd.DataFrame
    schools: pd.DataFrame
    moves: pd.DataFrame
    seeds: list[int]
    timings: dict[str, float] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"metrics": self.metrics, "schools": self.schools, "moves": self.moves}


def simulate(scenario: Scenario, seed: int, years: int, on_year=None) -> RotationModel:
    """One replicate's model after `years` steps."""
    from sim.core.model import RotationModel  # Mesa: imported when a run starts, so bad input is refused quickly

    with collector_paused():
        model = RotationModel(scenario, rng=seed)
        for _ in range(years):
            model.step()
            if on_year is not None:
                on_year()
    return model


def metric_frame(rows, head: dict) -> pd.DataFrame:
    """Metric rows (year, metric, subgroup, value) as the tidy frame every result holds, with `head`'s
    columns (scenario, [point,] replicate, seed) first."""
    # from whole columns: pandas infers each column of a list of row tuples one value at a time
    # (8 ms for a Beijing decade's 15,000 rows; 6 ms this way)
    year, metric, subgroup, value = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pd.DataFrame({**head, "year": np.array(year, dtype=np.int64), "metric": np.array(metric, dtype=object),
                         "subgroup": np.array(subgroup, dtype=object), "value": np.array(value, dtype=float)})


def run_replicate(scenario: Scenario, replicate: int, seed: int, years: int,
                  on_year=None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One replicate as (metrics, schools, moves) frames."""
    model = simulate(scenario, seed, years, on_year)
    head = {"scenario": scenario.name, "replicate": replicate, "seed": seed}
    metrics = metric_frame(model.metric_rows, head)
    schools = _schools_frame(model, head)
    return metrics, schools, moves_frame(model.move_log, head)


def _schools_frame(model, head: dict) -> pd.DataFrame:
    """The schools' yearly rows, labelled, as one frame built from whole columns (a frame a year,
    concatenated and then given seven columns one by one, cost a Dongcheng run 0.02 s)."""
    s, rows, n_s = model.world.schools, model.school_rows, model.world.n_schools
    idx = np.tile(np.arange(n_s), len(rows))
    return pd.DataFrame({
        **head,
        "year": np.repeat(np.arange(len(rows)), n_s), "school": idx,
        "name": _labels(np.asarray(model.world.school_names), idx),
        "district": _labels(np.asarray(model.world.district_names)[s["district"]], idx),
        "level": pd.Categorical.from_codes(s["level"][idx], categories=SCHOOL_LEVELS),
        "tier": pd.Categorical.from_codes(s["tier"][idx], categories=TIERS),
        "enrolment": (s["enrol_primary"] + s["enrol_junior"])[idx],
        **{k: np.concatenate([frame[k] for frame in rows]) for k in rows[0]}})


def _labels(per_school: np.ndarray, idx: np.ndarray) -> pd.Categorical:
    """Each school's label at rows `idx`, as pd.Categorical(labels) makes it (its categories the
    labels present, sorted), from codes: hashing a Beijing decade's 17,600 strings cost 4 ms a column."""
    categories, codes = np.unique(per_school, return_inverse=True)
    return pd.Categorical.from_codes(codes[idx], categories=categories)


def moves_frame(log, head: dict | None = None) -> pd.DataFrame:
    """The move log as a tidy frame, labelled (`sim.core.movelog.labelled_frame`), with `head`'s
    columns (scenario, replicate, seed) first."""
    from sim.core.movelog import labelled_frame

    return labelled_frame(log.columns(), log.programs, head or {})


def with_run(scenario: Scenario, **updates) -> Scenario:
    """The scenario with its `run` section updated (None values ignored) and validated again."""
    updates = {k: v for k, v in updates.items() if v is not None}
    if not updates:
        return scenario
    scenario = scenario.model_copy(update={"run": scenario.run.model_copy(update=updates)})
    try:
        return Scenario.model_validate(scenario.model_dump() | {"source_dir": scenario.source_dir})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ScenarioError(f"{where}: {err['msg']} (got {err.get('input')!r})") from None


def run(scenario: Scenario | str | Path, years: int | None = None, reps: int | None = None,
        seed: int | None = None, overrides: tuple[str, ...] = (), progress: bool = False) -> RunResult:
    """Run a scenario's replicates and return tidy frames (the same the CLI writes).

    Args:
        scenario: a Scenario, the path of a scenario file, or a shipped scenario's name.
        years: simulated years (overrides the scenario's `run.years`).
        reps: replicates (overrides `run.replicates`).
        seed: the root seed (overrides `run.seed`).
        overrides: `dotted.key=value` items, as `--set` on the command line (paths only).
        progress: show a tqdm progress bar.

    Example:
        >>> res = run("scenarios/dongcheng_2021.yaml", years=5, reps=2)
        >>> res.metrics.query("metric == 'cv_backbone' and subgroup == 'primary'")
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(find_scenario(str(scenario)), overrides)
    scenario = with_run(scenario, years=years, replicates=reps, seed=seed)
    check_size(scenario)
    r = scenario.run
    seeds = replicate_seeds(r.seed, r.replicates)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=r.replicates * r.years, unit="year", desc=scenario.name)
    parts: list[tuple] = []
    t0 = time.perf_counter()
    try:
        for i, s in enumerate(seeds):
            parts.append(run_replicate(scenario, i, s, r.years, on_year=bar.update if bar else None))
            if not gc.isenabled() and i + 1 < len(seeds):  # the command pauses the collector: the
                gc.collect()  # finished model (reference cycles) would stay until the exit otherwise
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    frames = [pd.concat([p[k] for p in parts], ignore_index=True) for k in range(3)]
    return RunResult(scenario, *frames, seeds=seeds, timings={"simulate_seconds": round(elapsed, 3)})


def scenario_from_json(data: dict, source_dir: str) -> Scenario:
    """Rebuild a resolved scenario sent to another process (its source_dir is not part of the dump)."""
    scenario = Scenario.model_validate(data)
    scenario.source_dir = source_dir
    return scenario


def replicate_metrics(scenario: Scenario, replicate: int, seed: int) -> pd.DataFrame:
    """One replicate's tidy metric rows only (what compare and sweeps keep), as `run` writes them."""
    model = simulate(scenario, seed, scenario.run.years)
    return metric_frame(model.metric_rows, {"scenario": scenario.name, "replicate": replicate, "seed": seed})


# ------------------------------------------------------------------------------------- compare

DEFAULT_OUTCOMES = ("cv_quality:all", "cv_backbone:primary", "cv_backbone:junior", "cv_senior_title:primary",
                    "cv_senior_title:junior", "achievement_gap:all", "rotations:all")
DEFAULT_COMPARE_REPS = 10


@dataclass(frozen=True)
class ReplicateTask:
    """One replicate of one scenario of a comparison, sendable to another process."""

    index: int  # the scenario's position in the comparison
    scenario: dict
    source_dir: str
    replicate: int
    seed: int


def replicate_task(task: ReplicateTask) -> pd.DataFrame:
    return replicate_metrics(scenario_from_json(task.scenario, task.source_dir), task.replicate, task.seed)


@dataclass
class Comparison:
    """Paired scenario comparison: every replicate's metrics and the paired statistics."""

    scenarios: list[Scenario]
    baseline: str
    seeds: list[int]
    outcomes: list[tuple[str, str]]
    at: list[int]
    metrics: pd.DataFrame  # every metric of every scenario and replicate (tidy)
    trajectories: pd.DataFrame  # paired statistics of the outcomes for every year
    table: pd.DataFrame  # the trajectories at the chosen years
    timings: dict[str, float] = field(default_factory=dict)
    averages: pd.DataFrame = field(default_factory=pd.DataFrame)  # time averages: the run, its last 5 years

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scenarios]

    def markdown(self) -> str:
        from sim.experiments.statistics import comparison_markdown

        return comparison_markdown(self.table, self.baseline, len(self.seeds), self.scenarios[0].run.seed,
                                   self.trajectories, self.averages)


def compare(scenarios: list[Scenario | str | Path], reps: int | None = None, years: int | None = None,
            seed: int | None = None, baseline: str | None = None, outcomes: list[str] | None = None,
            at: list[int] | None = None, overrides: tuple[str, ...] = (), workers: int | None = None,
            progress: bool = False, executor=None) -> Comparison:
    """Run scenarios on the same paired seeds and compare each with the baseline.

    Args:
        scenarios: Scenarios or scenario files (at least two, with different names).
        reps: paired replicates (default 10); replicate i has the same seed in every scenario.
        years: simulated years (default: the baseline's `run.years`).
        seed: the root seed (default: the baseline's `run.seed`).
        baseline: a scenario's name or file (default: the first).
        outcomes: `metric` (every group) or `metric:group` (default DEFAULT_OUTCOMES).
        at: the years reported in `table` (default: the last year).
        overrides: `dotted.key=value` items applied to every scenario file.
        workers: run the replicates on a local Dask cluster of this many workers (default: serially).
        progress: show a tqdm progress bar.
        executor: any executor of `sim.experiments.executors` (overrides `workers`), as `sweep` takes.

    Example:
        >>> cmp = compare(["scenarios/baseline_drift.yaml", "scenarios/dongcheng_2021.yaml"], reps=5, years=5)
        >>> cmp.table[["metric", "subgroup", "scenario", "mean", "diff", "diff_ci_low", "diff_ci_high"]]
    """
    from sim.experiments.executors import executor_for
    from sim.experiments.statistics import paired_summary, parse_outcome, time_average_summary
    from sim.metrics import REGISTRY

    resolved, b = compared_scenarios(scenarios, reps, years, seed, baseline, overrides)
    names = [s.name for s in resolved]
    reps, years, seed = resolved[b].run.replicates, resolved[b].run.years, resolved[b].run.seed
    wanted = [parse_outcome(o) for o in (outcomes or DEFAULT_OUTCOMES)]
    for metric, _ in wanted:
        if metric not in REGISTRY:
            raise ScenarioError(f"--outcome {metric}: unknown metric (see docs/metrics.md)")
    at = sorted(set(at)) if at else [years]
    bad = [y for y in at if not 0 <= y <= years]
    if bad:
        raise ScenarioError(f"--at {bad[0]}: not a simulated year (0..{years})")
    seeds = replicate_seeds(seed, reps)
    tasks = [ReplicateTask(i, s.model_dump(mode="json"), s.source_dir, rep, sd)
             for i, s in enumerate(resolved) for rep, sd in enumerate(seeds)]
    parts: dict[tuple[int, int], pd.DataFrame] = {}
    t0 = time.perf_counter()
    if executor is None:
        executor = executor_for(serial=not workers, workers=workers)
    with executor, _bar(progress, len(tasks), "compare", "run") as bar:
        for task, frame, error in executor.map_unordered(replicate_task, tasks):
            if error is not None:
                raise error
            parts[(task.index, task.replicate)] = frame
            bar.update()
    metrics = pd.concat([parts[k] for k in sorted(parts)], ignore_index=True)
    elapsed = time.perf_counter() - t0
    pairs = _expand_outcomes(metrics, wanted, names[b])
    kept = metrics[metrics["metric"].isin({m for m, _ in pairs})]
    trajectories = paired_summary(kept, pairs, names[b], names)
    table = trajectories[trajectories["year"].isin(at)].reset_index(drop=True)
    averages = time_average_summary(kept, pairs, names[b], names)
    return Comparison(resolved, names[b], seeds, pairs, at, metrics, trajectories, table,
                      {"simulate_seconds": round(elapsed, 3)}, averages)


def compared_scenarios(scenarios: list[Scenario | str | Path], reps: int | None = None,
                       years: int | None = None, seed: int | None = None, baseline: str | None = None,
                       overrides: tuple[str, ...] = ()) -> tuple[list[Scenario], int]:
    """The scenarios a comparison runs (loaded, with the shared reps, years and seed) and the
    baseline's index: what `compare` runs and what its result folder records."""
    loaded = [s if isinstance(s, Scenario) else load_scenario(find_scenario(str(s)), overrides) for s in scenarios]
    if len(loaded) < 2:
        raise ScenarioError("compare needs at least two scenarios")
    names = [s.name for s in loaded]
    for n in names:
        if names.count(n) > 1:
            raise ScenarioError(f"two scenarios are both named {n!r}; give one another `name:`")
    b = _baseline_index(scenarios, names, baseline)
    reps = DEFAULT_COMPARE_REPS if reps is None else reps
    if reps < 2:
        raise ScenarioError(f"reps: a paired comparison needs at least 2 replicates, got {reps}")
    years = loaded[b].run.years if years is None else years
    seed = loaded[b].run.seed if seed is None else seed
    resolved = [with_run(s, years=years, replicates=reps, seed=seed) for s in loaded]
    for s in resolved:
        check_size(s)
    return resolved, b


def _baseline_index(given: list, names: list[str], baseline: str | None) -> int:
    if baseline is None:
        return 0
    if baseline in names:
        return names.index(baseline)
    for i, g in enumerate(given):
        if not isinstance(g, Scenario) and Path(g).resolve() == Path(baseline).resolve():
            return i
    raise ScenarioError(f"--baseline {baseline}: not one of the scenarios ({', '.join(names)})")


def _expand_outcomes(metrics: pd.DataFrame, wanted: list[tuple[str, str | None]],
                     baseline: str) -> list[tuple[str, str]]:
    """`metric` without a group stands for every group the metric reports; unknown groups are errors."""
    base = metrics[metrics["scenario"] == baseline]
    pairs: list[tuple[str, str]] = []
    for metric, group in wanted:
        groups = list(dict.fromkeys(base.loc[base["metric"] == metric, "subgroup"].astype(str)))
        if group is None:
            pairs += [(metric, g) for g in groups if (metric, g) not in pairs]
        elif group in groups:
            if (metric, group) not in pairs:
                pairs.append((metric, group))
        else:
            raise ScenarioError(f"--outcome {metric}:{group}: {metric} has no group {group!r} "
                                f"(it has {', '.join(groups) or 'none'})")
    return pairs


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kw) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _bar(show: bool, total: int, desc: str, unit: str, initial: int = 0):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True)


# --------------------------------------------------------------------------------------- sweep

BATCH_SECONDS = 1.0  # a sweep task's runs last about this long (see _Batches)
MAX_BATCH = 16  # runs in one sweep task at most: what a killed worker's task runs again
UNTIMED_BATCH = 4  # runs in one sweep task before any run is timed
SHOWN_WARNED_RUNS = 5  # a sweep shows the RunWarnings of this many runs, then a count


@dataclass(frozen=True)
class SweepTask:
    """One run of a sweep, sendable to a worker: it needs nothing but the output folder."""

    folder: str
    run_id: str
    scenario: dict  # the resolved scenario of the design point
    source_dir: str
    point: int
    replicate: int
    seed: int
    outcomes: tuple[str, ...]
    groups: tuple[str, ...] | None
    fingerprint: str  # of the sweep, recorded in the run file (a file of another sweep is told apart)
    parameters: tuple[tuple[str, str, Any, str], ...] = ()  # (dotted path, column, value, dtype) of the point


def sweep_task(task: SweepTask) -> dict:
    """Run one sweep run wherever it is scheduled and write its result file atomically.

    The tidy rows of the kept outcomes, with the point's parameter values as columns, go to
    runs/<run id>.parquet (with its checksum file); a run that raises writes
    failed/<run id>.json (error and traceback) instead. Only a small status record goes back to
    the client (with the run's RunWarnings, which the client shows labelled with the run's id,
    not the worker), so its memory does not grow with the number of runs.
    """
    import traceback
    import warnings

    from sim.core.run_warning import RunWarning
    from sim.storage.store import FAILED, write_json_atomic, write_run_file

    folder = Path(task.folder)
    failed = folder / FAILED / f"{task.run_id}.json"
    t0 = time.perf_counter()
    try:
        scenario = scenario_from_json(task.scenario, task.source_dir)
        with warnings.catch_warnings():  # they go back in the status, for the client to show with the run's id
            warnings.simplefilter("ignore", RunWarning)
            model = simulate(scenario, task.seed, scenario.run.years)
        rows = [r for r in model.metric_rows
                if r[1] in task.outcomes and (task.groups is None or r[2] in task.groups)]
        if not rows:
            raise ValueError(f"no rows for outcomes {list(task.outcomes)} in groups {list(task.groups or [])}")
        frame = metric_frame(rows, {"scenario": scenario.name, "point": task.point, "replicate": task.replicate,
                                    "seed": task.seed})
        for _, column, value, dtype in task.parameters:
            frame[column] = pd.Series([value] * len(frame), dtype=dtype)
        write_run_file(frame, folder, task.run_id, task.fingerprint, parameters_metadata(task.parameters))
    except Exception as exc:
        record = failure_record(task, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        write_json_atomic(record, failed, folder)
        return {"run": task.run_id, "status": "failed", "error": record["error"]}
    failed.unlink(missing_ok=True)
    return {"run": task.run_id, "status": "done", "seconds": round(time.perf_counter() - t0, 3),
            "warnings": model.warnings}


def parameters_metadata(parameters) -> dict[bytes, bytes]:
    """The Parquet metadata naming each parameter column's dotted scenario path."""
    import json

    return {b"teachersim_parameters": json.dumps({column: path for path, column, *_ in parameters}).encode()}


def failure_record(task: SweepTask, error: str, trace: str = "") -> dict:
    return {"run": task.run_id, "scenario": task.scenario.get("name"), "point": task.point,
            "replicate": task.replicate, "seed": task.seed, "error": error, "traceback": trace}


@dataclass
class SweepSummary:
    """What a sweep session did: counts over the whole sweep and this session's share."""

    out: Path
    name: str
    total: int  # runs in the sweep
    present: int  # already done before this session (skipped)
    ran: int  # run in this session
    failed_now: int  # of those, failed
    done: int  # result files in the folder at the end
    failed: int  # failed records in the folder at the end
    seconds: float
    executor: str
    failures: list[tuple[str, str]] = field(default_factory=list)  # the first few (run, error)
    redone: list[str] = field(default_factory=list)  # "file: problem" of each corrupt or missing run run again
    warned: int = 0  # runs of this session that issued RunWarnings (the first few are shown as warnings)

    @property
    def missing(self) -> int:
        return self.total - self.done - self.failed

    def line(self) -> str:
        redone = f"; {len(self.redone)} corrupt or missing were run again" if self.redone else ""
        return (f"sweep {self.name}: {self.total} runs: {self.done} done, {self.failed} failed, {self.missing} missing "
                f"(this session ran {self.ran}, {self.failed_now} failed; {self.present} were already done{redone}) "
                f"in {self.seconds:.1f} s on {self.executor}; results in {self.out}/")


def sweep(path: str | Path, out: str | Path | None = None, *, workers: int | None = None,
          scheduler: str | None = None, slurm=None, serial: bool = False, resume: bool = False,
          progress: bool = False, executor=None) -> SweepSummary:
    """Run a sweep file: every (base, design point, replicate) not yet done, one Parquet file each.

    Args:
        path: the sweep file (YAML).
        out: the result folder (default results/<sweep name>). Rerunning the same sweep into it
            runs only what is missing (or failed); a different sweep there is refused.
        workers: size of the local Dask cluster (default: this machine's CPUs).
        scheduler: address of an existing Dask scheduler instead.
        slurm: a `sim.experiments.executors.SlurmOptions` to run on Slurm through dask-jobqueue instead.
        serial: run in this process, without Dask.
        resume: insist that the folder already holds this sweep.
        progress: a tqdm bar with counts, failures and an ETA.
        executor: an executor object (overrides the above; for tests and embedding).

    Raises SweepError (bad sweep file or folder) before anything is written.

    Example:
        >>> summary = sweep("sweeps/dongcheng_quota_grid.yaml", out="results/quota", workers=2)
        >>> sim.load_results("results/quota").metrics
    """
    from sim.config.designs import SweepError, load_sweep
    from sim.experiments.executors import executor_for, running
    from sim.storage.store import FolderBusy, check_writable, folder_lock

    if executor is None:
        executor = executor_for(serial, workers, scheduler, slurm)
        executor.prepare()  # a local cluster's workers start importing while the sweep is checked
    sw = load_sweep(path)
    if out is not None and not str(out).strip():
        raise SweepError("--out: empty path; give a folder name")
    out = Path(out) if out is not None else Path("results") / sw.spec.name
    try:
        check_writable(out)
    except OSError as exc:
        raise SweepError(f"--out {out}: {exc}") from None
    previous = _existing_sweep(out, sw, resume)
    with running(executor, SweepError):
        try:
            with folder_lock(out):
                return _run_sweep(sw, out, executor, previous, progress)
        except FolderBusy as exc:
            raise SweepError(str(exc)) from None


def _existing_sweep(out: Path, sw, resume: bool) -> dict | None:
    """The manifest of the same sweep already in `out`, None for a new folder; else SweepError.

    A folder holding only what a sweep stopped before its first file leaves (its lock, a .tmp
    with at most the half-written manifest or design table) counts as new, so the same command
    can start it again.
    """
    from sim.config.designs import SweepError
    from sim.storage.store import LOCK, SCHEMA_VERSION, TMP, read_manifest

    def first_write(p: Path) -> bool:
        return p.is_file() and not p.is_symlink() and p.name.startswith(("manifest.json.", "design.parquet."))

    def leftover(p: Path) -> bool:
        return p.name == LOCK or (p.name == TMP and p.is_dir() and not p.is_symlink()
                                  and all(first_write(e) for e in p.iterdir()))

    if not out.exists() or all(leftover(p) for p in out.iterdir()):
        if resume:
            raise SweepError(f"{out}: --resume: no sweep there to resume")
        return None
    if not (out / "manifest.json").exists() and not (out / "manifest.json").is_symlink():
        raise SweepError(f"{out}: folder is not empty and holds no sweep; choose another --out")
    try:
        manifest = read_manifest(out)
    except ValueError as exc:
        raise SweepError(f"{exc}; choose another --out") from None
    kind = manifest.get("kind", "run")
    if kind != "sweep":
        raise SweepError(f"{out}: holds a teachersim {kind if isinstance(kind, str) else 'result'}, not a sweep; "
                         "choose another --out")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise SweepError(f"{out}: holds a sweep of results schema {manifest['schema_version']} (an earlier "
                         f"teachersim; it stays readable), this version writes schema {SCHEMA_VERSION}: "
                         "choose another --out")
    if manifest.get("fingerprint") != sw.fingerprint():
        raise SweepError(f"{out}: holds a different sweep ({manifest.get('name', 'another sweep')}); "
                         "choose another --out")
    return manifest


def _run_sweep(sw, out: Path, executor, previous: dict | None, progress: bool) -> SweepSummary:
    """One sweep session in a locked folder, in four steps: resume (what the folder already holds),
    claim (the manifest first, then the design), schedule (the runs still to do) and write (the
    final counts, after the workers have stopped, also when the session is interrupted)."""
    from sim.storage.store import clear_tmp, provenance

    clear_tmp(out)
    session = provenance() | {"executor": executor.describe()}
    manifest = _sweep_manifest(sw, (previous or {}).get("sessions", []) + [session])
    design_frame = sw.design_frame()
    found, redone, design = _resume(sw, out, manifest, previous, design_frame)
    _claim(out, manifest, design)
    tally = _Tally(present=len(found.done))
    t0 = time.perf_counter()
    interrupted = True
    try:
        _schedule(sw, out, executor, found.done, design_frame, progress, tally)
        interrupted = False
    finally:
        session |= {"seconds": round(time.perf_counter() - t0, 3), "present_before": tally.present,
                    "ran": tally.ran, "failed": tally.failed, "interrupted": interrupted}
        final = _write_final(sw, out, executor, manifest, found.done | tally.done)
    _show_warnings(tally)
    return SweepSummary(out, sw.spec.name, sw.n_runs, tally.present, tally.ran, tally.failed, len(final.done),
                        len(final.failed), session["seconds"], executor.describe(), tally.failures, redone,
                        tally.warned)


def _show_warnings(tally: _Tally) -> None:
    """The RunWarnings of the first few runs that issued any, each labelled with its run's id, and how
    many runs warned in all: one line each at the command line, not one per run of a large sweep."""
    import warnings

    from sim.core.run_warning import RunWarning

    for run, text in sorted(tally.warnings, key=lambda warned: warned[0]):  # in run order, not finishing order
        warnings.warn(f"run {run}: {text}", RunWarning, stacklevel=3)
    if tally.warned > SHOWN_WARNED_RUNS:
        warnings.warn(f"{tally.warned} runs of this session issued warnings; those of the first "
                      f"{SHOWN_WARNED_RUNS} are shown", RunWarning, stacklevel=3)


@dataclass
class _Tally:
    """What this session's runs did, counted as they finish (a few counters, not the results)."""

    present: int  # done before this session
    ran: int = 0
    failed: int = 0
    done: set[str] = field(default_factory=set)  # run ids finished in this session
    failures: list[tuple[str, str]] = field(default_factory=list)  # the first few (run, error)
    warned: int = 0  # runs of this session that issued RunWarnings
    warnings: list[tuple[str, str]] = field(default_factory=list)  # those of the first few runs (run, text)


def _resume(sw, out: Path, manifest: dict, previous: dict | None, design_frame: pd.DataFrame):
    """What the folder already holds of this sweep (checked against the manifest), the corrupt or
    missing runs to do again (each warned about), and the design table's bytes."""
    import hashlib
    import logging

    from sim.config.designs import SweepError
    from sim.storage.results import ResultsError, check_sweep, one_line
    from sim.storage.store import parquet_bytes

    design = parquet_bytes(design_frame, parameters_metadata(sw.columns.items()))
    manifest["design"]["sha256"] = hashlib.sha256(design).hexdigest()
    try:
        found = check_sweep(out, manifest | {"done_runs": (previous or {}).get("done_runs", [])})
    except ResultsError as exc:
        raise SweepError(str(exc)) from None
    if found.foreign:
        raise SweepError(one_line(out, found.foreign))
    redone = sorted(found.bad.values())
    for problem in redone:
        logging.getLogger("teachersim").warning("teachersim: warning: %s; running it again", problem)
    _record_status(manifest, found, sw.n_runs)
    return found, redone, design


def _claim(out: Path, manifest: dict, design: bytes) -> None:
    """The manifest first: whatever else lands in the folder, the same command resumes it. Then
    the design table and the folders the runs write to."""
    from sim.storage.store import FAILED, RUNS, clear_tmp, replace_atomically, write_json_atomic

    try:
        write_json_atomic(manifest, out / "manifest.json", out)
        replace_atomically(out, out / "design.parquet", lambda tmp: tmp.write_bytes(design))
        (out / RUNS).mkdir(exist_ok=True)
        (out / FAILED).mkdir(exist_ok=True)
    except BaseException:
        clear_tmp(out)
        raise


def _schedule(sw, out: Path, executor, done: set[str], design_frame: pd.DataFrame, progress: bool,
              tally: _Tally) -> None:
    """Run what is not done yet on the executor, a batch of runs a task (`_Batches`), counting each
    run as it finishes. A run the worker could not record (e.g. killed too often) gets its failed
    record here."""
    with _bar(progress, sw.n_runs, sw.spec.name, "run", initial=tally.present) as bar:
        bar.set_postfix(failed=0)
        batches = _Batches(sw.n_runs - len(done), getattr(executor, "slots", lambda: 0)())
        for batch, statuses, error in executor.map_unordered(sweep_batch, batches.group(
                _sweep_tasks(sw, out, done, design_frame))):
            for task, status in zip(batch, statuses or [None] * len(batch), strict=True):
                _count(out, task, status, error, tally)
                batches.observe(status)
                bar.update()
            bar.set_postfix(failed=tally.failed)


def _count(out: Path, task: SweepTask, status: dict | None, error: BaseException | None, tally: _Tally) -> None:
    """One finished run in the tally; a run of a task that raised gets its failed record unless its file is there."""
    from sim.storage.store import FAILED, RUNS, write_json_atomic

    if error is not None:
        status = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
        if not (out / RUNS / f"{task.run_id}.parquet").exists():
            write_json_atomic(failure_record(task, status["error"]), out / FAILED / f"{task.run_id}.json", out)
    tally.ran += 1
    if status["status"] == "failed":
        tally.failed += 1
        if len(tally.failures) < 5:
            tally.failures.append((task.run_id, status["error"]))
    else:
        tally.done.add(task.run_id)
    if status.get("warnings"):
        tally.warned += 1
        if tally.warned <= SHOWN_WARNED_RUNS:
            tally.warnings += [(task.run_id, text) for text in status["warnings"]]


def sweep_batch(tasks: tuple[SweepTask, ...]) -> list[dict]:
    """Several runs as one task, each `sweep_task` (its own file or failed record), so that Dask's
    cost per task (about 10 ms of the client's and the worker's CPU) is shared by the batch."""
    return [sweep_task(task) for task in tasks]


class _Batches:
    """Groups the runs into tasks for an executor running `slots` tasks at once (none: one run a
    task, as in this process, where a task costs nothing). A batch lasts about BATCH_SECONDS by the
    runs timed so far (UNTIMED_BATCH runs until one is timed), at most MAX_BATCH runs, and at most
    the runs left / (4 x slots), so the last tasks are single runs and the workers finish together."""

    def __init__(self, todo: int, slots: int):
        self.left, self.slots = todo, slots
        self.timed, self.seconds = 0, 0.0

    def observe(self, status: dict | None) -> None:
        if status and "seconds" in status:
            self.timed, self.seconds = self.timed + 1, self.seconds + status["seconds"]

    def size(self) -> int:
        if self.slots < 1:
            return 1
        by_time = int(BATCH_SECONDS / max(self.seconds / self.timed, 1e-3)) if self.timed else UNTIMED_BATCH
        return max(1, min(by_time, MAX_BATCH, -(-self.left // (4 * self.slots))))

    def group(self, tasks):
        """The tasks (an iterator of SweepTask), as tuples of SweepTask sized when each is formed."""
        import itertools

        tasks = iter(tasks)
        while batch := tuple(itertools.islice(tasks, self.size())):
            self.left -= len(batch)
            yield batch


def _write_final(sw, out: Path, executor, manifest: dict, trusted: set[str]):
    """Stop the workers (a no-op when done), so no run lands after the manifest counts the folder;
    then count what the folder holds (the `trusted` runs, finished in this folder, are not read
    again) and record it in the manifest, with this session."""
    from sim.storage.results import check_sweep
    from sim.storage.store import clear_tmp, write_json_atomic

    try:
        executor.__exit__(None, None, None)
    finally:
        final = check_sweep(out, manifest, trusted=trusted)
        _record_status(manifest, final, sw.n_runs)
        write_json_atomic(manifest, out / "manifest.json", out)
        clear_tmp(out)
    return final


def _record_status(manifest: dict, found, total: int) -> None:
    """The counts and the finished runs, from what the folder holds (checked), in the manifest."""
    done, failed = len(found.done), len(found.failed)
    manifest["status"] = {"done": done, "failed": failed, "missing": total - done - failed}
    manifest["done_runs"] = sorted(found.done)


def _sweep_tasks(sw, out: Path, done: set[str], design: pd.DataFrame):
    """The runs still to do, built one at a time (the scenario is loaded once per design point).
    A parameter's column has the design table's dtype in every run file, so they read as one table."""
    from sim.storage.store import run_id

    columns = sw.columns
    dtypes = {c: str(design[c].dtype) for c in columns.values()}
    key, scenario, dump = None, None, None
    fingerprint = sw.fingerprint()
    for base, point, rep, seed in sw.runs():
        rid = run_id(base.name, point, rep)
        if rid in done:
            continue
        if key != (base.name, point):
            key, scenario = (base.name, point), sw.scenario(base, point)
            dump = scenario.model_dump(mode="json")
        values = tuple((path, c, design[c].iloc[point].item() if hasattr(design[c].iloc[point], "item")
                        else design[c].iloc[point], dtypes[c]) for path, c in columns.items())
        yield SweepTask(str(out), rid, dump, scenario.source_dir, point, rep, seed,
                        tuple(sw.spec.outcomes), tuple(sw.spec.groups) if sw.spec.groups else None, fingerprint,
                        values)


def _sweep_manifest(sw, sessions: list[dict]) -> dict:
    from sim.storage.store import SCHEMA_VERSION

    d = sw.spec.design
    salib = None
    if d.kind in ("sobol", "morris"):
        salib = {"method": d.kind, "problem": sw.salib_problem(), "second_order": d.second_order,
                 "levels": d.levels or 4, "points": d.points, "seed": d.seed}
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "sweep",
        "name": sw.spec.name,
        "description": sw.spec.description,
        "sweep_file": str(sw.path.resolve()),
        "fingerprint": sw.fingerprint(),
        "spec": sw.spec.model_dump(mode="json"),
        "bases": [{"name": b.name, "path": str(b.path), "scenario": b.scenario.model_dump(mode="json")}
                  for b in sw.bases],
        "root_seed": sw.seed,
        "seeds": sw.seeds,
        "design": {"kind": d.kind, "parameters": sw.parameters, "columns": sw.columns, "n_points": len(sw.points),
                   "salib": salib, "points": sw.points, "table": "design.parquet"},
        "runs": {"total": sw.n_runs, "file": "runs/<scenario>__p<point:06d>__r<replicate:04d>.parquet",
                 "columns": ["scenario", "point", "replicate", "seed", "year", "metric", "subgroup", "value",
                             *sw.columns.values()],
                 "checksum": "runs/<run>.parquet.sha256", "failed": "failed/<run>.json"},
        "sessions": sessions,
    }
