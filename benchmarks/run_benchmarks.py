"""Performance benchmarks of the teacher-rotation simulator (the figures issue 7 asks for).

Every measurement runs in a fresh Python subprocess, so imports, caches, the heap and the peak-memory
counter of one run do not leak into the next.

- Cases: a scenario file run for 10 years with `sim.experiments.run.run(path, years=10, reps=1)`, the call
  a user makes, from the scenario file to the metrics (and the schools and moves frames) in memory,
  world building included. A few single-call hooks split the wall time into phases:

      load    sim.experiments.run.load_scenario (YAML, extends, overrides, validation)
      world   sim.core.model.build_world (the synthetic preset and the networkx place graph)
      init    RotationModel.__init__ minus world (Mesa space, School and Teacher agents, first
              collect); `agents` is the part spent in RotationModel.add_teachers
      steps   the yearly RotationModel.step calls
      frames  the rest of run(): frames built from the finished model, concat, size check, seeds

  `total` is the wall time of the run() call. `process` is the whole subprocess (interpreter start,
  `import sim.experiments.run`, the run). Peak RSS is the subprocess's ru_maxrss (imports included).
- Scaling: beijing_2022_citywide with `world.scale = n / 120000` for n = 10k, 40k, 120k, 240k teachers
  (the 120k point reuses the target case's runs, the same configuration); a least-squares fit of
  log(time per simulated year) on log(teachers) gives the exponent.
- Command line: `teachersim --help`, `teachersim validate scenarios/dongcheng_2021.yaml`,
  `python -c "import sim"` (and, for reference, `python -c pass` and `import sim.experiments.run`), wall time
  of the subprocess, and which heavy libraries each command loads.
- Stage profile: one more subprocess runs beijing_2022_citywide year by year with timers wrapped
  around what RotationModel.step calls. Nothing in sim/ is edited and the list of wrapped names is not
  hard-coded: it is read from the source of `step` (ast), and then, level by level, from the source of
  each function it calls (methods of the model and of the objects it holds, functions of sim modules,
  constructors of sim classes). Stage numbers and titles come from the `# N` comments in `step` and its
  docstring. The profile fails loudly when `step` calls a method the model does not have, or when a
  stage it calls was never run.

Usage:
    python benchmarks/run_benchmarks.py            # everything (a few minutes), Markdown on stdout
    python benchmarks/run_benchmarks.py --quick    # Dongcheng cases and the command-line timings only
    python benchmarks/run_benchmarks.py --json benchmarks/latest.json   # also save the raw figures
"""

from __future__ import annotations

import argparse
import ast
import builtins
import datetime as dt
import functools
import gc
import inspect
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import types
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
PHASES = ("load", "world", "init", "steps", "frames")
NOMINAL_TEACHERS = 120_000  # beijing preset at world.scale = 1 (about 120,000 teachers)
SCALING_SIZES = (10_000, 40_000, 120_000, 240_000)
HEAVY_MODULES = ("seaborn", "dask", "pyarrow", "matplotlib", "mesa", "pandas", "scipy", "networkx", "tqdm",
                 "pydantic", "numpy", "yaml")
TARGETS = {  # issue 7
    "beijing_total_s": 5.0, "beijing_peak_mb": 1024.0, "exponent": 1.15, "dongcheng_total_s": 0.5,
    "cli_well_under_s": 0.5, "cli_under_s": 1.0,
}


@dataclass(frozen=True)
class Case:
    name: str
    preset: str
    scenario: str  # file name under scenarios/
    kind: str  # "small" (--repeats, run with --quick), "large" (--repeats-large), "scaling" (--repeats-scaling)
    scale: float | None = None
    overrides: tuple[str, ...] = field(default=())

    def all_overrides(self) -> list[str]:
        out = [f"world.preset={self.preset}", *self.overrides]
        if self.scale is not None:
            out.append(f"world.scale={self.scale!r}")
        return out


TARGET_CASE = Case("beijing / beijing_2022_citywide", "beijing", "beijing_2022_citywide.yaml", "large")
CASES = (
    TARGET_CASE,
    Case("dongcheng / dongcheng_2021", "dongcheng", "dongcheng_2021.yaml", "small"),
    Case("dongcheng / baseline_drift", "dongcheng", "baseline_drift.yaml", "small"),
    Case("beijing / baseline_drift", "beijing", "baseline_drift.yaml", "large"),
)
PROFILE_CASE = TARGET_CASE


def scaling_case(n: int) -> Case:
    scale = n / NOMINAL_TEACHERS
    if math.isclose(scale, 1.0):
        return TARGET_CASE
    return Case(f"beijing_2022_citywide @ {n // 1000}k", "beijing", "beijing_2022_citywide.yaml", "scaling",
                round(scale, 6))


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kilobytes)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


