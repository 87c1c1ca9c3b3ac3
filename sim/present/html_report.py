"""A self-contained HTML report of a result folder (a run, a comparison or a sweep; a calibration's
is `sim.present.calibration_report`, which `teachersim report` calls for one).

`teachersim report DIR` (or `write_report(DIR)`) reads the folder with `load_results` and writes
one HTML file a researcher can send on: the scenario(s) in words, the key figures (PNG embedded
as base64, so the file needs nothing beside it), the tables with their intervals, and the
provenance (versions, seeds, commit, host, timings). Nothing is simulated: the network map of a
roster run is drawn from the place graph the run stored (`graph.json`, since the roster files
may be gone or elsewhere by the time of the report); that of a synthetic world is rebuilt from
its resolved scenario and seed.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.policies.matching import MATCHERS, SCOPES
from sim.policies.rotation import FORMS
from sim.policies.selection import SELECTORS

REPORT_NAME = "report.html"
GRAPH_FILE = "graph.json"  # a roster run's place graph, written with the run (sim.present.outputs.write_run)
GRAPH_LIMIT = 64 * 2**20  # bytes; a city's place graph is a few MB
MAX_TABLE_ROWS = 60


class ReportError(ValueError):
    """A folder the report cannot be made from; one line naming the folder and the problem."""


# ---------------------------------------------------------------------------- words


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if float(100 * x).is_integer() else f"{100 * x:.1f}%"


def _list(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


ROLE_WORDS = {"teacher": "teachers", "principal": "principals", "vice_principal": "vice-principals",
              "middle_manager": "middle managers"}
DIRECTION_WORDS = {"any": "", "strong_to_weak": "from stronger to weaker schools",
                   "weak_to_strong": "from weaker to stronger schools"}


def describe_program(p: dict, world: dict | None = None) -> str:
    """One rotation program of a resolved scenario (a `model_dump`) in a sentence or two; `world`
    (the scenario's world section) gives the scale that head counts are multiplied by."""
    from sim.present.report import years_words

    e, q = p["eligibility"], p["quota"]
    form = FORMS[p["form"]].words.format(share=_pct(p["part_time_share"]))
    roles = e["roles"]
    who = "teachers and cadres" if len(roles) == len(ROLE_WORDS) else _list([ROLE_WORDS[r] for r in roles])
    cond = _conditions(e)
    quota = _quota_phrases(q, world)
    how_many = ("Quota: the largest of " + _list(quota)) if len(quota) > 1 else \
        (f"Quota: {quota[0]}" if quota else "No quota, so nobody is selected")
    parts = [f"**{p['name']}**: {form} of {who}" + (f" {_list(cond)}" if cond else "") + ".",
             how_many + "."]
    if p["backbone_floor"]:
        parts.append(f"At least {_pct(p['backbone_floor'])} of rotators are {p['backbone_floor_level']}-level "
                     "backbone teachers.")
    chooser = SELECTORS[p["selection"]].words.format(**p)
    parts.append(f"Chosen by {chooser}, priority {' > '.join(k.replace('_', ' ') for k in p['priority'])}.")
    where = [MATCHERS[p["matching"]].words, SCOPES[p["scope"]].words, DIRECTION_WORDS[p["direction"]]]
    if p.get("commute_cap_minutes"):
        where.append(f"commutes of at most {p['commute_cap_minutes']:g} minutes")
    if p.get("receiving_districts"):
        where.append(f"hosts in {_list(p['receiving_districts'])}")
    if p.get("receiving_district_types"):
        where.append(f"hosts in {_list([t.replace('_', ' ') for t in p['receiving_district_types']])} districts")
    if p.get("receiving_tiers"):
        where.append(f"hosts of tier {_list(p['receiving_tiers'])}")
    parts.append(f"Placed by {', '.join(w for w in where if w)}.")
    if p.get("exchange") == "paired":
        parts.append("Paired exchange: each host sends one of its teachers to the rotator's school.")
    if p.get("backfill") in ("temporary", "pool"):
        parts.append("The sending post is covered while the rotator is away by "
                     + ("a temporary hire." if p["backfill"] == "temporary" else "a teacher of the district's pool."))
    if p["form"] != "transfer":
        term = years_words(p["term_years_min"], p["term_years_max"])
        stay = f"; {_pct(p['stay_share'])} stay on at the host" if p["stay_share"] else ", then home"
        parts.append(f"Terms of {term}{stay}.")
    return " ".join(parts)


def _conditions(e: dict) -> list[str]:
    """A program's eligibility rules as phrases ("after 6 years at one school", ...)."""
    cond = []
    if e["min_years_at_school"]:
        cond.append(f"after {e['min_years_at_school']} years at one school")
    if e["min_years_to_retirement"]:
        cond.append(f"at least {e['min_years_to_retirement']} years before retirement")
    if e.get("max_experience") is not None:
        cond.append(f"with at most {e['max_experience']} years of experience")
    if len(e["levels"]) < 2:
        cond.append(f"{e['levels'][0]} level only")
    if len(e["sending_tiers"]) < 5:
        cond.append(f"from {_list(e['sending_tiers'])} schools")
    if e["min_backbone"] != "none":
        cond.append(f"{e['min_backbone']}-level backbone or above")
    if e.get("districts"):
        cond.append(f"in {_list(e['districts'])}")
    if e.get("district_types"):
        cond.append(f"in {_list([t.replace('_', ' ') for t in e['district_types']])} districts")
    if e.get("school_districts"):
        cond.append(f"in school district {_list(e['school_districts'])}")
    if e["twinned_only"]:
        cond.append("at schools in a twinning pair")
    if e["remote_min_years"]:
        cond.append(f"after at least {e['remote_min_years']} years at a rural school")
    if e.get("exempt_men_over") is not None or e.get("exempt_women_over") is not None:
        cond.append(f"men over {e.get('exempt_men_over')} and women over {e.get('exempt_women_over')} exempt")
    return cond


def _quota_phrases(q: dict, world: dict | None) -> list[str]:
    """A program's quota rules as phrases ("10% of the eligible", ...); the largest applies. `world`
    gives the scale head counts are multiplied by."""
    quota = []
    if q["share_of_eligible"]:
        quota.append(f"{_pct(q['share_of_eligible'])} of the eligible" + (" at each school" if q["per_school"] else ""))
    scale = 1.0 if world is None or world.get("preset") == "roster" else float(world.get("scale", 1.0))
    scaled = f" (set for the preset's size; x world.scale {scale:g} here)" if scale != 1.0 else ""
    by_district = q.get("min_count_by_district") or {}
    if q["min_count"] and q.get("count_scope") == "city":
        quota.append(f"at least {q['min_count']:,} a year in the whole city, shared by the districts as their "
                     f"eligible{scaled}")
    elif q["min_count"] or by_district:
        own = "; ".join(f"{n} {k:,}" for n, k in by_district.items())
        rest = f"at least {q['min_count']:,} a year in each district" if q["min_count"] else ""
        quota.append(_list([x for x in (rest, f"own head counts a year in {own}" if own else "") if x]) + scaled)
    if q["share_of_staff"]:
        quota.append(f"{_pct(q['share_of_staff'])} of all staff a year")
    if q.get("coverage_years"):
        quota.append(f"every eligible teacher within {q['coverage_years']} years")
    if q.get("mandatory_after_years"):
        quota.append(f"everyone reaching {q['mandatory_after_years']} years at a school")
    return quota


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= _flatten(v, key + ".")
        else:
            out[key] = v
    return out


def changed_settings(scenario: dict) -> list[tuple[str, object]]:
    """Settings outside the world, the programs and the run that differ from the schema defaults."""
    from sim.config.scenario import Scenario

    default = _flatten(Scenario().model_dump(mode="json"))
    mine = _flatten(scenario)
    skip = ("name", "description", "world.", "run.", "policy.programs")
    return [(k, v) for k, v in mine.items() if not k.startswith(skip) and default.get(k, object()) != v]


def describe_world(world: dict) -> str:
    from sim.config.scenario import World
    from sim.world.presets import PRESETS, synthetic_shape

    if world["preset"] == "roster":
        r = world["roster"]
        return f"A real district from the roster files `{r['schools_csv']}` and `{r['teachers_csv']}`."
    w = World.model_validate(world)
    shape = synthetic_shape(w)
    n_d = len(shape.district_names)
    return (f"A synthetic {PRESETS[w.preset].words} world (preset `{w.preset}`): {n_d} district{'s' if n_d > 1 else ''}"
            f" of {shape.schools_per_district} schools, about {shape.teachers:,} teachers in all.")


def describe_scenario(scenario: dict) -> list[str]:
    """A resolved scenario (`Scenario.model_dump(mode="json")`) in words: paragraphs (Markdown bold only)."""
    out = [f"**{scenario['name']}**: {scenario.get('description') or '(no description)'}",
           describe_world(scenario["world"])]
    programs = scenario["policy"]["programs"]
    if not programs:
        out.append("No rotation program: teachers age, retire, leave, are hired and drift on their own.")
    out += [describe_program(p, scenario["world"]) for p in programs]
    changed = changed_settings(scenario)
    if changed:
        out.append("Other settings that differ from the defaults: "
                   + ", ".join(f"`{k}` = {v}" for k, v in changed) + ".")
    r = scenario["run"]
    out.append(f"Run: {r['years']} years, {r['replicates']} replicate(s) from root seed {r['seed']}.")
    return out


# -------------------------------------------------------------------------- the page


@dataclass
class Report:
    """The parts of the page, in order."""

    title: str
    kind: str
    sections: list[str] = field(default_factory=list)
    figures: int = 0

    def add(self, heading: str, body: str) -> None:
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2>\n{body}\n</section>")


def _md(text: str) -> str:
    """HTML of a line with **bold** and `code` (everything else escaped)."""
    out, bold, code = [], False, False
    for i, chunk in enumerate(text.replace("**", "\x00").split("\x00")):
        if i:
            bold = not bold
            out.append("<strong>" if bold else "</strong>")
        pieces = chunk.split("`")
        for j, piece in enumerate(pieces):
            if j:
                code = not code
                out.append("<code>" if code else "</code>")
            out.append(html.escape(piece))
    if code:
        out.append("</code>")
    if bold:
        out.append("</strong>")
    return "".join(out)


def inline_html(text: str) -> str:
    """The page's inline Markdown (**bold**, `code`) as HTML, for the other reports' pages."""
    return _md(text)


def _paragraphs(lines: list[str]) -> str:
    return "\n".join(f"<p>{_md(x)}</p>" for x in lines)


def figure_html(make: Callable, caption: str, *args, **kwargs) -> str:
    """A figure drawn by `make(*args, **kwargs)` as an embedded PNG with its caption (or the error)."""
    from sim.present import plots

    try:
        fig = make(*args, **kwargs)
    except Exception as exc:  # a figure that cannot be drawn from these results is reported, not fatal
        return f'<p class="note">Figure not drawn ({html.escape(caption)}): {html.escape(str(exc))}</p>'
    data = base64.b64encode(plots.png_bytes(fig, dpi=100, bbox_inches="tight")).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{_md(caption)}</figcaption></figure>")


def _breakable(name: str) -> str:
    """A column name that may wrap after each dot or underscore (long parameter paths)."""
    return "".join(html.escape(c) + ("<wbr>" if c in "._" else "") for c in name)


def table_html(frame: pd.DataFrame, caption: str = "") -> str:
    """A table in a box that scrolls sideways when it is wider than the page (the page never does)."""
    head = "".join(f"<th>{_breakable(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        rows.append("<tr>" + "".join(f"<td>{_md(str(v))}</td>" for v in row) + "</tr>")
    cap = f"<caption>{_md(caption)}</caption>" if caption else ""
    return f'<div class="table"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


CLIPPED_NOTE = "* interval cut to the metric's range (a CV, share or count cannot be negative)."


def band_cell(x: np.ndarray, metric: str) -> tuple[str, bool]:
    """`mean [lo, hi]` of replicate values with the t-interval cut to the metric's range (marked *),
    head counts as whole numbers; and whether it was cut."""
    from sim.experiments.statistics import band
    from sim.present.report import is_count

    b = band(x, metric)
    if not b["n"]:
        return "-", False
    return interval(b["mean"], b["ci_low"], b["ci_high"], count=is_count(metric)) + ("*" if b["clipped"] else ""), \
        b["clipped"]


def interval(mean: float, lo: float, hi: float, digits: int = 3, count: bool = False) -> str:
    """`mean [lo, hi]`, or the mean alone when there is no interval; head counts (`count`) as
    whole numbers with separators, never `8.96e+03`."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"

    def f(x: float) -> str:
        return f"{round(x):,}" if count and math.isfinite(x) else f"{x:.{digits}g}"

    if lo is None or math.isnan(lo):
        return f(mean)
    return f"{f(mean)} [{f(lo)}, {f(hi)}]"


def _provenance(manifest: dict, seeds: list | None, extra: dict | None = None) -> str:
    rows = []
    versions = manifest.get("versions") or {}
    if "sessions" in manifest:
        for i, s in enumerate(manifest["sessions"]):
            rows.append((f"session {i + 1}", f"{s.get('started', '?')} on {s.get('host', '?')}, "
                         f"{s.get('executor', '?')}: ran {s.get('ran', '?')} runs ({s.get('failed', 0)} failed) "
                         f"in {s.get('seconds', '?')} s; commit {s.get('git_commit') or 'unknown'}"))
        versions = (manifest["sessions"][-1].get("versions") if manifest["sessions"] else {}) or {}
    else:
        rows.append(("git commit", manifest.get("git_commit") or "unknown (not a git checkout)"))
        if manifest.get("host"):
            rows.append(("host, started", f"{manifest['host']}, {manifest.get('started', '?')}"))
        if manifest.get("timings"):
            rows.append(("timings", ", ".join(f"{k} {v}" for k, v in manifest["timings"].items())))
    if seeds is not None:
        rows.append(("replicate seeds", ", ".join(str(s) for s in seeds)))
    for k, v in (extra or {}).items():
        rows.append((k, v))
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))))
    files = manifest.get("files") or {}
    if files:
        rows.append(("file hashes (SHA-256)", "; ".join(f"`{k}` {v[:16]}..." for k, v in sorted(files.items()))))
    rows.append(("report written", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")))
    return table_html(pd.DataFrame(rows, columns=["what", "value"]))


CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #2c3e50; padding-bottom: .2em; }
h2 { color: #2c3e50; margin-top: 1.6em; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
div.table { max-width: 100%; overflow-x: auto; margin: .8em 0; }
table { border-collapse: collapse; font-size: .88em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f0f3f5; }
caption { text-align: left; font-size: .9em; color: #555; padding-bottom: .3em; }
code { background: #f4f4f4; padding: 0 .2em; }
.note { color: #7a5c00; }
.meta { color: #555; }
"""


def render(report: Report) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head>\n<body>\n"
            f"<h1>{html.escape(report.title)}</h1>\n"
            f'<p class="meta">A teachersim {html.escape(report.kind)} report, self-contained: the figures are '
            f"embedded in this file. Intervals are 95% t-intervals over replicates unless a table says otherwise."
            f"</p>\n" + "\n".join(report.sections) + "\n</body></html>\n")


# ------------------------------------------------------------------------------ kinds


def _headline_table(metrics: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Each headline metric's path: start and last year with 95% t-intervals over replicates (cut
    to the metric's range), and the lowest, highest and mean over years 1..last of the replicate
    means (sim.present.report), and the mean over the last five years; and whether an interval was cut."""
    from sim.metrics import REGISTRY
    from sim.present.report import Trajectory, average_columns, by_year, fmt, headline

    last = int(metrics["year"].max())
    cut = []

    def at(sel: pd.DataFrame, year: int, name: str) -> str:
        text, clipped = band_cell(sel.loc[sel["year"] == year, "value"].to_numpy(dtype=float), name)
        cut.append(clipped)
        return text

    rows = []
    for name, group in headline(metrics):
        sel = metrics[(metrics["metric"] == name) & (metrics["subgroup"] == group)]
        series = by_year(metrics, name, group)
        if series.empty:
            continue
        t = Trajectory.of(series)
        label = REGISTRY[name].label if name in REGISTRY else name
        rows.append((f"{label} (`{name}`)", group, at(sel, 0, name), f"{fmt(name, t.low)} (year\u00a0{t.low_year})",
                     f"{fmt(name, t.high)} (year\u00a0{t.high_year})", fmt(name, t.mean), fmt(name, t.recent),
                     at(sel, last, name)))
    return pd.DataFrame(rows, columns=["metric", "group", "year 0 (start)", "lowest (year)", "highest (year)",
                                       *average_columns(last), f"year {last}"]), any(cut)


def place_graph(scenario: dict, seed: int, source_dir: str = "."):
    """The place graph a run with this resolved scenario and seed started from (rebuilt, not stored)."""
    from sim.config.scenario import Scenario
    from sim.core.model import world_stream
    from sim.world import build_world

    sc = Scenario.model_validate(scenario)
    return build_world(sc.world, world_stream(int(seed)), source_dir).graph


def graph_json(result) -> bytes | None:
    """A roster run's place graph as node-link JSON for `graph.json` (None for a synthetic world,
    which the report rebuilds from the scenario and seed). Read while the roster files are at hand."""
    import networkx as nx

    if result.scenario.world.preset != "roster":
        return None
    graph = place_graph(result.scenario.model_dump(mode="json"), result.seeds[0], result.scenario.source_dir)
    data = nx.node_link_data(graph, edges="edges")
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def run_graph(res):
    """The place graph of a loaded run: the stored `graph.json` (checksummed by load_results) when
    the manifest lists it, else rebuilt for a synthetic world; ValueError saying why not."""
    import networkx as nx

    from sim.files import read_regular
    from sim.storage.manifests import listed_file

    m = res.manifest
    if GRAPH_FILE in m.get("files", {}):
        data = read_regular(listed_file(res.path, GRAPH_FILE), GRAPH_LIMIT)
        try:
            return nx.node_link_graph(json.loads(data), edges="edges")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{res.path / GRAPH_FILE}: not a place graph ({exc})") from None
    if m["scenario"]["world"]["preset"] == "roster":
        raise ValueError(f"{res.path}: the run stored no {GRAPH_FILE} (written by an older teachersim); "
                         "run the scenario again to draw its map")
    return place_graph(m["scenario"], m["seeds"][0])


def _run_report(res) -> Report:
    """A run's page: the scenario in words, the figures, the tables, the provenance."""
    from sim.present.report import headline, programs_of, rebound_words, year_tables

    m = res.manifest
    sc = m["scenario"]
    rep = Report(f"Run: {sc['name']}", "run")
    rep.add("What was run", _paragraphs(describe_scenario(sc)))
    programs = programs_of(sc)
    figs = _run_figures(res, sc, programs)
    rep.figures = sum(f.startswith("<figure") for f in figs)
    rep.add("Figures", "\n".join(figs))
    rep.add("Headline metrics", _run_headline(res.metrics))
    words = rebound_words(res.metrics, programs, headline(res.metrics))
    if words:
        rep.add("Why the CVs move", _paragraphs(words))
    rep.add("By year", "\n".join(table_html(t, "Mean over replicates, every year.")
                                  for t in year_tables(res.metrics, headline(res.metrics))))
    rep.add("Provenance", _provenance(m, m.get("seeds")))
    return rep


def _run_figures(res, sc: dict, programs: list) -> list[str]:
    """A run's figures, the CVs first; the years the first rotators' terms end are marked, since
    that is where the CVs turn. A figure or map that cannot be drawn is a note, not a failure."""
    from sim.present import plots
    from sim.present.report import first_term_ends, terms_sentence

    last = int(res.metrics["year"].max())
    ends = first_term_ends(programs, last)
    marks = (f" Dotted: the years the rotators of year 1 reach the end of their terms ({terms_sentence(programs)})."
             if ends else "")
    figs = [figure_html(plots.cv_trajectories, "Between-school CV of each teacher indicator, with the "
                        "high-quality limits (dashed); band: the spread over replicates." + marks, res.metrics,
                        term_ends=ends),
            figure_html(plots.cv_by_scenario, "Backbone CV: mean over replicates with its 95% t-interval, and the "
                        "limit (dashed)." + marks, res.metrics, "cv_backbone", term_ends=ends),
            figure_html(plots.rotation_activity, "Rotations started and rotators returning home per year, and "
                        "coverage of the eligible cohort." + marks, res.metrics, term_ends=ends),
            figure_html(plots.coverage_curves, "Cumulative coverage of the eligible cohort and of all staff.",
                        res.metrics),
            figure_html(plots.lorenz_curves, "Lorenz curves of backbone teachers across schools, first and last "
                        "year.", res.schools, "backbone"),
            figure_html(plots.achievement_band, "Student achievement proxy: line at the central loss to turnover "
                        "(0.08 student SD per full turnover), band over the published range 0.06-0.10 (Ronfeldt, Loeb "
                        "and Wyckoff 2013), at this run's radiation. Radiation's own range needs a run per value: "
                        "sim.achievement_band (notebook 02).",
                        plots.achievement_of_run(res.metrics, sc["careers"]["radiation"])),
            figure_html(plots.quality_by_tier, "Teaching quality across schools by tier over time.", res.schools),
            figure_html(plots.flow_heatmap, "Rotations between tiers (home to host).", res.metrics, "flow_tier")]
    if res.metrics.loc[res.metrics["metric"] == "flow_district", "subgroup"].nunique() > 1:
        figs.append(figure_html(plots.flow_heatmap, "Rotations between districts.", res.metrics, "flow_district"))
    try:
        graph = run_graph(res)
    except Exception as exc:  # a map that cannot be drawn is reported, not fatal
        figs.append(f'<p class="note">Network map not drawn: {html.escape(str(exc))}.</p>')
    else:
        year = 1 if last >= 1 else None
        figs.append(figure_html(plots.network_map, f"The place graph with the rotations of year {year} "
                                "(replicate 0), summed between education groups or districts: arrow width "
                                "is the number of teachers from home to host.", graph, res.moves, year))
    return figs


def _run_headline(metrics: pd.DataFrame) -> str:
    """The headline table with a caption that says what each column is over and warns when there
    are too few replicates for the intervals to mean much."""
    from sim.experiments.statistics import small_sample_note

    reps = metrics["replicate"].nunique()
    table, cut = _headline_table(metrics)
    small = small_sample_note(reps)
    return table_html(table, f"Start and last year: mean over {reps} replicate(s) with its 95% "
                             "t-interval; lowest, highest and the means: of the replicate means over "
                             "the years after year 0 (all, and the last five)."
                             + (f" {CLIPPED_NOTE}" if cut else "")
                             + (f" {small[0].upper()}{small[1:]}." if small else ""))


def _compare_report(res) -> Report:
    """A comparison's page: what was compared, the figures, the paired tables, the provenance."""
    from sim.experiments.statistics import path_tables

    m = res.manifest
    baseline = m["baseline"]
    names = [s["name"] for s in m["scenarios"]]
    rep = Report(f"Comparison: {' vs '.join(names)}", "comparison")
    words = [f"{len(m['seeds'])} paired replicates: replicate i uses the same seed in every scenario (common "
             f"random numbers). Baseline: **{baseline}**."]
    for s in m["scenarios"]:
        words += describe_scenario(s)
    rep.add("What was compared", _paragraphs(words))
    figs = _compare_figures(res, baseline)
    rep.figures = sum(f.startswith("<figure") for f in figs)
    rep.add("Figures", "\n".join(figs))
    rep.add("Comparison table", _comparison_table(res.comparison))
    rep.add("Time averages", _time_averages(res, baseline, names))
    paths = path_tables(res.trajectories)
    if paths:
        rep.add("Headline CVs, every year", "\n".join(table_html(p, "Mean over the paired replicates.")
                                                      for p in paths))
    rep.add("Provenance", _provenance(m, m.get("seeds")))
    return rep


def _compare_figures(res, baseline: str) -> list[str]:
    """The paired differences first (what a comparison is for), then each scenario's paths."""
    from sim.present import plots
    from sim.present.report import term_ends_by_scenario

    ends = term_ends_by_scenario(res.manifest["scenarios"], int(res.trajectories["year"].max()))
    figs = [figure_html(plots.difference_forest, "Paired differences from the baseline at the reported years, "
                        "with 95% paired-t intervals.", res.comparison, baseline),
            figure_html(plots.compare_trajectories, "Each outcome over the years: means with 95% t-intervals "
                        "(dotted: the years each scenario's first rotators reach the end of their terms).",
                        res.trajectories, baseline, ends),
            figure_html(plots.compare_differences, "Paired differences from the baseline over the years.",
                        res.trajectories, baseline, ends)]
    if (res.metrics["metric"] == "cv_backbone").any():
        figs.append(figure_html(plots.cv_by_scenario, "Backbone CV by scenario against the limits.", res.metrics,
                                "cv_backbone"))
    if (res.metrics["metric"] == "coverage_eligible").any():
        figs.append(figure_html(plots.coverage_curves, "Coverage by scenario.", res.metrics))
    return figs


def _comparison_table(t: pd.DataFrame) -> str:
    """comparison.csv in words: each mean and paired difference with its interval, cut to the
    metric's range here too, since a table written before intervals were cut may hold a negative bound."""
    from sim.experiments.statistics import MEAN_TEST, PAIRED_TEST, clip, difference_range, metric_range
    from sim.present.report import is_count

    rows, clipped = [], False
    for r in t.itertuples(index=False):
        count = is_count(r.metric)
        lo, hi, cut = clip(r.ci_low, r.ci_high, metric_range(r.metric))
        mean = interval(r.mean, lo, hi, count=count) + ("*" if cut else "")
        clipped |= cut
        if r.test == "baseline":
            diff = "(baseline)"
        else:
            dlo, dhi, dcut = clip(r.diff_ci_low, r.diff_ci_high, difference_range(r.metric))
            diff = interval(r.diff, dlo, dhi, count=count) + ("*" if dcut else "")
            clipped |= dcut
        p = "" if r.test == "baseline" or math.isnan(r.p_value) else f"{r.p_value:.3g}"
        rows.append((f"`{r.metric}`", r.subgroup, r.year, r.scenario, mean, diff, p, r.n))
    table = pd.DataFrame(rows, columns=["outcome", "group", "year", "scenario", "mean [95% CI]",
                                        "difference from baseline [95% CI]", "p", "n"])
    return table_html(table, f"Mean: {MEAN_TEST}. Difference: scenario minus baseline, "
                             f"replicate by replicate; {PAIRED_TEST}."
                             + (f" {CLIPPED_NOTE}" if clipped else ""))


def _time_averages(res, baseline: str, names: list[str]) -> str:
    """Each compared outcome averaged over the run and over its recent years: a single year's
    difference can be a turn of the path rather than a lasting one."""
    from sim.experiments.spans import RECENT_YEARS
    from sim.experiments.statistics import time_average_summary
    from sim.present.report import is_count

    t = res.comparison
    outcomes = list(dict.fromkeys(zip(t["metric"].astype(str), t["subgroup"].astype(str), strict=True)))
    averages = time_average_summary(res.metrics, outcomes, baseline, names)
    rows = []
    for r in averages.itertuples(index=False):
        count = is_count(r.metric)
        diff = "(baseline)" if r.test == "baseline" else \
            interval(r.diff, r.diff_ci_low, r.diff_ci_high, count=count) + ("*" if r.diff_clipped else "")
        rows.append((f"`{r.metric}`", r.subgroup, r.span, r.scenario,
                     interval(r.mean, r.ci_low, r.ci_high, count=count) + ("*" if r.clipped else ""), diff))
    return table_html(
        pd.DataFrame(rows, columns=["outcome", "group", "years", "scenario", "mean [95% CI]",
                                    "difference from baseline [95% CI]"]),
        f"Each replicate's mean over the run and over its last {RECENT_YEARS} years, then the same intervals and "
        "paired test as a single year's.")


def _sweep_outcome(res) -> tuple[str, str]:
    """The outcome a sweep report leads with: the backbone CV of primary schools when kept."""
    outcomes = res.manifest["spec"]["outcomes"]
    metric = "cv_backbone" if "cv_backbone" in outcomes else outcomes[0]
    groups = list(dict.fromkeys(res.metrics.loc[res.metrics["metric"] == metric, "subgroup"].astype(str)))
    group = "primary" if "primary" in groups else ("all" if "all" in groups else groups[0])
    return metric, group


def _sweep_report(res) -> Report:
    """A sweep's page: what was swept, the response figures and sensitivity, the points, the provenance."""
    m = res.manifest
    rep = Report(f"Sweep: {m['name']}", "sweep")
    rep.add("What was swept", _paragraphs(_sweep_words(res)))
    metric, group = _sweep_outcome(res)
    last = int(res.metrics["year"].max()) if len(res.metrics) else 0
    figs = _response_figures(res, metric, group, last)
    sens_tables = []
    if m["design"].get("salib"):
        sens_figs, sens_tables = _sensitivity_parts(res, metric, group, last)
        figs += sens_figs
    rep.figures = sum(f.startswith("<figure") for f in figs)
    rep.add("Figures", "\n".join(figs))
    rep.add("Design points", _points_table(res, last))
    if sens_tables:
        rep.add("Sensitivity indices", "\n".join(sens_tables))
    rep.add("Provenance", _provenance(m, m.get("seeds"), {"root seed": m.get("root_seed"),
                                                           "sweep file": m.get("sweep_file")}))
    return rep


def _sweep_words(res) -> list[str]:
    """The sweep in words: each parameter's values or range (with its column in the tables), the
    design, what was applied to every run, how many runs finished, and the base scenarios."""
    m = res.manifest
    spec = m["spec"]
    words = [f"**{m['name']}**: {m.get('description') or '(no description)'}"]
    params = []
    column = {path: c for c, path in res.parameters.items()}
    for name, p in spec["parameters"].items():
        label = f"`{name}` (column `{column[name]}`)"
        if p.get("values") is not None:
            params.append(f"{label} in {{{', '.join(str(v) for v in p['values'])}}}")
        else:
            params.append(f"{label} from {p['low']:g} to {p['high']:g}" + (" (whole numbers)" if p["integer"] else ""))
    d = m["design"]
    words.append(f"Design: {d['kind']} with {d['n_points']} points over {_list(params) or 'no parameter'}; "
                 f"{spec['replicates']} replicate(s) of {spec['years'] or 'the base'} years at every point; "
                 f"outcomes kept: {', '.join(spec['outcomes'])}.")
    if spec.get("set"):
        words.append("Applied to every run: " + ", ".join(f"`{s}`" for s in spec["set"]) + ".")
    status = res.runs["status"].value_counts().to_dict() if res.runs is not None else {}
    words.append(f"Runs: {status.get('done', 0)} done, {status.get('failed', 0)} failed, "
                 f"{status.get('missing', 0)} missing.")
    words.append("Base scenario(s):")
    for b in m["bases"]:
        words += describe_scenario(b["scenario"])
    return words


def _response_figures(res, metric: str, group: str, last: int) -> list[str]:
    """The lead outcome against each swept parameter, split by a parameter with few values so
    that a grid's levels are not mixed in one cloud."""
    from sim.present import plots

    figs = []
    for p in res.parameters:
        hue = response_hue(res.metrics, list(res.parameters), p)
        per = f", one series per value of `{hue}`" if hue else ""
        figs.append(figure_html(plots.sweep_response, f"`{metric}` ({group}) at year {last} against `{p}`{per}: mean "
                                "over the replicates of each design point with its 95% t-interval.", res.metrics, p,
                                metric, group, last, hue=hue))
    return figs


def _sensitivity_parts(res, metric: str, group: str, last: int) -> tuple[list[str], list[str]]:
    """For a SALib design, each outcome's sensitivity bars and table (figures, tables); an outcome
    whose indices cannot be estimated is a note saying why, not a failed report."""
    from sim.experiments.statistics import AnalysisError, sensitivity
    from sim.present import plots

    m = res.manifest
    figs, tables = [], []
    for outcome in m["spec"]["outcomes"]:
        g = group if outcome == metric else None
        try:
            sens = sensitivity(res.path, outcome, group=g, year=last, scenario=m["bases"][0]["name"])
        except AnalysisError as exc:
            figs.append(f'<p class="note">No sensitivity indices for `{html.escape(outcome)}`: '
                        f"{html.escape(str(exc))}</p>")
            continue
        figs.append(figure_html(plots.sensitivity_bars, f"{sens.method.capitalize()} sensitivity of "
                                f"`{outcome}` ({sens.group}, year {last}), 95% bootstrap intervals.", sens))
        cols = ["S1", "ST"] if sens.method == "sobol" else ["mu_star"]
        t = pd.DataFrame({"parameter": [f"`{p}`" for p in sens.table["parameter"]]} | {
            c: [interval(v, v - e, v + e) for v, e in zip(sens.table[c], sens.table[f"{c}_conf"], strict=True)]
            for c in cols})
        tables.append(table_html(t, f"`{outcome}` ({sens.group}), year {last}: {sens.method} indices "
                                    "[95% bootstrap interval]."))
    return figs, tables


MAX_HUE_LEVELS = 6  # a swept parameter with at most this many values can split a response plot


def response_hue(metrics: pd.DataFrame, parameters: list[str], p: str) -> str | None:
    """The other swept parameter a response plot against `p` is split by: one with few values (a
    grid axis such as the matching rule; a categorical one first), so that its levels are not
    mixed in one cloud; None when every other parameter has many values (LHS, Sobol, Morris)."""
    choices = []
    for q in parameters:
        if q == p or q not in metrics.columns:
            continue
        n = metrics[q].nunique()
        if 1 < n <= MAX_HUE_LEVELS:
            choices.append((pd.api.types.is_numeric_dtype(metrics[q]), n, q))
    return min(choices)[2] if choices else None


def _points_table(res, year: int) -> str:
    params = list(res.parameters)
    rows = res.metrics[res.metrics["year"] == year]
    out, cut = [], False
    for (scenario, point), part in rows.groupby(["scenario", "point"], observed=True, sort=True):
        row = {"scenario": scenario, "point": int(point)}
        for p in params:
            v = part[p].iloc[0]
            row[p] = (f"{v:,.0f}" if float(v).is_integer() else f"{v:.4g}") if isinstance(v, float) else str(v)
        for (metric, group), cell in part.groupby(["metric", "subgroup"], observed=True, sort=False):
            row[f"{metric} ({group})"], clipped = band_cell(cell["value"].to_numpy(dtype=float), metric)
            cut |= clipped
        out.append(row)
    frame = pd.DataFrame(out)
    note = ""
    if len(frame) > MAX_TABLE_ROWS:
        note = f" The first {MAX_TABLE_ROWS} of {len(frame)} points are shown."
        frame = frame.head(MAX_TABLE_ROWS)
    return table_html(frame, f"Every outcome at year {year}: mean over the point's replicates with its 95% "
                             f"t-interval.{note}" + (f" {CLIPPED_NOTE}" if cut else ""))


def build_report(folder: str | Path) -> Report:
    """The report of a result folder (run, compare or sweep). Raises ReportError for a folder that is not one."""
    from sim.storage.results import load_results

    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder")
    try:
        res = load_results(folder)
    except (ValueError, OSError, KeyError) as exc:
        raise ReportError(f"{folder}: not a teachersim result folder ({exc})") from None
    if res.kind == "sweep":
        if res.metrics.empty:
            raise ReportError(f"{folder}: the sweep has no finished runs yet")
        return _sweep_report(res)
    if res.kind == "compare":
        return _compare_report(res)
    return _run_report(res)


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of a result folder to `out` (default `<folder>/report.html`)."""
    from sim.storage.store import check_writable, write_derived

    folder = Path(folder)
    out = Path(out) if out is not None else folder / REPORT_NAME
    text = render(build_report(folder))
    check_writable(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_derived(folder, out, text.encode("utf-8"))  # a new temporary name, never a planted link
