"""Mesa agents: `Teacher` (a CellAgent on its host school's cell) and `School` (a FixedAgent).

The teachers' state lives in the model's `Workforce` arrays (one row per teacher), where the
yearly stages work on all teachers at once. A `Teacher` is a view of one row, made the first
time something asks for it (`model.teacher(row)`, a school cell's `agents`,
`model.agents_by_type[Teacher]`), and its `cell` is read from the row's host school. So Mesa's
per-agent API works, while a year that moves tens of thousands of teachers moves no objects:
a Beijing-size model does not build 120,000 agents nobody looks at.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mesa.discrete_space import Cell, CellAgent, FixedAgent

from sim.codes import BACKBONE, QUALIFICATIONS, ROLES, SUBJECTS, TEACHER_LEVELS, TIERS, TITLES


class Teacher(CellAgent):
    """A teacher or cadre: a view of row `row` of the model's Workforce (`model.teacher(row)`).
    `row` is the teacher's stable id within a run; Mesa's `unique_id` numbers views in the order
    they are first made, so it depends on what was looked at first (use `row` to key agent data)."""

    def __init__(self, model, row: int):
        super().__init__(model)
        self.row = row

    @property
    def cell(self) -> Cell | None:
        """The host school's cell, read from the workforce; None once the teacher has left."""
        wf = self.model.workforce
        return self.model.space[int(wf.host[self.row])] if wf.active[self.row] else None

    @cell.setter
    def cell(self, cell: Cell | None) -> None:
        if cell is None and not self.model.workforce.active[self.row]:
            return  # Mesa's CellAgent.remove takes a leaver off its cell: already off
        raise AttributeError("a Teacher's cell is its host school: it changes through the model's moves "
                             "(model.move_teachers, model.transfer_posts), not by assignment")

    def remove(self) -> None:
        """Mesa's `agent.remove()`: the teacher leaves the model (logged as attrition)."""
        if self.model.workforce.active[self.row]:
            self.model.remove_teachers(np.array([self.row]), "attrition")  # which removes this view
        else:
            super().remove()

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


class Occupants(Sequence):
    """What a school's cell holds, in the list Mesa keeps as `Cell._agents`: the agents placed
    on it (its School) and the teachers whose host it is, read from the workforce when asked.
    Mesa's own reads (`cell.agents`, `is_empty`, a neighbourhood's agents, `space.all_cells`)
    then see the current teachers without the model moving anything."""

    def __init__(self, placed: list, model, school: int):
        self.placed, self.model, self.school = list(placed), model, school

    def copy(self) -> list:
        return self.placed + self.model.teachers_at(self.school)

    def __len__(self) -> int:
        return len(self.placed) + self.model.teacher_count_at(self.school)

    def __getitem__(self, index):
        return self.copy()[index]

    def __iter__(self):
        return iter(self.copy())

    def append(self, agent) -> None:
        """`Cell.add_agent`: a fixed agent placed here (a teacher's place is its host school)."""
        if isinstance(agent, Teacher):
            raise AttributeError("a Teacher is on its host school's cell; it moves through the model's moves")
        self.placed.append(agent)

    def remove(self, agent) -> None:
        """`Cell.remove_agent`; a leaving teacher is already off the cell."""
        if not isinstance(agent, Teacher):
            self.placed.remove(agent)


class SchoolCell(Cell):
    """A cell of the place graph; a school's cell lists its teachers from the workforce
    (`attach`). Other nodes (districts, groups) hold no agents."""

    @property
    def empty(self) -> bool:
        return self.is_empty

    @empty.setter
    def empty(self, value: bool) -> None:
        """Mesa sets the flag on every arrival and departure; here it is always read live."""

    def attach(self, model, school: int) -> None:
        """Read this cell's teachers from `model` from now on: the one place the cell's agent
        list (Mesa's `Cell._agents`) is replaced, by an `Occupants` that keeps what was on it."""
        self._agents = Occupants(self._agents, model, school)


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
