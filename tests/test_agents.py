"""Teachers are Mesa agents made on first access from the workforce arrays (`sim.core.agents`):
Mesa's per-agent API must still tell the truth about who teaches where, year after year."""

from __future__ import annotations

import mesa
import numpy as np
import pytest
from conftest import DONGCHENG, SMALL_DONGCHENG, scenario

from sim.core.agents import School, Teacher
from sim.core.model import RotationModel


@pytest.fixture(scope="module")
def model():
    return RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG), rng=5)


def _expected_rows(model, school: int) -> list[int]:
    wf = model.workforce
    return np.flatnonzero(wf.active & (wf.host == school)).tolist()


def _is_school(model, cell) -> bool:
    return isinstance(cell.coordinate, int) and cell.coordinate < model.world.n_schools


def test_cells_list_their_school_and_its_teachers_as_the_years_move_them(model):
    seen_moves = 0
    for _ in range(3):
        before = model.workforce.host.copy()
        model.step()
        n = len(before)
        seen_moves += int((model.workforce.host[:n] != before).sum())
        for s in range(model.world.n_schools):
            cell = model.space[s]
            agents = cell.agents
            assert agents[0] is model.school_agents[s]
            assert [a.row for a in agents[1:]] == _expected_rows(model, s)
            assert all(isinstance(a, Teacher) and a.cell is cell for a in agents[1:])
            assert len(cell._agents) == len(agents) and cell.is_empty is False and cell.empty is False
    assert seen_moves > 0  # the check ran over years in which teachers changed school


def test_a_teacher_is_one_object_until_it_leaves(model):
    wf = model.workforce
    row = int(wf.active_rows()[0])
    view = model.teacher(row)
    assert model.teacher(row) is view
    assert view in model.space[int(wf.host[row])].agents
    assert view.unique_id is not None
    gone = int(np.flatnonzero(~wf.active)[0]) if (~wf.active).any() else None
    if gone is not None:
        assert model.teacher(gone) is None


def test_agents_by_type_holds_every_active_teacher_once(model):
    teachers = model.agents_by_type[Teacher]
    assert sorted(t.row for t in teachers) == model.workforce.active_rows().tolist()
    assert len({t.unique_id for t in model.agents}) == len(model.agents)
    assert set(model.agent_types) == {School, Teacher}
    assert len(model.agents_by_type[School]) == model.world.n_schools


def test_neighbourhoods_and_all_cells_read_the_current_teachers():
    """Mesa caches a cell's neighbourhood with references to each cell's agent list: the
    teachers in it must be today's, not those of the day it was first asked for."""
    m = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG), rng=6)
    group = next(c for c in m.space.all_cells
                 if not _is_school(m, c) and any(_is_school(m, n) for n in c.connections.values()))
    hood = group.neighborhood
    first = sorted(a.row for a in hood.agents if isinstance(a, Teacher))
    m.step()
    now = sorted(a.row for a in group.neighborhood.agents if isinstance(a, Teacher))
    schools = [c.coordinate for c in hood.cells if _is_school(m, c)]
    assert now == sorted(r for s in schools for r in _expected_rows(m, s))
    assert now != first  # a year of retirements, hires and rotations changed them
    on_cells = sum(isinstance(a, Teacher) for c in m.space.all_cells.cells for a in c.agents)
    assert on_cells == int(m.workforce.active.sum())


def test_agent_type_reporters_in_a_datacollector_see_every_teacher():
    m = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG), rng=7)
    dc = mesa.DataCollector(agenttype_reporters={Teacher: {"quality": "quality", "host": "host_school"}})
    for _ in range(2):
        m.step()
        dc.collect(m)
    frame = dc.get_agenttype_vars_dataframe(Teacher)
    last = frame.xs(m.steps, level="Step")
    assert len(last) == int(m.workforce.active.sum())
    wf = m.workforce
    by_row = {m.agents_by_type[Teacher].select(lambda t, r=r: t.row == r)[0].unique_id: r
              for r in wf.active_rows()[:20].tolist()}
    for uid, r in by_row.items():
        assert last.loc[uid, "host"] == wf.host[r]
        assert last.loc[uid, "quality"] == pytest.approx(wf.quality[r])


def test_removing_a_teacher_by_hand_is_a_leaver_and_cells_cannot_be_assigned():
    m = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG), rng=8)
    m.step()
    t = m.teacher(int(m.workforce.active_rows()[3]))
    school = t.cell
    with pytest.raises(AttributeError, match="host school"):
        t.cell = m.space[(school.coordinate + 1) % m.world.n_schools]
    t.remove()
    assert not m.workforce.active[t.row] and t.cell is None
    assert t not in school.agents and t not in m.agents_by_type[Teacher]
    assert m.moves[-1][1] == t.row and m.moves[-1][3] == -1  # logged as leaving


def test_the_space_and_its_cell_collection_list_every_teacher():
    """Mesa caches `space.all_cells` when the network is built: it must see the cells' teachers."""
    m = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG), rng=9)
    m.step()
    active = m.workforce.active_rows().tolist()
    assert sorted(a.row for a in m.space.agents if isinstance(a, Teacher)) == active
    assert sum(isinstance(a, Teacher) for a in m.space.all_cells.agents) == len(active)
    assert isinstance(m.space.all_cells.select(lambda c: _is_school(m, c)).select_random_agent(), (Teacher, School))


def test_remove_all_agents_removes_every_teacher():
    m = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG), rng=10)
    m.step()
    m.teacher(int(m.workforce.active_rows()[0]))  # one view made, the rest not yet
    m.remove_all_agents()
    assert not m.workforce.active.any()
    assert len(m.agents) == 0
    assert all(not c.agents for c in m.space.all_cells)
