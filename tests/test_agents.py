"""`place_teachers` (the model's batch moves) against Mesa's own one-at-a-time `agent.cell = ...`."""

from __future__ import annotations

import mesa
import networkx as nx
import numpy as np
import pytest
from mesa.discrete_space import Network

from sim.core.agents import Teacher, place_teachers


def _space(n_cells: int, n_agents: int, capacity=None):
    model = mesa.Model(rng=0)
    space = Network(nx.path_graph(n_cells), capacity=capacity, random=model.random)
    agents = [Teacher(model, r, None) for r in range(n_agents)]
    return space, agents


def _empty(cell):
    try:
        return cell.empty
    except AttributeError:  # Mesa sets the flag at a cell's first arrival
        return "unset"


def _state(space, agents):
    cells = [[a.row for a in space[i].agents] for i in range(len(space._cells))]
    empty = [_empty(space[i]) for i in range(len(space._cells))]
    where = [None if a.cell is None else a.cell.coordinate for a in agents]
    return cells, empty, where


def test_batches_leave_cells_as_one_at_a_time_moves_do():
    rng = np.random.default_rng(7)
    one, one_agents = _space(6, 12)
    batch, batch_agents = _space(6, 12)
    flags_seen = set()
    for step in range(30):
        k = int(rng.integers(1, 10))
        who = rng.integers(0, 12, k).tolist()  # repeats: a teacher may move twice in one batch
        to = rng.integers(-1, 6, k).tolist()   # -1: off the space
        if step == 0:
            who, to = list(range(12)), rng.integers(0, 3, 12).tolist()  # first placement
        for r, c in zip(who, to, strict=True):
            one_agents[r].cell = None if c < 0 else one[c]
        place_teachers([batch_agents[r] for r in who], [None if c < 0 else batch[c] for c in to])
        assert _state(batch, batch_agents) == _state(one, one_agents), step
        flags_seen.update(_state(one, one_agents)[1])
    assert {True, False} <= flags_seen  # cells were emptied and refilled along the way


def test_full_cells_fail_as_mesa_does():
    one, one_agents = _space(2, 4, capacity=2)
    batch, batch_agents = _space(2, 4, capacity=2)
    with pytest.raises(Exception, match="Cell is full"):
        for a in one_agents:
            a.cell = one[0]
    with pytest.raises(Exception, match="Cell is full"):
        place_teachers(batch_agents, [batch[0]] * 4)
    assert _state(batch, batch_agents) == _state(one, one_agents)
