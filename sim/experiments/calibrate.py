"""Calibration: fit scenario parameters to a targets file with Optuna's TPE, and score held-out targets.

A calibration file (YAML) names a base scenario, parameters by dotted path with ranges or values
(checked as a sweep's are, `sim.config.designs.Parameter`), a targets file (`sim.config.targets`), the targets
held out of the fit, trials, replicates per candidate and seeds. Every candidate runs the same
replicate seeds (common random numbers), so candidates differ only by their parameters.

Trials are asked in batches of `batch`, every replicate of a batch runs on the executor (serial or
Dask), and the batch is told in trial order, with a sampler seeded by the batch's first trial
number: the trials depend only on the file, never on the executor, the number of workers or the
order runs finish. The study lives in the output folder in Optuna's JournalStorage (an append-only
file safe for several writers, not SQLite); a killed calibration resumes from its journal, redoing
only the batch that was running. When all trials are told, the folder gets trials.parquet,
best.json, fit.csv/fit.md, figures and the manifest (each file written under a temporary name and
renamed; the manifest last).

The loss is the sum over fitted targets of the squared distance of the model mean (over replicates)
from the target, in units of its uncertainty (`sim.config.targets.Target.distance`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from sim.config.designs import Parameter, ParameterKey, checked_scenario, override
from sim.config.scenario import Scenario, ScenarioError, Strict, read_yaml_mapping
from sim.config.targets import NAME, Statistic, TargetsError, TargetsFile, error_line, load_targets
from sim.experiments.evaluation import CV_PATH, PATHS, EvalTask, evaluate

JOURNAL = "study.journal"
JOURNAL_LOCK = "study.journal.lock"  # Optuna's lock beside the journal (present only while it writes)
KIND = "calibration"


class CalibrationError(ValueError):
    """A calibration file or folder that cannot be used; one line naming the file and the key."""


class Prior(Strict):
    """A prior other than uniform over the range: a normal [mean, sd], truncated to the range."""

    normal: tuple[float, Annotated[float, Field(gt=0)]]


class AbcOptions(Strict):
    """ABC-SMC (pyabc) settings: particles per generation, generations, epsilon schedule."""

    population: Annotated[int, Field(ge=2, le=100_000)] = 40  # accepted particles per generation
    generations: Annotated[int, Field(ge=1, le=100)] = 5  # most generations (raising it continues the run)
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.5  # each epsilon: this weighted quantile of the last distances
    epsilons: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] | None = None  # a fixed schedule
    minimum_epsilon: Annotated[float, Field(ge=0)] = 0.0  # stop once a generation's epsilon is at most this
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0  # the proposals' seed (the runs' seeds are `seed` above)
    priors: dict[str, Prior] = {}  # by parameter; default uniform over its range

    @model_validator(mode="after")
    def _schedule(self) -> AbcOptions:
        if self.epsilons is not None:
            if any(b >= a for a, b in zip(self.epsilons, self.epsilons[1:], strict=False)):
                raise ValueError("epsilons must decrease")
            if len(self.epsilons) < self.generations:
                raise ValueError(f"epsilons: {len(self.epsilons)} values for {self.generations} generations")
        return self


class CalibrationSpec(Strict):
    """A whole calibration file."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=NAME)]
    description: str = ""
    base: str  # scenario file, relative to the calibration file
    set: list[str] = []  # dotted.key=value overrides of the base, as --set
    targets: str  # targets file, relative to the calibration file
    parameters: Annotated[dict[ParameterKey, Parameter], Field(min_length=1)]
    hold_out: list[str] = []  # targets scored at the best fit, never fitted
    trials: Annotated[int, Field(ge=1, le=10_000)] = 40
    batch: Annotated[int, Field(ge=1, le=1000)] = 4  # trials asked at once and run in parallel
    startup_trials: Annotated[int, Field(ge=1, le=10_000)] = 10  # TPE's random trials before modelling
    replicates: Annotated[int, Field(ge=2, le=1000)] = 3  # two at least: the fit table's t-interval
    years: Annotated[int, Field(ge=1, le=200)] | None = None  # None: the last year a target needs
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = None  # replicates' root seed; None: the base's
    sampler_seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    # tpe: one summed loss; pareto: one loss per fitted target (multi-objective TPE), a Pareto set;
    # abc: a posterior sample (sim.experiments.abc; trials, batch, startup_trials and sampler_seed unused)
    method: Literal["tpe", "pareto", "abc"] = "tpe"
    abc: AbcOptions = AbcOptions()

    @model_validator(mode="after")
    def _distinct(self) -> CalibrationSpec:
        if len(set(self.hold_out)) != len(self.hold_out):
            raise ValueError("hold_out names a target twice")
        for key in self.abc.priors:
            if key not in self.parameters:
                raise ValueError(f"abc.priors: {key!r} is not one of the parameters")
            if self.parameters[key].values is not None:
                raise ValueError(f"abc.priors.{key}: a prior applies to a range, not to values")
        return self


