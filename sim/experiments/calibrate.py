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
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from sim.config.designs import Parameter, ParameterKey, checked_scenario, override
from sim.config.scenario import Scenario, ScenarioError, Strict, read_yaml_mapping
from sim.config.targets import NAME, Statistic, TargetsError, TargetsFile, error_line, load_targets

JOURNAL = "study.journal"
JOURNAL_LOCK = "study.journal.lock"  # Optuna's lock beside the journal (present only while it writes)
KIND = "calibration"


class CalibrationError(ValueError):
    """A calibration file or folder that cannot be used; one line naming the file and the key."""


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

    @model_validator(mode="after")
    def _distinct(self) -> CalibrationSpec:
        if len(set(self.hold_out)) != len(self.hold_out):
            raise ValueError("hold_out names a target twice")
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


@dataclass(frozen=True)
class EvalTask:
    """One replicate of one candidate, sendable to a worker."""

    trial: int
    replicate: int
    seed: int
    scenario: dict
    source_dir: str
    statistics: tuple[tuple[str, str], ...]  # (key, Statistic as JSON)


PATH = "path"  # key prefix of the headline CVs' every year in a trial's replicates


def path_keys(rows: dict) -> dict[str, float]:
    """Every year of the headline CVs, keyed `path/metric/group/year`: the trajectory the report gives."""
    from sim.metrics import INDICATORS

    wanted = {(f"cv_{i}", g) for i in INDICATORS for g in ("primary", "junior")} | {("cv_quality", "all")}
    return {f"{PATH}/{m}/{g}/{y}": v for (m, g, y), v in sorted(rows.items()) if (m, g) in wanted}


def evaluate(task: EvalTask) -> dict[str, float]:
    """Run one replicate and return every statistic (NaN where the run does not define one) and the
    headline CVs of every year (`path_keys`)."""
    from sim.config.targets import metric_rows
    from sim.experiments.run import scenario_from_json, simulate

    scenario = scenario_from_json(task.scenario, task.source_dir)
    with warnings.catch_warnings():  # a quota capped at the eligible is what a fit explores: one line per
        warnings.simplefilter("ignore", RuntimeWarning)  # run of hundreds would bury the progress
        rows = metric_rows(simulate(scenario, task.seed, scenario.run.years).metric_rows)
    return {key: Statistic.model_validate_json(stat).value(rows) for key, stat in task.statistics} | path_keys(rows)


def loss(cal: Calibration, means: dict[str, float]) -> float:
    """Sum of squared distances of the fitted targets' published readings (inf if one is undefined)."""
    return float(sum(cal.targets.targets[n].distance(means[f"{n}/published"]) ** 2 for n in cal.fitted))


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
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"calibration {self.name}: {self.trials} trials (this session ran {self.ran}) in {self.seconds:.1f} s "
                f"on {self.executor}; best loss {self.best_loss:.4g} at trial {self.best_trial}; fitted targets met "
                f"{self.fitted_met[0]}/{self.fitted_met[1]}, held out met {self.held_out_met[0]}/"
                f"{self.held_out_met[1]}; results in {self.out}/")


def calibrate(path, out: str | Path | None = None, *, workers: int | None = None, serial: bool = False,
              executor=None, progress: bool = False, force: bool = False) -> CalibrationSummary:
    """Run (or resume) a calibration file and write its folder.

    Args:
        path: the calibration file, or a Calibration already loaded.
        out: the result folder (default results/<name>); rerun into it to resume or to add trials.
        workers: size of the local Dask cluster (default: this machine's CPUs); serial: no Dask.
        executor: an executor object (overrides the above; for tests and embedding).
        force: replace a different calibration's folder there.

    Raises CalibrationError (bad file or folder) before anything is written.
    """
    from sim.experiments.executors import Dask, Serial, running
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
                executor = Serial() if serial else Dask(workers=workers)
            with running(executor, CalibrationError):
                t0 = time.perf_counter()
                study, ran = _optimise(cal, claimed.out, executor, progress)
                summary = _write_outputs(cal, claimed.out, study, ran, time.perf_counter() - t0, executor.describe())
            summary.notes = claimed.notes
            return summary
    except OutputRefused as exc:
        raise CalibrationError(str(exc)) from None


