"""Published targets as data: which statistic of a run a published figure is, and how sure it is.

A targets file (YAML) lists published figures. Each names a statistic of the model's yearly
metric rows (a metric and group, a year or span of years, how the years are aggregated, and
optionally another metric to divide by, for a denominator no metric has), the published value,
its denominator in the source's own words, an uncertainty, and its source (a key of
docs/sources.md). Where the source's denominator is ambiguous, `alternatives` give the other
readings, each its own statistic, so a report can show the model under every reading.

A statistic is computed per replicate; the model's value is the mean over replicates, with a
t-interval. A target is met when that mean lies within the target's uncertainty (see `Target.met`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from sim.config.scenario import ScenarioError, Strict, read_yaml_mapping, validation_line

NAME = r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$"
SOURCES = Path(__file__).resolve().parents[2] / "docs" / "sources.md"
DEFAULT_SCALE = 0.10  # a bound's distance is counted in units of 10% of the bound (when no `scale`)


class TargetsError(ValueError):
    """A targets file that cannot be used; its message is one line naming the file and the key."""


def source_keys() -> set[str]:
    """The bibliography's keys (the first column of docs/sources.md's tables)."""
    return set(re.findall(r"^\| ([A-Z][A-Z0-9-]+) \|", SOURCES.read_text(encoding="utf-8"), re.M))


class Per(Strict):
    """Divide by another metric, `lag` years earlier (e.g. rotations / teachers in post a year before)."""

    metric: str
    group: str = "all"
    lag: Annotated[int, Field(ge=0, le=50)] = 0


class Statistic(Strict):
    """One number per replicate from its yearly metric rows."""

    metric: str
    group: str = "all"
    year: Annotated[int, Field(ge=0, le=200)] | None = None
    span: Annotated[list[Annotated[int, Field(ge=0, le=200)]], Field(min_length=2, max_length=2)] | None = None
    aggregate: Literal["mean", "sum", "min", "max"] = "mean"  # over the span's years
    per: Per | None = None

    @field_validator("metric")
    @classmethod
    def _known(cls, name: str) -> str:
        from sim.metrics import REGISTRY

        if name not in REGISTRY:
            raise ValueError(f"unknown metric {name!r} (see docs/metrics.md)")
        return name

    @model_validator(mode="after")
    def _one_time(self) -> Statistic:
        if (self.year is None) == (self.span is None):
            raise ValueError("give either year or span [first, last]")
        if self.span is not None and self.span[0] > self.span[1]:
            raise ValueError(f"span {self.span}: first year after last")
        if self.per is not None:
            from sim.metrics import REGISTRY

            if self.per.metric not in REGISTRY:
                raise ValueError(f"per: unknown metric {self.per.metric!r} (see docs/metrics.md)")
            if self.years[0] - self.per.lag < 0:
                raise ValueError(f"per: lag {self.per.lag} reaches before year 0")
        return self

    @property
    def years(self) -> list[int]:
        if self.year is not None:
            return [self.year]
        return list(range(self.span[0], self.span[1] + 1))

    @property
    def last_year(self) -> int:
        return self.years[-1]

    def describe(self) -> str:
        if self.year is not None:
            when = f"year {self.year}"
        else:
            when = f"{self.aggregate} of years {self.span[0]}-{self.span[1]}"
        per = ""
        if self.per is not None:
            lag = f" {self.per.lag} year(s) before" if self.per.lag else ""
            per = f" / {self.per.metric}:{self.per.group}{lag}"
        return f"{self.metric}:{self.group}{per}, {when}"

    def value(self, rows: dict[tuple[str, str, int], float]) -> float:
        """The statistic of one replicate from its rows {(metric, group, year): value}; NaN when a
        row is missing or a denominator is 0 (a statistic the run does not define)."""
        values = []
        for y in self.years:
            v = rows.get((self.metric, self.group, y), math.nan)
            if self.per is not None:
                d = rows.get((self.per.metric, self.per.group, y - self.per.lag), math.nan)
                v = v / d if d else math.nan
            values.append(v)
        arr = np.asarray(values, dtype=float)
        if np.isnan(arr).any():
            return math.nan
        return float({"mean": np.mean, "sum": np.sum, "min": np.min, "max": np.max}[self.aggregate](arr))


class Uncertainty(Strict):
    """How far the model may be from the published value: exactly one of these."""

    se: Annotated[float, Field(gt=0)] | None = None  # a standard error: met within 2 SE
    interval: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None  # [low, high]
    at_least: float | None = None
    at_most: float | None = None
    scale: Annotated[float, Field(gt=0)] | None = None  # a bound's unit of distance (default 10% of it)

    @model_validator(mode="after")
    def _exactly_one(self) -> Uncertainty:
        given = [k for k in ("se", "interval", "at_least", "at_most") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of se, interval, at_least, at_most")
        if self.interval is not None and not self.interval[0] < self.interval[1]:
            raise ValueError(f"interval {self.interval}: low must be below high")
        if self.scale is not None and self.se is not None:
            raise ValueError("scale applies to a bound or an interval, not to se")
        return self

    def describe(self) -> str:
        if self.se is not None:
            return f"SE {self.se:g}"
        if self.interval is not None:
            return f"[{self.interval[0]:g}, {self.interval[1]:g}]"
        return f">= {self.at_least:g}" if self.at_least is not None else f"<= {self.at_most:g}"


class Reading(Strict):
    """Another reading of an ambiguous denominator: its own statistic and words."""

    statistic: Statistic
    denominator: Annotated[str, Field(min_length=1)]
    note: str = ""


class Target(Strict):
    """One published figure."""

    statistic: Statistic
    published: float
    uncertainty: Uncertainty
    denominator: Annotated[str, Field(min_length=1)]  # in the source's own words
    source: str
    note: str = ""
    alternatives: dict[Annotated[str, Field(pattern=NAME)], Reading] = {}

    @field_validator("source")
    @classmethod
    def _in_bibliography(cls, key: str) -> str:
        if key not in source_keys():
            raise ValueError(f"{key!r} is not a key of docs/sources.md")
        return key

    @model_validator(mode="after")
    def _published_fits(self) -> Target:
        u = self.uncertainty
        if u.interval is not None and not u.interval[0] <= self.published <= u.interval[1]:
            raise ValueError(f"published value {self.published:g} lies outside its interval {u.interval}")
        return self

    def distance(self, mean: float) -> float:
        """How far a model mean is from the target, in units of its uncertainty (0 when within a
        bound or interval); infinite for NaN (a statistic the run does not define)."""
        if math.isnan(mean):
            return math.inf
        u = self.uncertainty
        if u.se is not None:
            return abs(mean - self.published) / u.se
        if u.interval is not None:
            lo, hi = u.interval
            return max(lo - mean, mean - hi, 0.0) / (u.scale or (hi - lo) / 2)
        bound = u.at_least if u.at_least is not None else u.at_most
        gap = bound - mean if u.at_least is not None else mean - bound
        return max(gap, 0.0) / (u.scale or DEFAULT_SCALE * abs(bound) or DEFAULT_SCALE)

    def met(self, mean: float) -> bool:
        """Within 2 SE of the published value; within the interval; or on the right side of the bound."""
        limit = 2.0 if self.uncertainty.se is not None else 0.0
        return bool(self.distance(mean) <= limit)

    def readings(self) -> dict[str, Statistic]:
        """The published reading first (named 'published'), then the alternatives."""
        return {"published": self.statistic, **{k: r.statistic for k, r in self.alternatives.items()}}


class TargetsFile(Strict):
    name: Annotated[str, Field(min_length=1, max_length=80, pattern=NAME)]
    description: str = ""
    targets: Annotated[dict[Annotated[str, Field(pattern=NAME)], Target], Field(min_length=1)]


def load_targets(path: str | Path) -> TargetsFile:
    """Read and check a targets file; TargetsError with one line naming the file and key."""
    path = Path(path)
    try:
        data = read_yaml_mapping(path)
    except ScenarioError as exc:
        raise TargetsError(str(exc)) from None
    except OSError as exc:
        raise TargetsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return TargetsFile.model_validate(data)
    except ValidationError as exc:
        raise TargetsError(error_line(exc, path)) from None


def error_line(exc: ValidationError, path: Path) -> str:
    """pydantic's first error as one line naming the file and the key."""
    return validation_line(exc, {}, str(path)).replace("Value error, ", "")


def metric_rows(rows) -> dict[tuple[str, str, int], float]:
    """{(metric, group, year): value} from a model's (year, metric, group, value) rows."""
    return {(m, g, int(y)): float(v) for y, m, g, v in rows}
