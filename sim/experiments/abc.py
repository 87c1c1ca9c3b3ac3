"""Approximate Bayesian computation (ABC-SMC with pyabc) for a calibration: a weighted posterior sample.

pyabc proposes particles (parameter values) generation after generation, each generation accepting
the particles whose distance from the targets is under that generation's epsilon. The distance is
the calibration's loss, square-rooted: sqrt(sum over fitted targets of distance^2), each distance in
units of the target's uncertainty (`sim.config.targets.Target.distance`). The model of a particle runs the
calibration's replicates on their fixed seeds (common random numbers) and returns every statistic
of every replicate.

Repeatable: pyabc draws its proposals from numpy's global generator. `ExecutorSampler` evaluates
particle i of generation t in a task that first seeds that generator from (seed, t, i), and accepts
the first n accepted particles in the order of i, never in the order tasks finish. So a
generation depends only on the file and the generation before it, not on the executor (serial, local
Dask, a scheduler, Slurm) or the number of workers.

Resumable: every generation is run by a fresh pyabc object loaded from the history database
(`abc.db`, SQLite through SQLAlchemy, in the output folder), so a resumed run and an uninterrupted one
take the same path. Only this process writes the database (the workers return particles; pyabc
writes a generation in one transaction when it is complete): one writer, which SQLite is safe for. A
kill loses only the generation that was running.
"""

from __future__ import annotations

import logging
import math
import random
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import numpy as np
import pandas as pd

DATABASE = "abc.db"
LOGGERS = ("ABC", "pyabc", "Epsilon", "Distance", "Acceptor", "Transitions", "Population", "Sampler", "History",
           "ABC.Distance", "ABC.Epsilon", "ABC.Acceptor", "ABC.History", "ABC.Population", "ABC.Sampler",
           "ABC.Transitions", "ABC.Predictor", "ABC.Adaptation")


def _quiet() -> None:
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Simulator:
    """pyabc's model: a particle's parameters -> every statistic of every replicate (a NaN where a run
    does not define one). Sent to workers, so it holds only plain data."""

    keys: tuple[str, ...]  # the parameters' dotted paths, in the calibration's order
    numbers: tuple  # per key: the Parameter (maps pyabc's number to the scenario value)
    base_path: str
    fixed: tuple[str, ...]  # the base's `set`, years, seed, replicates
    seeds: tuple[int, ...]
    statistics: tuple[tuple[str, str], ...]  # (key, Statistic as JSON)

    def __call__(self, particle) -> dict:
        from sim.config.designs import checked_scenario, override
        from sim.experiments.evaluation import PATHS, EvalTask, evaluate

        values = {k: p.value(float(particle[k])) for k, p in zip(self.keys, self.numbers, strict=True)}
        scenario = checked_scenario(Path(self.base_path), [*self.fixed, *(override(k, v) for k, v in values.items())])
        dump = scenario.model_dump(mode="json")
        reps = [evaluate(EvalTask(0, r, s, dump, scenario.source_dir, self.statistics))
                for r, s in enumerate(self.seeds)]
        out = {k: np.array([r[k] for r in reps], dtype=float) for k, _ in self.statistics}
        for path in reps[0][PATHS]:  # replicates x years: the report's trajectories
            out[f"{PATHS}:{path}"] = np.array([r[PATHS][path] for r in reps], dtype=float)
        return out


@dataclass(frozen=True)
class Distance:
    """pyabc's distance: sqrt of the calibration's loss at the replicates' means (inf when undefined)."""

    fitted: tuple[tuple[str, str], ...]  # (statistic key of the published reading, Target as JSON)

    def __call__(self, x: dict, x_0: dict) -> float:
        from sim.config.targets import Target

        total = 0.0
        for key, target in self.fitted:
            total += Target.model_validate_json(target).distance(float(np.mean(x[key]))) ** 2
        return math.sqrt(total) if math.isfinite(total) else math.inf


@contextmanager
def _global_generators(seed: int):
    """pyabc draws from numpy's and Python's global generators, so they are seeded for a
    reproducible posterior, and the caller's state is put back after (a notebook's global random
    state is left as it was)."""
    np_state, py_state = np.random.get_state(), random.getstate()
    np.random.seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def _seeded(task):
    """Run one particle's simulate_one with the global generators seeded by its own seed (on a
    worker, Dask carries simulate_one over its own wire; nothing here pickles)."""
    simulate_one, seed = task
    with _global_generators(seed):
        return simulate_one()


def _indexed(task):
    return _seeded(task[1])


def particle_seed(root: int, t: int, index: int) -> int:
    """The seed of particle `index` of generation `t` (t = -1: pyabc's calibration sample)."""
    return int(np.random.SeedSequence([root, t + 1, index]).generate_state(1)[0])


