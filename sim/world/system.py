"""The built world: school and teacher tables plus the one NetworkX graph of places.

Schools and teachers are column arrays (numpy), because every yearly stage touches all of them;
the graph holds the nesting city -> district -> school district / education group -> school and
the twinning edges, and is what the Mesa `Network` space is built on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from sim.codes import DISTRICT_TYPES, SCHOOL_LEVELS, TIERS

if TYPE_CHECKING:  # networkx is imported when a graph is built, not by `teachersim validate`
    import networkx as nx

# Staffing norms in posts per 100 students, by school section (Beijing norms are near 1:13 for
# primary and 1:10 for junior middle; we use them as the district's hiring target).
NORM_PER_100 = {"primary": 7.7, "junior": 10.0}
MIN_STAFF = 12  # a school keeps at least this many posts whatever its size (rural schools)

SCHOOL_COLUMNS = (
    "district", "school_district", "group", "leading", "level", "tier",
    "enrol_primary", "enrol_junior", "x", "y", "norm",
)
TEACHER_COLUMNS = (
    "school", "role", "level", "subject", "title", "qualification", "backbone",
    "age", "experience", "years_at_school", "quality", "home_x", "home_y", "woman", "birth_month",
)


@dataclass
class SchoolSystem:
    """Everything a run starts from. Arrays are indexed by school id or teacher row."""

    district_names: list[str]
    district_types: np.ndarray  # code into DISTRICT_TYPES, per district
    school_district_names: list[str]
    school_district_of: np.ndarray  # district id of each school district
    group_names: list[str]
    group_district: np.ndarray  # district id of each education group
    school_names: list[str]
    schools: dict[str, np.ndarray]  # SCHOOL_COLUMNS; group = -1 when the school is in none
    teachers: dict[str, np.ndarray]  # TEACHER_COLUMNS
    twinning: np.ndarray  # (n_pairs, 2) school ids
    graph: nx.Graph = field(default=None)  # built by build_graph

    @property
    def n_schools(self) -> int:
        return len(self.school_names)

    @cached_property
    def group_leaders(self) -> dict[int, int]:
        """Education group id -> its leading school (training flow and training-first hiring)."""
        s = self.schools
        return {int(g): int(i) for i, g in enumerate(s["group"]) if s["leading"][i] and g >= 0}

    @cached_property
    def twins(self) -> dict[int, list[int]]:
        """School id -> its twinning partners (every rotation program looks them up)."""
        out: dict[int, list[int]] = {}
        for a, b in self.twinning.tolist():
            out.setdefault(a, []).append(b)
            out.setdefault(b, []).append(a)
        return out

    @property
    def n_teachers(self) -> int:
        return len(self.teachers["school"])

    def check(self) -> None:
        """Raise ValueError if the tables are inconsistent (lengths, ranges, references)."""
        n = self.n_schools
        for col in SCHOOL_COLUMNS:
            if len(self.schools[col]) != n:
                raise ValueError(f"school column {col} has {len(self.schools[col])} rows, expected {n}")
        m = self.n_teachers
        for col in TEACHER_COLUMNS:
            if len(self.teachers[col]) != m:
                raise ValueError(f"teacher column {col} has {len(self.teachers[col])} rows, expected {m}")
        if m and (self.teachers["school"].min() < 0 or self.teachers["school"].max() >= n):
            raise ValueError("a teacher points at a school that does not exist")
        enrol = self.schools["enrol_primary"] + self.schools["enrol_junior"]
        if n and enrol.min() <= 0:
            raise ValueError(f"school {self.school_names[int(np.argmin(enrol))]!r} has no students")
        used = np.unique(self.schools["district"])
        empty = sorted(set(range(len(self.district_names))) - set(used.tolist()))
        if empty:
            raise ValueError(f"district {self.district_names[empty[0]]!r} has no schools")


def commute_minutes(careers, dx, dy):
    """Minutes of a commute across (dx, dy) km: `careers.commute_fixed_minutes` plus
    `careers.commute_minutes_per_km` per km of straight-line distance (numbers or numpy arrays)."""
    return careers.commute_fixed_minutes + careers.commute_minutes_per_km * np.hypot(dx, dy)


def norm_posts(level: np.ndarray, enrol_primary: np.ndarray, enrol_junior: np.ndarray) -> np.ndarray:
    """Staffing norm (posts) of each school from its enrolment by section."""
    posts = enrol_primary * NORM_PER_100["primary"] / 100 + enrol_junior * NORM_PER_100["junior"] / 100
    return np.maximum(np.rint(posts), MIN_STAFF).astype(np.int64)


def build_graph(system: SchoolSystem) -> nx.Graph:
    """The place graph. School nodes are their integer ids; other nodes are 'kind:index' strings."""
    import networkx as nx

    g = nx.Graph()
    g.add_node("city", kind="city", name="city")
    for d, name in enumerate(system.district_names):
        g.add_node(f"district:{d}", kind="district", name=name,
                   district_type=DISTRICT_TYPES[int(system.district_types[d])])
        g.add_edge("city", f"district:{d}", kind="contains")
    for k, name in enumerate(system.school_district_names):
        g.add_node(f"school_district:{k}", kind="school_district", name=name)
        g.add_edge(f"district:{int(system.school_district_of[k])}", f"school_district:{k}", kind="contains")
    for k, name in enumerate(system.group_names):
        g.add_node(f"group:{k}", kind="group", name=name)
        g.add_edge(f"district:{int(system.group_district[k])}", f"group:{k}", kind="contains")
    s = system.schools
    # whole batches (fewer networkx calls), in the order the nodes and each node's edges always had
    level, tier, x, y = s["level"].tolist(), s["tier"].tolist(), s["x"].tolist(), s["y"].tolist()
    enrolment = (s["enrol_primary"] + s["enrol_junior"]).tolist()
    g.add_nodes_from((i, {"kind": "school", "name": name, "level": SCHOOL_LEVELS[level[i]], "tier": TIERS[tier[i]],
                          "enrolment": enrolment[i], "x": x[i], "y": y[i]})
                     for i, name in enumerate(system.school_names))
    g.add_edges_from(((f"school_district:{k}", i) for i, k in enumerate(s["school_district"].tolist())),
                     kind="contains")
    g.add_edges_from(((f"group:{k}", i, {"leading": lead})
                      for i, (k, lead) in enumerate(zip(s["group"].tolist(), s["leading"].tolist(), strict=True))
                      if k >= 0), kind="member")
    g.add_edges_from(((a, b) for a, b in system.twinning.tolist()), kind="twinning")
    return g
