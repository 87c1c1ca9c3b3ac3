"""Performance benchmarks of the teacher-rotation simulator.

Each case runs in a fresh Python subprocess, so imports, caches and peak memory of one case do not
leak into the next. A case goes from the scenario file to the tidy frames in memory, the way
`sim.experiment.run` does for one replicate, timed in phases:

    load    load_scenario (YAML, extends, overrides, validation), size check, replicate seed
    world   build_world: the synthetic preset and the place graph (networkx)
    init    RotationModel(..., world=world): Mesa space, School and Teacher agents, first collect
            (`agents` is the part spent in RotationModel.add_teachers: workforce rows + Teacher agents)
    steps   the yearly model.step() calls
    frames  the model's rows turned into the metrics/schools/moves DataFrames (sim.experiment code)

`total` is load + world + init + steps + frames; the interpreter start and `import sim` are reported
apart. Peak memory is the subprocess's `ru_maxrss` (whole process, imports included).

The stage profile runs one more subprocess (Beijing preset, Dongcheng 2021 policy), wraps the
functions and methods RotationModel.step calls with timers on the instance and on the modules it
looks them up in (nothing in sim/ is edited), and reports inclusive seconds per stage and year.

Usage:
    python benchmarks/run_benchmarks.py            # all four cases and the stage profile (a few minutes)
    python benchmarks/run_benchmarks.py --quick    # only the Dongcheng cases, no profile
    python benchmarks/run_benchmarks.py --json benchmarks/latest.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
PHASES = ("load", "world", "init", "steps", "frames")


@dataclass(frozen=True)
class Case:
    name: str
    preset: str
    scenario: str  # file name under scenarios/
    small: bool  # small cases are repeated (--repeats) and run with --quick


CASES = (
    Case("dongcheng / baseline_drift", "dongcheng", "baseline_drift.yaml", True),
    Case("dongcheng / dongcheng_2021", "dongcheng", "dongcheng_2021.yaml", True),
    Case("beijing / baseline_drift", "beijing", "baseline_drift.yaml", False),
    Case("beijing / dongcheng_2021", "beijing", "dongcheng_2021.yaml", False),
)
PROFILE_CASE = CASES[3]


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kilobytes)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


# ------------------------------------------------------------------------------- one case (worker)


@contextmanager
def patched(obj, name: str, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def run_case(case: Case, years: int) -> dict:
    """One case from scenario file to frames in memory; runs inside the worker subprocess."""
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd

    import sim.experiment as experiment
    import sim.model as model_mod
    from sim.model import RotationModel, stream_seed
    from sim.scenario import load_scenario
    from sim.world import build_world
    out: dict = {"import_s": time.perf_counter() - t0, "rss_mb": {"import": maxrss_mb()}}
    ph: dict[str, float] = {}
    gc_stats = {"s": 0.0, "start": 0.0, "gen2": 0}

    def on_gc(phase, info):  # time spent in the cyclic garbage collector during the case
        if phase == "start":
            gc_stats["start"] = time.perf_counter()
        else:
            gc_stats["s"] += time.perf_counter() - gc_stats["start"]
            gc_stats["gen2"] += info["generation"] == 2
    gc.callbacks.append(on_gc)

    t = time.perf_counter()
    scenario = load_scenario(SCENARIOS / case.scenario, overrides=[f"world.preset={case.preset}"])
    experiment.check_size(scenario)
    seed = experiment.replicate_seeds(scenario.run.seed, 1)[0]  # replicate 0, as run() seeds it
    ph["load"] = time.perf_counter() - t

    t = time.perf_counter()
    world = build_world(scenario.world, np.random.default_rng(stream_seed(seed, "world", 0)), scenario.source_dir)
    ph["world"] = time.perf_counter() - t
    out["rss_mb"]["world"] = maxrss_mb()

    # init, with the teacher-agent part (add_teachers) and the Mesa Network timed by wrappers
    # that are called once each, then removed
    sub = {"agents": 0.0, "space": 0.0}

    def timed(key, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            t1 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                sub[key] += time.perf_counter() - t1
        return wrapper

    t = time.perf_counter()
    with patched(RotationModel, "add_teachers", timed("agents", RotationModel.add_teachers)), \
            patched(model_mod, "Network", timed("space", model_mod.Network)):
        model = RotationModel(scenario, rng=seed, world=world)
    ph["init"] = time.perf_counter() - t
    out["init_agents_s"] = sub["agents"]
    out["init_space_s"] = sub["space"]
    out["rss_mb"]["init"] = maxrss_mb()

    per_year = []
    t = time.perf_counter()
    for _ in range(years):
        ty = time.perf_counter()
        model.step()
        per_year.append(time.perf_counter() - ty)
    ph["steps"] = time.perf_counter() - t
    out["rss_mb"]["steps"] = maxrss_mb()

    # frames: the same code run() uses (run_replicate builds them from a finished model; it is
    # handed this model and asked for 0 more years), then the concat run() does over replicates
    t = time.perf_counter()
    with patched(experiment, "RotationModel", lambda *a, **k: model):
        parts = experiment.run_replicate(scenario, 0, seed, 0)
    frames = [pd.concat([p], ignore_index=True) for p in parts]
    ph["frames"] = time.perf_counter() - t
    out["rss_mb"]["frames"] = maxrss_mb()
    gc.callbacks.remove(on_gc)
    out["gc_s"], out["gc_gen2_collections"] = gc_stats["s"], gc_stats["gen2"]

    metrics = frames[0]
    rot = metrics[(metrics["metric"] == "rotations") & (metrics["group"] == "all")]["value"].sum()
    out.update(
        phases_s=ph, total_s=sum(ph.values()), year_s=per_year, peak_rss_mb=maxrss_mb(),
        schools=model.world.n_schools, teachers_start=model.world.n_teachers,
        teachers_end=int(model.workforce.active.sum()), rotations=int(rot), moves_rows=len(frames[2]),
        metrics_rows=len(frames[0]), school_rows=len(frames[1]), years=years, seed=seed,
    )
    return out


# ---------------------------------------------------------------------------- stage profile (worker)


class StageTimer:
    """Inclusive wall time of wrapped callables, keyed by their nesting path."""

    def __init__(self):
        self.stack: list[str] = []
        self.totals: dict[tuple[str, ...], float] = {}
        self.calls: dict[tuple[str, ...], int] = {}

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def timed(*a, **k):
            self.stack.append(name)
            key = tuple(self.stack)
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.totals[key] = self.totals.get(key, 0.0) + time.perf_counter() - t0
                self.calls[key] = self.calls.get(key, 0) + 1
                self.stack.pop()
        return timed

    def take(self) -> dict[str, dict[str, float]]:
        out = {"/".join(k): {"s": v, "calls": self.calls[k]} for k, v in self.totals.items()}
        self.totals, self.calls = {}, {}
        return out


def run_profile(case: Case, years: int) -> dict:
    """Per-stage times of RotationModel.step, year by year; runs inside the worker subprocess."""
    import sim.careers as careers
    import sim.model as model_mod
    import sim.policies.rotation as rotation_mod
    from sim.model import RotationModel
    from sim.scenario import load_scenario

    scenario = load_scenario(SCENARIOS / case.scenario, overrides=[f"world.preset={case.preset}"])
    from sim.experiment import replicate_seeds
    seed = replicate_seeds(scenario.run.seed, 1)[0]
    model = RotationModel(scenario, rng=seed)
    timer = StageTimer()
    w = timer.wrap
    with ExitStack() as stack:
        def patch(obj, attr, name):
            stack.enter_context(patched(obj, attr, w(name, getattr(obj, attr))))

        # the stages, as step() calls them (module functions are looked up at call time)
        patch(model_mod, "end_terms", "1 end_terms")
        patch(model, "_careers", "2 careers")
        patch(model, "_rotate", "3 rotation")
        patch(careers, "hire", "4 hiring")
        patch(careers, "learn", "6 learn")
        patch(careers, "promote", "6 promote")
        patch(careers, "update_commute_and_satisfaction", "6 commute_satisfaction")
        patch(model, "_collect", "7-8 collect")
        # inside the stages
        for fn in ("age_one_year", "retirements", "attrition", "voluntary_drift"):
            patch(careers, fn, fn)
        patch(model_mod, "eligible_mask", "eligible_mask")
        patch(rotation_mod, "eligible_mask", "eligible_mask")
        for program in model.programs:
            patch(program.selector, "select", "select")
            patch(program.matcher, "match", "match")
        for meth in ("remove_teachers", "add_teachers", "move_teacher", "transfer_post", "_log"):
            patch(model, meth, meth)
        patch(model_mod, "school_table", "school_table")
        patch(model_mod, "year_metrics", "year_metrics")
        patch(model.datacollector, "collect", "datacollector.collect")

        per_year = []
        for _ in range(years):
            t0 = time.perf_counter()
            model.step()
            step_s = time.perf_counter() - t0
            per_year.append({"step_s": step_s, "stages": timer.take()})
    return {"case": case.name, "years": years, "seed": seed, "per_year": per_year,
            "teachers_start": model.world.n_teachers, "schools": model.world.n_schools}


def worker_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--mode", choices=("case", "profile"), default="case")
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    case = next(c for c in CASES if c.name == a.worker)
    result = run_case(case, a.years) if a.mode == "case" else run_profile(case, a.years)
    Path(a.out).write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------- driver


def spawn(case: Case, mode: str, years: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case.name, "--mode", mode,
               "--years", str(years), "--out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"benchmark worker failed: {case.name} ({mode})")
        result = json.loads(out.read_text())
    result["process_wall_s"] = wall
    return result


def median_of(runs: list[dict]) -> dict:
    med = {
        "total_s": statistics.median(r["total_s"] for r in runs),
        "total_min_s": min(r["total_s"] for r in runs),
        "total_max_s": max(r["total_s"] for r in runs),
        "phases_s": {p: statistics.median(r["phases_s"][p] for r in runs) for p in PHASES},
        "init_agents_s": statistics.median(r["init_agents_s"] for r in runs),
        "init_space_s": statistics.median(r["init_space_s"] for r in runs),
        "import_s": statistics.median(r["import_s"] for r in runs),
        "gc_s": statistics.median(r["gc_s"] for r in runs),
        "process_wall_s": statistics.median(r["process_wall_s"] for r in runs),
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "import_rss_mb": statistics.median(r["rss_mb"]["import"] for r in runs),
    }
    for key in ("schools", "teachers_start", "teachers_end", "rotations", "moves_rows"):
        med[key] = runs[0][key]
    return med


def cases_table(results: dict[str, dict]) -> str:
    head = ("| case | schools | teachers | rotations (10 y) | runs | **total s** (min–max) | load | world "
            "| init (of which teacher agents) | 10 steps | s/year | frames | **peak RSS MB** (after imports) "
            "| import s | GC s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in results.items():
        m = r["median"]
        p = m["phases_s"]
        years = r["runs"][0]["years"]
        spread = f" ({m['total_min_s']:.2f}–{m['total_max_s']:.2f})" if len(r["runs"]) > 1 else ""
        lines.append(
            f"| {name} | {m['schools']:,} | {m['teachers_start']:,} | {m['rotations']:,} | {len(r['runs'])} "
            f"| **{m['total_s']:.2f}**{spread} | {p['load']:.3f} | {p['world']:.2f} "
            f"| {p['init']:.2f} ({m['init_agents_s']:.2f}) | {p['steps']:.2f} | {p['steps'] / years:.3f} "
            f"| {p['frames']:.2f} | **{m['peak_rss_mb']:.0f}** ({m['import_rss_mb']:.0f}) | {m['import_s']:.2f} "
            f"| {m['gc_s']:.2f} |")
    return "\n".join(lines)


def profile_rows(profile: dict) -> list[tuple[str, float, float, float, float]]:
    """(path, year-1 s, mean s/year, share of step, mean calls/year) in tree order."""
    years = profile["per_year"]
    n = len(years)
    seen: dict[str, int] = {}
    for y in years:
        for path in y["stages"]:
            seen.setdefault(path, len(seen))
    top_order = sorted({p.split("/")[0] for p in seen}, key=lambda s: (s.split(" ")[0], seen[s]))

    def sort_key(path: str):
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return (top_order.index(parts[0]), *[seen.get(p, 0) for p in prefixes[1:]])

    step_total = sum(y["step_s"] for y in years)
    rows = []
    for path in sorted(seen, key=sort_key):
        tot = sum(y["stages"].get(path, {}).get("s", 0.0) for y in years)
        calls = sum(y["stages"].get(path, {}).get("calls", 0) for y in years)
        first = years[0]["stages"].get(path, {}).get("s", 0.0)
        rows.append((path, first, tot / n, tot / step_total, calls / n))
    top = [p for p in seen if "/" not in p]
    other_first = years[0]["step_s"] - sum(years[0]["stages"].get(p, {}).get("s", 0.0) for p in top)
    other_tot = step_total - sum(sum(y["stages"].get(p, {}).get("s", 0.0) for y in years) for p in top)
    rows.append(("(rest of step: Mesa step wrapper, counts)", other_first, other_tot / n, other_tot / step_total, 0))
    rows.append(("**whole step**", years[0]["step_s"], step_total / n, 1.0, 0))
    return rows


def profile_table(profile: dict) -> str:
    n = len(profile["per_year"])
    lines = [f"| stage (inclusive; indented = inside the stage above) | year 1 s | mean s/year (years 1–{n}) "
             f"| share of step | calls/year |", "|---|---|---|---|---|"]
    for path, first, mean, share, calls in profile_rows(profile):
        depth = path.count("/")
        label = "&emsp;" * depth + ("↳ " if depth else "") + path.split("/")[-1]
        calls_s = f"{calls:,.0f}" if calls else ""
        lines.append(f"| {label} | {first:.3f} | {mean:.3f} | {100 * share:.1f}% | {calls_s} |")
    return "\n".join(lines)


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "pandas", "mesa", "networkx"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    dirty = git("status", "--porcelain", "--", "sim", "scenarios")
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "sim_or_scenarios_modified": bool(dirty and dirty != "unknown"),
        "nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
        "platform": platform.platform(), "versions": versions, "loadavg_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:
        worker_main(argv)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="only the Dongcheng cases (no Beijing, no profile)")
    ap.add_argument("--json", metavar="PATH", help="write the raw figures to PATH")
    ap.add_argument("--years", type=int, default=10, help="simulated years per case (default 10)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each small case; the median is shown")
    ap.add_argument("--repeats-large", type=int, default=1, help="runs of each Beijing case (default 1)")
    ap.add_argument("--profile-years", type=int, default=10,
                    help="years of the Beijing stage profile (year 1 and the mean are shown)")
    ap.add_argument("--no-profile", action="store_true", help="skip the stage profile")
    a = ap.parse_args(argv)

    meta = machine()
    print(f"# teachersim benchmarks, {meta['date_utc']}, commit {meta['commit']}"
          f"{' (sim/ or scenarios/ modified in the working tree)' if meta['sim_or_scenarios_modified'] else ''}",
          flush=True)
    print(f"{meta['nproc']} CPUs, {meta['cpu']}, Python {meta['python']}, load average {meta['loadavg_start']}\n",
          flush=True)
    results: dict[str, dict] = {}
    for case in CASES:
        if a.quick and not case.small:
            continue
        reps = a.repeats if case.small else a.repeats_large
        runs = []
        for i in range(reps):
            print(f"  {case.name}: run {i + 1}/{reps} ...", end=" ", flush=True, file=sys.stderr)
            runs.append(spawn(case, "case", a.years))
            print(f"{runs[-1]['total_s']:.2f} s, peak RSS {runs[-1]['peak_rss_mb']:.0f} MB", file=sys.stderr)
        results[case.name] = {"case": asdict(case), "runs": runs, "median": median_of(runs)}
    print(f"## Cases ({a.years} simulated years; median of the runs)\n")
    print(cases_table(results) + "\n", flush=True)

    profile = None
    if not a.quick and not a.no_profile:
        print(f"  stage profile: {PROFILE_CASE.name}, {a.profile_years} years ...", end=" ", flush=True,
              file=sys.stderr)
        profile = spawn(PROFILE_CASE, "profile", a.profile_years)
        print("done", file=sys.stderr)
        print(f"## Stage profile of RotationModel.step ({PROFILE_CASE.name})\n")
        print(profile_table(profile) + "\n")
    meta["loadavg_end"] = os.getloadavg()
    if a.json:
        Path(a.json).write_text(json.dumps({"meta": meta, "cases": results, "profile": profile}, indent=1))
        print(f"raw figures written to {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