@contextmanager
def swap(obj, name: str, value):
    """Set obj.name to value for the duration; put back exactly what was there (or nothing)."""
    own = vars(obj)
    had = name in own
    old = own.get(name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if had:
            setattr(obj, name, old)
        else:
            delattr(obj, name)


def need_attr(obj, name: str, where: str):
    """getattr that fails loudly, naming the hook that no longer fits the code."""
    if not hasattr(obj, name):
        raise SystemExit(f"benchmark hook: {where} has no attribute {name!r} any more; update benchmarks/")
    return getattr(obj, name)


# ------------------------------------------------------------------------------- one case (worker)


def run_case(case: Case, years: int) -> dict:
    """One run of `sim.experiments.run.run` from the scenario file, timed by phase; runs in the worker."""
    t0 = time.perf_counter()
    import sim.core.model as model_mod
    import sim.experiments.run as experiment
    out: dict = {"import_s": time.perf_counter() - t0, "rss_mb": {"import": maxrss_mb()}}
    RotationModel = need_attr(model_mod, "RotationModel", "sim.core.model")
    ph = dict.fromkeys(("load", "world", "init_all", "agents", "steps", "moves"), 0.0)
    calls = dict.fromkeys(ph, 0)
    state = {"in_init": False}
    info: dict = {"year_s": []}

    def timed(key, fn, before=None, after=None):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            if before:
                before(*a)
            t1 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                d = time.perf_counter() - t1
                if key != "agents" or state["in_init"]:
                    ph[key] += d
                    calls[key] += 1
                if after:
                    after(d, *a)
        return wrapper

    def init_before(model, *a):
        state["in_init"] = True

    def init_after(d, model, *a):
        state["in_init"] = False
        info.update(schools=model.world.n_schools, teachers_start=model.world.n_teachers)
        out["rss_mb"]["init"] = maxrss_mb()

    def step_after(d, model):
        info["year_s"].append(d)
        info["teachers_end"] = int(model.workforce.active.sum())
        out["rss_mb"]["steps"] = maxrss_mb()

    gc_stats = {"s": 0.0, "start": 0.0, "gen2": 0}

    def on_gc(phase, gc_info):  # time spent in the cyclic garbage collector during the run
        if phase == "start":
            gc_stats["start"] = time.perf_counter()
        else:
            gc_stats["s"] += time.perf_counter() - gc_stats["start"]
            gc_stats["gen2"] += gc_info["generation"] == 2

    with ExitStack() as st:
        st.enter_context(swap(experiment, "load_scenario", timed(
            "load", need_attr(experiment, "load_scenario", "sim.experiments.run"))))
        st.enter_context(swap(model_mod, "build_world", timed(
            "world", need_attr(model_mod, "build_world", "sim.core.model"))))
        st.enter_context(swap(RotationModel, "__init__", timed(
            "init_all", RotationModel.__init__, before=init_before, after=init_after)))
        st.enter_context(swap(RotationModel, "add_teachers", timed(
            "agents", need_attr(RotationModel, "add_teachers", "RotationModel"))))
        # Mesa keeps the bound `step` it finds at __init__, so the class attribute is swapped first
        st.enter_context(swap(RotationModel, "step", timed("steps", RotationModel.step, after=step_after)))
        # a detail of the frames phase, where the code has it: the move log materialised as tuples
        moves_prop = inspect.getattr_static(RotationModel, "moves", None)
        if isinstance(moves_prop, property):
            st.enter_context(swap(RotationModel, "moves", property(timed("moves", moves_prop.fget))))
        gc.callbacks.append(on_gc)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        result = experiment.run(SCENARIOS / case.scenario, years=years, reps=1, overrides=tuple(case.all_overrides()))
        total = time.perf_counter() - t
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        gc.callbacks.remove(on_gc)
    expected = {"load": 1, "world": 1, "init_all": 1, "steps": years}
    wrong = {k: calls[k] for k, v in expected.items() if calls[k] != v}
    if wrong:
        raise SystemExit(f"benchmark hooks called {wrong} times, expected {expected}: sim.experiments.run.run or "
                         "RotationModel changed how a run is put together; update run_case in benchmarks/")
    phases = {"load": ph["load"], "world": ph["world"], "init": ph["init_all"] - ph["world"], "steps": ph["steps"]}
    phases["frames"] = total - sum(phases.values())
    m = result.metrics
    rot = m[(m["metric"] == "rotations") & (m["group"] == "all")]["value"].sum()
    out.update(
        phases_s=phases, total_s=total, init_agents_s=ph["agents"], year_s=info["year_s"],
        cpu_s=(cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        frames_moves_s=ph["moves"] if calls["moves"] else None,
        peak_rss_mb=maxrss_mb(), gc_s=gc_stats["s"], gc_gen2_collections=gc_stats["gen2"],
        schools=info["schools"], teachers_start=info["teachers_start"], teachers_end=info["teachers_end"],
        rotations=int(rot), moves_rows=len(result.moves), metrics_rows=len(result.metrics),
        school_rows=len(result.schools), years=years, seed=result.seeds[0], overrides=case.all_overrides(),
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
            if self.stack and self.stack[-1] == name:  # recursion, or one callable reached two ways
                return fn(*a, **k)
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


class Sym:
    """An instance of a sim class known only by its type (built inside the function being read)."""

    def __init__(self, cls: type):
        self.cls = cls


def is_sim(obj) -> bool:
    mod = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None) or ""
    return mod == "sim" or mod.startswith("sim.")


def function_def(fn) -> ast.FunctionDef | None:
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    node = ast.parse(src).body[0]
    return node if isinstance(node, ast.FunctionDef) else None


class StepIntrospector:
    """Finds what RotationModel.step calls, level by level, and wraps each callable with a timer."""

    def __init__(self, timer: StageTimer, stack: ExitStack, max_depth: int):
        self.timer = timer
        self.stack = stack
        self.max_depth = max_depth
        self.done: dict[tuple[int, str], str] = {}  # (id(owner), attr) -> label
        self.top: list[dict] = []  # the stages: label, stage number, title

    # ---- reading expressions

    def evaluate(self, node, env: dict, glb: dict) -> list:
        """What an expression may refer to, as far as it can be known without running it."""
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            return [glb[node.id]] if node.id in glb else []
        if isinstance(node, ast.Attribute):
            out = []
            for base in self.evaluate(node.value, env, glb):
                if isinstance(base, Sym):
                    v = inspect.getattr_static(base.cls, node.attr, None)
                    if v is not None:
                        out.append(v)
                    continue
                static = inspect.getattr_static(base if isinstance(base, type) else type(base), node.attr, None)
                if isinstance(static, property):
                    continue  # never run a property just to read the code (it could be costly)
                try:
                    out.append(getattr(base, node.attr))
                except Exception:  # noqa: BLE001 - an attribute set later in the run; nothing to wrap
                    pass
            return out
        if isinstance(node, ast.Call):
            return [Sym(c) for c in self.evaluate(node.func, env, glb) if isinstance(c, type) and is_sim(c)]
        return []

    def bind(self, fdef: ast.FunctionDef, fn_obj, env: dict) -> dict:
        """Local names that can be known: parameters given, then simple assignments and for-loops."""
        glb = getattr(inspect.unwrap(fn_obj), "__globals__", {})
        for _ in range(2):  # twice: an assignment may use a name bound further down in a loop
            for node in sorted((n for n in ast.walk(fdef) if isinstance(n, (ast.Assign, ast.For))),
                               key=lambda n: (n.lineno, n.col_offset)):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    vals = self.evaluate(node.value, env, glb)
                    if vals:
                        env[node.targets[0].id] = vals
                elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                    items = [x for v in self.evaluate(node.iter, env, glb) if isinstance(v, (list, tuple)) for x in v]
                    if items:
                        env[node.target.id] = items
        return env

    # ---- wrapping

    def targets(self, call: ast.Call, env: dict, glb: dict, strict: bool) -> list[tuple]:
        """(owner, attr, original callable, label, self binding) for each sim callable a call may reach."""
        f = call.func
        out = []
        if isinstance(f, ast.Name):
            if f.id in env:
                return []
            if f.id not in glb:
                if strict and not hasattr(builtins, f.id):
                    raise SystemExit(f"stage profile: RotationModel.step calls {f.id}(), which is not defined")
                return []
            v = inspect.unwrap(glb[f.id])
            owner = sys.modules[glb["__name__"]]
            if isinstance(v, types.FunctionType) and is_sim(v):
                out.append((owner, f.id, v, f"{v.__module__.rsplit('.', 1)[-1]}.{v.__qualname__}", None))
            elif isinstance(v, type) and is_sim(v) and "__init__" in v.__dict__:
                out.append((v, "__init__", v.__dict__["__init__"], f"{v.__name__}()", Sym(v)))
            return out
        if not isinstance(f, ast.Attribute):
            return []
        bases = self.evaluate(f.value, env, glb)
        if strict and isinstance(f.value, ast.Name) and f.value.id == "self":
            for b in bases:
                if not hasattr(b, f.attr):
                    raise SystemExit(f"stage profile: RotationModel.step calls self.{f.attr}(), which the model "
                                     "does not have")
        for base in bases:
            if isinstance(base, types.ModuleType):
                if strict and not hasattr(base, f.attr):
                    raise SystemExit(f"stage profile: RotationModel.step calls {base.__name__}.{f.attr}(), which "
                                     "does not exist")
                v = inspect.unwrap(getattr(base, f.attr, None))
                if is_sim(base) and isinstance(v, types.FunctionType):
                    out.append((base, f.attr, v, f"{base.__name__.rsplit('.', 1)[-1]}.{f.attr}", None))
                continue
            cls = base.cls if isinstance(base, Sym) else base if isinstance(base, type) else type(base)
            static = inspect.getattr_static(cls, f.attr, None)
            static = inspect.unwrap(static) if isinstance(static, types.FunctionType) else static
            if not isinstance(static, types.FunctionType) or not is_sim(static):
                continue
            label = f"{cls.__name__}.{f.attr}"
            cfg_name = getattr(getattr(base, "config", None), "name", None)
            if len(bases) > 1 and not isinstance(base, (Sym, type)) and isinstance(cfg_name, str):
                label += f"[{cfg_name}]"  # one of several objects in a loop, e.g. a rotation program
            owner = base if not isinstance(base, (Sym, type)) else cls
            out.append((owner, f.attr, static, label, base if not isinstance(base, type) else Sym(cls)))
        return out

    def install(self, owner, attr: str, original, label: str, self_obj) -> bool:
        key = (id(owner), attr)
        if key in self.done:
            return False
        self.done[key] = label
        if isinstance(owner, type) or isinstance(owner, types.ModuleType):
            current = owner.__dict__.get(attr, original) if isinstance(owner, type) else getattr(owner, attr)
            self.stack.enter_context(swap(owner, attr, self.timer.wrap(label, current)))
        else:  # an instance: wrap its bound method on the instance only
            self.stack.enter_context(swap(owner, attr, self.timer.wrap(label, getattr(owner, attr))))
        return True

    def descend(self, fn, env: dict, depth: int) -> None:
        """Wrap what `fn` calls (depth levels below step), then what those call, up to max_depth."""
        if depth > self.max_depth:
            return
        fdef = function_def(fn)
        if fdef is None:
            return
        glb = getattr(fn, "__globals__", {})
        env = self.bind(fdef, fn, env)
        for call in sorted((n for n in ast.walk(fdef) if isinstance(n, ast.Call)),
                           key=lambda n: (n.lineno, n.col_offset)):
            for owner, attr, original, label, self_obj in self.targets(call, env, glb, strict=False):
                if self.install(owner, attr, original, label, self_obj):
                    self.descend(original, self.callee_env(original, call, env, glb, self_obj), depth + 1)

    def callee_env(self, fn, call: ast.Call, env: dict, glb: dict, self_obj) -> dict:
        """The callee's parameters bound to what the caller passes, where that is known."""
        fdef = function_def(fn)
        if fdef is None:
            return {}
        params = [a.arg for a in fdef.args.posonlyargs + fdef.args.args]
        out: dict = {}
        if self_obj is not None and params:
            out[params[0]] = [self_obj]
            params = params[1:]
        for p, arg in zip(params, call.args, strict=False):
            vals = self.evaluate(arg, env, glb)
            if vals:
                out[p] = vals
        for kw in call.keywords:
            vals = self.evaluate(kw.value, env, glb) if kw.arg else []
            if vals:
                out[kw.arg] = vals
        return out

    def stages(self, model) -> None:
        """Read RotationModel.step: wrap each call it makes, numbered by the `# N` comment of its line."""
        cls = type(model)
        step = inspect.unwrap(cls.step)
        fdef = function_def(step)
        if fdef is None:
            raise SystemExit("stage profile: cannot read the source of RotationModel.step")
        src_lines = textwrap.dedent(inspect.getsource(step)).splitlines()
        titles = {}
        for line in (inspect.getdoc(step) or "").splitlines():
            mt = re.match(r"\s*(\d+)\.\s+(.*)", line)
            if mt:  # "3. Rotation: each program ..." -> "Rotation"; without a colon, the first word
                text = mt.group(2)
                titles[mt.group(1)] = text.split(":")[0].strip() if ":" in text else text.split()[0]
        glb = step.__globals__
        env = self.bind(fdef, step, {"self": [model]})
        current = "?"
        for stmt in fdef.body:
            for ln in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1):
                mc = re.search(r"#\s*([\d][\d ,\-–]*)\s*$", src_lines[ln - 1])
                if mc:
                    current = mc.group(1).strip()
            for call in sorted((n for n in ast.walk(stmt) if isinstance(n, ast.Call)),
                               key=lambda n: (n.lineno, n.col_offset)):
                for owner, attr, original, label, self_obj in self.targets(call, env, glb, strict=True):
                    nums = re.findall(r"\d+", current)
                    title = ", ".join(titles.get(n, "") for n in nums if titles.get(n))
                    stage_label = f"{current} {label}"
                    if self.install(owner, attr, original, stage_label, self_obj):
                        self.top.append({"path": stage_label, "stage": current, "title": title, "function": label})
                        self.descend(original, self.callee_env(original, call, env, glb, self_obj), 2)
        if not self.top:
            raise SystemExit("stage profile: found no sim calls in RotationModel.step")


def wrapper_overhead_s(n: int = 200_000) -> float:
    """Seconds a StageTimer wrapper adds to one call (measured on a no-op, best of 3)."""
    def noop():
        return None

    timer = StageTimer()
    wrapped = timer.wrap("noop", noop)
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            noop()
        plain = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(n):
            wrapped()
        best = min(best, (time.perf_counter() - t - plain) / n)
    return max(best, 0.0)


def run_profile(case: Case, years: int, depth: int) -> dict:
    """Per-stage times of RotationModel.step, year by year; runs inside the worker subprocess."""
    import sim.experiments.run as experiment
    from sim.config.scenario import load_scenario
    from sim.core.model import RotationModel

    scenario = load_scenario(SCENARIOS / case.scenario, overrides=case.all_overrides())
    seed = experiment.replicate_seeds(scenario.run.seed, 1)[0]  # replicate 0, as run() seeds it
    model = RotationModel(scenario, rng=seed)
    timer = StageTimer()
    per_year = []
    with ExitStack() as stack:
        intro = StepIntrospector(timer, stack, depth)
        intro.stages(model)
        wrapped = sorted(set(intro.done.values()))
        for _ in range(years):
            t0 = time.perf_counter()
            model.step()
            step_s = time.perf_counter() - t0
            per_year.append({"step_s": step_s, "stages": timer.take()})
    never = [s["path"] for s in intro.top if not any(s["path"] in y["stages"] for y in per_year)]
    if never:
        raise SystemExit(f"stage profile: RotationModel.step never ran {never}; the wrappers no longer fit step()")
    return {"case": case.name, "years": years, "seed": seed, "per_year": per_year, "stages": intro.top,
            "wrapped": wrapped, "depth": depth, "wrapper_overhead_s": wrapper_overhead_s(),
            "teachers_start": model.world.n_teachers, "schools": model.world.n_schools}


def worker_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True, help="the case, as JSON")
    ap.add_argument("--mode", choices=("case", "profile"), default="case")
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    spec = json.loads(a.worker)
    case = Case(**{**spec, "overrides": tuple(spec["overrides"])})
    result = run_case(case, a.years) if a.mode == "case" else run_profile(case, a.years, a.depth)
    Path(a.out).write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------- driver


