"""Speed as a user feels it (issue 20): `teachersim run` timed whole-process beside the
tutorial-style Mesa model, alternating fresh processes, as paired ratios.

    python benchmarks/whole_process.py targets --rounds 3     # the issue's four ratios, about 2 minutes a round
    python benchmarks/whole_process.py stages --scenario dongcheng_2021 --rounds 3   # where a run's time goes
    python benchmarks/whole_process.py ab OLD_COMMIT --case dongcheng --rounds 6      # a lever: old vs this checkout
    python benchmarks/whole_process.py ab OLD --new NEW --case beijing --no-figures   # two commits
    python benchmarks/whole_process.py scaling --rounds 2      # cost against teachers, 10k to 240k
    python benchmarks/whole_process.py readings benchmarks/targets/*.json   # targets runs side by side

`targets` times, in each round and in a rotating order, the tutorial-style model of
`tutorial_reference.py` at 8,800 and at 120,000 agents (interpreter, `import mesa`, model, 10
years) and `python -m sim run SCENARIO --quiet` with and without `--no-figures` for
`dongcheng_2021` and `beijing_2022_citywide` (interpreter, imports, world, 10 years, Parquet
files, figures): every time is a fresh process, as a user types it. Each ratio is run time /
tutorial time within the same round, so the machine's drift between rounds cancels; the verdict
is the median over rounds. Its JSON also records the machine (`machine_state`: time, commit, load,
CPU, the share of CPU time the hypervisor took, "steal"), and `readings` lays several such files
side by side with the tutorial model's time: the ratio moves with the machine's state (the
tutorial model, an interpreter loop over small objects, slows more than the run's array work
when the host is busy), so one reading is not the verdict. `ab` times one of those commands for an
old commit (a temporary `git worktree`, first on PYTHONPATH) and this checkout, alternating. `stages` splits one
whole-process run into start-up and imports, world, agents, years, writing and figures.
`scaling` runs `beijing_2022_citywide --no-figures` at world.scale 1/12 to 2 (about 10,000 to
240,000 teachers), whole process and the run call alone, with each process's peak memory, and
fits log cost on log teachers. Every command first byte-compiles the timed checkouts' `sim`
(`precompile`): users' runs read cached bytecode, as Mesa's imports do.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {"dongcheng": "dongcheng_2021", "beijing": "beijing_2022_citywide"}
TUTORIAL_AGENTS = {"dongcheng": 8_800, "beijing": 120_000}
# (case, target): run time / tutorial time must be at most this
TARGETS = {("dongcheng", True): 1.5, ("dongcheng", False): 1.0,
           ("beijing", True): 1 / 2.5, ("beijing", False): 1 / 3}


def run_command(case: str, figures: bool, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "sim", "run", f"scenarios/{SCENARIOS[case]}.yaml", "--quiet", "--force",
           "--out", str(out)]
    return cmd if figures else [*cmd, "--no-figures"]


def tutorial_command(case: str, code_root: Path = ROOT) -> list[str]:
    return [sys.executable, str(code_root / "benchmarks" / "tutorial_reference.py"), "--model-only",
            "--agents", str(TUTORIAL_AGENTS[case])]


def precompile(code_root: Path) -> None:
    """Byte-compile the package before timing, as a user's runs find it: pip compiles what it
    installs (Mesa's and the tutorial model's imports read cached bytecode), and a checkout's own
    first run writes its `__pycache__`. Without this, a session with PYTHONDONTWRITEBYTECODE set
    (or a fresh worktree) would time our 50 modules' compilation in every run, and not Mesa's."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(code_root / "sim")], check=True,
                   stdout=subprocess.DEVNULL)


def timed(cmd: list[str], code_root: Path = ROOT) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its own children included) of one fresh process,
    which must succeed. On a loaded machine the CPU time is the steadier of the two: the wall
    time also counts the moments the process waited for a core."""
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=code_root, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed_with_memory(cmd: list[str]) -> tuple[float, float, float]:
    """Wall s, CPU s and peak resident MB of one fresh process (os.wait4 gives its own usage)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


SCALES = (1 / 12, 1 / 3, 1.0, 2.0)
RUN_CALL = """
import sys, time, warnings
warnings.simplefilter("ignore")
from sim.config.scenario import load_scenario
from sim.experiments.run import simulate
import sim.core.model  # noqa: F401  (Mesa imported before the clock starts)
sc = load_scenario("scenarios/beijing_2022_citywide.yaml", [f"world.scale={sys.argv[1]}"])
t = time.process_time()
m = simulate(sc, sc.run.seed, 10)
print(time.process_time() - t, m.world.n_teachers)
"""


