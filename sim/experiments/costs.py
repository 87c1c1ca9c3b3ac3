"""What a policy costs in money: allowances, dormitory beds and double-teacher classrooms.

The simulator's settings are not money (`policy.allowance` is satisfaction added for rotators), so
an optimisation file prices them, each price with its unit and a source, or labelled an
assumption. A run's cost is computed from its scenario's settings and its metrics, over years
1..N of the run:

- allowance: `policy.allowance` x price (per teacher-year on rotation at allowance 1.0) x the sum
  over years of teachers away on a rotation at the year's end (metric `rotating:all`);
- dormitory beds: `policy.dormitories_per_district` x districts x price per bed-year x years;
- double-teacher classrooms: `policy.double_teacher.classrooms` x price per classroom-year x years.

Districts are counted from the metrics' `level@district` groups, so rosters and synthetic worlds
are counted alike.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from pydantic import Field, model_validator

from sim.config.scenario import Scenario, Strict


class Price(Strict):
    """One price: its value, its unit, and where it comes from (or that it is an assumption)."""

    value: Annotated[float, Field(ge=0.0, le=1e12)]
    unit: Annotated[str, Field(min_length=1, max_length=120)]
    source: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    assumption: bool = False

    @model_validator(mode="after")
    def _sourced(self) -> Price:
        if (self.source is None) == (not self.assumption):
            raise ValueError("give a source, or say assumption: true (not both)")
        return self


class Costs(Strict):
    """The prices of an optimisation file's `costs:` section (all in one currency)."""

    currency: Annotated[str, Field(min_length=1, max_length=20)] = "CNY"
    allowance: Price  # per teacher-year on rotation at policy.allowance = 1.0
    dormitory_bed: Price  # per bed per year
    double_teacher_classroom: Price  # per classroom per year


def districts(metrics: pd.DataFrame) -> int:
    """Districts of a run's world, from its `level@district` metric groups (at least 1)."""
    groups = metrics["group"].astype(str)
    names = {g.split("@", 1)[1] for g in groups.unique() if "@" in g}
    return max(1, len(names))


def run_cost(scenario: Scenario, metrics: pd.DataFrame, costs: Costs, years: int | None = None) -> dict[str, float]:
    """One replicate's cost over years 1..`years` (default: the whole run), by item and in total."""
    years = scenario.run.years if years is None else years
    policy = scenario.policy
    rotating = metrics[(metrics["metric"] == "rotating") & (metrics["group"] == "all")
                       & (metrics["year"] >= 1) & (metrics["year"] <= years)]
    allowance = policy.allowance * costs.allowance.value * float(rotating["value"].sum())
    beds = policy.dormitories_per_district * districts(metrics)
    dormitories = beds * costs.dormitory_bed.value * years
    classrooms = policy.double_teacher.classrooms * costs.double_teacher_classroom.value * years
    return {"allowance": allowance, "dormitories": dormitories, "classrooms": classrooms,
            "total": allowance + dormitories + classrooms}
