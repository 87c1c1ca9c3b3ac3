"""The seeds of a run's replicates, derived from one root seed. Below every layer: a sweep design
(sim.config.designs) and the runners (sim.experiments) must agree on them for runs to pair."""

from __future__ import annotations

import numpy as np


def replicate_seeds(root: int, n: int) -> list[int]:
    """Seeds of replicates 0..n-1 from one root seed; the first k are the same for any n >= k."""
    children = np.random.SeedSequence(root).spawn(n)
    return [int(c.generate_state(1, np.uint64)[0]) >> 1 for c in children]  # 63 bits: fits int64
