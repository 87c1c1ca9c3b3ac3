"""The report of a calibration folder (`teachersim report DIR`): HTML and the same in Markdown.

It reads what `teachersim calibrate` wrote and simulates nothing: the fit table (each target's
published value beside its denominator in the source's own words, the model mean with its
t-interval and the number of replicates it is over, within the target's uncertainty or not),
the held-out targets apart, an ambiguous denominator shown under each of its readings with the
readings the model fits, the Pareto set or the posterior where the method gives one, the whole
yearly path each target is read from, the figures and the provenance.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.storage.results import read_frame

FIGURES = (("figures/calibration.png", "Fit per target (model mean / published; green: within its uncertainty) "
            "and the optimisation history or the ABC generations."),
           ("figures/paths.png", "The whole yearly path each target is read from, at the best fit: every "
            "replicate (grey), their mean, and each target where it is read."),
           ("figures/posterior.png", "Each parameter's weighted posterior over its range, with the prior's density; "
            "epsilon per generation."))
METHODS = {"tpe": "Optuna TPE (one summed loss)", "pareto": "Optuna multi-objective TPE (one loss per fitted target)",
           "abc": "approximate Bayesian computation, ABC-SMC with pyabc"}


@dataclass
class Page:
    """Sections of text, tables and figures, rendered to HTML and to Markdown alike."""

    title: str
    parts: list[tuple] = field(default_factory=list)  # ("h", text) ("p", text) ("table", frame, caption) ("fig", ...)

    def h(self, text: str) -> None:
        self.parts.append(("h", text))

    def p(self, text: str) -> None:
        self.parts.append(("p", text))

    def table(self, frame: pd.DataFrame, caption: str = "") -> None:
        self.parts.append(("table", frame, caption))

    def markdown(self, figures: Path | str = ".") -> str:
        """Markdown with the figures linked at `figures`/NAME (the folder, relative to the file)."""
        out = [f"# {self.title}", ""]
        for part in self.parts:
            if part[0] == "h":
                out += [f"## {part[1]}", ""]
            elif part[0] == "p":
                out += [part[1], ""]
            elif part[0] == "table":
                frame, caption = part[1], part[2]
                if caption:
                    out += [caption, ""]
                out.append("| " + " | ".join(str(c) for c in frame.columns) + " |")
                out.append("|" + "---|" * len(frame.columns))
                out += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
                        for row in frame.itertuples(index=False)]
                out.append("")
            else:
                _, name, caption, _data = part
                out += [f"![{caption}]({Path(figures, name).as_posix()})", "", f"*{caption}*", ""]
        return "\n".join(out)

    def html(self) -> str:
        from sim.present.html_report import CSS, table_html
        from sim.present.html_report import inline_html as _md

        body = []
        for part in self.parts:
            if part[0] == "h":
                body.append(f"<h2>{html.escape(part[1])}</h2>")
            elif part[0] == "p":
                body.append(f"<p>{_md(part[1])}</p>")
            elif part[0] == "table":
                body.append(table_html(part[1], part[2]))
            else:
                _, name, caption, data = part
                body.append(f'<figure><img src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}" '
                            f'alt="{html.escape(caption)}"><figcaption>{_md(caption)}</figcaption></figure>')
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head>\n<body>\n"
                f"<h1>{html.escape(self.title)}</h1>\n"
                '<p class="meta">A teachersim calibration report, self-contained: the figures are embedded in this '
                "file.</p>\n" + "\n".join(body) + "\n</body></html>\n")


def _num(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _csv(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, keep_default_na=True)


def fit_rows(fit: pd.DataFrame) -> pd.DataFrame:
    """The fit table's rows for the report: one per target and reading, the source's words beside
    the published value, the interval with its replicate count."""
    rows = []
    for r in fit.itertuples():
        n = int(r.replicates)
        rows.append({"target": f"`{r.target}`", "reading": r.reading if r.reading != "published" else
                     "as published", "denominator (the source's words; another reading's own)": r.denominator,
                     "source": r.source, "statistic": r.statistic, "published": _num(r.published),
                     "uncertainty": r.uncertainty,
                     f"model mean [95% t-interval over {n} replicates]": f"{_num(r.model_mean)} "
                     f"[{_num(r.ci_low)}, {_num(r.ci_high)}]",
                     "within uncertainty": "yes" if bool(r.met) else "**no**"})
    return pd.DataFrame(rows)


def readings_lines(fit: pd.DataFrame) -> list[str]:
    """For each target with more than one reading of its denominator: which readings the model fits."""
    lines = []
    for name, part in fit.groupby("target", sort=False):
        if len(part) < 2:
            continue
        met = [r.reading for r in part.itertuples() if bool(r.met)]
        words = "; ".join(f"{r.reading} ({r.denominator}): {'within' if bool(r.met) else 'not within'}"
                          for r in part.itertuples())
        verdict = (f"the model fits only under {', '.join(met)}" if met and "published" not in met else
                   "the model fits the source's own reading" if "published" in met else "the model fits no reading")
        lines.append(f"`{name}` has an ambiguous denominator: {words}. So {verdict}.")
    return lines


def build(folder: str | Path) -> Page:
    """The report of a finished calibration folder. Raises ReportError (one line) otherwise."""
    from sim.present.html_report import ReportError

    try:
        return _build(Path(folder))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, ReportError):
            raise
        raise ReportError(f"{folder}: not a calibration folder this version can read ({type(exc).__name__}: "
                          f"{exc})") from None


def write(folder: str | Path, out: str | Path) -> list[Path]:
    """report.html and report.md (beside it) of a calibration folder."""
    import os

    from sim.storage.store import check_writable, write_derived

    folder, out = Path(folder), Path(out)
    page = build(folder)
    check_writable(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = page.markdown(os.path.relpath(folder.resolve(), out.parent.resolve()))
    return [write_derived(folder, out, page.html().encode("utf-8")),
            write_derived(folder, out.with_suffix(".md"), md.encode("utf-8"))]


def _build(folder: Path) -> Page:
    """The page's sections in reading order, each from the files the calibration wrote."""
    from sim.present.html_report import ReportError

    folder = Path(folder)
    manifest = _finished_manifest(folder)
    spec = manifest["calibration"]
    method = manifest.get("method") or spec.get("method", "tpe")  # the spec says it (older folders: tpe)
    missing = [n for n in ("fit.csv", "best.json") if not (folder / n).is_file()]
    if missing:
        raise ReportError(f"{folder}: {missing[0]} is missing; run the calibrate command again")
    fit = _csv(folder, "fit.csv")
    best = json.loads((folder / "best.json").read_text(encoding="utf-8"))
    page = Page(f"Calibration {manifest['name']}")
    _what_was_fitted(page, manifest, method, spec, best)
    _targets(page, fit)
    if method == "pareto" and (folder / "pareto.csv").is_file():
        _pareto_set(page, _csv(folder, "pareto.csv"))
    if method == "abc" and (folder / "posterior.parquet").is_file():
        _posterior(page, folder, spec)
    if (folder / "paths.parquet").is_file():
        _whole_paths(page, read_frame(folder / "paths.parquet"))
    page.h("Figures")
    for name, caption in FIGURES:
        if (folder / name).is_file():
            page.parts.append(("fig", name, caption, (folder / name).read_bytes()))
    _provenance(page, manifest, spec)
    return page


