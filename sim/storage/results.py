"""Reading results back for notebooks: a run, a comparison or a sweep folder as tidy frames.

`load_results(DIR)` recognises the folder from its manifest. A sweep's metric rows stay in one
Parquet file per run, each with its point's parameter values as columns; `Results.parquet` is a
path (a glob for sweeps) that DuckDB, polars or arrow read directly, e.g.
``duckdb.sql(f"select * from read_parquet('{res.parquet}')")``. Every file and column is in
results/README.md. A folder of an earlier schema version (READABLE_VERSIONS) is read into the
frames of this version (`upgrade`), so code written for this version reads both.

Nothing is trusted on its way in: the manifest is checked field by field (`sim.storage.manifests`), a
run's or comparison's files against the checksums in its manifest, and each sweep run file
against its checksum file, its sweep, and its name (`check_sweep`); anything wrong is one
ResultsError line naming the files.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.acero as acero
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.files import read_regular
from sim.storage.manifests import ResultsError, listed_file
from sim.storage.store import CHECKSUM, FAILED, RUNS, SCHEMA_VERSION, read_manifest, run_id, sha256

__all__ = ["ResultsError", "Results", "load_results", "check_sweep", "trusted_sweep", "read_runs", "read_table",
           "read_frame"]

KEYS = ["scenario", "point", "replicate", "year"]
RUN_FILE_LIMIT = 256 * 2**20  # bytes; a run file keeps a few outcomes per year
RECORD_LIMIT = 2**20  # bytes of a failure record or a checksum file
SHOWN = 10  # problems named in one error line
NEEDED = {"run": ("metrics.parquet", "schools.parquet", "moves.parquet"),
          "compare": ("metrics.parquet", "comparison.csv", "trajectories.parquet")}
RUN_NAME = re.compile(r"^(?P<base>.+)__p(?P<point>\d{6,})__r(?P<rep>\d{4,})$")


@dataclass
class Results:
    """What a result folder holds, as tidy pandas frames.

    Attributes:
        kind: "run", "compare" or "sweep".
        metrics: tidy rows (scenario, [point,] replicate, seed, year, metric, subgroup, value); for
            a sweep with the design's parameter values as extra columns (named as in `parameters`).
        parquet: the Parquet path (sweep: glob of the run files) for DuckDB, polars or arrow.
        design: sweep only, one row per design point (parameter values and sampler numbers).
        runs: sweep only, one row per run with its status (done, failed, missing) and error.
        comparison, trajectories: compare only, the paired statistics.
        schools, moves: run only.
        parameters: sweep only, each parameter's column name -> its dotted scenario path.
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
    parameters: dict[str, str] | None = None


