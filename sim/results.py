"""Reading results back for notebooks: a run, a comparison or a sweep folder as tidy frames.

`load_results(DIR)` recognises the folder from its manifest. A sweep's metric rows stay in one
Parquet file per run; `Results.parquet` is a path (a glob for sweeps) that DuckDB, polars or
arrow read directly, e.g. ``duckdb.sql(f"select * from read_parquet('{res.parquet}')")``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sim.store import FAILED, RUNS, SCHEMA_VERSION, read_manifest, run_id, sha256

KEYS = ["scenario", "point", "replicate", "year"]


class ResultsError(ValueError):
    """A result folder holding a file that cannot be trusted; the message names the file."""


@dataclass
class Results:
    """What a result folder holds, as tidy pandas frames.

    Attributes:
        kind: "run", "compare" or "sweep".
        metrics: tidy rows (scenario, [point,] replicate, seed, year, metric, group, value); for
            a sweep with the design's parameter values as extra columns.
        parquet: the Parquet path (sweep: glob of the run files) for DuckDB, polars or arrow.
        design: sweep only, one row per design point (parameter values and sampler numbers).
        runs: sweep only, one row per run with its status (done, failed, missing) and error.
        comparison, trajectories: compare only, the paired statistics.
        schools, moves: run only.
    """

    path: Path
    kind: str
    manifest: dict
    metrics: pd.DataFrame
    parquet: str
    design: pd.DataFrame | None = None
    runs: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    trajectories: pd.DataFrame | None = None
    schools: pd.DataFrame | None = None
    moves: pd.DataFrame | None = None


def load_results(path: str | Path, parameters: bool = True) -> Results:
    """Load a result folder written by `teachersim run`, `compare` or `sweep`.

    Args:
        path: the folder.
        parameters: for a sweep, add the design's parameter values to the metric rows.

    Example:
        >>> res = load_results("results/quota_sweep")
        >>> res.metrics.groupby(["point", "year"])["value"].mean()
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    kind = manifest.get("kind", "run")
    if kind == "sweep":
        return _load_sweep(folder, manifest, parameters)
    check_files(folder, manifest)
    metrics = _read_parquet(folder / "metrics.parquet")
    res = Results(folder, kind, manifest, metrics, str(folder / "metrics.parquet"))
    if kind == "compare":
        res.comparison = pd.read_csv(folder / "comparison.csv")
        res.trajectories = _read_parquet(folder / "trajectories.parquet")
    else:
        res.schools = _read_parquet(folder / "schools.parquet")
        res.moves = _read_parquet(folder / "moves.parquet")
    return res


def check_files(folder: Path, manifest: dict) -> None:
    """Every file the manifest of a run or comparison lists is there with its recorded checksum
    (ResultsError naming the first one that is missing, truncated or replaced)."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ResultsError(f"{Path(folder) / 'manifest.json'}: lists no files")
    for name, digest in sorted(files.items()):
        path = Path(folder) / name
        if not path.is_file():
            raise ResultsError(f"{path}: listed in manifest.json but missing")
        if sha256(path) != digest:
            raise ResultsError(f"{path}: does not match its checksum in manifest.json (corrupt or replaced)")


def _schema_problem(path: Path) -> str | None:
    """Why a Parquet file is not one of ours at this schema version; None when it is."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        return f"not a readable Parquet file ({str(exc).splitlines()[0]})"
    version = (schema.metadata or {}).get(b"teachersim_schema_version")
    if version != str(SCHEMA_VERSION).encode():
        found = version.decode(errors="replace") if version else "none"
        return f"schema version {found}, expected {SCHEMA_VERSION} (a foreign file, or written by another version)"
    return None


def _read_parquet(path: Path) -> pd.DataFrame:
    problem = _schema_problem(path)
    if problem:
        raise ResultsError(f"{path}: {problem}")
    try:
        return pd.read_parquet(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ResultsError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None


def check_run_files(folder: Path, manifest: dict) -> None:
    """Everything in a sweep's runs/ folder is a run of this sweep, whole and of this schema version;
    anything else (a foreign, corrupt or stray file) is a ResultsError naming it, not skipped."""
    runs = Path(folder) / RUNS
    if not runs.is_dir():
        return
    expected = {f"{run_id(b['name'], p, r)}.parquet" for b in manifest["bases"]
                for p in range(manifest["design"]["n_points"]) for r in range(len(manifest["seeds"]))}
    for path in sorted(runs.iterdir()):
        if path.name not in expected:
            raise ResultsError(f"{path}: not a run of this sweep (a foreign file); move it out of {RUNS}/")
        problem = _schema_problem(path)
        if problem:
            raise ResultsError(f"{path}: {problem}")


def run_files(folder: Path) -> list[Path]:
    """The finished run files of a sweep folder, in name order (scenario, point, replicate)."""
    runs = Path(folder) / RUNS
    return sorted(runs.glob("*.parquet")) if runs.is_dir() else []


def read_runs(folder: Path, filter=None, columns: list[str] | None = None) -> pd.DataFrame:
    """The sweep's metric rows, optionally filtered with a pyarrow expression before loading
    (`pyarrow.dataset.field("metric") == "cv_quality"`), sorted by scenario, point, replicate, year."""
    files = run_files(folder)
    if not files:
        return pd.DataFrame(columns=["scenario", "point", "replicate", "seed", "year", "metric", "group", "value"])
    table = ds.dataset([str(f) for f in files], format="parquet").to_table(filter=filter, columns=columns)
    frame = table.to_pandas()
    keys = [k for k in KEYS if k in frame.columns]
    return frame.sort_values(keys, kind="stable", ignore_index=True) if keys else frame


def run_status(folder: Path, manifest: dict) -> pd.DataFrame:
    """One row per run of the sweep: its status (done, failed, missing) and, when failed, its error."""
    folder = Path(folder)
    rows = []
    for base in manifest["bases"]:
        for point in range(manifest["design"]["n_points"]):
            for rep, seed in enumerate(manifest["seeds"]):
                rid = run_id(base["name"], point, rep)
                status, error = "missing", None
                if (folder / RUNS / f"{rid}.parquet").is_file():
                    status = "done"
                elif (folder / FAILED / f"{rid}.json").is_file():
                    status = "failed"
                    error = _failure(folder / FAILED / f"{rid}.json")
                rows.append({"run": rid, "scenario": base["name"], "point": point, "replicate": rep, "seed": seed,
                             "status": status, "error": error})
    return pd.DataFrame(rows)


def _failure(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["error"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"{path}: not a failure record ({type(exc).__name__}: {exc})") from None


def _load_sweep(folder: Path, manifest: dict, parameters: bool) -> Results:
    check_run_files(folder, manifest)
    metrics = read_runs(folder)
    design = _read_parquet(folder / "design.parquet")
    if parameters and manifest["design"]["parameters"]:
        metrics = metrics.merge(design[["point", *manifest["design"]["parameters"]]], on="point", how="left")
    return Results(folder, "sweep", manifest, metrics, str(folder / RUNS / "*.parquet"), design=design,
                   runs=run_status(folder, manifest))
