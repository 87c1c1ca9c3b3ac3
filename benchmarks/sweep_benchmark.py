"""Sweep throughput and client memory.

1. Runs per second of a Dongcheng sweep (full Dongcheng preset, `dongcheng_2021`, a grid over the
   district exchange's yearly quota), serially and on 2 local workers (the executor `--workers 2`
   makes: `executors.Processes`; a local Dask cluster before round 9), back to
   back, over several rounds (the machine is shared: each round's pair sees about the same load),
   and the parallel efficiency rate(2 workers) / (2 x rate(serial)) of each pair: median and range.
2. The client's peak memory (ru_maxrss of the client process) for sweeps of tiny runs, 100 and
   1,000 runs on 2 local workers: it should not grow with the number of runs.

Each measurement is a fresh `python` subprocess calling `sim.experiments.run.sweep`, so imports and
the peak-memory counter start clean. `wall` is the sweep call (validating the design, starting
the cluster, running, closing); `run phase` is the sweep summary's time (first submitted run to
last result); `steady` is the rate between the 5th and the last run file written. With a
LocalCluster the scheduler lives in the client process and is counted; the workers are not.
`command` is the whole sweep as a user types it: `python -m sim sweep FILE --out DIR --quiet`
with `--serial` or `--workers 2`, a fresh process timed from start to exit (interpreter, imports,
checking the file, the cluster, the runs, the manifest); each round runs it serially and on 2
workers back to back, after the sweep-call pair. Its CPU seconds are read per process: the
command's own process (client, scheduler, nannies) and, for 2 workers, the fork server with the
workers it forked, from the kernel's accounting of each ended process (this benchmark makes
itself the subreaper of the command's processes, so the fork server, which outlives the command
by a moment, is reaped here), split between the fork server and the workers by sampling.

`--old DIR` (a `git archive` of an earlier commit) times the whole command only, old and new code
alternating within each round (old then new in odd rounds, new then old in even ones), and gives
each round's paired ratios new / old of wall and CPU seconds. Both trees' `sim` is byte-compiled
first, as a user's installed package is (the sessions set PYTHONDONTWRITEBYTECODE).

Usage:
    python benchmarks/sweep_benchmark.py                   # 3 rounds of 32 runs and the tiny runs
    python benchmarks/sweep_benchmark.py --rounds 3 --small 100 1000 2000 --json out.json
    python benchmarks/sweep_benchmark.py --rounds 2 --reps 32 --small   # 128-run sweeps only
    git archive OLD | tar -x -C /tmp/sw-old
    python benchmarks/sweep_benchmark.py --old /tmp/sw-old --rounds 6   # whole command, old against new
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import psutil
from sim.experiments.executors import executor_for
from sim.experiments.run import sweep
args = json.loads(sys.argv[1])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
class Measured(type(executor_for(workers=2))):  # the command line's local executor
    # the workers' own CPU seconds, read just before they stop (Dask: eval reaches them by name)
    workers_cpu = 0.0
    def _stop(self):
        if getattr(self, "client", None) is not None:
            used = self.client.run(eval, "sum(__import__('resource').getrusage(0)[:2])")
            Measured.workers_cpu = sum(used.values())
        for pid in getattr(self, "pids", []) if getattr(self, "pool", None) is not None else []:
            Measured.workers_cpu += sum(psutil.Process(pid).cpu_times()[:2])
        super()._stop()
executor = None
if not args["serial"]:
    executor = Measured(workers=args["workers"])  # as sweep(workers=...) makes it (the command line's executor)
    getattr(executor, "prepare", lambda: None)()  # as sweep() does for the executor it makes
c0, t0 = cpu(), time.perf_counter()
s = sweep(args["path"], args["out"], serial=args["serial"], workers=args["workers"], executor=executor)
wall = time.perf_counter() - t0
sweep_cpu = cpu() - c0
# a fork server's own CPU (its imports), if there is one
servers = [p for p in psutil.Process().children() if "forkserver import main" in " ".join(p.cmdline())]
server_cpu = sum(sum(p.cpu_times()[:2]) for p in servers)
# steady state: the rate between the 5th and the last finished run file (after worker start-up)
mt = sorted(p.stat().st_mtime for p in Path(args["out"], "runs").glob("*.parquet"))
k = min(4, len(mt) - 2)
print(json.dumps({"wall": wall, "runs_seconds": s.seconds, "done": s.done, "failed": s.failed,
                  "ran_in_client": getattr(executor, "ran_here", None),
                  "steady_rate": (len(mt) - 1 - k) / (mt[-1] - mt[k]),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "client_cpu_s": cpu(), "client_cpu_sweep_s": sweep_cpu,
                  "workers_cpu_s": Measured.workers_cpu, "fork_server_cpu_s": server_cpu,
                  "total_cpu_s": sweep_cpu + Measured.workers_cpu + server_cpu}))
"""