@dataclass
class Calibration:
    """A checked calibration: spec, resolved base scenario, targets, seeds."""

    path: Path
    spec: CalibrationSpec
    base_path: Path
    scenario: Scenario  # the base with `set`, years and seed applied
    targets: TargetsFile
    targets_path: Path
    seeds: list[int]

    @property
    def fitted(self) -> list[str]:
        return [k for k in self.targets.targets if k not in self.spec.hold_out]

    def statistics(self) -> dict[str, Statistic]:
        """Every reading of every target, keyed 'target/reading'."""
        return {f"{name}/{reading}": stat for name, t in self.targets.targets.items()
                for reading, stat in t.readings().items()}

    def point_overrides(self, values: dict) -> list[str]:
        return [*self.spec.set, *self._fixed(), *(override(k, v) for k, v in values.items())]

    def _fixed(self) -> list[str]:
        return [f"run.years={self.scenario.run.years}", f"run.seed={self.scenario.run.seed}",
                f"run.replicates={self.spec.replicates}"]

    def fingerprint(self) -> str:
        """What makes two calibrations the same study (not its description or its number of
        trials: raising `trials` continues the study)."""
        spec = self.spec.model_dump(mode="json")
        spec.pop("description")
        spec.pop("trials")
        if self.spec.method == "tpe":  # so folders written before ABC existed still match
            spec.pop("method")
            spec.pop("abc")
        else:
            spec["abc"].pop("generations")  # raising it continues the run
        body = {"spec": spec, "scenario": self.scenario.model_dump(mode="json"),
                "targets": self.targets.model_dump(mode="json"), "seeds": self.seeds}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def load_calibration(path: str | Path) -> Calibration:
    """Read and check a calibration file, its targets, its base and every parameter's extremes;
    CalibrationError with one line naming the file and the key before anything runs."""
    from sim.seeds import replicate_seeds

    path = Path(path)
    try:
        spec = CalibrationSpec.model_validate(read_yaml_mapping(path))
    except ScenarioError as exc:
        raise CalibrationError(str(exc)) from None
    except ValidationError as exc:
        raise CalibrationError(error_line(exc, path)) from None
    targets_path = (path.parent / spec.targets).resolve()
    if not targets_path.is_file():
        raise CalibrationError(f"{path}: targets: file {spec.targets!r} not found")
    try:
        targets = load_targets(targets_path)
    except TargetsError as exc:
        raise CalibrationError(str(exc)) from None
    for name in spec.hold_out:
        if name not in targets.targets:
            raise CalibrationError(f"{path}: hold_out: {name!r} is not a target of {spec.targets}")
    if len(spec.hold_out) == len(targets.targets):
        raise CalibrationError(f"{path}: hold_out: every target is held out; nothing is left to fit")
    base_path = (path.parent / spec.base).resolve()
    if not base_path.is_file():
        raise CalibrationError(f"{path}: base: scenario file {spec.base!r} not found")
    needed = max(s.last_year for t in targets.targets.values()
                 for s in t.readings().values())
    years = spec.years if spec.years is not None else max(needed, 1)
    if years < needed:
        raise CalibrationError(f"{path}: years: {years} is shorter than the year {needed} a target needs")
    try:
        first = checked_scenario(base_path, list(spec.set))
        root = first.run.seed if spec.seed is None else spec.seed
        fixed = [*spec.set, f"run.years={years}", f"run.seed={root}", f"run.replicates={spec.replicates}"]
        scenario = checked_scenario(base_path, fixed)
    except ScenarioError as exc:
        raise CalibrationError(f"{path}: base: {exc}") from None
    for key, p in spec.parameters.items():
        extremes = p.values if p.values is not None else [p.value(p.low), p.value(p.high)]
        for v in extremes:
            try:
                checked_scenario(base_path, [*fixed, override(key, v)])
            except ScenarioError as exc:
                raise CalibrationError(f"{path}: parameters.{key}: value {v!r} makes the base invalid: {exc}") from None
    return Calibration(path, spec, base_path, scenario, targets, targets_path, replicate_seeds(root, spec.replicates))


# ------------------------------------------------------------------------------ evaluation


def loss(cal: Calibration, means: dict[str, float]) -> float:
    """Sum of squared distances of the fitted targets' published readings (inf if one is undefined)."""
    return float(sum(losses(cal, means)))


def losses(cal: Calibration, means: dict[str, float]) -> list[float]:
    """Each fitted target's squared distance (the objectives of a `pareto` calibration)."""
    return [float(cal.targets.targets[n].distance(means[f"{n}/published"]) ** 2) for n in cal.fitted]


def total(trial) -> float:
    """A told trial's summed loss, for one objective or several."""
    return float(sum(trial.values)) if trial.values is not None else math.nan


def _distributions(spec: CalibrationSpec) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key, p in spec.parameters.items():
        if p.values is not None:
            out[key] = CategoricalDistribution(list(range(len(p.values))))  # by index: values may be lists
        elif p.integer:
            out[key] = IntDistribution(int(p.low), int(p.high))
        else:
            out[key] = FloatDistribution(float(p.low), float(p.high))
    return out


def _values(spec: CalibrationSpec, params: dict) -> dict:
    """The scenario values of a trial's sampled numbers (indices for lists of values)."""
    return {k: spec.parameters[k].value(float(params[k])) for k in spec.parameters}


