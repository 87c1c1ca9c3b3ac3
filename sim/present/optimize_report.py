"""The report of a policy search's folder, as HTML and as markdown, from the folder alone.

What a district office reads: the answer (the cheapest policy meeting the constraints, paired with
the base scenario on the same seeds), whether each constraint is met, the non-dominated options
with their intervals, the Pareto figure with the chosen options in words, and the hypervolume by
generation. Nothing but the base scenario is simulated, and that once (`sim.optimize_answer`).
`teachersim report DIR` comes here for a search's folder (`is_search_folder`); the page uses the
HTML report's table, interval and page helpers.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path

import pandas as pd

from sim.experiments.costs import ITEMS
from sim.experiments.optimize import (
    INTERVAL,
    KIND,
    OptimizeError,
    chosen_options,
    constraint_words,
    lever_words,
    load_folder,
    objective_words,
    value_words,
    worlds_words,
)
from sim.experiments.optimize_answer import answer
from sim.present.html_report import REPORT_NAME, Report, ReportError, interval, render, table_html
from sim.storage.results import read_frame


def _md_table(frame: pd.DataFrame) -> str:
    cells = [[str(c) for c in frame.columns], *[[str(v) for v in row] for row in frame.itertuples(index=False)]]
    cells = [[c.replace("|", "\\|").replace("\n", " ") for c in row] for row in cells]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in cells[1:])])


def _blocks(lines: list[str]) -> str:
    """Paragraphs, with runs of `- ` lines as one list (the text escaped; no markup in it)."""
    out, items = [], []
    for line in [*lines, ""]:
        if line.startswith("- "):
            items.append(f"<li>{html.escape(line[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line:
            out.append(f"<p>{html.escape(line)}</p>")
    return "\n".join(out)


def _png_html(path: Path, caption: str) -> str:
    if not path.is_file():
        return f'<p class="note">Figure missing: {html.escape(path.name)}</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def front_table(opt, frame: pd.DataFrame) -> pd.DataFrame:
    """The non-dominated options in words: letter (as in the figure), levers, objectives and cost
    with intervals, each constraint's share of runs met."""
    letters = {idx: letter for letter, (idx, _) in
               chosen_options(opt, frame, frame["non_dominated"].to_numpy(bool)).items()}
    front = frame[frame["non_dominated"]].sort_values("objective_0", kind="stable")
    rows = []
    for idx, row in front.iterrows():
        rec = {"option": letters.get(idx, "")}
        rec |= {lever_words(opt, n): value_words(row[n]) for n in opt.levers}
        for i in range(len(opt.spec.objectives)):
            mean = row[f"objective_{i}"]
            rec[objective_words(opt, i)] = interval(mean, row[f"objective_{i}_low"], row[f"objective_{i}_high"],
                                                    digits=4, count=abs(mean) >= 1000)
            if opt.spec.posterior:
                rec[f"worst world: {objective_words(opt, i)}"] = interval(row[f"objective_{i}_worst"], None, None,
                                                                          digits=4, count=abs(mean) >= 1000)
        if not any(o.metric == "cost" for o in opt.spec.objectives):
            rec[f"cost ({opt.spec.costs.currency})"] = interval(row["cost"], row["cost_low"], row["cost_high"],
                                                                count=True)
        for j in range(len(opt.spec.constraints)):
            rec[f"constraint {j + 1} met in"] = f"{row[f'constraint_{j}_share_met']:.0%}"
        rec["meets the constraints"] = "yes" if row["feasible"] else "no"
        rows.append(rec)
    return pd.DataFrame(rows)


def constraints_table(opt, frame: pd.DataFrame, ans) -> pd.DataFrame:
    rows = []
    for j, c in enumerate(opt.spec.constraints):
        valid = frame[frame["valid"]]
        rows.append({"constraint": f"{j + 1}. {constraint_words(opt, j)}", "required share": f"{c.share:.0%}",
                     "candidates meeting it": f"{int((valid[f'constraint_{j}_share_met'] >= c.share).sum())} "
                                              f"of {len(valid)}",
                     "chosen policy": f"{ans.shares[j]:.0%}" if ans.policy else "-",
                     "base scenario": f"{ans.base_shares[j]:.0%}" if ans.policy else "-"})
    return pd.DataFrame(rows)


def prices_table(opt, ans) -> pd.DataFrame:
    costs, rows = opt.spec.costs, []
    ends = {(p.item, p.end): p for p in ans.prices}
    for item in ITEMS:
        p = getattr(costs, item)
        rec = {"price": item.replace("_", " "), f"value ({costs.currency})": f"{p.value:,.2f}", "unit": p.unit,
               "source": p.source or "assumption",
               "explored": f"{p.explored[0]:,.2f} to {p.explored[1]:,.2f}" if p.explored else "-"}
        for end in ("low", "high"):
            e = ends.get((item, end))
            rec[f"cheapest at the {end} end"] = "-" if e is None else (e.words or "the same")
        rows.append(rec)
    return pd.DataFrame(rows)


