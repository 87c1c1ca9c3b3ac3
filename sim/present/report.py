"""The readable summary of a run (summary.md): each headline metric's trajectory, and why it moves.

A start and an end value hide what happens between: under rotation the CVs fall while rotators
are away and rise again when their terms end and they go home. So the summary gives, per
headline metric, the start, the lowest and highest year, the mean over the run and over its last
five years, the last value, every year in tables by year, and in words the rebounds and the term
lengths (read from the scenario's programs) that explain them. `sim.present.html_report` and
`sim.present.plots` use the same helpers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.experiments.spans import RECENT_YEARS, recent_span, span_words
from sim.metrics import BASIC_CV, HIGH_QUALITY_CV, INDICATORS, REGISTRY

HEADLINE_PAIRS = [(f"cv_{i}", g) for i in INDICATORS for g in ("primary", "junior")] + [
    ("cv_quality", "all"), ("cv_composite", "primary"), ("cv_composite", "junior"),
    ("teachers_in_post", "all"), ("rotations", "all"), ("returns", "all"), ("participation", "all"),
    ("backbone_share_rotators", "all"), ("coverage_eligible", "all"),
    ("achievement_low", "all"), ("achievement", "all"), ("achievement_high", "all"),
    ("achievement_gap", "all"),
]
COUNT_UNITS = {"teachers", "students", "cadres", "schools"}  # registry units of head counts
MAX_YEAR_COLUMNS = 16  # years per table by year; a longer run gets several tables (every year shown)
MAX_YEARS_IN_WORDS = 12  # years whose rotations and returns the explanation lists
SHOWN_REBOUNDS = 3  # the largest rebounds named in words
REBOUND = 0.05  # a CV that rises this much (and 10% of its low) after its lowest year has rebounded


def headline(metrics: pd.DataFrame) -> list[tuple[str, str]]:
    """The headline (metric, group) pairs present in `metrics`: HEADLINE_PAIRS, plus every registered
    count of people in post (`*_in_post`, e.g. cadres) after teachers_in_post."""
    pairs = list(HEADLINE_PAIRS)
    at = pairs.index(("teachers_in_post", "all")) + 1
    pairs[at:at] = [(n, "all") for n in REGISTRY if n.endswith("_in_post") and (n, "all") not in pairs]
    present = set(zip(_strings(metrics["metric"]), _strings(metrics["subgroup"]), strict=True))
    return [p for p in pairs if p in present]


def _strings(column: pd.Series) -> np.ndarray:
    """A column as an array of Python strings (iterating a pandas string column is slower by far)."""
    return column.astype(str).to_numpy(dtype=object)


def is_count(metric: str) -> bool:
    """True for head counts (the registry's unit is people or schools): printed as whole numbers."""
    return metric in REGISTRY and REGISTRY[metric].unit in COUNT_UNITS


def fmt(metric: str, value: float, digits: int = 3) -> str:
    """A value as a reader wants it: head counts as whole numbers with separators, else `digits` decimals."""
    if value is None or not math.isfinite(value):
        return "-" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{round(value):,}" if is_count(metric) else f"{value:.{digits}f}"


def by_year(metrics: pd.DataFrame, metric: str, group: str) -> pd.Series:
    """Mean over replicates by year of one metric and group (non-finite values left out)."""
    return year_means(metrics, [(metric, group)])[(metric, group)]


def _rows_of(metrics: pd.DataFrame, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """The rows of the metrics and groups of `pairs` (a superset of the pairs' rows), the columns a summary reads."""
    keep = metrics["metric"].isin({m for m, _ in pairs}) & metrics["subgroup"].isin({g for _, g in pairs})
    return metrics.loc[keep, ["metric", "subgroup", "year", "value"]]


def year_means(metrics: pd.DataFrame, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], pd.Series]:
    """`by_year` of every (metric, group) pair, from one grouping of the frame: a summary asks
    for dozens of pairs, and filtering the frame once per pair took most of its time. A pair
    without a finite value gets an empty series."""
    rows = _rows_of(metrics, pairs)
    rows = rows[np.isfinite(rows["value"].to_numpy(dtype=float))]
    means = rows.groupby(["metric", "subgroup", "year"])["value"].mean()
    found: dict[tuple[str, str], tuple[list, list]] = {}
    keys = means.index
    for metric, group, year, value in zip(_strings(pd.Series(keys.get_level_values(0))),
                                          _strings(pd.Series(keys.get_level_values(1))),
                                          keys.get_level_values(2).to_numpy(), means.to_numpy(), strict=True):
        years, values = found.setdefault((metric, group), ([], []))
        years.append(year)
        values.append(value)
    out = {}
    for pair in pairs:
        years, values = found.get(pair, ([], []))
        out[pair] = pd.Series(np.array(values, dtype=float), name="value",
                              index=pd.Index(np.array(years, dtype=np.int64), name="year"))
    return out


@dataclass
class Trajectory:
    """One metric's path over the years (means over replicates): start, lowest, highest, mean, last."""

    start: float
    low: float
    low_year: int
    high: float
    high_year: int
    mean: float  # over years 1..last (year 0 is the initial state)
    last: float
    last_year: int
    recent: float  # over the last RECENT_YEARS years (recent_from..last)
    recent_from: int

    @classmethod
    def of(cls, series: pd.Series) -> Trajectory:
        """From a series of finite means by year (`year_means`), in numpy: a summary makes dozens,
        and pandas' selections and reductions cost most of them (the same values: min and max
        take the first such year, as idxmin does, and the means the same sums)."""
        years, values = series.index.to_numpy(), series.to_numpy(dtype=float)
        later = years >= 1
        run_years, run = (years[later], values[later]) if later.any() else (years, values)
        last = int(years[-1])
        lo, _ = recent_span(last)
        low, high = int(np.argmin(run)), int(np.argmax(run))
        return cls(float(values[0]), float(run[low]), int(run_years[low]), float(run[high]), int(run_years[high]),
                   float(run.mean()), float(values[-1]), last, float(run[run_years >= lo].mean()), lo)


def average_columns(last: int) -> tuple[str, str]:
    """The headings of the two time averages: over the run (years 1..last) and over its last years."""
    lo, hi = recent_span(last)
    return f"mean, {span_words(1, last)}", f"mean, last {RECENT_YEARS} years ({span_words(lo, hi)})"


# ------------------------------------------------------------------------------ terms


def programs_of(scenario) -> list[dict]:
    """The programs of a Scenario or of a resolved scenario dict (a manifest's), as dicts."""
    data = scenario if isinstance(scenario, dict) else scenario.model_dump(mode="json")
    return data["policy"]["programs"]


def term_lengths(programs: list[dict]) -> list[tuple[str, int, int, float]]:
    """(program, shortest term, longest term, share staying at the host) of each program whose
    rotators go home at term end; transfers move the post for good and have no term."""
    return [(p["name"], p["term_years_min"], p["term_years_max"], p["stay_share"]) for p in programs
            if p["form"] != "transfer" and p["stay_share"] < 1]


def first_term_ends(programs: list[dict], last_year: int | None = None) -> list[int]:
    """The years the first year's rotators reach the end of their terms (rotations start in year 1;
    a term of t years ends in year 1 + t), within the run when `last_year` is given."""
    years = sorted({1 + t for _, lo, hi, _ in term_lengths(programs) for t in range(lo, hi + 1)})
    return [y for y in years if last_year is None or y <= last_year]


def term_ends_by_scenario(scenarios, last_year: int) -> dict[str, list[int]]:
    """Each compared scenario's `first_term_ends` (Scenarios or a manifest's resolved dicts), by name."""
    return {(s["name"] if isinstance(s, dict) else s.name): first_term_ends(programs_of(s), last_year)
            for s in scenarios}


def years_words(lo: int, hi: int) -> str:
    return f"{lo} year{'s' if lo > 1 else ''}" if lo == hi else f"{lo}-{hi} years"


def terms_sentence(programs: list[dict]) -> str:
    """The scenario's terms in words, programs of the same term length together."""
    by_term: dict[str, list[str]] = {}
    for name, lo, hi, stay in term_lengths(programs):
        key = years_words(lo, hi) + (f", {100 * stay:.0f}% staying on at the host" if stay else "")
        by_term.setdefault(key, []).append(f"`{name}`")
    return "; ".join(f"{', '.join(names)}: terms of {term}" for term, names in by_term.items())


def rebounds(metrics: pd.DataFrame, pairs: list[tuple[str, str]]) -> list[tuple[str, str, Trajectory]]:
    """The CV metrics among `pairs` that rise again after their lowest year, by at least REBOUND
    and 10% of the low."""
    return _rebounds(year_means(metrics, pairs), pairs)


def _rebounds(means: dict, pairs: list[tuple[str, str]]) -> list[tuple[str, str, Trajectory]]:
    out = []
    for metric, group in pairs:
        if not metric.startswith("cv_"):
            continue
        series = means[(metric, group)]
        if len(series) < 3:
            continue
        t = Trajectory.of(series)
        after = series[series.index > t.low_year]
        if len(after) and after.max() - t.low >= max(REBOUND, 0.1 * t.low):
            out.append((metric, group, t))
    return out


def _counts_by_year(means: dict, metric: str, years: list[int]) -> str:
    s = means[(metric, "all")]
    return ", ".join(f"{fmt(metric, float(s[y]))} in year {y}" for y in years if y in s.index)


def rebound_words(metrics: pd.DataFrame, programs: list[dict], pairs: list[tuple[str, str]],
                  means: dict | None = None) -> list[str]:
    """Paragraphs (Markdown) saying which CVs rebound, and why: rotators return home at term end.
    `means`: `year_means` of `pairs` and of rotations and returns, when the caller has them."""
    if means is None:
        means = year_means(metrics, [*pairs, ("rotations", "all"), ("returns", "all")])
    found = _rebounds(means, pairs)
    if not found:
        return []
    rises = []
    for metric, group, t in found:
        after = means[(metric, group)]
        after = after[after.index > t.low_year]
        rises.append((float(after.max()) - t.low, metric, group, t, float(after.max()), int(after.idxmax())))
    rises.sort(key=lambda r: -r[0])
    peaks = [r[5] for r in rises[:SHOWN_REBOUNDS]]
    said = []
    for _, metric, group, t, peak, peak_year in rises[:SHOWN_REBOUNDS]:
        worse = f", above its start ({t.start:.3f})" if t.last > t.start else ""
        said.append(f"`{metric}` ({group}) falls to {t.low:.3f} in year {t.low_year}, climbs to {peak:.3f} by year "
                    f"{peak_year} and ends at {t.last:.3f}{worse}")
    more = len(rises) - SHOWN_REBOUNDS
    if more > 0:
        said.append(f"{more} other CV{'s' if more > 1 else ''} rise{'' if more > 1 else 's'} less (see the table "
                    "by year)")
    words = ["**Why some CVs rise again.** " + "; ".join(said) + "."]
    terms = term_lengths(programs)
    if not terms:
        words.append("No program of this scenario sends rotators home at term end (transfers only or none), so "
                     "these rises come from the other processes: drift to stronger schools, retirements, "
                     "attrition and hiring.")
        return words
    last = int(metrics["year"].max())
    ends = first_term_ends(programs, last)
    span = list(range(1, min(last, max([*ends, *peaks])) + 1))  # the years that explain the rises
    early = [y for y in span if y <= max(ends, default=1) + 1]  # the first terms, year by year
    later = [y for y in span if y not in early]
    span = early + (shown_years(later, max(MAX_YEARS_IN_WORDS - len(early), 2), keep=1) if later else [])
    text = (f"A rotator teaches at the host school only for the term and then goes home, taking the title and "
            f"backbone status back to the school that sent them. Terms in this scenario: {terms_sentence(programs)}; "
            f"so the rotators of year 1 come home in year{'s' if len(ends) > 1 else ''} "
            f"{', '.join(str(y) for y in ends) if len(ends) <= 2 else f'{ends[0]}-{ends[-1]}'}, "
            "and the schools that sent them regain what they had lent unless later rotations send as many out.")
    if (metrics["metric"] == "returns").any():
        text += (f" Rotations started: {_counts_by_year(means, 'rotations', span)}. Returns home at term end: "
                 f"{_counts_by_year(means, 'returns', span)}.")
    words.append(text)
    return words


# --------------------------------------------------------------------------- summary.md


def _cell(metric: str, values) -> str:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return "-"
    if len(x) > 1:
        return f"{fmt(metric, x.mean())} [{fmt(metric, x.min())}, {fmt(metric, x.max())}]"
    return fmt(metric, x[0])


def shown_years(years: list[int], most: int = MAX_YEAR_COLUMNS, keep: int = 2) -> list[int]:
    """At most `most` years: the first `keep` (year 0 and year 1, where rotation starts), then
    evenly spaced ones, the last always included."""
    if len(years) <= most:
        return years
    rest = years[keep:]
    picks = np.linspace(0, len(rest) - 1, max(most - keep, 1)).round().astype(int)
    return years[:keep] + [rest[i] for i in sorted(set(picks.tolist()))]


def trajectory_rows(metrics: pd.DataFrame, pairs: list[tuple[str, str]],
                    means: dict | None = None) -> list[tuple[str, str, list[str]]]:
    """(metric, group, cells) for the table of headline trajectories: start (with the replicates'
    range), lowest (year), highest (year), mean of years 1..last, mean of the last RECENT_YEARS
    years, last (with range). `means`: `year_means` of (at least) `pairs`, when the caller has them."""
    last = int(metrics["year"].max())
    if means is None:
        means = year_means(metrics, pairs)
    ends = _rows_of(metrics, pairs)
    ends = ends[ends["year"].isin([0, last])]
    at: dict[tuple, list[float]] = {}  # (metric, group, year) -> every replicate's value, in row order
    for key in zip(_strings(ends["metric"]), _strings(ends["subgroup"]), ends["year"].to_numpy(),
                   ends["value"].to_numpy(), strict=True):
        at.setdefault(key[:3], []).append(key[3])
    rows = []
    for metric, group in pairs:
        series = means[(metric, group)]
        if series.empty:
            continue
        t = Trajectory.of(series)
        rows.append((metric, group, [
            _cell(metric, at.get((metric, group, 0), [])),
            f"{fmt(metric, t.low)} (year {t.low_year})", f"{fmt(metric, t.high)} (year {t.high_year})",
            fmt(metric, t.mean), fmt(metric, t.recent), _cell(metric, at.get((metric, group, last), []))]))
    return rows


def year_tables(metrics: pd.DataFrame, pairs: list[tuple[str, str]], means: dict | None = None) -> list[pd.DataFrame]:
    """Every year's mean over replicates of each headline metric, in tables of at most
    MAX_YEAR_COLUMNS years each (a 20-year run: years 0-15, then 16-20); no year left out.
    `means`: `year_means` of (at least) `pairs`, when the caller has them."""
    years = sorted(int(y) for y in metrics["year"].unique())
    blocks = [years[i:i + MAX_YEAR_COLUMNS] for i in range(0, len(years), MAX_YEAR_COLUMNS)]
    if means is None:
        means = year_means(metrics, pairs)
    return [year_table(metrics, pairs, block, means) for block in blocks]


def year_table(metrics: pd.DataFrame, pairs: list[tuple[str, str]], years: list[int] | None = None,
               means: dict | None = None) -> pd.DataFrame:
    """Mean over replicates of each headline metric by year (rows: metrics; columns: `years`,
    default every year)."""
    years = sorted(int(y) for y in metrics["year"].unique()) if years is None else years
    if means is None:
        means = year_means(metrics, pairs)
    out = []
    for metric, group in pairs:
        s = means[(metric, group)]
        at = dict(zip(s.index.tolist(), s.tolist(), strict=True))  # a dict: a pandas lookup per cell costs more
        out.append([f"`{metric}`", group] + [fmt(metric, at[y]) if y in at else "-" for y in years])
    return pd.DataFrame(out, columns=["metric", "group", *[str(y) for y in years]])


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return lines


def summary_markdown(result) -> str:
    """summary.md: the headline metrics' trajectories (start, lowest, highest, mean, last; a table
    by year) and, in words, why CVs rebound."""
    m = result.metrics
    sc = result.scenario
    last = int(m["year"].max())
    pairs = headline(m)
    programs = programs_of(sc)
    lines = [
        f"# {sc.name}",
        "",
        sc.description.strip() or "(no description)",
        "",
        f"{sc.run.replicates} replicate(s) x {last} years, root seed {sc.run.seed}; world preset "
        f"`{sc.world.preset}`; {len(sc.policy.programs)} rotation program(s).",
        "High-quality limits (2017 standard, docs/sources.md): each indicator's CV <= "
        f"{HIGH_QUALITY_CV['primary']:.2f} (primary) / {HIGH_QUALITY_CV['junior']:.2f} (junior); "
        "basic balance (2012): composite CV <= "
        f"{BASIC_CV['primary']:.2f} / {BASIC_CV['junior']:.2f}.",
        "",
        "## Headline metrics over the run",
        "",
        "Means over replicates; the start and the last year also give [min, max] over replicates when there "
        f"are several. Lowest, highest and the means are over years 1-{last} (year 0 is the initial state); "
        f"the last means are over the last {RECENT_YEARS} years, where the run settles once the first "
        "terms have ended.",
        "",
        f"| metric | group | year 0 (start) | lowest (year) | highest (year) | {' | '.join(average_columns(last))} "
        f"| year {last} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    means = year_means(m, [*pairs, ("rotations", "all"), ("returns", "all")])  # once: each grouping costs ~5 ms
    for metric, group, cells in trajectory_rows(m, pairs, means):
        lines.append(f"| {REGISTRY[metric].label} (`{metric}`) | {group} | " + " | ".join(cells) + " |")
    words = rebound_words(m, programs, pairs, means)
    if words:
        lines += ["", "## Why the CVs move", ""]
        for w in words:
            lines += [w, ""]
        lines.pop()
    lines += ["", "## By year", "", "Mean over replicates, every year" + (
        f" (in tables of {MAX_YEAR_COLUMNS} years)." if len(m["year"].unique()) > MAX_YEAR_COLUMNS else "."), ""]
    for k, table in enumerate(year_tables(m, pairs, means)):
        lines += ([""] if k else []) + _markdown_table(table)
    return "\n".join(lines) + "\n"