def load_results(path: str | Path, parameters: bool = True) -> Results:
    """Load a result folder written by `teachersim run`, `compare` or `sweep`.

    Args:
        path: the folder.
        parameters: for a sweep, add the design's parameter values to the metric rows.

    Raises ResultsError (a ValueError) with one line naming every file that cannot be trusted.

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
    for name in NEEDED[kind]:
        if name not in manifest["files"]:
            raise ResultsError(f"{folder / 'manifest.json'}: files: {name} is not listed")
    version = manifest["schema_version"]

    def read(name: str) -> pd.DataFrame:
        return upgrade(name, _read_parquet(folder / f"{name}.parquet", version), version)

    res = Results(folder, kind, manifest, read("metrics"), str(folder / "metrics.parquet"))
    if kind == "compare":
        res.comparison = upgrade("comparison", pd.read_csv(folder / "comparison.csv"), version)
        res.trajectories = read("trajectories")
    else:
        res.schools = read("schools")
        res.moves = read("moves")
    return res


def upgrade(name: str, frame: pd.DataFrame, version: int, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """A frame of file `name` (metrics, trajectories, comparison, schools, moves, runs, design)
    written at schema `version`, as this version writes it. `columns`: a sweep's dotted
    parameter path -> column (for its design table)."""
    if version >= 2:
        return frame
    from sim.core.movelog import label_moves

    frame = frame.rename(columns={"group": "subgroup"})  # 1 -> 2: `group` is an SQL reserved word
    if name in ("trajectories", "comparison"):
        frame["scenario"] = frame["scenario"].astype(str)
    elif name == "moves":
        frame = label_moves(frame)
    elif name == "design":
        columns = columns or {}
        frame = frame.rename(columns=columns | {f"raw:{p}": f"raw_{c}" for p, c in columns.items()})
        order = ["point", *columns.values(), *[f"raw_{c}" for c in columns.values()]]
        frame = frame[[c for c in order if c in frame.columns] + [c for c in frame.columns if c not in order]]
    return frame


def check_files(folder: Path, manifest: dict) -> None:
    """Every file the manifest of a run or comparison lists is a regular file inside the folder
    with its recorded checksum (ResultsError naming each one missing, truncated or replaced)."""
    problems = []
    for name, digest in sorted(manifest["files"].items()):
        try:
            path = listed_file(folder, name)
        except ResultsError as exc:
            problems.append(str(exc))
            continue
        if sha256(path) != digest:
            problems.append(f"{path}: does not match its checksum in manifest.json (corrupt or replaced)")
    if problems:
        raise ResultsError(one_line(Path(folder), problems))


def one_line(folder: Path, problems: list[str], advice: str = "") -> str:
    """One line for one or many problems ("path: what"): the files named, up to SHOWN of them."""
    if len(problems) == 1:
        return problems[0] + advice
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    named = [p.removeprefix(f"{folder}/") for p in problems[:SHOWN]]  # relative to the folder named first
    return f"{folder}: {len(problems)} files cannot be trusted: " + "; ".join(named) + more + advice


def _schema_problem(source, expected: int = SCHEMA_VERSION) -> str | None:
    """Why a Parquet file (path or buffer) is not one of ours at schema version `expected` (its
    folder's, from the manifest); None when it is."""
    try:
        schema = pq.read_schema(source)
    except (OSError, pa.ArrowInvalid) as exc:
        return f"not a readable Parquet file ({str(exc).splitlines()[0]})"
    version = (schema.metadata or {}).get(b"teachersim_schema_version")
    if version != str(expected).encode():
        found = version.decode(errors="replace") if version else "none"
        return f"schema version {found}, expected {expected} (a foreign file, or written by another version)"
    return None


def read_table(source, columns: list[str] | None = None) -> pa.Table:
    """A Parquet file (a path or an Arrow buffer) read whole on the calling thread.

    Not `pq.read_table`, `pd.read_parquet` or a dataset scan: their read-ahead runs on Arrow's
    I/O threads, which can still be finishing when the read returns. A command that ends right
    after (a problem found in the file it just read) then aborts in the interpreter's teardown,
    "terminate called without an active exception", exit 134 after its answer is printed
    (apache/arrow#34314, #39862). Here, 6 `teachersim report`s at once on a folder that fails its
    check: 4 of 969 aborted with the readers before (`pq.read_table`, `pd.read_parquet`), 0 of
    1,161 with this. The one-file reader without pre-buffering or threads starts no thread and
    leaves nothing running; its frame is made on this thread too (`read_frame`), about 0.03 s
    more for Beijing's 420,000 moves."""
    with pq.ParquetFile(source, pre_buffer=False) as file:
        _check_columns(file.schema_arrow.names, columns)  # the reader would leave them out without a word
        return file.read(columns=columns, use_threads=False, use_pandas_metadata=True)


def _check_columns(names: list[str], columns: list[str] | None) -> None:
    missing = [c for c in columns or () if c not in names]
    if missing:
        raise pa.ArrowInvalid(f"no column {missing[0]!r}")


def read_frame(source, columns: list[str] | None = None) -> pd.DataFrame:
    """`read_table` as a pandas frame (the frame `pd.read_parquet` gives)."""
    return read_table(source, columns).to_pandas(use_threads=False)


def _read_parquet(path: Path, version: int = SCHEMA_VERSION) -> pd.DataFrame:
    problem = _schema_problem(path, version)
    if problem:
        raise ResultsError(f"{path}: {problem}")
    try:
        return read_frame(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ResultsError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None


# --------------------------------------------------------------------------------- sweeps


@dataclass
class SweepCheck:
    """What a sweep folder holds, checked: the runs whose files can be trusted, the failed runs,
    and each file that cannot be trusted (corrupt, missing though listed as done, or foreign)."""

    done: set[str] = field(default_factory=set)  # run ids with a complete, verified file
    failed: set[str] = field(default_factory=set)  # run ids with a failure record and no file
    bad: dict[str, str] = field(default_factory=dict)  # run id -> "path: problem" (corrupt or missing)
    foreign: list[str] = field(default_factory=list)  # "path: problem" for files of no run of this sweep
    version: int = SCHEMA_VERSION  # the folder's schema version (its run files are of it)

    def problems(self) -> list[str]:
        return sorted(self.bad.values()) + self.foreign


def check_sweep(folder: Path, manifest: dict, trusted: set[str] = frozenset()) -> SweepCheck:
    """Check every file in a sweep's runs/ and failed/ and reconcile them with the manifest.

    A run file is trusted when it matches the SHA-256 in its checksum file, carries this schema
    version, names this sweep and this run in its metadata, and its rows are of the scenario,
    point, replicate and seed its name says. Run ids in `trusted` (checked earlier in this
    process) are not read again while their file is there.
    """
    folder = Path(folder)
    runs = _RunNames(manifest)
    check = SweepCheck(version=manifest["schema_version"])
    for entry in _entries(folder / RUNS):
        path = folder / RUNS / entry.name
        stem = entry.name.removesuffix(CHECKSUM)
        rid = runs.parse(stem.removesuffix(".parquet")) if stem.endswith(".parquet") else None
        if rid is None:
            check.foreign.append(f"{path}: not a run of this sweep (a foreign file); move it out of {RUNS}/")
        elif entry.name.endswith(".parquet"):
            problem = None if rid in trusted else _run_file_problem(path, rid, runs, manifest["fingerprint"],
                                                                     check.version)
            if problem is None:
                check.done.add(rid)
            else:
                check.bad[rid] = f"{path}: {problem}"
        # a checksum file alone is what a writer stopped between its two renames leaves: not a run
    for entry in _entries(folder / FAILED):
        path = folder / FAILED / entry.name
        rid = runs.parse(entry.name.removesuffix(".json")) if entry.name.endswith(".json") else None
        if rid is None:
            check.foreign.append(f"{path}: not a failure record of this sweep (a foreign file); "
                                 f"move it out of {FAILED}/")
        elif rid not in check.done and rid not in check.bad:
            check.failed.add(rid)
    for rid in manifest.get("done_runs", []):
        if runs.parse(rid) is None:
            raise ResultsError(f"{folder / 'manifest.json'}: done_runs: {rid!r} is not a run of this sweep")
        if rid not in check.done and rid not in check.bad:
            check.bad[rid] = f"{folder / RUNS / (rid + '.parquet')}: listed as done in manifest.json but missing"
            check.failed.discard(rid)
    return check


class _RunNames:
    """Parses run ids of one sweep: (base, point, replicate) within its sizes, or None."""

    def __init__(self, manifest: dict):
        self.bases = {b["name"] for b in manifest["bases"]}
        self.n_points = manifest["design"]["n_points"]
        self.seeds = manifest["seeds"]

    def parse(self, rid: str) -> str | None:
        m = RUN_NAME.match(rid)
        if m is None or m["base"] not in self.bases:
            return None
        point, rep = int(m["point"]), int(m["rep"])
        if point >= self.n_points or rep >= len(self.seeds) or run_id(m["base"], point, rep) != rid:
            return None
        return rid

    def keys(self, rid: str) -> tuple[str, int, int, int]:
        m = RUN_NAME.match(rid)
        rep = int(m["rep"])
        return m["base"], int(m["point"]), rep, self.seeds[rep]


def _entries(folder: Path) -> list:
    import os

    try:
        return sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ResultsError(f"{folder}: cannot be listed ({exc.strerror})") from None


def _run_file_problem(path: Path, rid: str, runs: _RunNames, fingerprint: str, version: int) -> str | None:
    """Why a sweep's run file cannot be trusted; None when it can."""
    sidecar = path.with_name(path.name + CHECKSUM)
    try:
        data = read_regular(path, RUN_FILE_LIMIT)
    except ValueError as exc:
        return str(exc)
    if not sidecar.exists() and not sidecar.is_symlink():
        return f"has no checksum file {sidecar.name} (so it was not written whole by this version of teachersim)"
    try:
        line = read_regular(sidecar, RECORD_LIMIT).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:  # not a regular file, too big, not text
        return f"its checksum file {sidecar.name} cannot be read ({exc})"
    m = re.fullmatch(r"([0-9a-f]{64})  (\S+)\n?", line)
    if m is None or m[2] != path.name:
        return f"its checksum file {sidecar.name} is not a checksum of {path.name}"
    if hashlib.sha256(data).hexdigest() != m[1]:
        return f"does not match its checksum in {sidecar.name} (corrupt or replaced)"
    buffer = pa.BufferReader(data)
    problem = _schema_problem(buffer, version)
    if problem:
        return problem
    meta = pq.read_schema(pa.BufferReader(data)).metadata
    if meta.get(b"teachersim_sweep") != fingerprint.encode():
        return "written by another sweep (its sweep fingerprint differs)"
    if meta.get(b"teachersim_run") != rid.encode():
        return f"holds run {meta.get(b'teachersim_run', b'?').decode(errors='replace')}, not {rid}"
    try:
        table = read_table(pa.BufferReader(data), columns=["scenario", "point", "replicate", "seed"])
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        return f"cannot be read ({str(exc).splitlines()[0]})"
    if table.num_rows == 0:
        return "has no rows"
    want = runs.keys(rid)
    for column, value in zip(table.column_names, want, strict=True):
        found = pc.unique(table.column(column)).to_pylist()
        if found != [value]:
            return f"its rows have {column} {found[:3]}, but its name says {value}"
    return None


def run_files(folder: Path) -> list[Path]:
    """The finished run files of a sweep folder, in name order (scenario, point, replicate)."""
    runs = Path(folder) / RUNS
    return sorted(runs.glob("*.parquet")) if runs.is_dir() else []


def read_runs(folder: Path, filter=None, columns: list[str] | None = None,
              check: SweepCheck | None = None) -> pd.DataFrame:
    """The sweep's metric rows, optionally filtered with a pyarrow expression file by file as
    they are read (`pyarrow.dataset.field("metric") == "cv_quality"`) and cut to `columns`,
    sorted by scenario, point, replicate, year.
    The rows have this schema version's columns (`upgrade`) whatever version the folder is of.

    Only checked run files are read: `check` (from `trusted_sweep`) or, by default, the folder
    is checked first (ResultsError when any file cannot be trusted).
    """
    check = trusted_sweep(folder) if check is None else check
    files = [f for f in run_files(folder) if f.stem in check.done]
    if not files:
        return pd.DataFrame(columns=["scenario", "point", "replicate", "seed", "year", "metric", "subgroup", "value"])
    tables = [_run_rows(f, filter, columns) for f in files]
    try:  # files written by another pandas may hold string where these hold large_string
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ResultsError(f"{folder / RUNS}: its run files do not read as one table "
                           f"({str(exc).splitlines()[0]})") from None
    frame = upgrade("runs", table.to_pandas(use_threads=False), check.version)
    keys = [k for k in KEYS if k in frame.columns]
    return frame.sort_values(keys, kind="stable", ignore_index=True) if keys else frame


def _run_rows(path: Path, filter, columns: list[str] | None) -> pa.Table:
    """One run file's rows where `filter` holds (all without one), with `columns` (all by default)."""
    if filter is None:
        return read_table(path, columns)
    table = read_table(path)
    _check_columns(table.column_names, columns)  # before the filter's work, not after it
    table = _filtered(table, filter)
    return table if columns is None else table.select(columns)


def _filtered(table: pa.Table, expression) -> pa.Table:
    """The rows of `table` where the pyarrow expression holds, on the calling thread (Acero's
    serial executor: nothing left running, as in `read_table`)."""
    plan = acero.Declaration.from_sequence([
        acero.Declaration("table_source", acero.TableSourceNodeOptions(table)),
        acero.Declaration("filter", acero.FilterNodeOptions(expression)),
    ])
    return plan.to_table(use_threads=False)


def run_status(folder: Path, manifest: dict, check: SweepCheck) -> pd.DataFrame:
    """One row per run of the sweep: its status (done, failed, missing) and, when failed, its error."""
    folder = Path(folder)
    rows = []
    for base in manifest["bases"]:
        for point in range(manifest["design"]["n_points"]):
            for rep, seed in enumerate(manifest["seeds"]):
                rid = run_id(base["name"], point, rep)
                status, error = "missing", None
                if rid in check.done:
                    status = "done"
                elif rid in check.failed:
                    status = "failed"
                    error = _failure(folder / FAILED / f"{rid}.json")
                rows.append({"run": rid, "scenario": base["name"], "point": point, "replicate": rep, "seed": seed,
                             "status": status, "error": error})
    return pd.DataFrame(rows)


def _failure(path: Path) -> str:
    import json

    try:
        record = json.loads(read_regular(path, RECORD_LIMIT))
        if not isinstance(record, dict) or not isinstance(record.get("error"), str):
            raise ValueError("no error text")
        return record["error"]
    except (ValueError, RecursionError) as exc:  # also bad JSON and bad UTF-8
        raise ResultsError(f"{path}: not a failure record ({type(exc).__name__}: {exc})") from None


def trusted_sweep(folder: Path, manifest: dict | None = None) -> SweepCheck:
    """`check_sweep` of a sweep folder, or a ResultsError naming every file that cannot be trusted."""
    folder = Path(folder)
    manifest = read_manifest(folder) if manifest is None else manifest
    if manifest.get("kind") != "sweep":
        raise ResultsError(f"{folder}: not a sweep folder")
    check = check_sweep(folder, manifest)
    problems = check.problems()
    if problems:
        advice = ""
        if check.bad:
            advice = "; running the sweep again (--resume) redoes " + ("it" if len(problems) == 1 else
                                                                      "the corrupt and missing runs")
        raise ResultsError(one_line(folder, problems, advice))
    return check


def parameter_columns(manifest: dict) -> dict[str, str]:
    """A sweep's dotted parameter path -> its column in the design table and the run files (the
    same rule the sweep wrote them with, `sim.config.designs.column_names`)."""
    from sim.config.designs import column_names

    programs = [[p.get("name") for p in b["scenario"].get("policy", {}).get("programs", [])] for b in manifest["bases"]]
    return column_names(manifest["design"]["parameters"], programs)


def read_design(folder: Path, manifest: dict) -> pd.DataFrame:
    """A sweep's design table (checked against its checksum), with this version's columns."""
    table = listed_file(folder, manifest["design"]["table"])
    if sha256(table) != manifest["design"]["sha256"]:
        raise ResultsError(f"{table}: does not match its checksum in manifest.json (corrupt or replaced); "
                           "running the sweep again (--resume) writes it again")
    columns = parameter_columns(manifest)
    design = upgrade("design", _read_parquet(table, manifest["schema_version"]), manifest["schema_version"], columns)
    missing = [c for c in ["point", *columns.values()] if c not in design.columns]
    if missing:
        raise ResultsError(f"{table}: has no column {missing[0]!r}")
    return design


def _load_sweep(folder: Path, manifest: dict, parameters: bool) -> Results:
    check = trusted_sweep(folder, manifest)
    runs = run_status(folder, manifest, check)
    metrics = read_runs(folder, check=check)
    design = read_design(folder, manifest)
    columns = parameter_columns(manifest)
    carried = [c for c in columns.values() if c in metrics.columns]  # schema 1 run files carry none
    if not parameters:
        metrics = metrics.drop(columns=carried)
    elif len(carried) < len(columns) and len(metrics):
        metrics = metrics.drop(columns=carried).merge(design[["point", *columns.values()]], on="point", how="left")
    return Results(folder, "sweep", manifest, metrics, str(folder / RUNS / "*.parquet"), design=design, runs=runs,
                   parameters={c: p for p, c in columns.items()})