def spawn(case: Case, mode: str, years: int, depth: int = 4) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(asdict(case)), "--mode", mode,
               "--years", str(years), "--depth", str(depth), "--out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"benchmark worker failed: {case.name} ({mode})")
        result = json.loads(out.read_text())
    result["process_wall_s"] = wall
    return result


def run_repeated(case: Case, reps: int, years: int) -> dict:
    runs = []
    for i in range(reps):
        print(f"  {case.name}: run {i + 1}/{reps} ...", end=" ", flush=True, file=sys.stderr)
        runs.append(spawn(case, "case", years))
        r = runs[-1]
        print(f"{r['total_s']:.2f} s (steps {r['phases_s']['steps']:.2f} s), process {r['process_wall_s']:.2f} s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['teachers_start']:,} teachers", file=sys.stderr)
    return {"case": asdict(case), "runs": runs, "median": median_of(runs)}


def median_of(runs: list[dict]) -> dict:
    med = statistics.median
    out = {
        "total_s": med(r["total_s"] for r in runs),
        "total_min_s": min(r["total_s"] for r in runs),
        "total_max_s": max(r["total_s"] for r in runs),
        "phases_s": {p: med(r["phases_s"][p] for r in runs) for p in PHASES},
        "year_s": med(r["phases_s"]["steps"] / r["years"] for r in runs),
        "init_agents_s": med(r["init_agents_s"] for r in runs),
        "cpu_s": med(r["cpu_s"] for r in runs),
        "frames_moves_s": med(r["frames_moves_s"] for r in runs) if runs[0]["frames_moves_s"] is not None else None,
        "import_s": med(r["import_s"] for r in runs),
        "gc_s": med(r["gc_s"] for r in runs),
        "process_wall_s": med(r["process_wall_s"] for r in runs),
        "peak_rss_mb": med(r["peak_rss_mb"] for r in runs),
        "peak_rss_max_mb": max(r["peak_rss_mb"] for r in runs),
        "import_rss_mb": med(r["rss_mb"]["import"] for r in runs),
    }
    for key in ("schools", "teachers_start", "teachers_end", "rotations", "moves_rows", "years"):
        out[key] = runs[0][key]
    return out


