"""Is the rebound of Dongcheng's backbone CV real or an artefact? The evidence of docs/ODD.md.

Runs `dongcheng_2021` (10 years, 5 replicates, its own seeds) as shipped and with its tenure
history and pause rule removed one at a time and together (the code before issue 15 items 1-2 is
"no history, reset"), and with every term fixed at 3 years (so the year-1 rotators all come home
in year 4), and prints the primary and junior backbone CV, the rotations started and the returns
home, every year, with the mean of years 1-10 and of years 6-10.

    python scripts/equity_path.py [--reps 5]
"""

from __future__ import annotations

import argparse
import warnings

import pandas as pd

from sim.config.scenario import load_scenario
from sim.experiments.run import run
from sim.present.report import by_year

VARIANTS = {
    "as shipped (7 years of history, pause)": [],
    "no history (pause)": ["careers.tenure.history_years=0"],
    "history, reset": ["careers.tenure.rotation_counts=reset"],
    "no history, reset (the code before)": ["careers.tenure.history_years=0", "careers.tenure.rotation_counts=reset"],
    "as shipped, every term 3 years": ["policy.programs.district_exchange.term_years_min=3",
                                       "policy.programs.twinning_pairs.term_years_min=3",
                                       "policy.programs.pilot_school_district.term_years_min=3"],
    "no rotation": ["policy.programs=[]"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for name, sets in VARIANTS.items():
        m = run(load_scenario("scenarios/dongcheng_2021.yaml", tuple(sets)), years=10, reps=args.reps).metrics
        for metric, group in (("cv_backbone", "primary"), ("cv_backbone", "junior"), ("rotations", "all"),
                              ("returns", "all")):
            s = by_year(m, metric, group)
            rows.append({"variant": name, "series": f"{metric}:{group}", **{str(y): v for y, v in s.items()},
                         "mean 1-10": s[s.index >= 1].mean(), "mean 6-10": s[s.index >= 6].mean()})
    table = pd.DataFrame(rows).set_index(["variant", "series"])
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.float_format", "{:.3g}".format):
        print(table.to_string())


if __name__ == "__main__":
    main()
