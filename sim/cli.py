"""The `teachersim` command (also `python -m sim`).

Exit codes: 0 success; 2 bad input (one line naming the file, the key and the problem, nothing
written); 1 anything else. Heavy libraries are imported only by the commands that use them.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

SCENARIO_DIR = Path("scenarios")


class BadInput(Exception):
    """Input the user can fix; reported as one line with exit code 2."""


class WriteFailed(Exception):
    """Results could not be written (a full disk, a folder that became unwritable); one line, exit code 1."""


def _load(path: str, overrides: list[str]):
    from sim.config.examples import find_scenario
    from sim.config.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(find_scenario(path), overrides)
    except ScenarioError as exc:
        raise BadInput(str(exc)) from None


def _check_world(path: str, scenario) -> None:
    """Before any work: the world's size, a roster's files, and quotas larger than the world
    (a warning: they are capped each year at the number eligible)."""
    from sim.config.checks import check_size, quota_warnings
    from sim.config.scenario import ScenarioError
    from sim.world import RosterError, check_roster

    try:
        check_size(scenario)
        check_roster(scenario)
    except ScenarioError as exc:
        raise BadInput(f"{path}: {exc}") from None
    except RosterError as exc:
        raise BadInput(str(exc)) from None
    for line in quota_warnings(scenario):
        print(f"teachersim: warning: {path}: {line}", file=sys.stderr)


def cmd_validate(args) -> int:
    from sim.config.scenario import scenario_to_yaml

    scenario = _load(args.scenario, args.set)
    _check_world(args.scenario, scenario)
    print(scenario_to_yaml(scenario), end="")
    return 0


class _Claim:
    """Claim the output folder before any work (`sim.storage.folders.claim`); its refusals are one line."""

    def __init__(self, out, kind: str, identity, force: bool):
        from sim.storage.folders import claim

        self.out = out
        self.claim = claim(out, kind, identity, force)

    def __enter__(self):
        from sim.storage.folders import OutputBusy, OutputRefused

        try:
            claimed = self.claim.__enter__()
        except OutputBusy as exc:
            raise WriteFailed(str(exc)) from None
        except OutputRefused as exc:
            raise BadInput(str(exc)) from None
        except OSError as exc:
            raise BadInput(f"--out {self.out}: {exc}") from None
        for note in claimed.notes:
            print(f"teachersim: {note}", file=sys.stderr)
        return claimed

    def __exit__(self, *exc):
        return self.claim.__exit__(*exc)


def _out(args, default: Path) -> Path:
    """--out as given (an empty one is refused by the claim), else the default folder."""
    from sim.storage.store import check_writable

    out = default if args.out is None else args.out
    try:
        if str(out).strip():
            check_writable(Path(out))
    except OSError as exc:
        raise BadInput(f"--out {out}: {exc}") from None
    return out


@contextmanager
def _as_bad_input(where: str):
    """A ScenarioError or RosterError inside becomes BadInput (exit 2, one line): a roster's message
    names its file already, a scenario's gets `where` in front."""
    from sim.config.scenario import ScenarioError
    from sim.world import RosterError

    try:
        yield
    except RosterError as exc:
        raise BadInput(str(exc)) from None
    except ScenarioError as exc:
        raise BadInput(f"{where}: {exc}") from None


@contextmanager
def _writing(out: Path, what: str):
    """An OSError while writing `what` into `out`, or the figure process failing, becomes WriteFailed
    (nothing was kept there)."""
    from sim.present.figure_process import FiguresFailed

    try:
        yield
    except OSError as exc:
        raise WriteFailed(f"{out}: cannot write {what} ({exc}); nothing was kept there") from None
    except FiguresFailed as exc:
        raise WriteFailed(f"{out}: {exc}; nothing was kept there") from None


