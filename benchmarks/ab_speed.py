"""Time two versions of the code against each other, alternating runs in fresh processes.

    python benchmarks/ab_speed.py HEAD~3                       # Beijing decade, 6 rounds
    python benchmarks/ab_speed.py 5ec71ad --rounds 10 --scenario dongcheng_2021 --set world.scale=0.5

This machine's speed drifts by up to 1.5x within minutes, so two figures taken minutes apart do
not say which code is faster. Here each round runs the old version (a temporary `git worktree` of
the given commit, put first on PYTHONPATH) and then this checkout, each in a fresh process that
imports `sim.experiments.run` and `sim.core.model` before the clock starts and then times one
`sim.experiments.run.run(...)`, the call a user makes. The verdict is the median over rounds of the
paired ratio new / old, which the drift between rounds leaves alone. Run it on a quiet machine:
the two versions share the cores with anything else that runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TIMER = """
import sys, time
import sim.experiments.run as ex, sim.core.model
start = time.perf_counter()
ex.run(sys.argv[1], years=int(sys.argv[2]), reps=1, overrides=tuple(sys.argv[3:]))
print(time.perf_counter() - start)
"""


def time_once(code_root: Path, scenario: Path, years: int, overrides: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    out = subprocess.run([sys.executable, "-c", TIMER, str(scenario), str(years), *overrides],
                         cwd=code_root, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", help="git commit (or branch, tag) to compare this checkout against")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--scenario", default="beijing_2022_citywide", help="a file name in scenarios/ (no .yaml)")
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    scenario = ROOT / "scenarios" / f"{args.scenario}.yaml"
    if not scenario.is_file():
        ap.error(f"no scenario file {scenario}")
    with tempfile.TemporaryDirectory() as tmp:
        old_root = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old_root), args.old],
                       check=True)
        try:
            old_times, new_times = [], []
            for i in range(args.rounds):
                old_times.append(time_once(old_root, old_root / "scenarios" / scenario.name, args.years,
                                           args.overrides))
                new_times.append(time_once(ROOT, scenario, args.years, args.overrides))
                print(f"round {i + 1}: old {old_times[-1]:.3f} s  new {new_times[-1]:.3f} s  "
                      f"new/old {new_times[-1] / old_times[-1]:.3f}", file=sys.stderr)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_root)], check=True)
    ratios = [n / o for n, o in zip(new_times, old_times, strict=True)]
    print(f"{args.scenario}, {args.years} years, {args.rounds} rounds: old {args.old} median "
          f"{statistics.median(old_times):.3f} s, this checkout median {statistics.median(new_times):.3f} s; "
          f"paired new/old median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