# ------------------------------------------------------------------------------ the study


@dataclass
class CalibrationSummary:
    out: Path
    name: str
    trials: int
    ran: int
    best_trial: int | None
    best_loss: float
    fitted_met: tuple[int, int]
    held_out_met: tuple[int, int]
    seconds: float
    executor: str
    method: str = "tpe"
    posterior: dict | None = None  # abc: particles, ess, generation, epsilon, evaluations
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.method == "abc":
            p = self.posterior
            return (f"calibration {self.name} (ABC): {p['generation'] + 1} generations, {p['evaluations']} particle "
                    f"evaluations (this session ran {self.ran} generations) in {self.seconds:.1f} s on "
                    f"{self.executor}; "
                    f"epsilon {p['epsilon']:.4g}, {p['particles']} particles (ESS {p['ess']:.1f}); best loss "
                    f"{self.best_loss:.4g}; fitted targets met {self.fitted_met[0]}/{self.fitted_met[1]}, held out met "
                    f"{self.held_out_met[0]}/{self.held_out_met[1]} at the best particle; results in {self.out}/")
        return (f"calibration {self.name}: {self.trials} trials (this session ran {self.ran}) in {self.seconds:.1f} s "
                f"on {self.executor}; best loss {self.best_loss:.4g} at trial {self.best_trial}; fitted targets met "
                f"{self.fitted_met[0]}/{self.fitted_met[1]}, held out met {self.held_out_met[0]}/"
                f"{self.held_out_met[1]}; results in {self.out}/")


def calibrate(path, out: str | Path | None = None, *, workers: int | None = None, scheduler: str | None = None,
              slurm=None, serial: bool = False, executor=None, progress: bool = False,
              force: bool = False) -> CalibrationSummary:
    """Run (or resume) a calibration file and write its folder.

    Args:
        path: the calibration file, or a Calibration already loaded.
        out: the result folder (default results/<name>); rerun into it to resume or to add trials.
        workers: size of the local Dask cluster (default: this machine's CPUs); serial: no Dask.
        scheduler: address of an existing Dask scheduler instead; slurm: a `sim.experiments.executors.SlurmOptions`.
        executor: an executor object (overrides the above; for tests and embedding).
        force: replace a different calibration's folder there.

    Raises CalibrationError (bad file or folder) before anything is written.
    """
    from sim.experiments.executors import executor_for, running
    from sim.storage.folders import OutputRefused, claim
    from sim.storage.store import check_writable

    cal = path if isinstance(path, Calibration) else load_calibration(path)
    out = Path(out) if out is not None else Path("results") / cal.spec.name
    try:
        check_writable(out)
    except OSError as exc:
        raise CalibrationError(f"--out {out}: {exc}") from None
    try:
        with claim(out, KIND) as claimed:
            _prepare(cal, claimed.out, force)
            if executor is None:
                executor = executor_for(serial, workers, scheduler, slurm)
            with running(executor, CalibrationError):
                t0 = time.perf_counter()
                if cal.spec.method == "abc":
                    summary = _abc(cal, claimed.out, executor, progress, t0)
                else:
                    study, ran = _optimise(cal, claimed.out, executor, progress)
                    summary = _write_outputs(cal, claimed.out, study, ran, time.perf_counter() - t0,
                                             executor.describe())
            summary.notes = claimed.notes
            return summary
    except OutputRefused as exc:
        raise CalibrationError(str(exc)) from None


def _prepare(cal: Calibration, out: Path, force: bool) -> None:
    """A new folder gets a 'running' manifest; the same calibration's folder is resumed; another
    calibration's is refused unless `force`, when only the files its manifest lists are removed."""
    from sim.files import read_regular
    from sim.storage.manifests import MANIFEST_LIMIT, ResultsError, listed_file
    from sim.storage.store import write_bytes_atomic

    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(read_regular(manifest_path, MANIFEST_LIMIT))
        except (ValueError, RecursionError) as exc:
            raise CalibrationError(f"{manifest_path}: cannot read the manifest ({exc})") from None
        if not isinstance(manifest, dict):
            raise CalibrationError(f"{manifest_path}: not a teachersim manifest")
        if manifest.get("fingerprint") == cal.fingerprint():
            return
        if not force:
            raise CalibrationError(f"{out}: holds a different calibration (another file, base, targets or "
                                   "seeds); pass --force to replace it, or choose another --out")
        files = manifest.get("files")
        for name in files if isinstance(files, dict) else {}:
            try:  # only regular files inside the folder, reached without links: the manifest is untrusted
                target = listed_file(out, name)
            except ResultsError as exc:
                if "missing" in str(exc):
                    continue
                raise CalibrationError(str(exc)) from None
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    running = _manifest(cal, status="running", files=_unhashed())
    write_bytes_atomic(manifest_path, json.dumps(running, indent=2, sort_keys=True).encode())


def _unhashed() -> dict:
    """The files a running calibration keeps open (listed without a hash: they change as it runs)."""
    from sim.experiments.abc import DATABASE

    return {JOURNAL: None, JOURNAL_LOCK: None, DATABASE: None, f"{DATABASE}-journal": None}