def cmd_run(args) -> int:
    """One run in this process, with the garbage collector paused throughout (`sim.collector`): its
    start-up imports (pydantic, Mesa, pandas, pyarrow, matplotlib) set off collections that walk
    every module loaded so far, about 0.15 s of a Dongcheng run's 1.7 s. A finished replicate's
    model is freed by an explicit collection before the next (`sim.experiments.run.run`): it
    sits in reference cycles (model, agents, cells) that only the collector frees."""
    import gc

    from sim.collector import collector_paused

    with collector_paused():
        code = _run(args)
        if args.process_ends:  # the objects alive now are frozen before the collector is on again:
            gc.freeze()  # its first collection would walk every one of them (0.1-0.3 s), just before the exit
    return code


RUN_FIGURE_MODULES = ("sim.present.run_figures",)  # matplotlib, numpy: what the run figures need, no pandas
COMPARE_FIGURE_MODULES = ("sim.present.plots", "seaborn")  # a comparison's figures: seaborn's look, 1.2 s to import


@contextmanager
def _figure_process(args, preload: tuple[str, ...]):
    """The child process that draws a run's figures beside this one (`sim.present.figure_process`),
    started first, before anything heavy is imported, when this is the command's own process and it
    draws figures (`main` called from Python draws them in-process); stopped however the run ends.
    None where it cannot start: the figures are drawn in this process."""
    if args.no_figures or not args.process_ends:
        yield None
        return
    from sim.present.figure_process import start

    process = start(preload)
    try:
        yield process
    finally:
        if process is not None:
            process.stop()


def _run(args) -> int:
    with _figure_process(args, RUN_FIGURE_MODULES) as figure_process:
        scenario = _load(args.scenario, args.set)
        out = _out(args, Path("results") / scenario.name)
        _check_world(args.scenario, scenario)
        # Mesa, pandas, ...: only once the input is known to be good. Mesa first and from here, not from deep
        # in the model's imports: mesa.model's import reads the whole call stack twice (inspect), each frame of
        # it a pass over sys.modules; import_mesa leaves out those passes (sim/core/mesa_import.py)
        from sim.core.mesa_import import import_mesa

        import_mesa()

        from sim.experiments.run import run, with_run
        from sim.present.outputs import write_run

        with _as_bad_input(args.scenario):
            scenario = with_run(scenario, years=args.years, replicates=args.reps, seed=args.seed)
        with _Claim(out, "run", scenario.model_dump(mode="json"), args.force):
            with _as_bad_input(args.scenario):
                result = run(scenario, progress=not args.quiet)
            with _writing(out, "the results"):
                write_run(result, out, figures=not args.no_figures, force=args.force, figure_process=figure_process)
    print(f"wrote {out}/ (metrics.parquet, schools.parquet, moves.parquet, manifest.json, summary.md"
          f"{', figures/' if not args.no_figures else ''})")
    return 0


def cmd_compare(args) -> int:
    with _figure_process(args, COMPARE_FIGURE_MODULES) as figure_process:
        return _compare(args, figure_process)


def _compare(args, figure_process) -> int:
    from sim.experiments.run import compare, compared_scenarios
    from sim.present.outputs import write_comparison

    scenarios = [_load(path, args.set) for path in args.scenarios]
    baseline = args.baseline
    for path, sc in zip(args.scenarios, scenarios, strict=True):
        if baseline is not None and Path(baseline).suffix in (".yaml", ".yml") and \
                Path(baseline).resolve() == Path(path).resolve():
            baseline = sc.name
    out = _out(args, Path("results") / ("compare-" + "-vs-".join(s.name for s in scenarios)))
    with _as_bad_input("compare"):
        resolved, _ = compared_scenarios(scenarios, args.reps, args.years, args.seed, baseline)
    identity = [s.model_dump(mode="json") for s in resolved]
    with _Claim(out, "compare", identity, args.force):
        with _as_bad_input("compare"):
            result = compare(scenarios, reps=args.reps, years=args.years, seed=args.seed, baseline=baseline,
                             outcomes=args.outcome or None, at=args.at or None, workers=args.workers,
                             progress=not args.quiet)
        with _writing(out, "the comparison"):
            write_comparison(result, out, figures=not args.no_figures, force=args.force,
                             figure_process=figure_process)
    print(result.markdown())
    print(f"wrote {out}/ (comparison.csv, averages.csv, comparison.md, trajectories.parquet, metrics.parquet, "
          "manifest.json"
          f"{', figures/' if not args.no_figures else ''})")
    return 0