def _fit(xs: list[float], ys: list[float]) -> float:
    import numpy as np

    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def scaling(rounds: int, tmp: Path) -> dict:
    """Whole-process and run-call CPU time against teachers, alternating sizes in each round."""
    rows = {scale: {"wall": [], "cpu": [], "rss": [], "run_cpu": [], "teachers": 0} for scale in SCALES}
    for r in range(rounds):
        for scale in (SCALES if r % 2 == 0 else SCALES[::-1]):
            cmd = [*run_command("beijing", False, tmp / "out"), "--set", f"world.scale={scale:.6g}"]
            wall, cpu, rss = timed_with_memory(cmd)
            out = subprocess.run([sys.executable, "-c", RUN_CALL, f"{scale:.6g}"], cwd=ROOT, check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            run_cpu, teachers = out.stdout.split()
            row = rows[scale]
            for key, value in (("wall", wall), ("cpu", cpu), ("rss", rss)):
                row[key].append(value)
            row["run_cpu"].append(float(run_cpu))
            row["teachers"] = int(teachers)
            print(f"round {r + 1}: scale {scale:.4g} ({teachers} teachers): whole process {wall:.2f} s wall, "
                  f"{cpu:.2f} s CPU, peak {rss:.0f} MB; run call {float(run_cpu):.2f} s CPU", flush=True)
    teachers = [rows[s]["teachers"] for s in SCALES]
    med = {k: [statistics.median(rows[s][k]) for s in SCALES] for k in ("wall", "cpu", "rss", "run_cpu")}
    print("| world.scale | teachers at the start | whole process CPU s | run call CPU s | peak MB |")
    print("|---|---|---|---|---|")
    for i, s in enumerate(SCALES):
        print(f"| {s:.4g} | {teachers[i]:,} | {med['cpu'][i]:.2f} | {med['run_cpu'][i]:.2f} | {med['rss'][i]:.0f} |")
    fits = {"whole_process_cpu": _fit(teachers, med["cpu"]), "run_call_cpu": _fit(teachers, med["run_cpu"])}
    print(f"fitted exponent (log CPU on log teachers, medians of {rounds}): whole process "
          f"{fits['whole_process_cpu']:.3f}, run call {fits['run_call_cpu']:.3f}")
    return {"rows": {f"{s:.6g}": v for s, v in rows.items()}, "fits": fits}


def _cpu_ticks() -> tuple[int, int]:
    """Total and stolen CPU ticks since boot (/proc/stat; zeros where there is none)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0  # guest time is inside user time


def machine_state() -> dict:
    """What the machine was when a benchmark started: time, commit, CPUs, load, ticks so far."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    cpu_model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    total, steal = _cpu_ticks()
    return {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit, "cpus": os.cpu_count(),
            "cpu_model": cpu_model, "load_average": os.getloadavg(), "ticks": total, "steal_ticks": steal}


def finish_state(start: dict) -> dict:
    """The start's record with the end time and load, and the share of CPU ticks stolen in between."""
    total, steal = _cpu_ticks()
    spent = total - start["ticks"]
    return {**start, "end_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "end_load_average": os.getloadavg(),
            "steal_share": round((steal - start["steal_ticks"]) / spent, 4) if spent > 0 else None}


def readings(files: list[Path]) -> dict:
    """The four ratios of several `targets --json` files, a row each (the median of the paired wall
    ratios, and of the CPU ones in brackets), with the tutorial model's median time at 120,000
    agents (how fast the machine was for it), then the median over the files of each."""
    rows = []
    for f in files:
        data = json.loads(f.read_text())
        state = data.get("machine", {})
        row = {"file": f.name, "utc": state.get("utc", ""), "commit": state.get("commit", ""),
               "steal": state.get("steal_share"),
               "tutorial beijing s": statistics.median(data["times"]["tutorial beijing"])}
        for name, ratios in data["ratios"].items():
            row[name] = (statistics.median(ratios), statistics.median(data["cpu_ratios"][name]))
        rows.append(row)
    names = [n for n in rows[0] if n.startswith(("dongcheng", "beijing"))] if rows else []
    print("| file | start (UTC) | commit | steal | tutorial Beijing s | " + " | ".join(names) + " |")
    print("|---|---|---|---|---|" + "---|" * len(names))
    for row in sorted(rows, key=lambda r: r["utc"]):
        steal = "" if row["steal"] is None else f"{row['steal']:.3f}"
        print(f"| {row['file']} | {row['utc']} | {row['commit']} | {steal} | {row['tutorial beijing s']:.2f} | "
              + " | ".join(f"{row[n][0]:.3f} ({row[n][1]:.3f})" for n in names) + " |")
    pooled = {n: tuple(statistics.median(r[n][i] for r in rows) for i in (0, 1)) for n in names}
    print("| median of the readings | | | | | " + " | ".join(f"{pooled[n][0]:.3f} ({pooled[n][1]:.3f})"
                                                         for n in names) + " |")
    print("| bound | | | | | " + " | ".join(f"{TARGETS[(n.split()[0], n.endswith(' figures'))]:.3f}"
                                          for n in names) + " |")
    return {"rows": rows, "median": pooled}


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def targets(rounds: int, tmp: Path) -> dict:
    start = machine_state()
    jobs = {}
    for case in SCENARIOS:
        jobs[f"tutorial {case}"] = tutorial_command(case)
        for figures in (True, False):
            jobs[f"{case} {'figures' if figures else 'no-figures'}"] = run_command(case, figures, tmp / f"{case}")
    times: dict[str, list[float]] = {name: [] for name in jobs}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    names = list(jobs)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate, so no command always runs first
        for name in order:
            w, c = timed(jobs[name])
            times[name].append(w)
            cpu[name].append(c)
        print(f"round {r + 1}: " + "  ".join(f"{n} {times[n][-1]:.2f}" for n in names), file=sys.stderr)
    out = {"machine": finish_state(start), "times": times, "cpu": cpu, "ratios": {}, "cpu_ratios": {}}
    print("| command | whole process wall s, median (min-max) | run / tutorial, wall, median of paired ratios "
          "(min-max) "
          "| same, CPU time | target | met (wall) |")
    print("|---|---|---|---|---|---|")
    for case in SCENARIOS:
        tut = f"tutorial {case}"
        print(f"| tutorial-style model, {TUTORIAL_AGENTS[case]:,} agents | {summary(times[tut])} | | | | |")
        for figures in (True, False):
            name = f"{case} {'figures' if figures else 'no-figures'}"
            ratios = [a / b for a, b in zip(times[name], times[tut], strict=True)]
            cpu_ratios = [a / b for a, b in zip(cpu[name], cpu[tut], strict=True)]
            out["ratios"][name], out["cpu_ratios"][name] = ratios, cpu_ratios
            bound = TARGETS[(case, figures)]
            med = statistics.median(ratios)
            print(f"| `teachersim run {SCENARIOS[case]}`{'' if figures else ' --no-figures'} | {summary(times[name])} "
                  f"| {summary(ratios)} (tutorial / run {1 / med:.2f}x) | {summary(cpu_ratios)} | <= {bound:.3f} | "
                  f"{'yes' if med <= bound else f'no, {med / bound:.2f}x over'} |")
    return out


STAGE_TIMER = """
import time
top = time.perf_counter()
import json, sys
import sim.cli
hooks = {}
def wrap(owner, name, key):
    inner = getattr(owner, name)
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            hooks[key] = hooks.get(key, 0.0) + time.perf_counter() - t
    setattr(owner, name, timed)
def hook_run():
    import sim.experiments.run, sim.core.model, sim.present.outputs
    wrap(sim.core.model, "build_world", "world")
    wrap(sim.core.model.RotationModel, "__init__", "init")
    wrap(sim.core.model.RotationModel, "step", "years")
    wrap(sim.experiments.run, "run", "run")
    wrap(sim.present.outputs, "write_run", "write")
    if "--no-figures" not in sys.argv:
        import sim.present.plots
        wrap(sim.present.plots, "save_run_figures", "figures")
real = sim.cli.cmd_run
def cmd_run(args):
    hook_run()
    return real(args)
sim.cli.cmd_run = cmd_run
def report():  # exit handlers run before the interpreter's teardown
    hooks["top"], hooks["end"] = top, time.perf_counter()
    print(json.dumps(hooks))
import atexit
atexit.register(report)
entry = getattr(sim.cli, "entry", None)  # the command as a process (older code: main alone)
entry() if entry else sys.exit(sim.cli.main())
"""


def stages(case: str, figures: bool, rounds: int, tmp: Path) -> dict:
    """Each stage's seconds in a whole-process run. `perf_counter` is the system's monotonic
    clock, so the child's readings and the parent's share an origin: the interpreter's start is
    the time to the child's first line, its exit the time after `main` returns. The hooks import
    the model's modules (and sim.present.plots) before the run's own imports would; `imports and
    checks` is the rest of `main` (imports, reading and checking the scenario, claiming the
    output folder)."""
    cmd = run_command(case, figures, tmp / case)[3:]
    rows = []
    for _ in range(rounds):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", STAGE_TIMER, *cmd], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
        done = time.perf_counter()
        h = json.loads(proc.stdout.strip().splitlines()[-1])
        fig = h.get("figures", 0.0)
        rows.append({"whole": done - t, "interpreter start": h["top"] - t,
                     "imports and checks": h["end"] - h["top"] - h["run"] - h["write"],
                     "world": h["world"], "agents": h["init"] - h["world"], "years": h["years"],
                     "writing": (h["run"] - h["init"] - h["years"]) + (h["write"] - fig), "figures": fig,
                     "exit": done - h["end"]})
    keys = ["interpreter start", "imports and checks", "world", "agents", "years", "writing", "figures", "exit",
            "whole"]
    print(f"| stage ({SCENARIOS[case]}{'' if figures else ', --no-figures'}) | s, median (min-max) of {rounds} |")
    print("|---|---|")
    for k in keys:
        print(f"| {k} | {summary([r[k] for r in rows])} |")
    return {"rows": rows}


def ab(old: str, case: str, figures: bool, rounds: int, tmp: Path, new: str | None = None) -> dict:
    old_root, new_root = tmp / "old", (tmp / "new" if new else ROOT)
    for root, commit in ((old_root, old), (new_root, new)):
        if commit:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(root), commit], check=True)
        precompile(root)
    try:
        t_old, t_new, c_old, c_new = [], [], [], []
        for i in range(rounds):
            pair = [(old_root, "out_old", t_old, c_old), (new_root, "out_new", t_new, c_new)]
            # alternate who goes first: the second of a pair ran about 4 % slower, whichever code it was
            for root, out, t, c in pair if i % 2 == 0 else pair[::-1]:
                w, u = timed(run_command(case, figures, tmp / out), root)
                t.append(w)
                c.append(u)
            print(f"round {i + 1}: old {t_old[-1]:.3f} s  new {t_new[-1]:.3f} s  new/old {t_new[-1] / t_old[-1]:.3f} "
                  f"(CPU {c_new[-1] / c_old[-1]:.3f})", file=sys.stderr)
    finally:
        for root, commit in ((old_root, old), (new_root, new)):
            if commit:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(root)], check=True)
    ratios = [n / o for n, o in zip(t_new, t_old, strict=True)]
    cpu_ratios = [n / o for n, o in zip(c_new, c_old, strict=True)]
    print(f"`teachersim run {SCENARIOS[case]}`{'' if figures else ' --no-figures'}, whole process, {rounds} rounds: "
          f"old {old} {summary(t_old)} s, {new or 'this checkout'} {summary(t_new)} s; "
          f"paired new/old {summary(ratios)}; CPU time old {summary(c_old)} s, new {summary(c_new)} s, "
          f"paired new/old {summary(cpu_ratios)}")
    return {"old": t_old, "new": t_new, "ratios": ratios, "cpu_old": c_old, "cpu_new": c_new, "cpu_ratios": cpu_ratios}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("targets")
    s = sub.add_parser("stages")
    s.add_argument("--case", choices=list(SCENARIOS), default="dongcheng")
    c = sub.add_parser("scaling")
    r = sub.add_parser("readings", help="several `targets --json` files side by side")
    r.add_argument("files", type=Path, nargs="+")
    a = sub.add_parser("ab")
    a.add_argument("old", help="git commit to compare this checkout against")
    a.add_argument("--new", help="a commit to time instead of this checkout")
    a.add_argument("--case", choices=list(SCENARIOS), default="dongcheng")
    for p in (t, s, a, c):
        p.add_argument("--rounds", type=int, default=3)
        p.add_argument("--json", type=Path, help="also save the raw times here")
    for p in (s, a):
        p.add_argument("--no-figures", action="store_true")
    args = ap.parse_args(argv)
    if args.command == "readings":
        readings(args.files)
        return
    precompile(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        if args.command == "targets":
            out = targets(args.rounds, Path(tmp))
        elif args.command == "scaling":
            out = scaling(args.rounds, Path(tmp))
        elif args.command == "stages":
            out = stages(args.case, not args.no_figures, args.rounds, Path(tmp))
        else:
            out = ab(args.old, args.case, not args.no_figures, args.rounds, Path(tmp), args.new)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