def make_sampler(executor, root: int):
    """A pyabc Sampler that runs particles on one of our executors, in a fixed order (see the module)."""
    from pyabc.sampler import Sampler

    class ExecutorSampler(Sampler):
        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False,
                                    ana_vars=None):
            tasks = ((simulate_one, particle_seed(root, t, i)) for i in count())
            results: dict[int, object] = {}
            sample = self._create_empty_sample()
            used = 0  # particles 0..used-1 are in the sample
            stream = executor.map_unordered(_indexed, enumerate(tasks))
            try:
                for (i, _), particle, error in stream:
                    if error is not None:
                        raise RuntimeError(f"particle {i} of generation {t}: {type(error).__name__}: {error}")
                    results[i] = particle
                    while used in results and sample.n_accepted < n and used < max_eval:
                        sample.append(results.pop(used))
                        used += 1
                    if sample.n_accepted >= n or used >= max_eval:
                        break
            finally:
                stream.close()
            self.nr_evaluations_ = used
            if sample.n_accepted < n:
                sample.ok = False
            return sample

    return ExecutorSampler()


# ------------------------------------------------------------------------------ the run


def priors(cal):
    """pyabc's prior: uniform over each parameter's sampler interval (`Parameter.bounds`: an integer
    range is [low, high + 1), values are [0, k) by index), or a normal truncated to it."""
    import pyabc

    rvs = {}
    for key, p in cal.spec.parameters.items():
        lo, hi = p.bounds()
        prior = cal.spec.abc.priors.get(key)
        if prior is None:
            rvs[key] = pyabc.RV("uniform", lo, hi - lo)
        else:
            mean, sd = prior.normal
            rvs[key] = pyabc.RV("truncnorm", (lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)
    return pyabc.Distribution(**rvs)


def _parts(cal):
    stats = tuple((k, s.model_dump_json()) for k, s in cal.statistics().items())
    keys = tuple(cal.spec.parameters)
    simulator = Simulator(keys, tuple(cal.spec.parameters[k] for k in keys), str(cal.base_path),
                          tuple([*cal.spec.set, *cal._fixed()]), tuple(cal.seeds), stats)
    distance = Distance(tuple((f"{n}/published", cal.targets.targets[n].model_dump_json()) for n in cal.fitted))
    observed = {f"{n}/published": np.array([cal.targets.targets[n].published]) for n in cal.fitted}
    return simulator, distance, observed


def _epsilon(opts, done: int):
    """Generation 0 takes the prior sample as it is; each later one the weighted quantile of the
    distances of the generation before (loaded from the database), or the fixed schedule."""
    import pyabc

    if opts.epsilons is not None:
        return pyabc.ListEpsilon(list(opts.epsilons))
    return pyabc.QuantileEpsilon(initial_epsilon=math.inf if done == 0 else "from_sample", alpha=opts.quantile)


def generations_done(db_file: Path) -> tuple[int, float | None]:
    """(generations stored, the last one's epsilon) of a history database; (0, None) if none."""
    import pyabc

    if not db_file.is_file():
        return 0, None
    history = pyabc.History(f"sqlite:///{db_file}", _id=1)
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0]
    if pops.empty:
        return 0, None
    return int(len(pops)), float(pops.sort_values("t").epsilon.iloc[-1])


def run(cal, out: Path, executor, bar) -> int:
    """Run generations until `generations` are stored or epsilon reaches `minimum_epsilon`; one
    fresh pyabc object per generation, loaded from the database. Returns the generations run now."""
    import pyabc

    _quiet()
    opts = cal.spec.abc
    db_file = out / DATABASE
    db = f"sqlite:///{db_file}"
    simulator, distance, observed = _parts(cal)
    ran = 0
    while True:
        done, eps = generations_done(db_file)
        bar.n = done
        bar.refresh()
        if done >= opts.generations or (eps is not None and eps <= opts.minimum_epsilon):
            return ran
        abc = pyabc.ABCSMC(simulator, priors(cal), distance, population_size=opts.population,
                           eps=_epsilon(opts, done), sampler=make_sampler(executor, opts.seed))
        if _has_run(db_file):
            abc.load(db, 1)
        else:
            db_file.unlink(missing_ok=True)  # a database killed while it was being created holds no generation
            abc.new(db, observed)
        with _global_generators(particle_seed(opts.seed, done, 2**32 - 1)):  # pyabc's draws outside the particles
            abc.run(max_nr_populations=1, minimum_epsilon=opts.minimum_epsilon)
        ran += 1
        done, eps = generations_done(db_file)
        bar.set_postfix(generation=done - 1, epsilon=f"{eps:.4g}")


def _has_run(db_file: Path) -> bool:
    import sqlite3

    if not db_file.is_file():
        return False
    con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        return bool(con.execute("SELECT count(*) FROM abc_smc").fetchone()[0])
    except sqlite3.DatabaseError:
        return False
    finally:
        con.close()


@dataclass
class Posterior:
    frame: pd.DataFrame  # posterior.parquet
    replicates: dict[int, list[dict]]  # per particle: every statistic of every replicate
    generations: pd.DataFrame  # t, epsilon, particles, samples


