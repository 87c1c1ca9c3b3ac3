"""Regenerate the frozen results fixture in tests/data/fixture/ (run on purpose only).

The figure, report and app tests render from these small real results instead of running the
model, so they are quick and do not move when the model changes. The fixture holds:

- `run/`: `dongcheng_2021` on a small two-district Beijing-shaped world (its district exchange
  widened to the city, so that teachers also flow between districts), 3 replicates x 4 years, as
  `teachersim run` writes it (without figures), plus `graph.json`, the place graph of replicate 0
  as node-link JSON;
- `compare/`: `baseline_drift` vs `dongcheng_2021` vs `china_2014_floor` on one small world,
  3 paired replicates x 4 years, as `teachersim compare` writes it (without figures);
- `sweep/`: a Sobol sweep (N = 4, two parameters, 3 replicates x 3 years) of the one-program
  exchange scenario, as `teachersim sweep --serial` writes it.

Usage: python scripts/make_test_fixture.py [--out tests/data/fixture]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import networkx as nx
import yaml

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
# Two districts (Dongcheng, Xicheng) of 12 schools of about 20 teachers (about 480 teachers), two
# education groups and three twinning pairs in each.
WORLD = ["world.preset=beijing", "world.districts=2", "world.schools_per_district=12",
         "world.teachers_per_school=20", "world.groups_per_district=2",
         "world.twinning_pairs_per_district=3"]
# dongcheng_2021's district exchange asks for 2,000 a year in a district of 8,800 teachers;
# scaled to a district of 240 teachers that is about 55.
DONGCHENG_SCALED = ["policy.programs.3.quota.min_count=55"]
SEED = 20210901


def make_run(out: Path) -> None:
    from sim.core.model import RotationModel
    from sim.experiments.run import run
    from sim.present.outputs import write_run

    overrides = (*WORLD, *DONGCHENG_SCALED, "policy.programs.3.scope=city")
    result = run(SCENARIOS / "dongcheng_2021.yaml", years=4, reps=3, seed=SEED, overrides=overrides)
    write_run(result, out, figures=False)
    graph = RotationModel(result.scenario, rng=result.seeds[0]).world.graph
    data = nx.node_link_data(graph, edges="edges")
    (out / "graph.json").write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


def make_compare(out: Path) -> None:
    from sim.config.scenario import load_scenario
    from sim.experiments.run import compare
    from sim.present.outputs import write_comparison

    scenarios = [load_scenario(SCENARIOS / "baseline_drift.yaml", WORLD),
                 load_scenario(SCENARIOS / "dongcheng_2021.yaml", [*WORLD, *DONGCHENG_SCALED]),
                 load_scenario(SCENARIOS / "china_2014_floor.yaml", [*WORLD, "world.scale=1"])]
    result = compare(scenarios, reps=3, years=4, seed=SEED, at=[2, 4],
                     outcomes=["cv_backbone:primary", "cv_backbone:junior", "cv_quality:all",
                               "achievement_gap:all", "mean_commute:all", "rotations:all"])
    write_comparison(result, out, figures=False)


def make_sweep(out: Path) -> None:
    from sim.experiments.run import sweep

    spec = {
        "name": "fixture_sobol",
        "description": "Sobol sensitivity of the one-program exchange to its quota and to voluntary drift.",
        "bases": [str(REPO / "tests" / "data" / "sweep_base.yaml")],
        "set": WORLD[2:],  # the one-district Dongcheng preset, as small as the others
        "parameters": {"policy.programs.0.quota.min_count": {"low": 0, "high": 60, "integer": True},
                       "careers.drift_rate": {"low": 0.0, "high": 0.08}},
        "design": {"kind": "sobol", "points": 4, "seed": 1},
        "replicates": 3, "years": 3, "seed": SEED,
        "outcomes": ["cv_backbone", "cv_quality", "rotations"],
        "groups": ["primary", "junior", "all"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fixture_sobol.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        summary = sweep(path, out, serial=True)
    if summary.failed or summary.done != summary.total:
        sys.exit(f"fixture sweep incomplete: {summary.line()}")
    shutil.rmtree(out / "failed", ignore_errors=True)
    (out / ".lock").unlink(missing_ok=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "tests" / "data" / "fixture"))
    args = p.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    make_run(out / "run")
    make_compare(out / "compare")
    make_sweep(out / "sweep")
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out}/ ({sum(1 for f in out.rglob('*') if f.is_file())} files, {total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