def _prepare(cal: Calibration, out: Path, force: bool) -> None:
    """A new folder gets a 'running' manifest; the same calibration's folder is resumed; another
    calibration's is refused unless `force`, when only the files its manifest lists are removed."""
    from sim.storage.manifests import MANIFEST_LIMIT, ResultsError, listed_file, read_regular
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
    running = _manifest(cal, status="running", files={JOURNAL: None, JOURNAL_LOCK: None})
    write_bytes_atomic(manifest_path, json.dumps(running, indent=2, sort_keys=True).encode())


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
    return optuna.create_study(study_name=cal.spec.name, storage=storage, sampler=sampler,
                               direction="minimize", load_if_exists=True)


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
                value = loss(cal, means)
                if math.isfinite(value):
                    study.tell(t.number, value)
                else:
                    trial.set_user_attr("error", "a fitted statistic is undefined in these runs (NaN)")
                    study.tell(t.number, state=TrialState.FAIL)
            ran += len(batch)
            bar.update(0)
            best = _best(study)
            if best is not None:
                bar.set_postfix(best=f"{best.value:.4g}", trial=best.number)
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
    return min(done, key=lambda t: (t.value, t.number)) if done else None


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


def _bar(show: bool, total: int, name: str):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="trial", desc=f"calibrate {name}")


# ------------------------------------------------------------------------------ outputs


def trials_frame(cal: Calibration, study) -> pd.DataFrame:
    """One row per trial: state, loss, parameter values and every statistic's mean."""
    rows = []
    keys = list(cal.statistics())
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        row = {"trial": t.number, "state": t.state.name, "loss": t.value if t.value is not None else math.nan}
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
            for k in replicates[0] if k.startswith(PATH + "/")] if replicates else []
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
             f"Best of {n_trials} trials: trial {best.number}, loss {best.value:.4g}.", "",
             "Parameters:", ""]
    lines += [f"- `{k}` = {json.dumps(v)}" for k, v in _values(cal.spec, best.params).items()]
    for role in ("fitted", "held out"):
        part = table[table.role == role]
        if part.empty:
            continue
        lines += ["", f"## {role.capitalize()} targets", "",
                  "| target | reading | statistic | published | uncertainty | model mean [95% t-interval] | met |",
                  "|---|---|---|---|---|---|---|"]
        for r in part.itertuples():
            lines.append(f"| {r.target} | {r.reading} | {r.statistic} | {r.published:g} | {r.uncertainty} | "
                         f"{r.model_mean:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}] | {'yes' if r.met else '**no**'} |")
    lines += ["", "A target is met when the model mean is within its uncertainty (within 2 SE, inside the interval, "
              "or on the right side of the bound). Readings other than `published` are other readings of an "
              "ambiguous denominator; the fit uses the published reading only.", ""]
    path = path_table(best.user_attrs["replicates"])
    if not path.empty:
        lines += ["## Headline CVs at the best fit, every year", "",
                  f"Mean over the best trial's {len(best.user_attrs['replicates'])} replicates, and the time averages "
                  "over the run and its last five years: a fit to one year says nothing of the path around it.", "",
                  "| " + " | ".join(str(c) for c in path.columns) + " |", "|" + "---|" * len(path.columns)]
        for r in path.itertuples(index=False):
            lines.append(f"| `{r[0]}` | {r[1]} | " + " | ".join(f"{v:.3f}" for v in r[2:]) + " |")
        lines.append("")
    return "\n".join(lines)


def _figure(table: pd.DataFrame, history: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, max(3.0, 0.45 * len(table) + 1.5)))
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
    a.set_title("fit per target at the best trial")
    ok = history[history.state == "COMPLETE"]
    b.scatter(ok.trial, ok.loss, s=12, label="trial")
    b.plot(ok.trial, ok.loss.cummin(), color="tab:orange", label="best so far")
    if (ok.loss > 0).all() and len(ok):
        b.set_yscale("log")
    b.set_xlabel("trial")
    b.set_ylabel("loss")
    b.set_title("optimisation history")
    b.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
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
    best_doc = {"trial": best.number, "loss": best.value, "parameters": values,
                "set": [override(k, v) for k, v in values.items()], "base": str(cal.base_path)}
    files = {
        "trials.parquet": parquet_bytes(history),
        "best.json": json.dumps(best_doc, indent=2, sort_keys=True).encode(),
        "fit.csv": table.to_csv(index=False).encode(),
        "fit.md": fit_markdown(cal, table, best, len(history)).encode(),
        "figures/calibration.png": _figure(table, history),
    }
    (out / "figures").mkdir(exist_ok=True)
    for name, data in files.items():
        write_bytes_atomic(out / name, data)
    listed = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    listed.update({JOURNAL: None, JOURNAL_LOCK: None})
    pub = table[table.reading == "published"]
    fitted = pub[pub.role == "fitted"]
    held = pub[pub.role == "held out"]
    summary = CalibrationSummary(out, cal.spec.name, len(history), ran, best.number, float(best.value),
                                 (int(fitted.met.sum()), len(fitted)), (int(held.met.sum()), len(held)),
                                 seconds, executor)
    manifest = _manifest(cal, "complete", listed, best=best_doc,
                         timings={"seconds_this_session": round(seconds, 3), "trials_this_session": ran})
    write_bytes_atomic(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
    return summary