def _slurm_options(args):
    """The Slurm options of --slurm (None without it)."""
    from sim.experiments.executors import SlurmOptions

    if not args.slurm:
        return None
    return SlurmOptions(jobs=args.slurm_jobs, cores=args.slurm_cores, memory=args.slurm_memory,
                        walltime=args.slurm_walltime, queue=args.slurm_queue, account=args.slurm_account,
                        directives=args.slurm_option, host=args.slurm_host, log_directory=args.slurm_log_dir)


def cmd_sweep(args) -> int:
    from sim.experiments.executors import start_fork_server

    if not (args.dry_run or args.serial or args.scheduler or args.slurm):
        start_fork_server()  # the local workers' imports start now, beside this process's own and the check
    from sim.config.designs import SweepError, load_sweep
    from sim.experiments.run import sweep

    try:
        sw = load_sweep(args.sweep, args.set, replicates=args.reps, years=args.years, points=args.points)
    except SweepError as exc:
        raise BadInput(str(exc)) from None
    if args.dry_run:
        print(f"sweep {sw.spec.name}: {len(sw.bases)} base(s) x {len(sw.points)} design point(s) "
              f"({sw.spec.design.kind}) x {sw.spec.replicates} replicate(s) = {sw.n_runs} runs; every point is valid")
        print("columns: " + ", ".join(f"{c} = {path}" for path, c in sw.columns.items()))
        print(sw.design_frame().to_string(index=False, max_rows=20))
        return 0
    try:
        summary = sweep(sw, args.out, workers=args.workers, scheduler=args.scheduler, slurm=_slurm_options(args),
                        serial=args.serial, resume=args.resume, progress=not args.quiet)
    except SweepError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise WriteFailed(f"{args.out or 'the result folder'}: cannot write ({exc}); the runs already finished are "
                          "kept: run the same command again to do the rest") from None
    except KeyboardInterrupt:
        print("teachersim: interrupted; finished runs are kept: run the same command again (or with --resume) "
              "to do only the rest", file=sys.stderr)
        return _interrupted_code()
    print(summary.line())
    for run, error in summary.failures:
        print(f"failed: {run}: {error}", file=sys.stderr)
    if summary.failed > len(summary.failures):
        print(f"failed: {summary.failed} runs in all; see {summary.out}/failed/", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_optimize(args) -> int:
    from sim.experiments.optimize import CandidateFailed, OptimizeError, load_optimisation, optimize
    from sim.experiments.optimize_answer import answer, finished

    try:
        opt = load_optimisation(args.optimisation)
        out = Path(args.out) if args.out is not None else Path("results") / opt.spec.name
        if not (args.answer and finished(opt, out)):  # --answer of a finished search runs no candidate again
            summary = optimize(opt, out, workers=args.workers, scheduler=args.scheduler, slurm=_slurm_options(args),
                               serial=args.serial, progress=not args.quiet)
            for note in summary.notes:
                print(f"teachersim: {note}", file=sys.stderr)
            print(summary.line(), file=sys.stderr if args.answer else sys.stdout)
        if args.answer:
            print(answer(opt, out, progress=not args.quiet).text(), end="")
    except OptimizeError as exc:
        raise BadInput(str(exc)) from None
    except CandidateFailed as exc:
        print(f"teachersim: {exc}; the candidates evaluated before it are kept", file=sys.stderr)
        return 1
    except OSError as exc:
        raise WriteFailed(f"{args.out or 'the result folder'}: cannot write ({exc}); the candidates already "
                          "evaluated are kept: run the same command again to do the rest") from None
    except KeyboardInterrupt:
        print("teachersim: interrupted; the candidates already evaluated are kept: run the same command again "
              "to go on", file=sys.stderr)
        return _interrupted_code()
    return 0


def cmd_calibrate(args) -> int:
    from sim.experiments.calibrate import CalibrationError, calibrate, load_calibration

    try:
        cal = load_calibration(args.calibration)
        summary = calibrate(cal, args.out, workers=args.workers, scheduler=args.scheduler, slurm=_slurm_options(args),
                            serial=args.serial, progress=not args.quiet, force=args.force)
    except CalibrationError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise WriteFailed(f"{args.out or 'the result folder'}: cannot write ({exc}); the trials already told are "
                          "kept in its study journal: run the same command again to do the rest") from None
    except KeyboardInterrupt:
        print("teachersim: interrupted; the trials already told are kept: run the same command again to go on",
              file=sys.stderr)
        return _interrupted_code()
    for note in summary.notes:
        print(f"teachersim: {note}", file=sys.stderr)
    print(summary.line())
    return 0


def cmd_sensitivity(args) -> int:
    from sim.experiments.statistics import AnalysisError, sensitivity
    from sim.storage.store import write_bytes_atomic

    try:
        sens = sensitivity(args.folder, args.outcome, group=args.group, year=args.year, scenario=args.scenario)
    except AnalysisError as exc:
        raise BadInput(str(exc)) from None
    folder = Path(args.folder) / "sensitivity"
    stem = f"{sens.scenario}__{sens.metric}__{sens.group}__y{sens.year}".replace("/", "_")
    files = {f"{stem}.csv": sens.table.to_csv(index=False, float_format="%.10g").encode(),
             f"{stem}.md": sens.markdown().encode()}
    if sens.second_order is not None:
        files[f"{stem}__second_order.csv"] = sens.second_order.to_csv(index=False, float_format="%.10g").encode()
    if not args.no_figures:
        from sim.present.plots import png_bytes, sensitivity_bars

        files[f"{stem}.png"] = png_bytes(sensitivity_bars(sens))
    folder.mkdir(exist_ok=True)
    for name, data in files.items():  # each through its own new temporary file: no shared .tmp to clear
        write_bytes_atomic(folder / name, data)
    written = list(files)
    print(sens.markdown())
    print(f"wrote {folder}/ ({', '.join(written)})")
    return 0


def cmd_report(args) -> int:
    from sim.present.html_report import ReportError
    from sim.present.reports import write_report
    from sim.storage.store import check_writable

    if args.out:
        try:
            check_writable(Path(args.out).resolve().parent)
        except OSError as exc:
            raise BadInput(f"--out {args.out}: {exc}") from None
        if Path(args.out).is_dir():
            raise BadInput(f"--out {args.out}: is a folder; give the HTML file's name")
    try:  # a calibration or a policy search also gets report.md beside the HTML
        path = write_report(Path(args.folder), args.out)
    except ReportError as exc:
        raise BadInput(str(exc)) from None
    print(f"wrote {path}")
    return 0


def cmd_export(args) -> int:
    from sim.storage.export import ExportError, export_csv, export_xlsx
    from sim.storage.results import ResultsError

    try:
        path = export_xlsx(args.folder) if args.xlsx else export_csv(args.folder)
    except (ExportError, ResultsError) as exc:
        raise BadInput(str(exc)) from None
    except ValueError as exc:  # a folder that is not a result (load_results' one-line errors)
        raise BadInput(str(exc)) from None
    print(f"wrote {path}{'/' if path.is_dir() else ''}")
    return 0


def cmd_scenarios(args) -> int:
    from sim.config.examples import SCENARIOS, scenario_files
    from sim.config.scenario import ScenarioError, parse_yaml, read_text

    folder = Path(args.folder) if args.folder else (SCENARIO_DIR if SCENARIO_DIR.is_dir() else SCENARIOS)
    files = scenario_files(folder) if folder.is_dir() else {}
    if not files:
        raise BadInput(f"{folder}: no scenario files")
    print(f"# {folder if folder != SCENARIOS else 'shipped with teachersim'}: run one by file or by name")
    for name, path in files.items():
        try:  # the guarded reader: a FIFO, a bomb or a huge file named *.yaml is shown without a description
            data = parse_yaml(read_text(path), str(path)) or {}
        except ScenarioError:
            data = {}
        desc = str(data.get("description", "") if isinstance(data, dict) else "").strip().splitlines()
        print(f"{name:32s} {desc[0] if desc else ''}")
    return 0


def cmd_init(args) -> int:
    from sim.config.examples import copy_examples

    try:
        written = copy_examples(Path(args.folder))
    except FileExistsError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"{args.folder}: cannot create ({exc})") from None
    print(f"wrote {', '.join(str(p) + '/' for p in written)}: edit them, then "
          f"teachersim run {written[0]}/dongcheng_2021.yaml")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (exit 2), like every other bad input; --help still shows the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _executor_arguments(p: argparse.ArgumentParser) -> None:
    """Where the runs go (sweep, optimize, calibrate): one of a local cluster, a scheduler, Slurm, serial."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="N local worker processes (default: one per CPU)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--slurm", action="store_true", help="Slurm through dask-jobqueue (extra [cluster])")
    where.add_argument("--serial", action="store_true", help="in this process, without Dask")


def _slurm_arguments(p: argparse.ArgumentParser) -> None:
    sl = p.add_argument_group("Slurm (with --slurm)")
    sl.add_argument("--slurm-jobs", type=int, default=2, help="most jobs at once (adaptive; default 2)")
    sl.add_argument("--slurm-cores", type=int, default=1, help="cores per job, one worker each (default 1)")
    sl.add_argument("--slurm-memory", default="2GB", help="memory per job (default 2GB)")
    sl.add_argument("--slurm-walltime", default="01:00:00", help="walltime per job (default 01:00:00)")
    sl.add_argument("--slurm-queue", help="partition")
    sl.add_argument("--slurm-account", help="account")
    sl.add_argument("--slurm-option", action="append", default=[], metavar="OPTION",
                    help="an extra #SBATCH option, e.g. --slurm-option=--nodes=1 (repeatable)")
    sl.add_argument("--slurm-host", help="address the scheduler listens on (default: this host's)")
    sl.add_argument("--slurm-log-dir", help="folder for the jobs' logs")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="teachersim", description="Agent-based simulator of teacher rotation "
                                "between schools (China's exchange and rotation policy and others).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a scenario and write results, figures and a summary")
    r.add_argument("scenario", help="scenario YAML file, or the name of a shipped one (teachersim scenarios)")
    r.add_argument("--years", type=int, help="simulated years (overrides run.years)")
    r.add_argument("--reps", type=int, help="replicates (overrides run.replicates)")
    r.add_argument("--seed", type=int, help="root seed (overrides run.seed)")
    r.add_argument("--out", help="output folder (default results/<scenario name>); an earlier run of the same "
                   "scenario there is replaced, anything else is refused")
    r.add_argument("--force", action="store_true", help="replace an earlier run there even of another scenario")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a dotted key")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)
    v = sub.add_parser("validate", help="print the resolved scenario, or the first problem in it")
    v.add_argument("scenario")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(func=cmd_validate)
    c = sub.add_parser("compare", help="run scenarios on the same paired seeds and compare them with a baseline")
    c.add_argument("scenarios", nargs="+", help="scenario YAML files (at least two)")
    c.add_argument("--reps", type=int, help="paired replicates (default 10)")
    c.add_argument("--baseline", help="the baseline: a scenario's name or file (default: the first)")
    c.add_argument("--years", type=int, help="simulated years (default: the baseline's run.years)")
    c.add_argument("--seed", type=int, help="root seed (default: the baseline's run.seed)")
    c.add_argument("--outcome", action="append", default=[], metavar="METRIC[:GROUP]",
                   help="an outcome to report (repeatable; default a headline set)")
    c.add_argument("--at", action="append", type=int, default=[], metavar="YEAR",
                   help="a year to report in the table (repeatable; default the last year)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key in every scenario")
    c.add_argument("--workers", type=int, help="run on N local worker processes (default: serially)")
    c.add_argument("--out", help="output folder (default results/compare-<names>); only an earlier comparison "
                   "of the same scenarios there is replaced")
    c.add_argument("--force", action="store_true", help="replace an earlier comparison there even of others")
    c.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_compare)
    w = sub.add_parser("sweep", help="run a sweep file serially, on local Dask, a Dask scheduler or Slurm")
    w.add_argument("sweep", help="sweep YAML file")
    w.add_argument("--out", help="output folder (default results/<sweep name>); rerun into it to resume")
    w.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key in every base, as the file's set: list (repeatable)")
    w.add_argument("--reps", type=int, help="replicates per design point (overrides the file's replicates)")
    w.add_argument("--years", type=int, help="simulated years (overrides the file's years)")
    w.add_argument("--points", type=int, help="design.points: lhs points, sobol N, morris trajectories")
    _executor_arguments(w)
    w.add_argument("--resume", action="store_true", help="the folder must hold this sweep; run only what is missing")
    w.add_argument("--dry-run", action="store_true", help="check the sweep and print its design; run nothing")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    _slurm_arguments(w)
    w.set_defaults(func=cmd_sweep)
    o = sub.add_parser("optimize", help="multi-objective policy search (NSGA-II): levers, objectives, "
                       "constraints and costs from a file (docs/optimize.md)")
    o.add_argument("optimisation", help="optimisation YAML file")
    o.add_argument("--out", help="output folder (default results/<name>); run again into it to resume")
    _executor_arguments(o)
    o.add_argument("--answer", action="store_true", help="print the cheapest policy meeting the constraints and how "
                   "it compares with the base scenario on the same seeds (a finished search is not run again)")
    o.add_argument("--quiet", action="store_true", help="no progress lines")
    _slurm_arguments(o)
    o.set_defaults(func=cmd_optimize)
    k = sub.add_parser("calibrate", help="fit scenario parameters to published targets (Optuna TPE, a Pareto "
                       "set, or ABC with pyabc) and score held-out targets")
    k.add_argument("calibration", help="calibration YAML file (docs/calibration.md)")
    k.add_argument("--out", help="output folder (default results/<name>); rerun into it to resume or add trials")
    _executor_arguments(k)
    k.add_argument("--force", action="store_true", help="replace a different calibration's folder there")
    k.add_argument("--quiet", action="store_true", help="no progress bar")
    _slurm_arguments(k)
    k.set_defaults(func=cmd_calibrate)
    a = sub.add_parser("sensitivity", help="Sobol or Morris indices of an outcome of a sweep folder")
    a.add_argument("folder", help="a sweep's result folder (sobol or morris design)")
    a.add_argument("--outcome", required=True, metavar="METRIC", help="a metric the sweep kept")
    a.add_argument("--group", help="the metric's group (default: its only group, else 'all')")
    a.add_argument("--year", type=int, help="simulated year (default: the last)")
    a.add_argument("--scenario", help="the base scenario (needed when the sweep has several)")
    a.add_argument("--no-figures", action="store_true", help="skip the PNG figure")
    a.set_defaults(func=cmd_sensitivity)
    h = sub.add_parser("report", help="write a self-contained HTML report of a run, compare, sweep, optimize or "
                       "calibrate folder (an optimize or calibrate folder's also as report.md, beside it)")
    h.add_argument("folder", help="a result folder written by run, compare, sweep, optimize or calibrate")
    h.add_argument("--out", help="the HTML file (default FOLDER/report.html; report.md beside it where written)")
    h.set_defaults(func=cmd_report)
    e = sub.add_parser("export", help="write a result folder's tables as CSV files or an Excel workbook")
    e.add_argument("folder", help="a result folder written by run, compare or sweep")
    form = e.add_mutually_exclusive_group(required=True)
    form.add_argument("--csv", action="store_true", help="FOLDER/csv/<table>.csv")
    form.add_argument("--xlsx", action="store_true", help="FOLDER/export.xlsx, one sheet per table")
    e.set_defaults(func=cmd_export)
    s = sub.add_parser("scenarios", help="list the scenario files with their descriptions")
    s.add_argument("folder", nargs="?", help="a folder of scenario files (default ./scenarios if there is one, "
                   "else the scenarios shipped with teachersim)")
    s.set_defaults(func=cmd_scenarios)
    i = sub.add_parser("init", help="copy the shipped scenarios and sweeps into a new folder, for editing")
    i.add_argument("folder", help="a new (or empty) folder")
    i.set_defaults(func=cmd_init)
    return p


_SIGNAL = {"received": None}
# what a Dask cluster torn down mid-task logs (callbacks cancelled under it): noise after an interruption
_SHUTDOWN_LOGGERS = ("tornado.application", "asyncio", "distributed")


def _on_interrupt(signum, frame) -> None:
    """Ctrl-C and SIGTERM (a cluster job's time limit, `kill`) unwind the same way, so that every
    cleanup runs (temporary files and folders, the sweep manifest, the Dask cluster); the errors a
    cluster logs while it is stopped mid-task are not shown."""
    import logging

    _SIGNAL["received"] = signum
    for name in _SHUTDOWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    raise KeyboardInterrupt


def _interrupted_code() -> int:
    import signal

    return 128 + (_SIGNAL["received"] or signal.SIGINT)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a small sample, a capped quota) as one `teachersim: warning:` line each."""
    print(f"teachersim: warning: {message}", file=sys.stderr)


def entry() -> None:
    """The `teachersim` command as a process (`python -m sim`, the console script): `main`, then
    the exit. Objects alive at the end are frozen first, so the interpreter's last collections
    skip what the operating system frees anyway: about 0.4 s of every command that imported Mesa,
    pandas and matplotlib. Exit handlers still run; `main` itself, as a notebook calls it, is
    unchanged. Pydantic's plugins are not looked for (`PYDANTIC_DISABLE_PLUGINS`, unless set):
    the search reads the entry points of every installed package when the scenario schema is
    built (about 0.02 s of each command), and the command's schema is ours alone."""
    import gc
    import os

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    code = main(process_ends=True)
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None, process_ends: bool = False) -> int:
    """The command line on `argv` (default sys.argv[1:]); its exit code. `process_ends`: the process
    exits right after (`entry`), so a command may leave what it made to the operating system."""
    import signal
    import threading
    import warnings

    shown, warnings.showwarning = warnings.showwarning, _warning_line

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_interrupt)
    _SIGNAL["received"] = None
    try:
        return _main(argv, process_ends)
    finally:
        warnings.showwarning = shown
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None, process_ends: bool = False) -> int:
    args = parser().parse_args(argv)
    args.process_ends = process_ends
    for name in ("years", "reps", "workers", "slurm_jobs", "slurm_cores"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"teachersim: --{name.replace('_', '-')}: must be at least 1, got {value}", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except BadInput as exc:
        print(f"teachersim: {exc}", file=sys.stderr)
        return 2
    except WriteFailed as exc:
        print(f"teachersim: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("teachersim: interrupted; no partial results were kept", file=sys.stderr)
        return _interrupted_code()

if __name__ == "__main__":
    sys.exit(main())