def program_index(name: str) -> int:
    from sim.config.scenario import load_scenario

    programs = load_scenario(ROOT / "scenarios" / "dongcheng_2021.yaml").policy.programs
    return [p.name for p in programs].index(name)


def write(folder: Path, name: str, spec: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name} | spec, sort_keys=False), encoding="utf-8")
    return path


def measure(path: Path, out: Path, serial: bool, workers: int | None) -> dict:
    args = json.dumps({"path": str(path), "out": str(out), "serial": serial, "workers": workers})
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, args], cwd=ROOT, capture_output=True, text=True,
                          check=True, env={**os.environ, "MPLBACKEND": "Agg"})
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["process_wall"] = time.perf_counter() - t0
    return row


def precompile(code_root: Path) -> None:
    """Byte-compile `sim` before timing, as a user's installed package is (see whole_process.py)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(code_root / "sim")], check=True,
                   stdout=subprocess.DEVNULL)


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux), so the kernel's CPU
    accounting of a fork server that outlives the command reaches this process."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _role(proc) -> str:
    cmd = " ".join(proc.cmdline())
    if "forkserver import main" in cmd:
        return "fork server"
    if "resource_tracker" in cmd:
        return "resource tracker"
    return "worker"  # forked from the fork server: the fork server's command line


def _sample(root: int, seen: dict, stop: threading.Event) -> None:
    """Every 50 ms, the CPU seconds of each process below `root` (the last reading of each)."""
    import psutil

    try:
        top = psutil.Process(root)
    except psutil.Error:
        return
    while not stop.is_set():
        try:
            kids = top.children(recursive=True)
        except psutil.Error:
            break
        for kid in kids:
            try:
                # a direct child's command line is read each time: just forked, it is still this command's
                role = "worker" if kid.ppid() != root else _role(kid)
                seen[kid.pid] = (role, sum(kid.cpu_times()[:2]))
            except psutil.Error:
                pass
        stop.wait(0.05)


def _reap_orphans(deadline: float) -> dict[int, float]:
    """Wait for the orphans reparented to this process (the fork server, the resource tracker):
    pid -> CPU seconds, each one's own reaped children (the fork server's workers) included."""
    found = {}
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.01)
            continue
        found[pid] = usage.ru_utime + usage.ru_stime
    return found


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_command(path: Path, out: Path, serial: bool, workers: int | None, code_root: Path = ROOT) -> dict:
    """The sweep as a user types it: `python -m sim sweep`, a fresh process, wall time start to exit,
    and the CPU seconds of every process it started (exact per ended process from the kernel; the
    fork server's share beside its workers' from sampling every 50 ms)."""
    where = ["--serial"] if serial else ["--workers", str(workers)]
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(code_root)}
    seen: dict = {}
    stop = threading.Event()
    _reap_orphans(time.monotonic() + 30)  # an earlier measurement's fork server, not this command's
    before = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(path), "--out", str(out), "--quiet", *where],
                            cwd=code_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sampler = threading.Thread(target=_sample, args=(proc.pid, seen, stop), daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    command_cpu = _children_cpu() - before  # the command's process (and any child it reaped itself)
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep command failed ({proc.returncode}): {stderr[-2000:]}")
    orphans = _reap_orphans(time.monotonic() + 30)
    roles = {pid: role for pid, (role, _) in seen.items()}
    server = sum(c for pid, c in orphans.items() if roles.get(pid) == "fork server")
    workers_sampled = sum(c for role, c in seen.values() if role == "worker")
    return {"wall": wall, "summary": stdout.strip().splitlines()[-1], "command_cpu_s": command_cpu,
            # the fork server with the workers it forked and reaped (exact), and the split (sampled)
            "fork_server_and_workers_cpu_s": server, "workers_cpu_sampled_s": workers_sampled,
            "other_cpu_s": sum(orphans.values()) - server, "total_cpu_s": command_cpu + sum(orphans.values())}


def efficiency(serial: dict, pair: dict) -> dict:
    """rate(2 workers) / (2 x rate(serial)) on wall time, over the run phase and in the steady state."""
    return {"wall": serial["wall"] / (2 * pair["wall"]),
            "run_phase": serial["runs_seconds"] / (2 * pair["runs_seconds"]),
            "steady": pair["steady_rate"] / (2 * serial["steady_rate"]),
            # load-robust: the serial sweep's CPU seconds over the CPU seconds the 2-worker sweep took
            # in all its processes (client and scheduler, workers, fork server)
            "cpu": serial["total_cpu_s"] / pair["total_cpu_s"]}


def spread(values: list[float]) -> str:
    """median (min-max) of a list"""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=int, default=10, help="simulated years of the Dongcheng runs (default 10)")
    ap.add_argument("--reps", type=int, default=8, help="replicates per quota level (default 8; 4 levels)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="serial then 2-worker sweeps, back to back, this many times (default 3)")
    ap.add_argument("--small", type=int, nargs="*", default=[100, 1000], help="tiny-run sweep sizes (none: skip)")
    ap.add_argument("--json", help="also write the raw figures here")
    ap.add_argument("--old", type=Path, help="a tree of older code (git archive): time the whole command only, "
                                             "old and new alternating, and give the paired ratios")
    args = ap.parse_args()

    k = program_index("district_exchange")
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average_at_start": os.getloadavg(), "subreaper": become_subreaper()}}
    for root in (ROOT, args.old) if args.old else (ROOT,):
        precompile(root)
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        tmp = Path(tmp)
        dc = write(tmp, "dongcheng_bench", {
            "bases": [str(ROOT / "scenarios" / "dongcheng_2021.yaml")],
            "parameters": {f"policy.programs.{k}.quota.min_count": {"values": [500, 1000, 2000, 3000]}},
            "design": {"kind": "grid"}, "replicates": args.reps, "years": args.years,
            "outcomes": ["cv_backbone", "cv_quality", "rotations"]})
        n = 4 * args.reps
        if args.old:
            results["ab"] = {"runs": n, "years": args.years, "old": str(args.old),
                             "rounds": ab_rounds(dc, tmp, args.old, args.rounds, n)}
            results["machine"]["load_average_at_end"] = os.getloadavg()
            report_ab(results)
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
            return
        rounds = []
        for i in range(args.rounds):
            pair = {}
            for label, serial, workers in (("serial", True, None), ("2 local workers", False, 2)):
                print(f"round {i + 1}: dongcheng sweep, {label} ...", file=sys.stderr)
                load = os.getloadavg()[0]
                pair[label] = measure(dc, tmp / f"r{i}_{label.replace(' ', '_')}", serial, workers)
                pair[label]["load_before"] = load
                pair[label]["load_after"] = os.getloadavg()[0]
                assert pair[label]["done"] == n, pair[label]
            pair["efficiency"] = efficiency(pair["serial"], pair["2 local workers"])
            for label, serial, workers in (("command serial", True, None), ("command 2 local workers", False, 2)):
                print(f"round {i + 1}: dongcheng sweep as typed, {label} ...", file=sys.stderr)
                load = os.getloadavg()[0]
                pair[label] = measure_command(dc, tmp / f"c{i}_{label.replace(' ', '_')}", serial, workers)
                pair[label] |= {"load_before": load, "load_after": os.getloadavg()[0]}
                assert f"{n} runs: {n} done" in pair[label]["summary"], pair[label]
            # the same definition, rate(2 workers) / (2 x rate(serial)), on the whole command's wall time
            command = pair["command serial"]["wall"], pair["command 2 local workers"]["wall"]
            pair["efficiency"]["command"] = command[0] / (2 * command[1])
            rounds.append(pair)
        results["dongcheng"] = {"runs": n, "years": args.years, "rounds": rounds}
        small = {}
        for size in args.small:
            reps = 10
            spec = write(tmp, f"tiny_{size}", {
                "bases": [str(ROOT / "scenarios" / "baseline_drift.yaml")],
                "set": ["world.schools_per_district=12", "world.teachers_per_school=15"],
                "parameters": {"careers.drift_rate": {"low": 0.0, "high": 0.08}},
                "design": {"kind": "lhs", "points": size // reps, "seed": 1}, "replicates": reps, "years": 2,
                "outcomes": ["cv_quality"]})
            print(f"{size} tiny runs on 2 local workers ...", file=sys.stderr)
            small[size] = measure(spec, tmp / f"tiny_{size}_out", False, 2)
            assert small[size]["done"] == size, small[size]
        results["tiny"] = small
    results["machine"]["load_average_at_end"] = os.getloadavg()
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


def ab_rounds(dc: Path, tmp: Path, old: Path, rounds: int, n: int) -> list[dict]:
    """The whole command, serial then 2 workers, for old and new code alternating: old first in odd
    rounds, new first in even ones."""
    found = []
    for i in range(rounds):
        one = {}
        for code in ("old", "new") if i % 2 == 0 else ("new", "old"):
            root = old if code == "old" else ROOT
            for label, serial in (("serial", True), ("2 workers", False)):
                print(f"round {i + 1}: {code} code, command {label} ...", file=sys.stderr)
                load = os.getloadavg()[0]
                folder = tmp / f"ab{i}_{code}_{label.replace(' ', '_')}"
                row = measure_command(dc, folder, serial, None if serial else 2, code_root=root)
                assert f"{n} runs: {n} done" in row["summary"], row
                one[f"{code} {label}"] = row | {"load_before": load, "load_after": os.getloadavg()[0]}
        for code in ("old", "new"):
            serial, pair = one[f"{code} serial"], one[f"{code} 2 workers"]
            one[f"{code} efficiency"] = serial["wall"] / (2 * pair["wall"])
            one[f"{code} cpu ratio"] = serial["total_cpu_s"] / pair["total_cpu_s"]
        one["ratio wall 2 workers"] = one["new 2 workers"]["wall"] / one["old 2 workers"]["wall"]
        one["ratio cpu 2 workers"] = one["new 2 workers"]["total_cpu_s"] / one["old 2 workers"]["total_cpu_s"]
        one["ratio wall serial"] = one["new serial"]["wall"] / one["old serial"]["wall"]
        found.append(one)
    return found


def report_ab(results: dict) -> None:
    ab = results["ab"]
    rounds = ab["rounds"]
    print(f"Whole command, Dongcheng sweep of {ab['runs']} runs x {ab['years']} years, {len(rounds)} rounds, old "
          f"({ab['old']}) and new alternating; median (min-max)\n")
    print("| code | serial wall s | 2 workers wall s | efficiency (wall) | CPU serial / 2 workers | 2 workers CPU s: "
          "command process | fork server + workers | workers (sampled) | total | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for code in ("old", "new"):
        s_ = [r[f"{code} serial"] for r in rounds]
        p_ = [r[f"{code} 2 workers"] for r in rounds]
        cells = [[r["wall"] for r in s_], [r["wall"] for r in p_], [r[f"{code} efficiency"] for r in rounds],
                 [r[f"{code} cpu ratio"] for r in rounds], [r["command_cpu_s"] for r in p_],
                 [r["fork_server_and_workers_cpu_s"] for r in p_], [r["workers_cpu_sampled_s"] for r in p_],
                 [r["total_cpu_s"] for r in p_], [r["load_before"] for r in p_]]
        print(f"| {code} | " + " | ".join(spread(c) for c in cells) + " |")
    print(f"\nserial command CPU s: old {spread([r['old serial']['total_cpu_s'] for r in rounds])}, "
          f"new {spread([r['new serial']['total_cpu_s'] for r in rounds])}")
    print(f"paired new / old, 2 workers: wall {spread([r['ratio wall 2 workers'] for r in rounds])}, "
          f"CPU {spread([r['ratio cpu 2 workers'] for r in rounds])}; serial wall "
          f"{spread([r['ratio wall serial'] for r in rounds])}")


def report(results: dict) -> None:
    d = results["dongcheng"]
    n, rounds = d["runs"], d["rounds"]
    print(f"Dongcheng sweep: {n} runs of {d['years']} years (full Dongcheng preset, dongcheng_2021), "
          f"{len(rounds)} rounds; median (min-max)\n")
    print("| executor | wall s | run phase s | runs/s: wall | run phase | steady | client CPU s | client RSS MB "
          "| load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label in ("serial", "2 local workers"):
        rs = [r[label] for r in rounds]
        print(f"| {label} | {spread([r['wall'] for r in rs])} | {spread([r['runs_seconds'] for r in rs])} | "
              f"{spread([n / r['wall'] for r in rs])} | {spread([n / r['runs_seconds'] for r in rs])} | "
              f"{spread([r['steady_rate'] for r in rs])} | {spread([r['client_cpu_s'] for r in rs])} | "
              f"{statistics.median([r['peak_rss_mb'] for r in rs]):.0f} | "
              f"{spread([r['load_before'] for r in rs])} |")
    for label in ("command serial", "command 2 local workers"):
        rs = [r[label] for r in rounds if label in r]
        if rs:
            print(f"| `python -m sim sweep`, {label.removeprefix('command ')} | {spread([r['wall'] for r in rs])} | | "
                  f"{spread([n / r['wall'] for r in rs])} | | | | | {spread([r['load_before'] for r in rs])} |")
    e = [r["efficiency"] for r in rounds]
    if all("command" in x for x in e):
        print(f"\nParallel efficiency on the whole command as typed: {spread([x['command'] for x in e])}")
        serial, pair = [r["command serial"] for r in rounds], [r["command 2 local workers"] for r in rounds]
        cpu = {key: spread([r[key] for r in pair]) for key in ("total_cpu_s", "command_cpu_s",
                                                                "fork_server_and_workers_cpu_s")}
        print(f"CPU seconds of the whole command: serial {spread([r['total_cpu_s'] for r in serial])}; "
              f"2 workers {cpu['total_cpu_s']} (command process {cpu['command_cpu_s']}, "
              f"fork server and workers {cpu['fork_server_and_workers_cpu_s']})")
    here = [r["2 local workers"].get("ran_in_client") for r in rounds]
    if all(h is not None for h in here):
        print(f"runs done in the client while the cluster started (sweep call): {here}")
    print("\nParallel efficiency rate(2) / (2 rate(serial)), each round's back-to-back pair: "
          f"wall {spread([x['wall'] for x in e])}, run phase {spread([x['run_phase'] for x in e])}, "
          f"steady {spread([x['steady'] for x in e])}; "
          f"CPU seconds serial / 2 workers {spread([x['cpu'] for x in e])}\n")
    for label in ("serial", "2 local workers"):
        rs = [r[label] for r in rounds]
        print(f"CPU seconds, {label}: client {spread([r['client_cpu_sweep_s'] for r in rs])}, workers "
              f"{spread([r['workers_cpu_s'] for r in rs])}, "
              f"fork server {spread([r['fork_server_cpu_s'] for r in rs])}, "
              f"total {spread([r['total_cpu_s'] for r in rs])}")
    if results["tiny"]:
        print("| tiny runs (2 local workers) | wall s | runs/s (run phase) | client CPU s | peak client RSS MB |")
        print("|---|---|---|---|---|")
    for size, r in results["tiny"].items():
        print(f"| {int(size):,} | {r['wall']:.1f} | {int(size) / r['runs_seconds']:.1f} | {r['client_cpu_s']:.1f} | "
              f"{r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
