"""Plausible worlds from a calibration's posterior sample, for judging a policy under uncertainty.

The sample is `teachersim calibrate`'s `posterior.parquet` (ABC-SMC's last population): one row
per particle, a `weight` column (importance weights), bookkeeping columns (`particle`,
`distance`, `generation`, and the model's means at the particle, `mean:<target>/<reading>`) and
one column per fitted parameter named by its dotted scenario path (which never holds a colon).
A policy search draws K worlds from it with replacement, with probability proportional to the
weights, from its own named stream (so the same file and seed give the same worlds); each world
is the optimisation's base with that particle's parameter values set. A calibration's folder may
be named instead of the file: its manifest must say the ABC run is complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.storage.results import read_frame

BOOKKEEPING = ("particle", "weight", "distance", "generation")  # not scenario parameters
STREAM = "posterior_worlds"  # the named stream the worlds are drawn from
MAX_BYTES = 256 * 2**20


class PosteriorError(ValueError):
    """A posterior sample that cannot be used; one line naming the file and the problem."""


def _value(v: Any) -> Any:
    """A cell as a scenario value: numbers as numbers, JSON text decoded (a `values:` choice)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


SAMPLE = "posterior.parquet"  # the sample's name in a calibration folder


def _in_folder(folder: Path) -> Path:
    """The sample of a finished calibration folder."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise PosteriorError(f"{folder}: a folder without a readable manifest.json; name a posterior sample "
                             "or a calibration's folder") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "calibration":
        raise PosteriorError(f"{folder}: not a calibration's folder")
    if manifest.get("status") != "complete" or not (folder / SAMPLE).is_file():
        raise PosteriorError(f"{folder}: the calibration has no complete posterior sample ({SAMPLE}) yet")
    return folder / SAMPLE


def read_posterior(path: Path) -> tuple[list[str], list[dict[str, Any]], np.ndarray]:
    """The parameter paths, each particle's values and the normalised weights of a sample (a
    Parquet file, or a finished calibration folder holding one)."""
    if path.is_dir():
        path = _in_folder(path)
    if not path.is_file():
        raise PosteriorError(f"{path}: posterior sample not found")
    if path.stat().st_size > MAX_BYTES:
        raise PosteriorError(f"{path}: larger than {MAX_BYTES // 2**20} MB; not a posterior sample")
    try:
        frame = read_frame(path)
    except Exception as exc:  # pyarrow's errors for a file that is not Parquet are of several types
        raise PosteriorError(f"{path}: not a Parquet file ({type(exc).__name__})") from None
    if "weight" not in frame:
        raise PosteriorError(f"{path}: no 'weight' column (one row per particle, its importance weight)")
    params = [c for c in frame.columns if c not in BOOKKEEPING and ":" not in str(c)]
    if not params:
        raise PosteriorError(f"{path}: no parameter column (one per dotted scenario path)")
    if frame.empty:
        raise PosteriorError(f"{path}: no particles")
    weight = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(weight)) or np.any(weight < 0) or weight.sum() <= 0:
        raise PosteriorError(f"{path}: weight: must be finite, non-negative numbers with a positive sum")
    for p in params:
        if frame[p].isna().any():
            raise PosteriorError(f"{path}: column {p!r}: a particle without a value")
    rows = [{p: _value(v) for p, v in zip(params, row, strict=True)}
            for row in frame[params].itertuples(index=False, name=None)]
    return params, rows, weight / weight.sum()


def draw_worlds(rows: list[dict[str, Any]], weights: np.ndarray, k: int, seed: int) -> tuple[list[int], list[dict]]:
    """K particles drawn with replacement in proportion to their weights: their row numbers and
    values. From the stream `posterior_worlds` of `seed` alone."""
    from sim.core.model import stream_seed

    rng = np.random.default_rng(stream_seed(seed, STREAM, 0))
    picks = [int(i) for i in rng.choice(len(rows), size=k, replace=True, p=weights)]
    return picks, [rows[i] for i in picks]