def posterior(cal, out: Path) -> Posterior:
    """The last generation as a weighted sample, rows in particle order (see docs/calibration.md)."""
    import pyabc

    from sim.experiments.evaluation import PATHS

    history = pyabc.History(f"sqlite:///{out / DATABASE}", _id=1)
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0].sort_values("t")
    t = int(pops.t.iloc[-1])
    population = history.get_population(t=t)
    particles = population.particles
    weights = np.array([p.weight for p in particles], dtype=float)
    weights = weights / weights.sum()
    rows, reps = [], {}
    stats = list(cal.statistics())
    for i, (p, w) in enumerate(zip(particles, weights, strict=True)):
        row = {"particle": i, "weight": float(w), "distance": float(p.distance), "generation": t}
        for key, par in cal.spec.parameters.items():
            v = par.value(float(p.parameter[key]))
            row[key] = v if isinstance(v, (int, float)) and not isinstance(v, bool) else _json(v)
        n = len(cal.seeds)
        paths = {k.split(":", 1)[1]: np.asarray(v, dtype=float) for k, v in p.sum_stat.items()
                 if k.startswith(f"{PATHS}:")}
        reps[i] = [{**{k: float(np.asarray(p.sum_stat[k])[r]) for k in stats},
                    PATHS: {k: v[r].tolist() for k, v in paths.items()}} for r in range(n)]
        for k in stats:
            row[f"mean:{k}"] = float(np.mean(np.asarray(p.sum_stat[k], dtype=float)))
        rows.append(row)
    frame = pd.DataFrame(rows)
    for key, par in cal.spec.parameters.items():
        if par.integer:
            frame[key] = frame[key].astype("int64")
    gens = pops.rename(columns={"samples": "evaluations"})[["t", "epsilon", "particles", "evaluations"]]
    return Posterior(frame, reps, gens.reset_index(drop=True))


def _json(v) -> str:
    import json

    return json.dumps(v)


def ess(weights) -> float:
    """Effective sample size of normalised weights."""
    w = np.asarray(weights, dtype=float)
    return float(1.0 / np.sum(w ** 2))


def weighted_quantile(x, w, q: float) -> float:
    order = np.argsort(x, kind="stable")
    x, w = np.asarray(x, dtype=float)[order], np.asarray(w, dtype=float)[order]
    cum = np.cumsum(w) - 0.5 * w
    return float(np.interp(q, cum / w.sum(), x))


def predictive(cal, frame: pd.DataFrame) -> pd.DataFrame:
    """Posterior predictive check: each target and reading's replicate mean over the weighted
    particles (weighted mean and 2.5-97.5% weighted quantiles), met when the weighted mean is."""
    rows = []
    w = frame.weight.to_numpy()
    for name, t in cal.targets.targets.items():
        for reading in t.readings():
            x = frame[f"mean:{name}/{reading}"].to_numpy(dtype=float)
            ok = ~np.isnan(x)
            mean = float(np.average(x[ok], weights=w[ok])) if ok.any() else math.nan
            rows.append({"target": name, "role": "held out" if name in cal.spec.hold_out else "fitted",
                         "reading": reading, "published": t.published, "uncertainty": t.uncertainty.describe(),
                         "posterior_mean": mean,
                         "q025": weighted_quantile(x[ok], w[ok], 0.025) if ok.any() else math.nan,
                         "q975": weighted_quantile(x[ok], w[ok], 0.975) if ok.any() else math.nan,
                         "particles": int(ok.sum()), "met": t.met(mean)})
    return pd.DataFrame(rows)


def marginals_figure(cal, post: Posterior) -> bytes:
    """One panel per parameter: the weighted posterior histogram over the prior's interval, with
    the prior's density; and epsilon per generation."""
    import io

    from matplotlib.figure import Figure  # no pyplot: a notebook's backend is left alone
    from matplotlib.ticker import MaxNLocator

    keys = list(cal.spec.parameters)
    cols = min(3, len(keys) + 1)
    nrows = math.ceil((len(keys) + 1) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    prior = priors(cal)
    for ax, key in zip(axes.flat, keys, strict=False):
        par = cal.spec.parameters[key]
        lo, hi = par.bounds()
        x = np.array([float(post_number(par, v)) for v in post.frame[key]])
        ax.hist(x, bins=min(20, max(5, len(x) // 4)), range=(lo, hi), weights=post.frame.weight, density=True,
                color="tab:blue", alpha=0.7, label="posterior")
        grid = np.linspace(lo, hi, 200)
        ax.plot(grid, [prior[key].pdf(g) for g in grid], color="black", lw=0.8, ls="--", label="prior")
        ax.set_title(key, fontsize=8)
        if par.values is not None:
            ax.set_xticks(np.arange(len(par.values)) + 0.5, [_json(v) for v in par.values], fontsize=7)
        ax.legend(fontsize=7)
    e = axes.flat[len(keys)]
    e.plot(post.generations.t, post.generations.epsilon, marker="o")
    e.set_xlabel("generation")
    e.set_ylabel("epsilon (distance threshold)")
    e.set_title("epsilon per generation (generation 0: the prior sample)", fontsize=9)
    e.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(keys) + 1:]:
        ax.set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def post_number(par, value) -> float:
    """The sampler number a scenario value came from (its index for values, the value otherwise)."""
    if par.values is not None:
        import json

        v = json.loads(value) if isinstance(value, str) else value
        return float(par.values.index(v)) + 0.5
    return float(value) + (0.5 if par.integer else 0.0)