def _finished_manifest(folder: Path) -> dict:
    """The calibration's manifest, read as untrusted; ReportError unless the calibration finished,
    since a half-done one has no best fit to report."""
    from sim.files import read_regular
    from sim.present.html_report import ReportError
    from sim.storage.manifests import MANIFEST_LIMIT

    try:
        manifest = json.loads(read_regular(folder / "manifest.json", MANIFEST_LIMIT))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{folder}: cannot read the calibration's manifest ({exc})") from None
    if manifest.get("status") != "complete":
        raise ReportError(f"{folder}: the calibration has not finished (status {manifest.get('status')!r}); run the "
                          "same calibrate command again to finish it")
    return manifest


def _what_was_fitted(page: Page, manifest: dict, method: str, spec: dict, best: dict) -> None:
    """The method, base, targets and seeds, then each parameter's range, prior and best value, so a
    reader can apply the fit with the `--set` line given."""
    page.h("What was fitted")
    page.p(f"Method: {METHODS.get(method, method)}. Base scenario `{spec['base']}`"
           + (f" with {', '.join(f'`{s}`' for s in spec['set'])}" if spec.get("set") else "")
           + f"; targets file `{spec['targets']}`; {len(manifest['seeds'])} replicates per candidate on the same seeds "
           f"(common random numbers); {manifest['scenario']['run']['years']} simulated years.")
    if spec.get("description"):
        page.p(spec["description"])
    params = []
    for key, p in spec["parameters"].items():
        prior = (spec.get("abc", {}).get("priors", {}) or {}).get(key) if method == "abc" else None
        rng = (f"values {json.dumps(p['values'])}" if p.get("values") is not None else
               f"{p['low']:g} to {p['high']:g}" + (" (whole numbers)" if p.get("integer") else ""))
        params.append({"parameter": f"`{key}`", "range": rng,
                       "prior": (f"normal {prior['normal']} truncated to the range" if prior else
                                 "uniform over the range") if method == "abc" else "-",
                       "best fit": json.dumps(best["parameters"].get(key))})
    unit = "particle" if method == "abc" else "trial"
    page.table(pd.DataFrame(params), f"Fitted parameters and the best fit ({unit} "
               f"{best.get('particle', best.get('trial'))}, loss {best['loss']:.4g}: the sum over fitted targets of "
               "the squared distance in units of each target's uncertainty). Apply it with "
               + " ".join(f"`--set {s}`" for s in best["set"]) + ".")


