"""EMA Workbench adapter (optional extra `[ema]`): a scenario as an EMA `Model`, a sweep as EMA results.

EMA Workbench (Kwakkel 2017) does exploratory modelling: sample uncertainties and levers, run a
model, then scenario discovery (PRIM, CART) and many-objective search. This module lets its users
drive teachersim without glue:

    >>> from ema_workbench import perform_experiments
    >>> from sim.experiments.ema import ema_model
    >>> model = ema_model("dongcheng_2021", uncertainties={"careers.drift_rate": (0.0, 0.2)},
    ...                   levers={"policy.programs.district_exchange.quota.min_count": (500, 3000)},
    ...                   outcomes=["cv_backbone:primary", "rotations:all@5"], years=5)
    >>> experiments, outcomes = perform_experiments(model, scenarios=20, policies=4)

Parameters are scenario paths, as `--set` takes them (programs by name or index); a `(low,
high)` pair of ints is an IntegerParameter, of floats a RealParameter, a list a
CategoricalParameter. An outcome is `metric:group`, at the last year unless `@YEAR` is given; it
is the mean over `reps` replicates on common random numbers (replicate i has the same seed for
every experiment), so differences between experiments are not sampling noise of the seeds.

`sweep_results(DIR, outcomes)` reads a sweep folder as EMA's `(experiments, outcomes)` pair, one
row per run, for PRIM or CART on runs made with `teachersim sweep` (on Dask or Slurm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.config.examples import find_scenario
from sim.config.scenario import load_scenario
from sim.experiments.run import run_replicate
from sim.experiments.statistics import parse_outcome
from sim.seeds import replicate_seeds


def _ema():
    try:
        import ema_workbench
    except ImportError:
        raise ImportError("sim.experiments.ema needs EMA Workbench: pip install 'teachersim[ema]'") from None
    return ema_workbench


def parse(outcome: str, years: int) -> tuple[str, str, int]:
    """`metric[:group][@year]` -> (metric, group, year); group `all` and the last year by default."""
    text, _, at = outcome.partition("@")
    metric, group = parse_outcome(text)
    return metric, group or "all", int(at) if at else years


def outcome_name(metric: str, group: str, year: int) -> str:
    """A Python identifier for an outcome (EMA keys its outcomes by name)."""
    return f"{metric}__{group}__y{year}"


def parameter(name: str, spec):
    """An EMA parameter for a scenario path: (int, int), (float, float) or a list of choices."""
    ew = _ema()
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and not isinstance(spec, list):
        low, high = spec
        if isinstance(low, int) and isinstance(high, int):
            return ew.IntegerParameter(name, low, high)
        return ew.RealParameter(name, float(low), float(high))
    if isinstance(spec, list) and spec:
        return ew.CategoricalParameter(name, spec)
    raise ValueError(f"{name}: give (low, high) or a list of choices, got {spec!r}")


def evaluate(scenario: str | Path, fixed: list[str], settings: dict, wanted: list[tuple[str, str, int]], years: int,
             seeds: list[int]) -> dict[str, float]:
    """The outcomes of one experiment: the scenario with `settings` applied, each outcome the mean
    over the replicates (NaN when no replicate has a finite value)."""
    overrides = fixed + [f"{path}={_yaml_value(value)}" for path, value in settings.items()]
    sc = load_scenario(scenario, overrides)
    frames = [run_replicate(sc, i, seed, years)[0] for i, seed in enumerate(seeds)]
    metrics = pd.concat(frames, ignore_index=True)
    out = {}
    for metric, group, year in wanted:
        rows = metrics[(metrics["metric"] == metric) & (metrics["group"] == group) & (metrics["year"] == year)]
        values = rows["value"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        out[outcome_name(metric, group, year)] = float(values.mean()) if len(values) else float("nan")
    return out


def _yaml_value(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    if isinstance(value, (np.floating, float)):
        return repr(float(value))
    return str(value)


def ema_model(scenario: str | Path, uncertainties: dict | None = None, levers: dict | None = None,
              outcomes: list[str] | tuple[str, ...] = ("cv_backbone:primary", "cv_backbone:junior"),
              years: int | None = None, reps: int = 1, seed: int | None = None, name: str | None = None,
              overrides: list[str] | tuple[str, ...] = ()):
    """An EMA Workbench `Model` that runs `scenario` (a file or a shipped name) with its
    uncertainties and levers applied as scenario settings (after the fixed `overrides`, as
    `--set` takes them)."""
    ew = _ema()
    path = find_scenario(str(scenario))
    fixed = list(overrides)
    base = load_scenario(path, fixed)
    years = base.run.years if years is None else years
    seeds = replicate_seeds(base.run.seed if seed is None else seed, reps)
    wanted = [parse(o, years) for o in outcomes]
    for metric, group, year in wanted:
        if not 0 <= year <= years:
            raise ValueError(f"outcome {metric}:{group}@{year}: not a simulated year (0..{years})")
    names = {}
    params = []
    for kind, given in (("uncertainty", uncertainties or {}), ("lever", levers or {})):
        for i, (dotted, spec) in enumerate(given.items()):
            ident = f"{kind[0]}{i}_{dotted.replace('.', '_')}"
            names[ident] = dotted
            params.append((kind, parameter(ident, spec)))
    load_scenario(path, fixed + [f"{d}={_yaml_value(_probe(s))}" for d, s in
                         {**(uncertainties or {}), **(levers or {})}.items()])  # every path resolves

    def function(**kwargs):
        return evaluate(path, fixed, {names[k]: v for k, v in kwargs.items()}, wanted, years, seeds)

    model = ew.Model(name or base.name.replace("-", "_"), function=function)
    model.uncertainties = [p for kind, p in params if kind == "uncertainty"]
    model.levers = [p for kind, p in params if kind == "lever"]
    model.outcomes = [ew.ScalarOutcome(outcome_name(*w)) for w in wanted]
    model.teachersim_paths = dict(names)  # EMA parameter name -> scenario path
    return model


def _probe(spec):
    """A value inside a parameter's range (to check its path before any experiment runs)."""
    return spec[0] if isinstance(spec, (list, tuple)) else spec


def sweep_results(folder: str | Path, outcomes: list[str] | tuple[str, ...] = ("cv_backbone:primary",)
                  ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A sweep folder as EMA's (experiments, outcomes): one row per finished run with the design's
    parameter values, the base scenario and the replicate; each outcome an array in row order."""
    from sim.storage.results import load_results

    res = load_results(folder)
    if res.kind != "sweep":
        raise ValueError(f"{folder}: a {res.kind} folder, not a sweep")
    params = list(res.manifest["design"]["parameters"])
    years = int(res.metrics["year"].max())
    wanted = [parse(o, years) for o in outcomes]
    keys = ["scenario", "point", "replicate"]
    runs = res.metrics[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    experiments = runs.merge(res.design[["point", *params]], on="point", how="left")
    result = {}
    for metric, group, year in wanted:
        rows = res.metrics[(res.metrics["metric"] == metric) & (res.metrics["group"] == group)
                           & (res.metrics["year"] == year)]
        values = runs.merge(rows[[*keys, "value"]], on=keys, how="left")["value"].to_numpy(dtype=float)
        result[outcome_name(metric, group, year)] = values
    experiments = experiments.rename(columns={"scenario": "base_scenario"})
    return experiments, result