def _manifest(cal: Calibration, status: str, files: dict, **more) -> dict:
    from sim.storage.store import SCHEMA_VERSION, git_commit, versions

    return {"schema_version": SCHEMA_VERSION, "kind": KIND, "status": status, "name": cal.spec.name,
            "fingerprint": cal.fingerprint(), "calibration": cal.spec.model_dump(mode="json"),
            "scenario": cal.scenario.model_dump(mode="json"), "targets": cal.targets.model_dump(mode="json"),
            "seeds": cal.seeds, "versions": versions(), "git_commit": git_commit(), "files": files, **more}


def _study(cal: Calibration, out: Path, sampler_seed: int):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(out / JOURNAL)))
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=cal.spec.startup_trials)
    directions = ["minimize"] * (len(cal.fitted) if cal.spec.method == "pareto" else 1)
    return optuna.create_study(study_name=cal.spec.name, storage=storage, sampler=sampler,
                               directions=directions, load_if_exists=True)


def _optimise(cal: Calibration, out: Path, executor, progress: bool):
    """Ask, run and tell batches until `trials` are told; returns the study and the trials run now."""
    from optuna.trial import Trial, TrialState

    dists = _distributions(cal.spec)
    study = _study(cal, out, cal.spec.sampler_seed)
    stats = tuple((k, s.model_dump_json()) for k, s in cal.statistics().items())
    ran = 0
    bar = _bar(progress, cal.spec.trials, cal.spec.name)
    with bar:
        while True:
            trials = study.get_trials(deepcopy=False)
            told = [t for t in trials if t.state.is_finished()]
            bar.n = len(told)
            bar.refresh()
            batch = [t for t in trials if t.state == TrialState.RUNNING]  # a batch a kill interrupted
            if not batch:
                if len(trials) >= cal.spec.trials:
                    break
                first = len(trials)
                study = _study(cal, out, cal.spec.sampler_seed + first)  # seeded by the batch: repeatable
                for _ in range(min(cal.spec.batch, cal.spec.trials - first)):
                    study.ask(dists)
                batch = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
            results = _run_batch(cal, executor, batch, stats)
            for t in sorted(batch, key=lambda t: t.number):
                per_rep, error = results[t.number]
                trial = Trial(study, t._trial_id)
                if error:
                    trial.set_user_attr("error", error)
                    study.tell(t.number, state=TrialState.FAIL)
                    continue
                trial.set_user_attr("replicates", per_rep)
                means = {k: float(np.mean([r[k] for r in per_rep])) for k, _ in stats}
                values = losses(cal, means)
                if all(math.isfinite(v) for v in values):
                    study.tell(t.number, values if cal.spec.method == "pareto" else sum(values))
                else:
                    trial.set_user_attr("error", "a fitted statistic is undefined in these runs (NaN)")
                    study.tell(t.number, state=TrialState.FAIL)
            ran += len(batch)
            bar.update(0)
            best = _best(study)
            if best is not None:
                bar.set_postfix(best=f"{total(best):.4g}", trial=best.number)
    return study, ran


def _run_batch(cal: Calibration, executor, batch, stats) -> dict[int, tuple[list, str | None]]:
    """Every replicate of every trial of the batch; per trial the replicates in order, or an error."""
    tasks = []
    for t in batch:
        values = _values(cal.spec, t.params)
        try:
            scenario = checked_scenario(cal.base_path, cal.point_overrides(values))
        except ScenarioError as exc:
            raise CalibrationError(f"{cal.path}: parameters: trial {t.number} ({values}) makes the base "
                                   f"invalid: {exc}") from None
        dump = scenario.model_dump(mode="json")
        tasks += [EvalTask(t.number, r, s, dump, scenario.source_dir, stats) for r, s in enumerate(cal.seeds)]
    found: dict[tuple[int, int], dict] = {}
    errors: dict[int, str] = {}
    for task, result, error in executor.map_unordered(evaluate, tasks):
        if error is not None:
            errors.setdefault(task.trial, f"{type(error).__name__}: {error}")
        else:
            found[(task.trial, task.replicate)] = result
    return {t.number: ([found[(t.number, r)] for r in range(len(cal.seeds))] if t.number not in errors else None,
                       errors.get(t.number)) for t in batch}


def _best(study):
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    return min(done, key=lambda t: (total(t), t.number)) if done else None


def pareto_frame(cal: Calibration, study) -> pd.DataFrame:
    """The Pareto set of a `pareto` calibration: the trials no other trial beats on every fitted
    target's loss, in trial order, with each target's loss and whether it is met."""
    rows = []
    for t in sorted(study.best_trials, key=lambda t: t.number):
        row = {"trial": t.number, "loss": total(t)}
        row.update({f"loss:{n}": v for n, v in zip(cal.fitted, t.values, strict=True)})
        reps = t.user_attrs["replicates"]
        for n in cal.fitted:
            row[f"met:{n}"] = cal.targets.targets[n].met(float(np.mean([r[f"{n}/published"] for r in reps])))
        for k, v in _values(cal.spec, t.params).items():
            row[k] = v if isinstance(v, (int, float)) and not isinstance(v, bool) else json.dumps(v)
        rows.append(row)
    return pd.DataFrame(rows)


