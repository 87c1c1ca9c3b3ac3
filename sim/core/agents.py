"""Mesa agents: `Teacher` (a CellAgent on its host school's cell) and `School` (a FixedAgent).

A Teacher's attributes are read from the model's `Workforce` arrays (one row per teacher), so
Mesa's per-agent API works (`model.agents_by_type[Teacher].select(...)`, `teacher.cell`) while
the yearly stages stay vectorised. The model moves the agent's cell whenever its host changes.
"""

from __future__ import annotations

from mesa.discrete_space import Cell, CellAgent, FixedAgent

from sim.codes import BACKBONE, QUALIFICATIONS, ROLES, SUBJECTS, TEACHER_LEVELS, TIERS, TITLES


class Teacher(CellAgent):
    """A teacher or cadre. `row` indexes the model's Workforce."""

    def __init__(self, model, row: int, cell: Cell | None):
        super().__init__(model)
        self.row = row
        if cell is not None:  # None: placed later, with others, by `place_teachers`
            self.cell = cell

    def _get(self, column: str):
        return getattr(self.model.workforce, column)[self.row]

    @property
    def role(self) -> str:
        return ROLES[self._get("role")]

    @property
    def is_cadre(self) -> bool:
        return self._get("role") > 0

    @property
    def level(self) -> str:
        return TEACHER_LEVELS[self._get("level")]

    @property
    def subject(self) -> str:
        return SUBJECTS[self._get("subject")]

    @property
    def pe_art(self) -> bool:
        return self.subject in ("pe", "music", "art")

    @property
    def title(self) -> str:
        return TITLES[self._get("title")]

    @property
    def qualification(self) -> str:
        return QUALIFICATIONS[self._get("qualification")]

    @property
    def backbone(self) -> str:
        return BACKBONE[self._get("backbone")]

    @property
    def age(self) -> int:
        return int(self._get("age"))

    @property
    def experience(self) -> int:
        return int(self._get("experience"))

    @property
    def years_at_school(self) -> int:
        return int(self._get("years_at_school"))

    @property
    def home_school(self) -> int:
        return int(self._get("school"))

    @property
    def host_school(self) -> int:
        return int(self._get("host"))

    @property
    def quality(self) -> float:
        return float(self._get("quality"))

    @property
    def commute(self) -> float:
        return float(self._get("commute"))

    @property
    def satisfaction(self) -> float:
        return float(self._get("satisfaction"))

    @property
    def rotation_history(self) -> list[tuple[int, int, int]]:
        """(year, from school, to school) of each rotation this teacher started in the run."""
        return list(self.model.rotation_history.get(self.row, ()))


def place_teachers(teachers: list[Teacher], cells: list[Cell | None]) -> None:
    """Put each teacher on its cell (None takes it off the space), leaving every agent and cell as
    `teacher.cell = cell` one teacher at a time would, cell agent order included.

    Why: a Beijing-size year moves tens of thousands of teachers, and Mesa's `cell` property costs
    several Python calls per move (the setter, `Cell.add_agent`, `Cell.remove_agent`, the `empty`
    property). This does the same list operations directly and sets `empty` once per cell at the
    end. It reaches into Mesa's `Cell._agents` and `CellAgent._mesa_cell`: `tests/test_agents.py`
    checks it against Mesa's own one-at-a-time moves, so a Mesa release that changes them fails
    there.
    """
    touched = set()
    try:
        for teacher, cell in zip(teachers, cells, strict=True):
            old = teacher._mesa_cell
            if cell is old:
                continue
            if cell is not None:
                if cell.capacity is not None and len(cell._agents) >= cell.capacity:
                    raise Exception("ERROR: Cell is full")  # what Mesa's Cell.add_agent raises
                cell._agents.append(teacher)
                touched.add(cell)
            if old is not None:
                old._agents.remove(teacher)
                touched.add(old)
            teacher._mesa_cell = cell
    finally:
        for cell in touched:
            cell.empty = not cell._agents


class School(FixedAgent):
    """A school on its own cell of the place graph; `index` is its school id."""

    def __init__(self, model, index: int, cell):
        super().__init__(model)
        self.index = index
        self.cell = cell

    @property
    def name(self) -> str:
        return self.model.world.school_names[self.index]

    @property
    def tier(self) -> str:
        return TIERS[int(self.model.world.schools["tier"][self.index])]

    @property
    def staffing_norm(self) -> int:
        return int(self.model.world.schools["norm"][self.index])

    @property
    def vacancies(self) -> int:
        """Posts under the norm, counting teachers whose home post is here (also those away)."""
        return max(0, self.staffing_norm - int(self.model.home_posts()[self.index]))

    @property
    def indicators(self) -> dict[str, float]:
        """This year's per-100-student indicators and mean quality (from the last collection)."""
        return {k: float(v[self.index]) for k, v in self.model.school_frame_latest.items()
                if k.endswith("_per100") or k == "mean_quality"}
