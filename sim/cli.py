"""The `teachersim` command (also `python -m sim`).

Exit codes: 0 success; 2 bad input (one line naming the file, the key and the problem, nothing
written); 1 anything else. Heavy libraries are imported only by the commands that use them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SCENARIO_DIR = Path("scenarios")


class BadInput(Exception):
    """Input the user can fix; reported as one line with exit code 2."""


def _load(path: str, overrides: list[str]):
    from sim.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(path, overrides)
    except ScenarioError as exc:
        raise BadInput(str(exc)) from None


def cmd_validate(args) -> int:
    from sim.experiment import check_size
    from sim.scenario import ScenarioError, scenario_to_yaml

    scenario = _load(args.scenario, args.set)
    try:
        check_size(scenario)
    except ScenarioError as exc:
        raise BadInput(f"{args.scenario}: {exc}") from None
    print(scenario_to_yaml(scenario), end="")
    return 0


def cmd_run(args) -> int:
    from sim.experiment import run
    from sim.scenario import ScenarioError
    from sim.store import check_writable, write_run
    from sim.world import RosterError

    scenario = _load(args.scenario, args.set)
    out = Path(args.out) if args.out else Path("results") / scenario.name
    try:
        check_writable(out)
    except OSError as exc:
        raise BadInput(f"--out {out}: {exc}") from None
    try:
        result = run(scenario, years=args.years, reps=args.reps, seed=args.seed, progress=not args.quiet)
    except RosterError as exc:
        raise BadInput(str(exc)) from None
    except ScenarioError as exc:
        raise BadInput(f"{args.scenario}: {exc}") from None
    write_run(result, out, figures=not args.no_figures)
    print(f"wrote {out}/ (metrics.parquet, schools.parquet, moves.parquet, manifest.json, summary.md"
          f"{', figures/' if not args.no_figures else ''})")
    return 0


def cmd_scenarios(args) -> int:
    import yaml

    folder = Path(args.folder)
    files = sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("_"))
    if not files:
        raise BadInput(f"{folder}: no scenario files")
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        desc = str(data.get("description", "")).strip().splitlines()
        print(f"{path.stem:28s} {desc[0] if desc else ''}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="teachersim", description="Agent-based simulator of teacher rotation "
                                "between schools (China's exchange and rotation policy and others).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a scenario and write results, figures and a summary")
    r.add_argument("scenario", help="scenario YAML file")
    r.add_argument("--years", type=int, help="simulated years (overrides run.years)")
    r.add_argument("--reps", type=int, help="replicates (overrides run.replicates)")
    r.add_argument("--seed", type=int, help="root seed (overrides run.seed)")
    r.add_argument("--out", help="output folder (default results/<scenario name>)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a dotted key")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)
    v = sub.add_parser("validate", help="print the resolved scenario, or the first problem in it")
    v.add_argument("scenario")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(func=cmd_validate)
    s = sub.add_parser("scenarios", help="list the scenario files with their descriptions")
    s.add_argument("folder", nargs="?", default=str(SCENARIO_DIR))
    s.set_defaults(func=cmd_scenarios)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name in ("years", "reps"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"teachersim: --{name}: must be at least 1, got {value}", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except BadInput as exc:
        print(f"teachersim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("teachersim: interrupted; no partial results were kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