class _NoBar:
    n = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def refresh(self):
        return None

    def update(self, n=0):
        return None

    def set_postfix(self, **kw):
        return None


def _bar(show: bool, total: int, name: str, unit: str = "trial"):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=f"calibrate {name}")


# ------------------------------------------------------------------------------ outputs


def trials_frame(cal: Calibration, study) -> pd.DataFrame:
    """One row per trial: state, loss, parameter values and every statistic's mean."""
    rows = []
    keys = list(cal.statistics())
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        row = {"trial": t.number, "state": t.state.name, "loss": total(t)}
        if cal.spec.method == "pareto":
            for i, n in enumerate(cal.fitted):
                row[f"loss:{n}"] = t.values[i] if t.values is not None else math.nan
        values = _values(cal.spec, t.params) if len(t.params) == len(cal.spec.parameters) else {}
        for k in cal.spec.parameters:
            v = values.get(k, math.nan)
            row[k] = v if isinstance(v, (int, float)) and not isinstance(v, bool) else json.dumps(v)
        reps = t.user_attrs.get("replicates")
        for k in keys:
            row[f"mean:{k}"] = float(np.mean([r[k] for r in reps])) if reps else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def fit_table(cal: Calibration, replicates: list[dict]) -> pd.DataFrame:
    """Each target and reading at the best fit: published, model mean with a 95% t-interval over
    the replicates, and whether the mean is within the target's uncertainty."""
    from scipy.special import stdtrit  # the t quantile, without importing all of scipy.stats

    rows = []
    for name, t in cal.targets.targets.items():
        readings = {"published": (t.statistic, t.denominator)}
        readings.update({k: (r.statistic, r.denominator) for k, r in t.alternatives.items()})
        for reading, (stat, words) in readings.items():
            x = np.array([r[f"{name}/{reading}"] for r in replicates], dtype=float)
            mean = float(np.mean(x))
            half = float(stdtrit(len(x) - 1, 0.975) * np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
            rows.append({"target": name, "role": "held out" if name in cal.spec.hold_out else "fitted",
                         "reading": reading, "statistic": stat.describe(), "denominator": words, "source": t.source,
                         "published": t.published, "uncertainty": t.uncertainty.describe(), "model_mean": mean,
                         "ci_low": mean - half, "ci_high": mean + half, "replicates": len(x), "met": t.met(mean)})
    return pd.DataFrame(rows)


def path_table(replicates: list[dict]) -> pd.DataFrame:
    """The headline CVs at the best fit: mean over its replicates in every year, with the time
    averages over the run and its last five years (empty for a journal written before paths)."""
    from sim.experiments.spans import RECENT_YEARS, recent_span, span_words

    rows = [(k.split("/")[1], k.split("/")[2], int(k.split("/")[3]), float(np.mean([r[k] for r in replicates])))
            for k in replicates[0] if k.startswith(CV_PATH + "/")] if replicates else []
    if not rows:
        return pd.DataFrame()
    wide = pd.DataFrame(rows, columns=["metric", "group", "year", "mean"]).pivot_table(
        index=["metric", "group"], columns="year", values="mean", sort=False)
    last = int(wide.columns.max())
    lo, hi = recent_span(last)
    run = [y for y in wide.columns if y >= 1] or list(wide.columns)
    out = wide.reset_index()
    out.insert(2, f"mean, {span_words(1, last)}", wide[run].mean(axis=1).to_numpy())
    recent = wide[[y for y in run if y >= lo]].mean(axis=1).to_numpy()
    out.insert(3, f"mean, last {RECENT_YEARS} years ({span_words(lo, hi)})", recent)
    return out


def fit_markdown(cal: Calibration, table: pd.DataFrame, best, n_trials: int) -> str:
    lines = [f"# Calibration {cal.spec.name}", "",
             f"Best of {n_trials} trials: trial {best.number}, loss {total(best):.4g}.", "",
             "Parameters:", ""]
    lines += [f"- `{k}` = {json.dumps(v)}" for k, v in _values(cal.spec, best.params).items()]
    return "\n".join([*lines, "", _fit_sections(table, "at the best trial"),
                      path_markdown(best.user_attrs["replicates"])])


def pareto_markdown(cal: Calibration, front: pd.DataFrame) -> str:
    """The Pareto set: where fitted targets conflict, no one fit meets them all; each row is a fit
    that no other beats on every target."""
    names = cal.fitted
    lines = ["", "## Pareto set (multi-objective)", "",
             f"{len(front)} trial(s) that no other trial beats on every fitted target's loss (squared distance "
             "in units of its uncertainty). The best fit above is the one of these with the smallest summed "
             "loss; pareto.csv has each one's parameters.", "",
             "| trial | " + " | ".join(f"{n} loss (met)" for n in names) + " | summed loss |",
             "|---|" + "---|" * (len(names) + 1)]
    for r in front.to_dict("records"):
        cells = [f"{r[f'loss:{n}']:.4g} ({'yes' if r[f'met:{n}'] else 'no'})" for n in names]
        lines.append(f"| {r['trial']} | " + " | ".join(cells) + f" | {r['loss']:.4g} |")
    return "\n".join([*lines, ""])


def _fit_sections(table: pd.DataFrame, where: str) -> str:
    """The fitted and the held-out targets' tables, each target under every reading."""
    lines = []
    for role in ("fitted", "held out"):
        part = table[table.role == role]
        if part.empty:
            continue
        lines += [f"## {role.capitalize()} targets ({where})", "",
                  "| target | reading | statistic | published | uncertainty | model mean [95% t-interval] | met |",
                  "|---|---|---|---|---|---|---|"]
        for r in part.itertuples():
            lines.append(f"| {r.target} | {r.reading} | {r.statistic} | {r.published:g} | {r.uncertainty} | "
                         f"{r.model_mean:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}] | {'yes' if r.met else '**no**'} |")
        lines.append("")
    lines += ["A target is met when the model mean is within its uncertainty (within 2 SE, inside the interval, "
              "or on the right side of the bound). Readings other than `published` are other readings of an "
              "ambiguous denominator; the fit uses the published reading only.", ""]
    return "\n".join(lines)


def path_markdown(replicates: list[dict]) -> str:
    """The headline CVs at the best fit in every year, with the run's and the last five years' means."""
    path = path_table(replicates)
    if path.empty:
        return ""
    lines = ["## Headline CVs at the best fit, every year", "",
             f"Mean over the best trial's {len(replicates)} replicates, and the time averages over the run and "
             "its last five years: a fit to one year says nothing of the path around it.", "",
             "| " + " | ".join(str(c) for c in path.columns) + " |", "|" + "---|" * len(path.columns)]
    for r in path.itertuples(index=False):
        lines.append(f"| `{r[0]}` | {r[1]} | " + " | ".join(f"{v:.3f}" for v in r[2:]) + " |")
    return "\n".join([*lines, ""])


def _figure(table: pd.DataFrame, history: pd.DataFrame, abc_history: bool = False, pareto=None) -> bytes:
    from matplotlib.figure import Figure  # no pyplot: a notebook's backend is left alone

    fig = Figure(figsize=(12, max(3.0, 0.45 * len(table) + 1.5)))
    a, b = fig.subplots(1, 2)
    scale = table.published.where(table.published != 0, 1.0).abs()
    y = np.arange(len(table))
    ratio = table.model_mean / scale
    err = np.vstack([(table.model_mean - table.ci_low) / scale, (table.ci_high - table.model_mean) / scale])
    colours = ["tab:green" if m else "tab:red" for m in table.met]
    a.errorbar(ratio, y, xerr=np.nan_to_num(err), fmt="none", ecolor="grey")
    a.scatter(ratio, y, c=colours, zorder=3)
    a.axvline(1.0, color="black", lw=0.8)
    a.set_yticks(y, [f"{r.target} ({r.reading}{', held out' if r.role == 'held out' else ''})"
                     for r in table.itertuples()], fontsize=7)
    a.invert_yaxis()
    a.set_xlabel("model mean / published (green: met)")
    a.set_title(f"fit per target at the best {'particle' if abc_history else 'trial'}")
    if abc_history:  # generations: epsilon, the distance threshold, falls as the posterior narrows
        b.plot(history.t, history.epsilon, marker="o")
        b.set_xlabel("generation")
        b.set_ylabel("epsilon (distance threshold)")
        b.set_title("ABC-SMC generations")
    else:
        ok = history[history.state == "COMPLETE"]
        b.scatter(ok.trial, ok.loss, s=12, label="trial")
        b.plot(ok.trial, ok.loss.cummin(), color="tab:orange", label="best so far")
        if pareto is not None:
            b.scatter(pareto.trial, pareto.loss, s=40, facecolors="none", edgecolors="tab:red", label="Pareto set")
        if (ok.loss > 0).all() and len(ok):
            b.set_yscale("log")
        b.set_xlabel("trial")
        b.set_ylabel("loss")
        b.set_title("optimisation history")
        b.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _path_files(cal: Calibration, replicates: list[dict]) -> dict[str, bytes]:
    from sim.storage.store import parquet_bytes

    paths = paths_frame(cal, replicates)
    return {"paths.parquet": parquet_bytes(paths), "figures/paths.png": paths_figure(cal, paths)}


def draw_paths(figure, paths: pd.DataFrame, targets):
    """The whole yearly path each calibration target is read from, at the best fit (a calibration
    folder's paths.parquet: path, replicate, year, value): every replicate, their mean, and each
    target of `targets` (a `sim.config.targets.TargetsFile`) where it is read: a year as a point with its
    uncertainty (2 SE, the interval, or a bound's triangle), a span as a line over its years; on
    `figure` (a pyplot figure in a notebook, a bare Figure for the folder's PNG)."""
    from matplotlib.ticker import MaxNLocator

    marks: dict[str, list] = {}
    for name, t in targets.targets.items():
        for reading, stat in t.readings().items():
            marks.setdefault(stat.path_key(), []).append((name, reading, stat, t))
    names = list(dict.fromkeys(paths["path"]))
    cols = max(1, min(2, len(names)))
    nrows = max(1, -(-len(names) // cols))  # ceiling
    fig = figure
    fig.set_size_inches(6.5 * cols, 3.6 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        part = paths[paths["path"] == name]
        for _, rep in part.groupby("replicate"):
            ax.plot(rep["year"], rep["value"], color="grey", lw=0.6, alpha=0.6)
        mean = part.groupby("year")["value"].mean()
        ax.plot(mean.index, mean.values, color="tab:blue", lw=1.8,
                label=f"model mean ({part['replicate'].nunique()} replicates, grey)")
        for i, (target, reading, stat, t) in enumerate(marks.get(name, [])):
            colour, u, label = f"C{(i + 1) % 10}", t.uncertainty, f"{target} ({reading})"
            if stat.year is None:
                ax.hlines(t.published, stat.span[0], stat.span[1], colors=colour, lw=2.2,
                          label=f"{label}: {stat.aggregate} over years {stat.span[0]}-{stat.span[1]}, {u.describe()}")
            elif u.se is not None:
                ax.errorbar([stat.year], [t.published], yerr=[2 * u.se], fmt="o", color=colour, capsize=4,
                            label=f"{label}: +/- 2 SE")
            elif u.interval is not None:
                lo, hi = u.interval
                ax.errorbar([stat.year], [t.published], yerr=[[t.published - lo], [hi - t.published]], fmt="o",
                            color=colour, capsize=4, label=f"{label}: interval")
            else:
                bound = u.at_least if u.at_least is not None else u.at_most
                ax.plot([stat.year], [bound], marker="^" if u.at_least is not None else "v", ms=9, ls="none",
                        color=colour, label=f"{label}: {u.describe()}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=6.5)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def paths_frame(cal: Calibration, replicates: list[dict]) -> pd.DataFrame:
    """Long table of the best fit's yearly paths: path, replicate, year, value (paths.parquet)."""
    rows = [{"path": path, "replicate": r, "year": y, "value": float(v)}
            for r, rep in enumerate(replicates) for path, values in rep[PATHS].items() for y, v in enumerate(values)]
    return pd.DataFrame(rows, columns=["path", "replicate", "year", "value"])


def paths_figure(cal: Calibration, paths: pd.DataFrame) -> bytes:
    """figures/paths.png: `sim.present.plots.calibration_paths` on a figure of its own (no pyplot state)."""
    from matplotlib.figure import Figure

    fig = draw_paths(Figure(), paths, cal.targets)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _write_outputs(cal: Calibration, out: Path, study, ran: int, seconds: float, executor: str) -> CalibrationSummary:
    """trials.parquet, best.json, fit.csv, fit.md, figures/calibration.png, then the manifest."""
    from sim.storage.store import parquet_bytes, write_bytes_atomic

    best = _best(study)
    history = trials_frame(cal, study)
    if best is None:
        errors = [t.user_attrs.get("error") for t in study.get_trials(deepcopy=False)]
        first = next((e for e in errors if e), "no trial completed")
        raise CalibrationError(f"{cal.path}: every trial failed (the first: {first}); the errors are in "
                               f"{out / JOURNAL}; remove the folder to start again")
    table = fit_table(cal, best.user_attrs["replicates"])
    values = _values(cal.spec, best.params)
    best_doc = {"trial": best.number, "loss": total(best), "parameters": values,
                "set": [override(k, v) for k, v in values.items()], "base": str(cal.base_path)}
    md = fit_markdown(cal, table, best, len(history))
    front = pareto_frame(cal, study) if cal.spec.method == "pareto" else None
    if front is not None:  # the compromise above is the Pareto trial of the smallest summed loss
        best_doc["pareto_trials"] = [int(x) for x in front.trial]
        md += pareto_markdown(cal, front)
    files = {
        "trials.parquet": parquet_bytes(history),
        "best.json": json.dumps(best_doc, indent=2, sort_keys=True).encode(),
        "fit.csv": table.to_csv(index=False).encode(),
        "fit.md": md.encode(),
        "figures/calibration.png": _figure(table, history, pareto=front),
    }
    files.update(_path_files(cal, best.user_attrs["replicates"]))
    if front is not None:
        files["pareto.csv"] = front.to_csv(index=False).encode()
    listed = _write_files(out, files)
    summary = CalibrationSummary(out, cal.spec.name, len(history), ran, best.number, total(best),
                                 *_met_counts(table), seconds, executor)
    manifest = _manifest(cal, "complete", listed, best=best_doc,
                         timings={"seconds_this_session": round(seconds, 3), "trials_this_session": ran})
    write_bytes_atomic(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
    return summary


def _write_files(out: Path, files: dict[str, bytes]) -> dict:
    """Write a finished calibration's files (each atomically); their manifest entries: the hash of
    each, and the files listed unhashed."""
    from sim.storage.store import write_bytes_atomic

    (out / "figures").mkdir(exist_ok=True)
    for name, data in files.items():
        write_bytes_atomic(out / name, data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()} | _unhashed()


def _met_counts(table: pd.DataFrame) -> tuple[tuple[int, int], tuple[int, int]]:
    """(met, of) for the fitted and for the held-out targets, each read as published."""
    pub = table[table.reading == "published"]
    fitted, held = pub[pub.role == "fitted"], pub[pub.role == "held out"]
    return (int(fitted.met.sum()), len(fitted)), (int(held.met.sum()), len(held))


# ------------------------------------------------------------------------------ ABC


def _abc(cal: Calibration, out: Path, executor, progress: bool, t0: float) -> CalibrationSummary:
    """Run (or resume) the ABC generations, then write posterior.parquet, generations.csv,
    predictive.csv, best.json, fit.csv/fit.md, the figures and the manifest."""
    from sim.experiments import abc
    from sim.storage.store import parquet_bytes, write_bytes_atomic

    with _bar(progress, cal.spec.abc.generations, cal.spec.name, unit="generation") as bar:
        try:
            ran = abc.run(cal, out, executor, bar)
        except RuntimeError as exc:
            raise CalibrationError(f"{cal.path}: {exc}; the generations already finished are kept in "
                                   f"{out / abc.DATABASE}") from None
    post = abc.posterior(cal, out)
    frame = post.frame
    best = int(frame.sort_values(["distance", "particle"], kind="stable").particle.iloc[0])
    table = fit_table(cal, post.replicates[best])
    pred = abc.predictive(cal, frame)
    values = {k: (frame[k].iloc[best].item() if hasattr(frame[k].iloc[best], "item") else frame[k].iloc[best])
              for k in cal.spec.parameters}
    values = {k: json.loads(v) if isinstance(v, str) else v for k, v in values.items()}
    loss_ = float(frame.distance.iloc[best]) ** 2
    best_doc = {"particle": best, "generation": int(frame.generation.iloc[0]), "loss": loss_, "parameters": values,
                "set": [override(k, v) for k, v in values.items()], "base": str(cal.base_path)}
    gens = post.generations
    summary_doc = {"particles": len(frame), "ess": round(abc.ess(frame.weight), 3),
                   "generation": int(frame.generation.iloc[0]), "epsilon": float(gens.epsilon.iloc[-1]),
                   "evaluations": int(gens.evaluations.sum())}
    md = abc_markdown(cal, table, pred, best_doc, summary_doc, gens)
    files = {
        "posterior.parquet": parquet_bytes(frame),
        "generations.csv": gens.to_csv(index=False).encode(),
        "predictive.csv": pred.to_csv(index=False).encode(),
        "best.json": json.dumps(best_doc, indent=2, sort_keys=True).encode(),
        "fit.csv": table.to_csv(index=False).encode(),
        "fit.md": md.encode(),
        "figures/calibration.png": _figure(table, gens, abc_history=True),
        "figures/posterior.png": abc.marginals_figure(cal, post),
    }
    files.update(_path_files(cal, post.replicates[best]))
    listed = _write_files(out, files)
    seconds = time.perf_counter() - t0
    summary = CalibrationSummary(out, cal.spec.name, int(gens.evaluations.sum()), ran, best, loss_,
                                 *_met_counts(table), seconds, executor.describe(), method="abc",
                                 posterior=summary_doc)
    manifest = _manifest(cal, "complete", listed, method="abc", best=best_doc, posterior=summary_doc,
                         timings={"seconds_this_session": round(seconds, 3), "generations_this_session": ran})
    write_bytes_atomic(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
    return summary


def abc_markdown(cal: Calibration, table: pd.DataFrame, pred: pd.DataFrame, best: dict, post: dict,
                 gens: pd.DataFrame) -> str:
    lines = [f"# Calibration {cal.spec.name} (ABC-SMC, pyabc)", "",
             f"{post['generation'] + 1} generation(s), {post['evaluations']} particle evaluations of "
             f"{len(cal.seeds)} replicates each; the last generation's epsilon {post['epsilon']:.4g}, "
             f"{post['particles']} particles, effective sample size {post['ess']:.1f}. The posterior sample is "
             "posterior.parquet (weighted).", "",
             f"Best particle ({best['particle']}, loss {best['loss']:.4g}):", ""]
    lines += [f"- `{k}` = {json.dumps(v)}" for k, v in best["parameters"].items()]
    lines += ["", "| generation | epsilon | particles | evaluations |", "|---|---|---|---|"]
    lines += [f"| {r.t} | {r.epsilon:.4g} | {r.particles} | {r.evaluations} |" for r in gens.itertuples()]
    lines += ["", _fit_sections(table, "at the best particle")]
    lines += ["## Posterior predictive check", "",
              "Each target's replicate mean over the weighted posterior particles: weighted mean and 2.5-97.5% "
              "weighted quantiles; met when the weighted mean is within the target's uncertainty.", "",
              "| target | role | reading | published | uncertainty | posterior mean [2.5%, 97.5%] | met |",
              "|---|---|---|---|---|---|---|"]
    for r in pred.itertuples():
        lines.append(f"| {r.target} | {r.role} | {r.reading} | {r.published:g} | {r.uncertainty} | "
                     f"{r.posterior_mean:.4g} [{r.q025:.4g}, {r.q975:.4g}] | {'yes' if r.met else '**no**'} |")
    lines.append("")
    return "\n".join(lines)
