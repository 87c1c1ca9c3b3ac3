"""What the workforce's departed rows cost a Beijing decade, and what compacting them could buy.

The store keeps one row per teacher ever employed (sim/core/workforce.py), so by year 10 about a
third of the rows every whole-column pass reads belong to teachers who left. Two measurements,
each printing the CPU seconds of the ten `step` calls (set-up excluded), in alternating pairs:

  inject D ROUNDS   D extra departed rows (copies of real rows, `active` False) appended after
                    set-up, against none: the slope is the cost of one departed row for one year.
                    Results move a little (hires get other row numbers, so other draws), the
                    workload does not (moves and rotations within 0.1 %).
  compact K ROUNDS  a timing prototype, NOT exact: the departed rows dropped from the live arrays
                    at the start of every K-th year (the model's per-row caches gathered alike),
                    against never. Row numbers are not kept as ids and draws are taken at the
                    shorter length, so it is an upper bound on what an exact compaction nets.

    .venv/bin/python benchmarks/dead_rows.py inject 120000 6
    .venv/bin/python benchmarks/dead_rows.py compact 3 16
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.config.scenario import load_scenario  # noqa: E402
from sim.core.model import RotationModel  # noqa: E402
from sim.core.workforce import COLUMNS  # noqa: E402
from sim.experiments.run import collector_paused  # noqa: E402

SCENARIO = ROOT / "scenarios" / "beijing_2022_citywide.yaml"


def add_departed(model: RotationModel, k: int) -> None:
    """Append k departed rows: copies of the first rows, inactive and in no rotation or cohort."""
    wf = model.workforce
    src = np.arange(k) % wf.n
    values = {name: getattr(wf, name)[src].copy() for name in COLUMNS}
    none = np.full(k, -1)
    values.update(active=np.zeros(k, bool), cohort=np.zeros(k, bool), dormitory=np.zeros(k, bool),
                  term_end=none, program=none, part_host=none, rotated_in=none, cover_until=none,
                  part_share=np.zeros(k))
    wf.add(**values)


def compact(model: RotationModel) -> float:
    """Drop the departed rows from the live arrays (not exact: see the module's docstring).
    Returns the CPU seconds it took."""
    t = time.process_time()
    wf = model.workforce
    keep = np.flatnonzero(wf.active)
    k, n = len(keep), wf.n
    for arr in wf._cols.values():
        arr[:k] = arr[:n].take(keep)
        arr[k:n] = 0  # the store is zeros past n
    wf.n = k
    wf._expose()
    key, host_of, minutes = model._commute_cache
    model._commute_cache = key, host_of[keep], minutes[keep]
    cached = getattr(model, "_years_left_cache", None)
    model._years_left_cache = (wf, k, int(wf.age.sum()), cached[3][keep]) if cached and cached[1] == n else None
    model._hosts_index = (None, None, None)
    model._teacher_views.clear()
    return time.process_time() - t


def decade(scenario, dead: int = 0, every: int = 0) -> tuple[float, float, int]:
    """(CPU s of the ten steps, CPU s of the compactions in them, departed-row-years seen)."""
    with collector_paused():
        model = RotationModel(scenario, rng=0)
        if dead:
            add_departed(model, dead)
        spent, row_years = 0.0, 0
        t = time.process_time()
        for year in range(10):
            if every and year and year % every == 0:
                spent += compact(model)
            model.step()
            row_years += model.workforce.n - int(model.workforce.active.sum())
        return time.process_time() - t, spent, row_years


def main(argv: list[str]) -> None:
    mode, value, rounds = argv[0], int(argv[1]), int(argv[2])
    scenario = load_scenario(SCENARIO)
    diffs = []
    for _ in range(rounds):
        old = decade(scenario)
        new = decade(scenario, dead=value) if mode == "inject" else decade(scenario, every=value)
        diffs.append(new[0] - old[0])
        print(f"none {old[0]:.3f} s ({old[2]} departed-row-years)  {mode} {value}: {new[0]:.3f} s "
              f"(compaction {new[1]:.3f} s, {new[2]} departed-row-years)", flush=True)
    print(f"median paired difference {statistics.median(diffs):+.3f} s over {rounds} pairs")


if __name__ == "__main__":
    main(sys.argv[1:])
