"""The yardsticks issue 7 gives "for scale", rebuilt here so they can be timed on the same machine
as the simulator: a plain tutorial-style Mesa model (120,000 agents on a 40 x 40 torus grid; each
year every agent steps, moving to a random neighbouring cell, then one CV of agents per cell; 10
years), the same work on bare NumPy arrays, and creating 120,000 Mesa agents alone.

    python benchmarks/tutorial_reference.py
    python benchmarks/tutorial_reference.py --model-only --agents 8800   # what benchmarks/whole_process.py times

Issue 7 quotes about 14 s, 0.2 s and 1-2 s for these. How the quoted model was written is not
known (a MultiGrid with neighbourhood look-ups costs more than the cell space used here), so
compare the simulator with these figures as measured in the same session, not with the quotes.
"""

from __future__ import annotations

import argparse
import time

import mesa
import numpy as np
from mesa.discrete_space import CellAgent, OrthogonalMooreGrid

N_AGENTS, SIDE, YEARS = 120_000, 40, 10


class Walker(CellAgent):
    def __init__(self, model, cell):
        super().__init__(model)
        self.cell = cell

    def step(self):
        self.cell = self.cell.neighborhood.select_random_cell()


class Tutorial(mesa.Model):
    def __init__(self, seed: int = 0, n_agents: int = N_AGENTS):
        super().__init__(rng=seed)
        self.grid = OrthogonalMooreGrid((SIDE, SIDE), torus=True, random=self.random)
        cells = self.grid.all_cells.cells
        for _ in range(n_agents):
            Walker(self, cells[self.random.randrange(len(cells))])
        self.cvs: list[float] = []

    def step(self):
        self.agents.shuffle_do("step")
        counts = np.array([len(c.agents) for c in self.grid.all_cells])
        self.cvs.append(float(counts.std() / counts.mean()))


def mesa_model(n_agents: int = N_AGENTS) -> float:
    t = time.perf_counter()
    model = Tutorial(n_agents=n_agents)
    for _ in range(YEARS):
        model.step()
    return time.perf_counter() - t


def bare_numpy() -> float:
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, SIDE, N_AGENTS), rng.integers(0, SIDE, N_AGENTS)
    cvs = []
    for _ in range(YEARS):
        order = rng.permutation(N_AGENTS)  # the shuffled activation, kept for a like-for-like cost
        step = rng.integers(0, 8, N_AGENTS)
        dx = np.array([-1, -1, -1, 0, 0, 1, 1, 1])[step]
        dy = np.array([-1, 0, 1, -1, 1, -1, 0, 1])[step]
        x[order], y[order] = (x[order] + dx) % SIDE, (y[order] + dy) % SIDE
        counts = np.bincount(x * SIDE + y, minlength=SIDE * SIDE)
        cvs.append(float(counts.std() / counts.mean()))
    return time.perf_counter() - t


def agents_alone() -> float:
    t = time.perf_counter()
    model = mesa.Model(rng=0)
    for _ in range(N_AGENTS):
        mesa.Agent(model)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=N_AGENTS, help="agents of the tutorial-style model")
    ap.add_argument("--model-only", action="store_true", help="only the tutorial-style model, nothing printed")
    args = ap.parse_args(argv)
    if args.model_only:
        mesa_model(args.agents)
        return
    print(f"tutorial-style Mesa model, {args.agents:,} agents, {YEARS} years: {mesa_model(args.agents):.2f} s "
          "(issue 7, at 120,000: about 14 s)")
    print(f"the same work on bare NumPy arrays: {bare_numpy():.2f} s (issue 7: about 0.2 s)")
    print(f"creating {N_AGENTS:,} Mesa agents alone: {agents_alone():.2f} s (issue 7: about 1-2 s)")


if __name__ == "__main__":
    main()