def optimize_report(folder: Path, markdown_dir: Path) -> tuple[Report, str]:
    """The HTML report and its markdown twin (figures linked relative to `markdown_dir`)."""
    opt = load_folder(folder)
    spec = opt.spec
    frame = read_frame(folder / "candidates.parquet")
    history = read_frame(folder / "convergence.parquet")
    ans = answer(opt, folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    report = Report(f"Policy search {spec.name}", "optimize")
    md = [f"# Policy search {spec.name}", ""]

    def section(heading: str, lines: list[str], table: pd.DataFrame | None = None, caption: str = "",
                figures: tuple = ()) -> None:
        body = _blocks(lines)
        md.extend([f"## {heading}", "", *[x for line in lines for x in ((line,) if line.startswith("- ")
                                                                         else ("", line, ""))], ""])
        if table is not None and not table.empty:
            body += "\n" + table_html(table, caption)
            md.extend([caption, "", _md_table(table), ""] if caption else [_md_table(table), ""])
        for name, words in figures:
            body += "\n" + _png_html(folder / name, words)
            md.extend([f"![{words}]({Path(os.path.relpath(folder / name, markdown_dir)).as_posix()})", "", words, ""])
        report.add(heading, body)

    what = [spec.description.strip()] if spec.description.strip() else []
    what.append(f"{len(frame)} candidates evaluated over {len(history)} generations (NSGA-II, population "
                f"{spec.search.population}, seed {spec.search.seed}), each on the same {spec.replicates} replicate "
                f"seeds (common random numbers){worlds_words(opt)}; intervals are {INTERVAL:.0%} t-intervals of the "
                f"mean{' over the worlds' if spec.posterior else ''}.")
    section("What was asked", what)
    section("Answer", ans.lines())
    met = "is met" if ans.policy else "is not met by any candidate"
    section("Constraints", [f"Each constraint below {met} in the share of runs shown."] if spec.constraints
            else ["The search had no constraints."], constraints_table(opt, frame, ans))
    section("The options no other option beats on every objective", [], front_table(opt, frame),
            f"{int(frame['non_dominated'].sum())} non-dominated candidates "
            f"{'among those meeting the constraints' if frame['feasible'].any() else '(none meets the constraints)'}"
            "; mean [interval]; options lettered as in the figure.",
            figures=[("figures/pareto.png", "Each pair of objectives: grey misses a constraint, blue meets them, red "
                      "is non-dominated; the lettered options are spelled out under the figure.")])
    section("Prices", ["Each price, its source or that it is an assumption, and the cheapest candidate meeting the "
                       "constraints with that one price at either end of its explored range (the evaluated runs "
                       "re-priced, nothing run again)."], prices_table(opt, ans))
    conv = history.assign(hypervolume=history["hypervolume"].map(lambda x: f"{x:.4f}"))
    section("Convergence", ["The hypervolume of the front (objectives scaled by the first generation's range, "
                            "reference point 1.1): it levels off when more generations find little better."],
            conv, figures=[("figures/convergence.png", "Hypervolume of the front by generation.")])
    report.add("Provenance", _provenance(manifest, opt.seeds))
    md.extend(["## Provenance", "", f"git commit {manifest.get('git_commit') or 'unknown'}; replicate seeds "
               f"{', '.join(map(str, opt.seeds))}; versions "
               f"{', '.join(f'{k} {v}' for k, v in sorted((manifest.get('versions') or {}).items()))}.", ""])
    return report, re.sub(r"\n{3,}", "\n\n", "\n".join(md)).strip() + "\n"


def _provenance(manifest: dict, seeds: list[int]) -> str:
    import datetime as dt

    hashed = {k: v for k, v in (manifest.get("files") or {}).items() if v}  # the journal and base.json grow
    rows = [("git commit", manifest.get("git_commit") or "unknown (not a git checkout)"),
            ("executor, wall time", f"{manifest.get('executor', '?')}, {manifest.get('wall_seconds', '?')} s"),
            ("seeds of the runs", ", ".join(map(str, seeds))),
            ("versions", ", ".join(f"{k} {v}" for k, v in sorted((manifest.get("versions") or {}).items()))),
            ("file hashes (SHA-256)", "; ".join(f"{k} {v[:16]}..." for k, v in sorted(hashed.items()))),
            ("report written", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))]
    return table_html(pd.DataFrame(rows, columns=["what", "value"]))


def is_search_folder(folder: Path) -> bool:
    """Whether `folder`'s manifest says a policy search wrote it (read as untrusted)."""
    from sim.files import read_regular
    from sim.storage.manifests import MANIFEST_LIMIT

    try:
        manifest = json.loads(read_regular(Path(folder) / "manifest.json", MANIFEST_LIMIT))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind") == KIND


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write a search folder's report to `out` (default `<folder>/report.html`) and its markdown
    twin beside it (`report.md`). Raises ReportError (one line) for a folder that is not a
    finished search."""
    from sim.storage.store import check_writable, write_derived

    folder = Path(folder)
    out = Path(out) if out is not None else folder / REPORT_NAME
    try:
        report, markdown = optimize_report(folder, out.parent)
    except OptimizeError as exc:
        raise ReportError(str(exc)) from None
    check_writable(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_derived(folder, out.with_suffix(".md"), markdown.encode("utf-8"))
    return write_derived(folder, out, render(report).encode("utf-8"))
