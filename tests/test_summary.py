"""summary.md (sim/present/report.py): each headline metric's trajectory, and why CVs rebound, in words.

Made from the frozen run fixture (tests/data/fixture/run: dongcheng_2021's programs, 4 years, 3
replicates), so no model runs; the expected numbers are recomputed here from its metric rows.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import REPO

from sim.config.scenario import Scenario
from sim.present.report import first_term_ends, headline, programs_of, rebound_words, summary_markdown, terms_sentence
from sim.storage.results import load_results

FIXTURE = REPO / "tests" / "data" / "fixture" / "run"


@pytest.fixture(scope="module")
def run():
    res = load_results(FIXTURE)
    return SimpleNamespace(metrics=res.metrics, scenario=Scenario.model_validate(res.manifest["scenario"]))


@pytest.fixture(scope="module")
def summary(run) -> str:
    return summary_markdown(run)


def row(text: str, metric: str, group: str) -> list[str]:
    line = next(x for x in text.splitlines() if f"(`{metric}`) | {group} |" in x)
    return [c.strip() for c in line.strip("|").split("|")]


def test_the_headline_table_gives_the_trajectory_not_only_start_and_end(run, summary):
    assert ("| metric | group | year 0 (start) | lowest (year) | highest (year) | mean, years 1-4 | "
            "mean, last 5 years (years 1-4) | year 4 |") in summary
    m = run.metrics
    sel = m[(m["metric"] == "cv_backbone") & (m["subgroup"] == "primary")]
    means = sel.groupby("year")["value"].mean()
    after = means[means.index >= 1]
    cells = row(summary, "cv_backbone", "primary")
    assert cells[3] == f"{after.min():.3f} (year {int(after.idxmin())})"
    assert cells[4] == f"{after.max():.3f} (year {int(after.idxmax())})"
    assert cells[5] == f"{after.mean():.3f}" and cells[6] == f"{after.mean():.3f}"  # a 4-year run: the same span
    last = sel[sel["year"] == 4]["value"]
    assert cells[7] == f"{last.mean():.3f} [{last.min():.3f}, {last.max():.3f}]"


def test_the_table_by_year_has_every_year(run, summary):
    by_year = summary[summary.index("## By year"):]
    assert "| metric | group | 0 | 1 | 2 | 3 | 4 |" in by_year
    m = run.metrics
    want = m[(m["metric"] == "cv_backbone") & (m["subgroup"] == "junior")].groupby("year")["value"].mean()
    line = next(x for x in by_year.splitlines() if x.startswith("| `cv_backbone` | junior |"))
    assert line == "| `cv_backbone` | junior | " + " | ".join(f"{v:.3f}" for v in want) + " |"


def test_head_counts_are_whole_numbers(run, summary):
    assert not re.search(r"\d\.\d+e[+-]\d", summary)  # never 8.96e+03
    teachers = row(summary, "teachers_in_post", "all")
    whole = r"\d{1,3}(,\d{3})*"
    assert re.fullmatch(rf"{whole} \[{whole}, {whole}\]", teachers[2]), teachers
    assert re.fullmatch(rf"{whole} \(year \d+\)", teachers[3]), teachers
    m = run.metrics
    start = m[(m["metric"] == "teachers_in_post") & (m["year"] == 0)]["value"]
    assert teachers[2] == f"{round(start.mean()):,} [{round(start.min()):,}, {round(start.max()):,}]"
    rotations = row(summary, "rotations", "all")
    assert all("." not in c for c in rotations[2:])


def test_rebounds_are_explained_by_the_terms_of_the_scenarios_programs(run, summary):
    why = summary[summary.index("## Why the CVs move"):summary.index("## By year")]
    assert re.search(r"`cv_\w+` \((primary|junior|all)\) falls to [\d.]+ in year \d, climbs to", why)
    # the terms come from the programs: dongcheng_2021's three 1-3 year programs and its 1-year training flow
    assert ("`twinning_pairs`, `pilot_school_district`, `district_exchange`: terms of 1-3 years; "
            "`training_flow`: terms of 1 year") in why
    assert "the rotators of year 1 come home in years 2-4" in why
    returns = run.metrics[(run.metrics["metric"] == "returns") & (run.metrics["year"] == 3)]["value"].mean()
    assert f"{round(returns):,} in year 3" in why


def test_term_lengths_follow_the_programs_not_a_fixed_number(run):
    programs = programs_of(run.scenario)
    assert first_term_ends(programs) == [2, 3, 4]
    longer = [p | {"term_years_min": 5, "term_years_max": 6} for p in programs if p["name"] == "district_exchange"]
    assert first_term_ends(longer) == [6, 7] and first_term_ends(longer, last_year=6) == [6]
    assert terms_sentence(longer) == "`district_exchange`: terms of 5-6 years"
    staying = [longer[0] | {"stay_share": 0.25}]
    assert terms_sentence(staying) == "`district_exchange`: terms of 5-6 years, 25% staying on at the host"
    transfers = [p | {"form": "transfer"} for p in programs]
    assert first_term_ends(transfers) == [] and terms_sentence(transfers) == ""
    words = rebound_words(run.metrics, transfers, headline(run.metrics))
    assert words and "No program of this scenario sends rotators home" in words[1]


def test_no_rebound_no_explanation(run):
    falling = pd.DataFrame([{"metric": "cv_backbone", "subgroup": "primary", "year": y, "replicate": 0,
                             "value": 1.0 - 0.1 * y} for y in range(6)])
    assert rebound_words(falling, programs_of(run.scenario), [("cv_backbone", "primary")]) == []
    rising = falling.assign(value=[1.0, 0.4, 0.5, 0.7, 0.8, 0.8])
    (first, _) = rebound_words(rising, programs_of(run.scenario), [("cv_backbone", "primary")])
    assert "falls to 0.400 in year 1, climbs to 0.800 by year 4 and ends at 0.800" in first


def test_time_averages_over_the_run_and_its_last_five_years(run):
    """Made-up path with a rebound: the run's mean and the last five years' mean differ and are both given."""
    path = [1.10, 0.43, 0.60, 0.75, 0.89, 0.90, 0.88, 0.86, 0.85, 0.84, 0.83]
    rows = [{"metric": "cv_backbone", "subgroup": "primary", "year": y, "replicate": r, "value": v + 0.01 * r}
            for y, v in enumerate(path) for r in (0, 1)]
    text = summary_markdown(SimpleNamespace(metrics=pd.DataFrame(rows), scenario=run.scenario))
    assert "| mean, years 1-10 | mean, last 5 years (years 6-10) | year 10 |" in text
    cells = row(text, "cv_backbone", "primary")
    assert cells[5] == f"{sum(path[1:]) / 10 + 0.005:.3f}" and cells[6] == f"{sum(path[6:]) / 5 + 0.005:.3f}"
    line = next(x for x in text.splitlines() if x.startswith("| `cv_backbone` | primary |"))
    assert line == "| `cv_backbone` | primary | " + " | ".join(f"{v + 0.005:.3f}" for v in path) + " |"


def test_a_long_run_keeps_its_words_short_but_its_tables_give_every_year(run):
    rows = [{"metric": name, "subgroup": group, "year": y, "replicate": 0, "value": value(y)}
            for y in range(41) for name, group, value in (
                ("cv_backbone", "primary", lambda y: 1.0 if y == 0 else 0.4 + 0.01 * y),
                ("rotations", "all", lambda y: 0 if y == 0 else 100),
                ("returns", "all", lambda y: 0 if y < 2 else 90))]
    text = summary_markdown(SimpleNamespace(metrics=pd.DataFrame(rows), scenario=run.scenario))
    headers = [x for x in text.splitlines() if x.startswith("| metric | group | ")][1:]
    blocks = [[int(c) for c in h.strip("|").split("|")[2:]] for h in headers]
    assert [y for b in blocks for y in b] == list(range(41)) and max(len(b) for b in blocks) <= 16
    why = text[text.index("## Why the CVs move"):text.index("## By year")]
    listed = re.findall(r"\d+ in year (\d+)", why[why.index("Rotations started"):why.index("Returns home")])
    assert listed[:4] == ["1", "2", "3", "4"] and listed[-1] == "40" and len(listed) <= 12


def test_year_means_of_all_pairs_at_once_equal_each_pair_filtered_on_its_own(run):
    """summary.md groups the frame once for every headline pair (issue 20: filtering it once per
    pair was most of a run's summary time); each series must be the one a filter of that pair gives."""
    import numpy as np

    from sim.present.report import year_means

    m = run.metrics.copy()
    m.loc[m.index[::7], "value"] = np.nan  # non-finite values are left out of the means
    m.loc[m.index[3::11], "value"] = np.inf
    pairs = [*headline(run.metrics), ("cv_backbone", "no such group")]
    means = year_means(m, pairs)
    assert list(means) == pairs
    for metric, group in pairs:
        sel = m[(m["metric"] == metric) & (m["subgroup"] == group)]
        sel = sel[np.isfinite(sel["value"].to_numpy(dtype=float))]
        expected = sel.groupby("year")["value"].mean().sort_index()
        got = means[(metric, group)]
        assert got.index.tolist() == expected.index.tolist() and got.index.name == "year"
        assert got.to_numpy().tobytes() == expected.to_numpy(dtype=float).tobytes(), (metric, group)
    assert means[("cv_backbone", "no such group")].empty