def _targets(page: Page, fit: pd.DataFrame) -> None:
    """The fitted and the held-out targets apart: a held-out one is a check the fit cannot pass by
    construction, so it must not be mixed with those the fit was made to."""
    for role, heading, words in (
            ("fitted", "Fitted targets", "Targets the fit was made to."),
            ("held out", "Held-out targets", "Targets never fitted, scored at the best fit: a check the fit "
             "cannot pass by construction.")):
        part = fit[fit.role == role]
        page.h(heading)
        if part.empty:
            page.p("None.")
            continue
        pub = part[part.reading == "published"]
        page.p(f"{words} Within uncertainty: {int(pub.met.sum())} of {len(pub)} as published. The published value "
               "is in the source's own denominator (its words in the table); other readings of an ambiguous "
               "denominator follow it as their own rows.")
        page.table(fit_rows(part))
        for line in readings_lines(part):
            page.p(line)
    page.p("A target is within its uncertainty when the model mean is within 2 standard errors of the published "
           "value, inside its interval, or on the right side of its bound ('at least', 'at most').")


def _pareto_set(page: Page, front: pd.DataFrame) -> None:
    """The fits no other beats on every target: where targets conflict, one summed loss hides it."""
    page.h("Pareto set: where the targets conflict")
    names = [c[5:] for c in front.columns if c.startswith("loss:")]
    rows = [{"trial": int(r["trial"]), **{f"{n}: loss (within)": f"{r[f'loss:{n}']:.4g} "
             f"({'yes' if r[f'met:{n}'] else 'no'})" for n in names}, "summed loss": f"{r['loss']:.4g}"}
            for r in front.to_dict("records")]
    page.p(f"{len(front)} fit(s) that no other beats on every fitted target. The best fit above is the one with "
           "the smallest summed loss; pareto.csv gives each one's parameters.")
    page.table(pd.DataFrame(rows))


def _posterior(page: Page, folder: Path, spec: dict) -> None:
    """ABC's weighted posterior quantiles, and its predictive check when the folder has one: an
    ABC fit is a distribution, not a single best value."""
    from sim.experiments.abc import ess, weighted_quantile

    post = read_frame(folder / "posterior.parquet")
    page.h("Posterior")
    page.p(f"{len(post)} weighted particles of generation {int(post.generation.iloc[0])} (effective sample size "
           f"{ess(post.weight):.1f}); posterior.parquet holds them.")
    rows = []
    for key in spec["parameters"]:
        x = pd.to_numeric(post[key], errors="coerce")
        if x.isna().any():
            continue
        w = post.weight.to_numpy()
        rows.append({"parameter": f"`{key}`", "weighted mean": _num(float((x * w).sum())),
                     "2.5%": _num(weighted_quantile(x, w, 0.025)), "median": _num(weighted_quantile(x, w, 0.5)),
                     "97.5%": _num(weighted_quantile(x, w, 0.975))})
    page.table(pd.DataFrame(rows), "Each parameter's weighted posterior quantiles.")
    if (folder / "predictive.csv").is_file():
        pred = _csv(folder, "predictive.csv")
        rows = [{"target": f"`{r.target}`", "role": r.role, "reading": r.reading, "published": _num(r.published),
                 "uncertainty": r.uncertainty, "posterior mean [2.5%, 97.5%]": f"{_num(r.posterior_mean)} "
                 f"[{_num(r.q025)}, {_num(r.q975)}]", "particles": int(r.particles),
                 "within uncertainty": "yes" if bool(r.met) else "**no**"} for r in pred.itertuples()]
        page.p("Posterior predictive check: each target's model mean over the weighted posterior particles.")
        page.table(pd.DataFrame(rows))


def _whole_paths(page: Page, paths: pd.DataFrame) -> None:
    """Each target's whole yearly path at the best fit, so a fit that is right only in the year it
    is read from shows."""
    page.h("Whole paths at the best fit")
    page.p("Each target is read from a yearly path (a metric, or a metric divided by another); here is the "
           f"whole path at the best fit, the mean over {paths.replicate.nunique()} replicates, year by year.")
    mean = paths.groupby(["path", "year"], sort=False).value.mean().unstack("year")
    table = mean.map(_num).reset_index()
    table.columns = ["path", *(f"year {c}" for c in table.columns[1:])]
    page.table(table)


def _provenance(page: Page, manifest: dict, spec: dict) -> None:
    """What a reader needs to reproduce the calibration: its file, commit, seeds, timings, versions."""
    page.h("Provenance")
    rows = [("calibration file", spec["name"]), ("git commit", manifest.get("git_commit") or "unknown"),
            ("replicate seeds", ", ".join(str(s) for s in manifest["seeds"])),
            ("timings", ", ".join(f"{k} {v}" for k, v in (manifest.get("timings") or {}).items())),
            ("versions", ", ".join(f"{k} {v}" for k, v in sorted((manifest.get("versions") or {}).items())))]
    page.table(pd.DataFrame(rows, columns=["what", "value"]))


def is_calibration(folder: str | Path) -> bool:
    """Whether the folder's manifest says it is a calibration (read as untrusted)."""
    from sim.files import read_regular
    from sim.storage.manifests import MANIFEST_LIMIT

    try:
        manifest = json.loads(read_regular(Path(folder) / "manifest.json", MANIFEST_LIMIT))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind") == "calibration"
