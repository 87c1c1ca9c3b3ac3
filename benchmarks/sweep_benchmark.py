"""Sweep throughput and client memory.

1. Runs per second of a Dongcheng sweep (full Dongcheng preset, `dongcheng_2021`, a grid over the
   district exchange's yearly quota), serially and on a local Dask cluster of 2 workers, and the
   parallel efficiency rate(2 workers) / (2 x rate(serial)).
2. The client's peak memory (ru_maxrss of the client process) for sweeps of tiny runs, 100 and
   1,000 runs on 2 local workers: it should not grow with the number of runs.

Each measurement is a fresh `python` subprocess calling `sim.experiments.run.sweep`, so imports and
the peak-memory counter start clean. `wall` is the whole subprocess (imports, validating the
design, starting the cluster, running, closing); `runs` is the run phase only (what the sweep
summary reports). With a LocalCluster the scheduler lives in the client process and is counted;
the workers are child processes and are not.

Usage:
    python benchmarks/sweep_benchmark.py                   # about 2-3 minutes on 2 cores
    python benchmarks/sweep_benchmark.py --json out.json   # also save the raw figures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from sim.experiments.run import sweep
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
s = sweep(args["path"], args["out"], serial=args["serial"], workers=args["workers"])
# steady state: the rate between the 5th and the last finished run file (after worker start-up)
mt = sorted(p.stat().st_mtime for p in Path(args["out"], "runs").glob("*.parquet"))
k = min(4, len(mt) - 2)
print(json.dumps({"wall": time.perf_counter() - t0, "runs_seconds": s.seconds, "done": s.done, "failed": s.failed,
                  "steady_rate": (len(mt) - 1 - k) / (mt[-1] - mt[k]),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "client_cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime
                  + resource.getrusage(resource.RUSAGE_SELF).ru_stime}))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=int, default=10, help="simulated years of the Dongcheng runs (default 10)")
    ap.add_argument("--reps", type=int, default=4, help="replicates per quota level (default 4; 4 levels)")
    ap.add_argument("--small", type=int, nargs="+", default=[100, 1000], help="tiny-run sweep sizes")
    ap.add_argument("--json", help="also write the raw figures here")
    args = ap.parse_args()

    k = program_index("district_exchange")
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average_at_start": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        tmp = Path(tmp)
        dc = write(tmp, "dongcheng_bench", {
            "bases": [str(ROOT / "scenarios" / "dongcheng_2021.yaml")],
            "parameters": {f"policy.programs.{k}.quota.min_count": {"values": [500, 1000, 2000, 3000]}},
            "design": {"kind": "grid"}, "replicates": args.reps, "years": args.years,
            "outcomes": ["cv_backbone", "cv_quality", "rotations"]})
        n = 4 * args.reps
        rows = {}
        for label, serial, workers in (("serial", True, None), ("2 local workers", False, 2)):
            print(f"dongcheng sweep, {label} ...", file=sys.stderr)
            rows[label] = measure(dc, tmp / label.replace(" ", "_"), serial, workers)
            assert rows[label]["done"] == n, rows[label]
        results["dongcheng"] = {"runs": n, "years": args.years, **rows}
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

    d = results["dongcheng"]
    print(f"Dongcheng sweep: {d['runs']} runs of {d['years']} years (full Dongcheng preset, dongcheng_2021)\n")
    print("| executor | wall s | run phase s | runs/s: wall | run phase | steady | client CPU s | client RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for label in ("serial", "2 local workers"):
        r = d[label]
        print(f"| {label} | {r['wall']:.1f} | {r['runs_seconds']:.1f} | {d['runs'] / r['wall']:.2f} | "
              f"{d['runs'] / r['runs_seconds']:.2f} | {r['steady_rate']:.2f} | {r['client_cpu_s']:.1f} | "
              f"{r['peak_rss_mb']:.0f} |")
    s, p = d["serial"], d["2 local workers"]
    steady = p["steady_rate"] / (2 * s["steady_rate"])
    print(f"\nParallel efficiency, rate(2) / (2 rate(1)): wall {s['wall'] / (2 * p['wall']):.0%}, run phase "
          f"{s['runs_seconds'] / (2 * p['runs_seconds']):.0%}, steady {steady:.0%}\n")
    print("| tiny runs (2 local workers) | wall s | runs/s (run phase) | client CPU s | peak client RSS MB |")
    print("|---|---|---|---|---|")
    for size, r in results["tiny"].items():
        print(f"| {size:,} | {r['wall']:.1f} | {size / r['runs_seconds']:.1f} | {r['client_cpu_s']:.1f} | "
              f"{r['peak_rss_mb']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
