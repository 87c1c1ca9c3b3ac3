"""Achievement as a band, never a single line: the student-outcome proxy at low, central and high
radiation, each with the published range of the turnover loss (ODD 7.9, 7.12).

Whether rotation helps students rests on two parameters: radiation (how much colleagues learn
from visiting backbone teachers; its size is an assumption) and the loss to turnover (Ronfeldt,
Loeb and Wyckoff's 0.06-0.10 student SD per full turnover). The loss's range is in every run's
metrics (`achievement_low`, `achievement_high`); radiation's needs a run per value, made here
on the same replicate seeds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.config.scenario import Scenario, load_scenario

RADIATION_RANGE = (0.0, 0.5, 1.0)  # low, central (the default), high: the range explored (ODD 7.9)
COLUMNS = ("achievement_low", "achievement", "achievement_high")  # the loss at 0.10, 0.08, 0.06 student SD


def achievement_band(scenario: Scenario | str | Path, years: int | None = None, reps: int = 2,
                     radiation: tuple[float, ...] = RADIATION_RANGE, group: str = "all") -> pd.DataFrame:
    """Achievement by year at each radiation value, with the turnover loss's band: one row per
    (radiation, year) with the means over `reps` replicates of `achievement_low`, `achievement`
    and `achievement_high` (the same seeds at every radiation value).

    Example:
        >>> band = achievement_band(sim.small_world("scenarios/dongcheng_2021.yaml"), years=5)
        >>> fig = sim.present.plots.achievement_band(band)
    """
    from sim.experiments.run import run

    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    parts = []
    for r in radiation:
        sc = base.model_copy(update={"careers": base.careers.model_copy(update={"radiation": float(r)})})
        m = run(sc, years=years, reps=reps).metrics
        m = m[m["metric"].isin(COLUMNS) & (m["subgroup"] == group)]
        wide = m.pivot_table(index="year", columns="metric", values="value", aggfunc="mean", observed=True)
        parts.append(wide.reset_index().assign(radiation=float(r)))
    out = pd.concat(parts, ignore_index=True)
    return out[["radiation", "year", *COLUMNS]]


def band_range(band: pd.DataFrame, year: int) -> tuple[float, float, float]:
    """(lowest, central, highest) achievement in `year` over every radiation value and loss: the
    central one at the middle radiation value and the central loss."""
    at = band[band["year"] == year]
    mid = sorted(at["radiation"].unique())[len(at["radiation"].unique()) // 2]
    return float(at["achievement_low"].min()), float(at.loc[at["radiation"] == mid, "achievement"].iloc[0]), \
        float(at["achievement_high"].max())
