"""What a policy costs in money: allowances, dormitory beds and double-teacher classrooms.

The simulator's settings are not money (`policy.allowance` is satisfaction added for rotators), so
an optimisation file prices them, each price with its unit and a source (a docs/sources.md key),
or labelled an assumption with the range it is explored over (`explored: [low, high]`; a sourced
price derived with an assumed factor gives one too). A run's cost is its quantities times the
prices, over years 1..N of the run:

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

ITEMS = ("allowance", "dormitory_bed", "double_teacher_classroom")  # the priced items, in this order


class Price(Strict):
    """One price: its value, its unit, where it comes from (or that it is an assumption, with the
    range the answer is explored over)."""

    value: Annotated[float, Field(ge=0.0, le=1e12)]
    unit: Annotated[str, Field(min_length=1, max_length=120)]
    source: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    assumption: bool = False
    explored: Annotated[list[Annotated[float, Field(ge=0.0, le=1e12)]], Field(min_length=2, max_length=2)] | None = None

    @model_validator(mode="after")
    def _sourced(self) -> Price:
        if (self.source is None) == (not self.assumption):
            raise ValueError("give a source, or say assumption: true (not both)")
        if self.assumption and self.explored is None:
            raise ValueError("an assumption needs the range it is explored over: explored: [low, high]")
        if self.explored is not None and not self.explored[0] <= self.value <= self.explored[1]:
            raise ValueError(f"explored: {self.explored} does not contain the value {self.value:g}")
        return self


class Costs(Strict):
    """The prices of an optimisation file's `costs:` section (all in one currency)."""

    currency: Annotated[str, Field(min_length=1, max_length=20)] = "CNY"
    allowance: Price  # per teacher-year on rotation at policy.allowance = 1.0
    dormitory_bed: Price  # per bed per year
    double_teacher_classroom: Price  # per classroom per year


def districts(metrics: pd.DataFrame) -> int:
    """Districts of a run's world, from its `level@district` metric groups (at least 1)."""
    groups = metrics["subgroup"].astype(str)
    names = {g.split("@", 1)[1] for g in groups.unique() if "@" in g}
    return max(1, len(names))


def quantities(scenario: Scenario, metrics: pd.DataFrame, years: int | None = None) -> dict[str, float]:
    """What one replicate buys over years 1..`years` (default: the whole run), per priced item:
    allowance-weighted teacher-years on rotation, bed-years, classroom-years."""
    years = scenario.run.years if years is None else years
    policy = scenario.policy
    rotating = metrics[(metrics["metric"] == "rotating") & (metrics["subgroup"] == "all")
                       & (metrics["year"] >= 1) & (metrics["year"] <= years)]
    return {"allowance": policy.allowance * float(rotating["value"].sum()),
            "dormitory_bed": policy.dormitories_per_district * districts(metrics) * years,
            "double_teacher_classroom": policy.double_teacher.classrooms * years}


def run_cost(scenario: Scenario, metrics: pd.DataFrame, costs: Costs, years: int | None = None) -> dict[str, float]:
    """One replicate's cost over years 1..`years` (default: the whole run), by item and in total."""
    q = quantities(scenario, metrics, years)
    allowance = q["allowance"] * costs.allowance.value
    dormitories = q["dormitory_bed"] * costs.dormitory_bed.value
    classrooms = q["double_teacher_classroom"] * costs.double_teacher_classroom.value
    return {"allowance": allowance, "dormitories": dormitories, "classrooms": classrooms,
            "total": allowance + dormitories + classrooms}
