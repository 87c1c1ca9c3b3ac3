"""Check that a speed change left the results alone: record every move and metric of a set of
seeded runs, then compare two records.

    python benchmarks/fingerprint.py record before.json      # on the old code
    python benchmarks/fingerprint.py record after.json       # on the new code
    python benchmarks/fingerprint.py compare before.json after.json

The runs are every reference scenario in scenarios/ (6 years, seed 7) plus two Beijing-size
variants and two runs of a roster where the optimal matcher meets exact ties
(`benchmarks/fingerprint_roster`). Moves must be identical (a SHA-256 of the move log's
columns); metric values must agree to a relative 1e-9, the tolerance of
tests/test_regression.py (summing in another order may move the last bits). `compare` exits
1 when anything differs. A record takes about 20 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
YEARS, SEED = 6, 7
EXTRA = [("beijing_2022_citywide.yaml", ["world.scale=0.3"]),
         ("dongcheng_2021.yaml", ["world.preset=beijing", "world.scale=0.2"]),
         # exact ties in the optimal matcher (identical teachers: see the file's comment)
         ("../benchmarks/fingerprint_roster/ties.yaml", []),
         ("../benchmarks/fingerprint_roster/ties.yaml", ["policy.programs.0.scope=city",
                                                         "policy.programs.0.quota.min_count=250"])]


def cases() -> list[tuple[str, list[str]]]:
    files = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml") if not p.name.startswith("_"))
    return [(name, []) for name in files] + EXTRA


def record(path: Path) -> None:
    from sim.config.scenario import load_scenario
    from sim.core.model import RotationModel

    out = {}
    for name, overrides in cases():
        model = RotationModel(load_scenario(ROOT / "scenarios" / name, overrides), rng=SEED)
        model.run_for(YEARS)
        log = model.move_log.columns()
        digest = hashlib.sha256()
        for column in sorted(log):
            digest.update(column.encode())
            digest.update(np.ascontiguousarray(log[column]).tobytes())
        key = " ".join([name, *overrides])
        out[key] = {"moves": digest.hexdigest(), "n_moves": int(model.move_log.n),
                    "metrics": [[y, m, g, float(v)] for y, m, g, v in model.metric_rows]}
        print(f"{key}: {model.move_log.n} moves, {len(model.metric_rows)} metric rows", file=sys.stderr)
    path.write_text(json.dumps(out))


def same_value(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def compare(a_path: Path, b_path: Path) -> bool:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    ok = set(a) == set(b)
    if not ok:
        print(f"different cases: {sorted(set(a) ^ set(b))}")
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        moves = "same" if x["moves"] == y["moves"] else f"DIFFER ({x['n_moves']} vs {y['n_moves']} moves)"
        rows_a, rows_b = x["metrics"], y["metrics"]
        if [r[:3] for r in rows_a] != [r[:3] for r in rows_b]:
            metrics = "DIFFER (other rows)"
        else:
            bad = [r[:3] for r, s in zip(rows_a, rows_b, strict=True) if not same_value(r[3], s[3])]
            metrics = "same" if not bad else f"DIFFER ({len(bad)} values, e.g. {bad[:3]})"
        ok &= moves == "same" and metrics == "same"
        print(f"{key}: moves {moves}; metrics {metrics}")
    return ok


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("record").add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    if args.command == "record":
        record(args.out)
    else:
        sys.exit(0 if compare(args.before, args.after) else 1)


if __name__ == "__main__":
    main()
