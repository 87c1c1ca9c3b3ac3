"""The readable summary of a run (summary.md): headline metrics at the start and the end."""

from __future__ import annotations

from sim.metrics import BASIC_CV, HIGH_QUALITY_CV, INDICATORS, REGISTRY

HEADLINE = [(f"cv_{i}", g) for i in INDICATORS for g in ("primary", "junior")] + [
    ("cv_quality", "all"), ("cv_composite", "primary"), ("cv_composite", "junior"),
    ("teachers_in_post", "all"), ("rotations", "all"), ("participation", "all"),
    ("backbone_share_rotators", "all"), ("coverage_eligible", "all"), ("achievement", "all"),
    ("achievement_gap", "all"),
]


def summary_markdown(result) -> str:
    """Markdown table of the headline metrics: first and last year, mean and range over replicates."""
    m = result.metrics
    sc = result.scenario
    last = int(m["year"].max())
    lines = [
        f"# {sc.name}",
        "",
        sc.description.strip() or "(no description)",
        "",
        f"{sc.run.replicates} replicate(s) x {last} years, root seed {sc.run.seed}; world preset "
        f"`{sc.world.preset}`; {len(sc.policy.programs)} rotation program(s).",
        "Values are the mean over replicates, with [min, max] when there are several.",
        f"High-quality limits: CV <= {HIGH_QUALITY_CV['primary']} (primary) / {HIGH_QUALITY_CV['junior']} (junior); "
        f"basic composite <= {BASIC_CV['primary']} / {BASIC_CV['junior']}.",
        "",
        f"| metric | group | year 0 (start) | year {last} |",
        "|---|---|---|---|",
    ]
    for name, group in HEADLINE:
        cells = []
        for year in (0, last):
            v = m[(m["metric"] == name) & (m["group"] == group) & (m["year"] == year)]["value"]
            if v.empty:
                cells.append("-")
            elif len(v) > 1:
                cells.append(f"{v.mean():.3f} [{v.min():.3f}, {v.max():.3f}]")
            else:
                cells.append(f"{v.iloc[0]:.3f}")
        lines.append(f"| {REGISTRY[name].label} (`{name}`) | {group} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"
