"""Every outcome defined once: the registry of metrics, their formulas and the functions.

`REGISTRY` names each metric with its label, unit and formula; `docs/metrics.md` is generated
from it (`python -m sim.metrics > docs/metrics.md`; a test fails when the file is stale). Each
year the model computes a school table (`school_table`) and turns it into tidy rows
(`year_metrics`): one (metric, group, value) per metric and group, group being a school level
(`primary`, `junior`), `all`, or a tier for per-tier outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.codes import ABOVE_QUALIFICATION, DISTRICT_BACKBONE, PE_ART_CODES, SENIOR_TITLE, TIERS

INDICATORS = ("teachers", "above_qualification", "senior_title", "backbone", "pe_art")
LEVEL_GROUPS = ("primary", "junior")
# High-quality balanced development standard (2017): per-indicator CV limits by level;
# basic balance (2012): composite CV limits. DOMAIN.md.
HIGH_QUALITY_CV = {"primary": 0.50, "junior": 0.45}
BASIC_CV = {"primary": 0.65, "junior": 0.55}


@dataclass(frozen=True)
class Metric:
    """One outcome: stable snake_case name, label, unit, the groups it is reported for, formula."""

    name: str
    label: str
    unit: str
    groups: str
    formula: str


def _registry() -> dict[str, Metric]:
    m: list[Metric] = []
    per100 = {"teachers": "teachers", "above_qualification": "teachers above the required qualification",
              "senior_title": "senior-title teachers", "backbone": "county(district)-level-or-above backbone teachers",
              "pe_art": "PE, music and art teachers"}
    for ind, what in per100.items():
        m.append(Metric(f"mean_{ind}", f"{what} per 100 students", "per 100 students", "primary, junior, all",
                        "Xbar = 100 * sum_i C_i / sum_i P_i over the schools (sections) of the group, "
                        "C_i the count at school i, P_i its enrolment"))
        m.append(Metric(f"cv_{ind}", f"between-school CV of {what} per 100 students", "ratio",
                        "primary, junior, all",
                        "official student-weighted CV: sqrt(sum_i (P_i/P) (X_i - Xbar)^2) / Xbar, "
                        "X_i = 100 C_i / P_i"))
        m.append(Metric(f"cv_{ind}_meets_high", f"CV of {what} within the high-quality limit", "1 = yes",
                        "primary, junior", "1 if cv <= 0.50 (primary) or 0.45 (junior), else 0"))
        m.append(Metric(f"gini_{ind}", f"Gini of {what} per 100 students", "0..1", "primary, junior, all",
                        "student-weighted Gini: sum_i sum_j P_i P_j |X_i - X_j| / (2 P^2 Xbar)"))
    m.append(Metric("mean_quality", "mean effective teaching quality", "quality units (mean teacher = 1)",
                    "primary, junior, all", "student-weighted mean over schools of the mean quality of "
                    "the teachers teaching there"))
    m.append(Metric("cv_quality", "between-school CV of mean teaching quality", "ratio", "primary, junior, all",
                    "official CV formula with X_i the mean quality of the teachers at school i"))
    m.append(Metric("gini_quality", "Gini of mean teaching quality", "0..1", "primary, junior, all",
                    "student-weighted Gini of the schools' mean quality"))
    m.append(Metric("cv_composite", "composite CV of the five teacher indicators", "ratio",
                    "primary, junior, all",
                    "mean of cv_teachers, cv_above_qualification, cv_senior_title, cv_backbone, cv_pe_art "
                    "(a teacher-only composite; the official one also counts facilities)"))
    m.append(Metric("cv_composite_meets_basic", "composite CV within the basic-balance limit", "1 = yes",
                    "primary, junior", "1 if cv_composite <= 0.65 (primary) or 0.55 (junior), else 0"))
    counts = {
        "teachers_in_post": "active teachers (home posts held) at the end of the year",
        "retirements": "teachers who reached retirement age this year",
        "attrition": "teachers who left for other reasons this year",
        "hires": "new teachers hired this year",
        "drift_transfers": "voluntary transfers to another school this year",
        "eligible": "teachers eligible for rotation under any program this year",
        "rotations": "rotations started this year (full-time moves to a host school)",
        "unmatched": "selected rotators for whom no host school was available",
        "returns": "rotators who went back to their home school at term end",
        "stays": "rotators who transferred to their host school at term end",
        "rotating": "teachers away on a rotation at the end of the year",
    }
    for name, what in counts.items():
        m.append(Metric(name, what, "teachers", "all", f"count of {what}"))
    m.append(Metric("participation", "rotations as a share of eligible", "share", "all",
                    "rotations / eligible"))
    m.append(Metric("backbone_share_rotators", "backbone share of this year's rotators", "share", "all",
                    "rotators with backbone level district or above / rotations"))
    m.append(Metric("coverage_eligible", "cumulative share of the eligible cohort who have rotated", "share",
                    "all", "cohort = teachers eligible when the policy first looked (year 1); "
                    "rotated members / (cohort - members who left or lost eligibility before rotating); "
                    "never decreases"))
    m.append(Metric("mean_commute_rotators", "mean one-way commute of teachers on rotation", "minutes", "all",
                    "mean of commute over rotating teachers (0 when none)"))
    m.append(Metric("mean_satisfaction", "mean satisfaction of teachers in post", "0..1", "all",
                    "mean of satisfaction over active teachers"))
    m.append(Metric("achievement", "student achievement proxy", "quality units", "all and each tier",
                    "student-weighted mean over schools of (mean quality - disruption * turnover share)"))
    m.append(Metric("achievement_gap", "achievement gap between strong and weak schools", "quality units", "all",
                    "achievement of leading+strong schools - achievement of weak+rural schools"))
    return {x.name: x for x in m}


REGISTRY = _registry()


# ------------------------------------------------------------------------------------- formulas


def official_cv(counts: np.ndarray, enrolment: np.ndarray) -> float:
    """Student-weighted between-school CV of an indicator per 100 students (差异系数).

    CV = sqrt(sum_i (P_i/P) (X_i - Xbar)^2) / Xbar with X_i = 100 C_i / P_i and
    Xbar = 100 sum C / P. Returns 0 when the indicator is zero everywhere.
    """
    p = np.asarray(enrolment, dtype=float)
    x = 100.0 * np.asarray(counts, dtype=float) / p
    return weighted_cv(x, p)


def weighted_cv(x: np.ndarray, w: np.ndarray) -> float:
    """CV of values x with weights w: weighted standard deviation over weighted mean."""
    w = np.asarray(w, dtype=float)
    x = np.asarray(x, dtype=float)
    if len(x) == 0 or w.sum() <= 0:
        return float("nan")
    xbar = float(np.sum(w * x) / w.sum())
    if xbar == 0:
        return 0.0
    return float(np.sqrt(np.sum(w / w.sum() * (x - xbar) ** 2)) / xbar)


def weighted_gini(x: np.ndarray, w: np.ndarray | None = None) -> float:
    """Gini index of x with weights w (unweighted when w is None).

    G = sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 xbar), computed in O(n log n) by sorting.
    """
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    if len(x) == 0 or w.sum() <= 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    total_w = w.sum()
    xbar = float(np.sum(w * x) / total_w)
    if xbar == 0:
        return 0.0
    cum_w = np.cumsum(w) - w  # weight strictly below each x (ties contribute |0|)
    cum_wx = np.cumsum(w * x) - w * x
    # sum_{i<j} w_i w_j (x_j - x_i) = sum_j w_j (x_j * W_below_j - WX_below_j)
    pair_sum = float(np.sum(w * (x * cum_w - cum_wx)))
    return 2.0 * pair_sum / (2.0 * total_w**2 * xbar)


# ---------------------------------------------------------------------------------- school table


def school_table(wf, schools: dict[str, np.ndarray], turnover: np.ndarray) -> dict[str, np.ndarray]:
    """Per school and per section (primary, junior) counts of each indicator where teachers teach.

    Returns arrays of shape (n_schools, 2) for counts and enrolments, and (n_schools,) for
    whole-school values. Teachers count at their host school (rotators where they rotate to).
    """
    n = len(schools["tier"])
    rows = wf.active_rows()
    host = wf.host[rows]
    level = wf.level[rows]
    key = host * 2 + level
    flags = {
        "teachers": np.ones(len(rows)),
        "above_qualification": wf.qualification[rows] >= ABOVE_QUALIFICATION,
        "senior_title": wf.title[rows] >= SENIOR_TITLE,
        "backbone": wf.backbone[rows] >= DISTRICT_BACKBONE,
        "pe_art": np.isin(wf.subject[rows], PE_ART_CODES),
    }
    out: dict[str, np.ndarray] = {}
    for ind, flag in flags.items():
        out[ind] = np.bincount(key, weights=flag, minlength=2 * n).reshape(n, 2)
    out["quality_sum"] = np.bincount(key, weights=wf.quality[rows], minlength=2 * n).reshape(n, 2)
    out["enrolment"] = np.stack([schools["enrol_primary"], schools["enrol_junior"]], axis=1).astype(float)
    staff = out["teachers"].sum(axis=1)
    out["mean_quality"] = np.divide(out["quality_sum"].sum(axis=1), staff, out=np.zeros(n), where=staff > 0)
    out["turnover"] = turnover
    return out


def _section_quality(table) -> np.ndarray:
    t = table["teachers"]
    return np.divide(table["quality_sum"], t, out=np.zeros_like(t), where=t > 0)


def year_metrics(table: dict[str, np.ndarray], schools: dict[str, np.ndarray], disruption: float,
                 counts: dict[str, float]) -> list[tuple[str, str, float]]:
    """The year's tidy (metric, group, value) rows from the school table and the year's counts."""
    out: list[tuple[str, str, float]] = []
    enrol = table["enrolment"]
    sec_quality = _section_quality(table)
    groups = {}
    for li, level in enumerate(LEVEL_GROUPS):
        mask = enrol[:, li] > 0
        groups[level] = (
            {ind: table[ind][mask, li] for ind in INDICATORS}, enrol[mask, li], sec_quality[mask, li],
        )
    whole_enrol = enrol.sum(axis=1)
    groups["all"] = ({ind: table[ind].sum(axis=1) for ind in INDICATORS}, whole_enrol, table["mean_quality"])
    for group, (cnt, p, q) in groups.items():
        cvs = []
        for ind in INDICATORS:
            x = 100.0 * cnt[ind] / p
            cv = official_cv(cnt[ind], p)
            cvs.append(cv)
            out.append((f"mean_{ind}", group, float(100.0 * cnt[ind].sum() / p.sum())))
            out.append((f"cv_{ind}", group, cv))
            out.append((f"gini_{ind}", group, weighted_gini(x, p)))
            if group in HIGH_QUALITY_CV:
                out.append((f"cv_{ind}_meets_high", group, float(cv <= HIGH_QUALITY_CV[group])))
        staffed = cnt["teachers"] > 0
        out.append(("mean_quality", group, float(np.sum(p[staffed] * q[staffed]) / p[staffed].sum())))
        out.append(("cv_quality", group, weighted_cv(q[staffed], p[staffed])))
        out.append(("gini_quality", group, weighted_gini(q[staffed], p[staffed])))
        composite = float(np.mean(cvs))
        out.append(("cv_composite", group, composite))
        if group in BASIC_CV:
            out.append(("cv_composite_meets_basic", group, float(composite <= BASIC_CV[group])))
    for name, value in counts.items():
        out.append((name, "all", float(value)))
    achievement = table["mean_quality"] - disruption * table["turnover"]
    tier = schools["tier"]
    out.append(("achievement", "all", float(np.sum(whole_enrol * achievement) / whole_enrol.sum())))
    for t, tname in enumerate(TIERS):
        mask = tier == t
        if mask.any():
            out.append(("achievement", tname, float(np.sum(whole_enrol[mask] * achievement[mask])
                                                    / whole_enrol[mask].sum())))
    strong, weak = tier >= TIERS.index("strong"), tier <= TIERS.index("weak")
    if strong.any() and weak.any():
        gap = (np.sum(whole_enrol[strong] * achievement[strong]) / whole_enrol[strong].sum()
               - np.sum(whole_enrol[weak] * achievement[weak]) / whole_enrol[weak].sum())
        out.append(("achievement_gap", "all", float(gap)))
    return out


def metrics_markdown() -> str:
    """docs/metrics.md, generated from REGISTRY."""
    lines = [
        "# Metrics reference",
        "",
        "Generated from `sim/metrics.py` (`python -m sim.metrics > docs/metrics.md`); do not edit by hand.",
        "Every metric lands in `metrics.parquet` as rows (scenario, replicate, seed, year, metric, group,",
        "value). Year 0 is the initial state. `X_i` is school i's indicator per 100 students, `P_i` its",
        "enrolment; for the `primary` and `junior` groups each school section counts as a school",
        "(nine-year schools have both); for `all` whole schools count.",
        "",
        "| metric | label | unit | groups | formula |",
        "|---|---|---|---|---|",
    ]
    for m in REGISTRY.values():
        lines.append(f"| `{m.name}` | {m.label} | {m.unit} | {m.groups} | {m.formula} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(metrics_markdown(), end="")