def time_commands(reps: int) -> dict:
    """Wall time of the command-line entry points, each a fresh subprocess (round robin, median)."""
    exe = Path(sys.executable).with_name("teachersim")
    if not exe.exists():
        found = shutil.which("teachersim")
        if not found:
            raise SystemExit("teachersim is not installed next to this python nor on PATH")
        exe = Path(found)
    py = sys.executable
    cmds = {
        "python -c pass (interpreter only)": [py, "-c", "pass"],
        'python -c "import sim"': [py, "-c", "import sim"],
        "teachersim --help": [str(exe), "--help"],
        "teachersim validate scenarios/dongcheng_2021.yaml": [str(exe), "validate", "scenarios/dongcheng_2021.yaml"],
        'python -c "import sim.experiments.run"': [py, "-c", "import sim.experiments.run"],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(reps):
        print(f"  command-line timings: round {i + 1}/{reps}", file=sys.stderr, flush=True)
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            times[name].append(time.perf_counter() - t0)
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout + proc.stderr)
                raise SystemExit(f"command failed: {name}")
    probe = ("import json, sys\nfrom sim.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             f"mods = {HEAVY_MODULES!r}\n"
             "sys.__stderr__.write(json.dumps([m for m in mods if m in sys.modules]))\n")
    loaded = {}
    validate = "teachersim validate scenarios/dongcheng_2021.yaml"
    for name, argv in (("teachersim --help", ["--help"]), (validate, ["validate", "scenarios/dongcheng_2021.yaml"]),
                       ('python -c "import sim"', "sim"),
                       ('python -c "import sim.experiments.run"', "sim.experiments.run")):
        code = probe if isinstance(argv, list) else (
            f"import json, sys\nimport {argv}\nmods = {HEAVY_MODULES!r}\n"
            "sys.stderr.write(json.dumps([m for m in mods if m in sys.modules]))")
        argv = argv if isinstance(argv, list) else []
        proc = subprocess.run([py, "-c", code, *(argv or [])], cwd=ROOT, capture_output=True, text=True)
        loaded[name] = json.loads(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else []
    return {"runs": times, "median_s": {k: statistics.median(v) for k, v in times.items()},
            "min_s": {k: min(v) for k, v in times.items()}, "max_s": {k: max(v) for k, v in times.items()},
            "loaded": loaded}


REFERENCE_CODE = """\
import json, time
import mesa
import numpy as np
t = time.perf_counter()
model = mesa.Model(rng=0)
for _ in range(120_000):
    mesa.Agent(model)
agents = time.perf_counter() - t
t = time.perf_counter()
np.sort(np.random.default_rng(0).random(4_000_000))
print(json.dumps({"mesa_agents_s": agents, "numpy_sort_s": time.perf_counter() - t}))
"""


def reference_workload(reps: int) -> dict:
    """How fast the machine is right now: a fixed workload in fresh processes (creating 120,000
    plain Mesa agents, the yardstick issue 7 quotes at 1-2 s, and sorting 4 million floats).
    This machine's speed drifts by half or more over minutes, so each benchmark run measures it
    at its start and end; ratios to it compare runs made at different times."""
    runs = []
    for _ in range(reps):
        proc = subprocess.run([sys.executable, "-c", REFERENCE_CODE], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit("reference workload failed")
        runs.append(json.loads(proc.stdout))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": runs}


def reference_text(reference: dict, results: dict[str, dict]) -> str:
    start, end = reference["start"], reference["end"]
    text = (f"Machine speed during this run (fresh processes, median): creating 120,000 plain Mesa agents took "
            f"{start['mesa_agents_s']:.2f} s at the start and {end['mesa_agents_s']:.2f} s at the end (issue 7 quotes "
            f"1-2 s); sorting 4 million floats {start['numpy_sort_s']:.2f} s and {end['numpy_sort_s']:.2f} s.")
    target = results.get(TARGET_CASE.name)
    if target:
        unit = (start["mesa_agents_s"] + end["mesa_agents_s"]) / 2
        text += (f" The Beijing run took {target['median']['total_s'] / unit:.1f} times as long as creating the "
                 "120,000 agents.")
    return text


def fit_exponent(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares fit of log(time) = a + b log(teachers): returns (b, a)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return b, my - b * mx


def scaling_summary(results: dict[int, dict]) -> dict:
    pts_year = [(r["median"]["teachers_start"], r["median"]["year_s"]) for r in results.values()]
    pts_total = [(r["median"]["teachers_start"], r["median"]["total_s"]) for r in results.values()]
    b_year, a_year = fit_exponent(pts_year)
    b_total, a_total = fit_exponent(pts_total)
    local = [math.log(t2 / t1) / math.log(n2 / n1) for (n1, t1), (n2, t2) in zip(pts_year, pts_year[1:], strict=False)]
    return {"points_year": pts_year, "points_total": pts_total, "exponent_year": b_year, "intercept_year": a_year,
            "exponent_total": b_total, "intercept_total": a_total, "local_exponents_year": local}


def plot_scaling(results: dict[int, dict], summ: dict, path: Path, meta: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    for r in results.values():
        xs = [x["teachers_start"] for x in r["runs"]]
        ax.scatter(xs, [x["phases_s"]["steps"] / x["years"] for x in r["runs"]], s=12, color="tab:blue", alpha=0.35)
    ns = [n for n, _ in summ["points_year"]]
    ax.plot(ns, [t for _, t in summ["points_year"]], "o", color="tab:blue", label="time per simulated year (median)")
    grid = [min(ns) * 0.9, max(ns) * 1.1]
    b, a = summ["exponent_year"], summ["intercept_year"]
    ax.plot(grid, [math.exp(a) * g ** b for g in grid], "-", color="tab:blue",
            label=f"least-squares fit: time ∝ teachers^{b:.2f}")
    n0, t0 = summ["points_year"][0]
    ax.plot(grid, [t0 * g / n0 for g in grid], ":", color="grey", label="linear (exponent 1) through the first point")
    ax.plot(grid, [t0 * (g / n0) ** TARGETS["exponent"] for g in grid], "--", color="tab:red", lw=0.8,
            label=f"target bound (exponent {TARGETS['exponent']})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("teachers at the start of the run")
    ax.set_ylabel("seconds per simulated year (steps only)")
    ax.set_title(f"beijing_2022_citywide, {meta['date_utc']}, commit {meta['commit']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ tables


def cases_table(results: dict[str, dict]) -> str:
    head = ("| case | schools | teachers | rotations (10 y) | runs | **total s** (min–max) | load | world "
            "| init (teacher agents) | steps | s/year | frames (`model.moves`) | CPU s | process s "
            "| **peak RSS MB** (after imports) | import s | GC s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in results.items():
        m = r["median"]
        p = m["phases_s"]
        spread = f" ({m['total_min_s']:.2f}–{m['total_max_s']:.2f})" if len(r["runs"]) > 1 else ""
        mv = f" ({m['frames_moves_s']:.2f})" if m["frames_moves_s"] is not None else ""
        lines.append(
            f"| {name} | {m['schools']:,} | {m['teachers_start']:,} | {m['rotations']:,} | {len(r['runs'])} "
            f"| **{m['total_s']:.2f}**{spread} | {p['load']:.3f} | {p['world']:.2f} "
            f"| {p['init']:.2f} ({m['init_agents_s']:.2f}) | {p['steps']:.2f} | {m['year_s']:.3f} "
            f"| {p['frames']:.2f}{mv} | {m['cpu_s']:.2f} | {m['process_wall_s']:.2f} "
            f"| **{m['peak_rss_mb']:.0f}** ({m['import_rss_mb']:.0f}) "
            f"| {m['import_s']:.2f} | {m['gc_s']:.2f} |")
    return "\n".join(lines)


def scaling_table(results: dict[int, dict], summ: dict) -> str:
    lines = ["| nominal teachers | world.scale | schools | teachers (actual) | runs | s/year (steps) "
             "| local exponent from the size before | whole run s | peak RSS MB |", "|---" * 9 + "|"]
    local = [""] + [f"{x:.2f}" for x in summ["local_exponents_year"]]
    for (n, r), loc in zip(results.items(), local, strict=True):
        m = r["median"]
        lines.append(f"| {n:,} | {n / NOMINAL_TEACHERS:.4g} | {m['schools']:,} | {m['teachers_start']:,} "
                     f"| {len(r['runs'])} | {m['year_s']:.3f} | {loc} | {m['total_s']:.2f} | {m['peak_rss_mb']:.0f} |")
    lines.append("")
    lines.append(f"Fitted exponent (least squares, log time on log teachers, medians): **{summ['exponent_year']:.2f}** "
                 f"for time per simulated year; {summ['exponent_total']:.2f} for the whole run (world and "
                 "init included).")
    return "\n".join(lines)


def commands_table(cli: dict) -> str:
    lines = ["| command | median s (min–max) | heavy libraries loaded |", "|---|---|---|"]
    for name, v in cli["median_s"].items():
        loaded = cli["loaded"].get(name)
        libs = ", ".join(loaded) if loaded else ("none of them" if loaded is not None else "")
        lines.append(f"| `{name}` | {v:.2f} ({cli['min_s'][name]:.2f}–{cli['max_s'][name]:.2f}) | {libs} |")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def targets_table(results: dict[str, dict], summ: dict | None, cli: dict | None) -> str:
    lines = ["| target (issue 7) | measured (median) | |", "|---|---|---|"]
    big = results.get(TARGET_CASE.name)
    if big:
        m = big["median"]
        lines.append(f"| beijing + beijing_2022_citywide, 10 years, scenario file → metrics, world included: "
                     f"< {TARGETS['beijing_total_s']:.0f} s | {m['total_s']:.2f} s in the process "
                     f"({m['total_min_s']:.2f}–{m['total_max_s']:.2f}); {m['process_wall_s']:.2f} s with interpreter "
                     f"start and imports | {verdict(m['total_s'] < TARGETS['beijing_total_s'])} |")
        lines.append(f"| same run: peak memory < 1 GB | {m['peak_rss_mb']:.0f} MB peak RSS (max of runs "
                     f"{m['peak_rss_max_mb']:.0f} MB) | {verdict(m['peak_rss_max_mb'] < TARGETS['beijing_peak_mb'])} |")
    if summ:
        lines.append(f"| cost linear in teachers: fitted exponent at 10k–240k ≤ {TARGETS['exponent']} "
                     f"| {summ['exponent_year']:.2f} per simulated year ({summ['exponent_total']:.2f} whole run; "
                     f"{summ['local_exponents_year'][-1]:.2f} between the two largest sizes) "
                     f"| {verdict(summ['exponent_year'] <= TARGETS['exponent'])} |")
    small = results.get("dongcheng / dongcheng_2021")
    if small:
        m = small["median"]
        lines.append(f"| dongcheng_2021, 10 years: < {TARGETS['dongcheng_total_s']} s | {m['total_s']:.2f} s in the "
                     f"process ({m['total_min_s']:.2f}–{m['total_max_s']:.2f}); {m['process_wall_s']:.2f} s with "
                     f"interpreter start and imports | {verdict(m['total_s'] < TARGETS['dongcheng_total_s'])} |")
    if cli:
        for name in ("teachersim --help", "teachersim validate scenarios/dongcheng_2021.yaml"):
            v = cli["median_s"][name]
            word = verdict(v < TARGETS["cli_well_under_s"]) if v < TARGETS["cli_well_under_s"] or \
                v >= TARGETS["cli_under_s"] else "under 1 s, **not well under** (> 0.5 s)"
            lines.append(f"| `{name}` well under 1 s (read here as < {TARGETS['cli_well_under_s']} s) | {v:.2f} s "
                         f"| {word} |")
    return "\n".join(lines)


def profile_rows(profile: dict) -> list[dict]:
    """Rows in tree order: path, stage, year-1 s, mean s/year, share of step, mean calls/year."""
    years = profile["per_year"]
    n = len(years)
    seen: dict[str, int] = {}
    for y in years:
        for path in y["stages"]:
            seen.setdefault(path, len(seen))
    top = [s["path"] for s in profile["stages"]]
    children: dict[str, list[str]] = {}
    for path in seen:
        if "/" in path:
            children.setdefault(path.rsplit("/", 1)[0], []).append(path)
    step_total = sum(y["step_s"] for y in years)

    def row(path: str) -> dict:
        tot = sum(y["stages"].get(path, {}).get("s", 0.0) for y in years)
        calls = sum(y["stages"].get(path, {}).get("calls", 0) for y in years)
        return {"path": path, "depth": path.count("/"), "year1_s": years[0]["stages"].get(path, {}).get("s", 0.0),
                "mean_s": tot / n, "share": tot / step_total if step_total else 0.0, "calls": calls / n}

    rows = []

    def visit(path: str) -> None:
        rows.append(row(path))
        for c in sorted(children.get(path, []), key=lambda p: seen[p]):
            visit(c)

    for t in top:
        visit(t)
    first = years[0]["step_s"] - sum(years[0]["stages"].get(p, {}).get("s", 0.0) for p in top)
    rest = step_total - sum(sum(y["stages"].get(p, {}).get("s", 0.0) for y in years) for p in top)
    rows.append({"path": "(rest of step: Mesa's step wrapper, counts)", "depth": 0, "year1_s": first,
                 "mean_s": rest / n, "share": rest / step_total if step_total else 0.0, "calls": 0})
    rows.append({"path": "**whole step**", "depth": 0, "year1_s": years[0]["step_s"], "mean_s": step_total / n,
                 "share": 1.0, "calls": 0})
    return rows


def profile_table(profile: dict, min_share: float) -> str:
    n = len(profile["per_year"])
    titles = {s["path"]: f"{s['stage']} {s['title']}".strip() for s in profile["stages"]}
    functions = {s["path"]: s["function"] for s in profile["stages"]}
    lines = [f"| stage | function (inclusive; indented = called inside the row above) | year 1 s "
             f"| mean s/year (years 1–{n}) | share of step | calls/year |", "|---|---|---|---|---|---|"]
    hidden = 0
    for r in profile_rows(profile):
        if r["depth"] > 0 and r["share"] < min_share:
            hidden += 1
            continue
        name = functions.get(r["path"], r["path"].split("/")[-1])
        stage = titles.get(r["path"], "")
        if r["path"] in titles or r["depth"]:
            label = "&emsp;" * r["depth"] + ("↳ " if r["depth"] else "") + f"`{name}`"
        else:
            label = name  # the rest of the step, the whole step
        calls = "" if not r["calls"] else f"{r['calls']:,.0f}" if r["calls"] == int(r["calls"]) \
            else f"{r['calls']:,.1f}"
        lines.append(f"| {stage} | {label} | {r['year1_s']:.3f} | {r['mean_s']:.3f} | {100 * r['share']:.1f}% "
                     f"| {calls} |")
    total_calls = sum(sum(v["calls"] for v in y["stages"].values()) for y in profile["per_year"]) / n
    lines.append("")
    lines.append(f"{hidden} nested rows under {100 * min_share:.1f}% of the step are left out (all are in the JSON). "
                 f"Wrapped callables: {len(profile['wrapped'])}, read from the source down to depth "
                 f"{profile['depth']}. "
                 f"Wrapped calls per year: {total_calls:,.0f}; at {1e6 * profile['wrapper_overhead_s']:.2f} µs each "
                 f"the timers add about {total_calls * profile['wrapper_overhead_s']:.3f} s a year.")
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
    for mod in ("numpy", "pandas", "scipy", "mesa", "networkx"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    dirty = git("--no-optional-locks", "status", "--porcelain", "--", "sim", "scenarios")  # never takes the index lock
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
    ap.add_argument("--quick", action="store_true",
                    help="only the Dongcheng cases and the command-line timings (no Beijing, scaling or profile)")
    ap.add_argument("--json", metavar="PATH", help="write the raw figures to PATH")
    ap.add_argument("--years", type=int, default=10, help="simulated years per run (default 10)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="runs of each Dongcheng case and of each command (default 5)")
    ap.add_argument("--repeats-large", type=int, default=3, help="runs of each Beijing case (default 3)")
    ap.add_argument("--repeats-scaling", type=int, default=2,
                    help="runs at each scaling size other than 120k (which reuses the Beijing runs; default 2)")
    ap.add_argument("--scaling-sizes", default=",".join(map(str, SCALING_SIZES)),
                    help="nominal teacher counts of the scaling runs (default 10000,40000,120000,240000)")
    ap.add_argument("--plot", metavar="PATH", default=str(Path(__file__).with_name("scaling.png")),
                    help="where the scaling figure goes (default benchmarks/scaling.png)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling runs")
    ap.add_argument("--profile-years", type=int, default=10,
                    help="years of the stage profile (year 1 and the mean are shown; default 10)")
    ap.add_argument("--profile-depth", type=int, default=4, help="levels below step() to wrap (default 4)")
    ap.add_argument("--profile-min-share", type=float, default=0.005,
                    help="nested profile rows below this share of the step are not printed (default 0.005)")
    ap.add_argument("--no-profile", action="store_true", help="skip the stage profile")
    a = ap.parse_args(argv)

    meta = machine()
    print(f"# teachersim benchmarks, {meta['date_utc']}, commit {meta['commit']}"
          f"{' (sim/ or scenarios/ modified in the working tree)' if meta['sim_or_scenarios_modified'] else ''}",
          flush=True)
    print(f"{meta['nproc']} CPUs, {meta['cpu']}, Python {meta['python']}, load average {meta['loadavg_start']}\n",
          flush=True)

    print("  reference workload (start)", file=sys.stderr, flush=True)
    reference = {"start": reference_workload(a.repeats)}
    cli = time_commands(a.repeats)

    results: dict[str, dict] = {}
    for case in CASES:
        if a.quick and case.kind != "small":
            continue
        results[case.name] = run_repeated(case, a.repeats if case.kind == "small" else a.repeats_large, a.years)

    scaling: dict[int, dict] = {}
    summ = None
    if not a.quick and not a.no_scaling:
        for n in (int(x) for x in a.scaling_sizes.split(",")):
            case = scaling_case(n)
            if case.name in results:
                scaling[n] = results[case.name]
            else:
                scaling[n] = run_repeated(case, a.repeats_scaling, a.years)
        summ = scaling_summary(scaling)
        plot_scaling(scaling, summ, Path(a.plot), meta)
        print(f"  scaling figure written to {a.plot}", file=sys.stderr)

    profile = None
    if not a.quick and not a.no_profile:
        print(f"  stage profile: {PROFILE_CASE.name}, {a.profile_years} years ...", end=" ", flush=True,
              file=sys.stderr)
        profile = spawn(PROFILE_CASE, "profile", a.profile_years, a.profile_depth)
        print("done", file=sys.stderr)

    print("  reference workload (end)", file=sys.stderr, flush=True)
    reference["end"] = reference_workload(a.repeats)
    print("## Targets of issue 7\n")
    print(targets_table(results, summ, cli) + "\n")
    print(reference_text(reference, results) + "\n")
    print(f"## Cases ({a.years} simulated years; median of the runs; seconds)\n")
    print(cases_table(results) + "\n", flush=True)
    if summ:
        print(f"## Scaling: beijing_2022_citywide, {a.years} years\n")
        print(scaling_table(scaling, summ) + "\n")
    print(f"## Command line (fresh process each, median of {a.repeats})\n")
    print(commands_table(cli) + "\n")
    if profile:
        print(f"## Stage profile of RotationModel.step ({PROFILE_CASE.name})\n")
        print(profile_table(profile, a.profile_min_share) + "\n")
    meta["loadavg_end"] = os.getloadavg()
    print(f"load average at the end: {meta['loadavg_end']}")
    if a.json:
        Path(a.json).write_text(json.dumps({"meta": meta, "targets": TARGETS, "reference": reference,
                                            "commands": cli, "cases": results,
                                            "scaling": {"sizes": {str(k): v for k, v in scaling.items()},
                                                        "fit": summ} if summ else None,
                                            "profile": profile}, indent=1))
        print(f"raw figures written to {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
