"""Writing a run's results to disk: Parquet frames and a manifest, plus the files (figures, a
summary) that the presentation layer makes and hands over (`sim.present.outputs`).

Everything is first written into a temporary folder beside the destination and renamed into
place at the end, so an interrupted or failed run never leaves a half-written result folder that
a later load would trust. Files carry a schema version; no pickle is used anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.storage.folders import (
    DERIVED_RECORD,
    SCHEMA_VERSION,
    claim,
    derived_note,
    new_build_folder,
    sha256,
    swap_into_place,
)

PACKAGES = ("mesa", "numpy", "scipy", "pandas", "pyarrow", "networkx", "pydantic", "matplotlib", "seaborn")


def check_writable(out: Path) -> None:
    """Raise OSError with a clear message when `out` could not be created or written (creates nothing)."""
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise OSError(f"{out}: exists and is not a folder")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OSError(f"{ancestor}: is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OSError(f"{ancestor}: folder is not writable")
    if _read_only_fs(ancestor):
        raise OSError(f"{ancestor}: is on a read-only or virtual file system")


def _read_only_fs(folder: Path) -> bool:
    """True for read-only mounts and for /proc and /sys, where os.access says yes to root but
    nothing can be created."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    parts = folder.resolve().parts
    return len(parts) > 1 and parts[1] in ("proc", "sys")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("teachersim", *PACKAGES):
        try:
            found[name] = _version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _version(name: str) -> str:
    """An installed distribution's version, read from its metadata's header lines: `metadata.version`
    parses the whole file (long description included) as an e-mail, 0.015 s for the ten packages."""
    dist = metadata.distribution(name)
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line:  # the headers end at the first empty line
            break
        if line.startswith("Version:"):
            return line.partition(":")[2].strip()
    return dist.version


def git_commit() -> str | None:
    """The commit of the source tree the package runs from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return done.stdout.strip() + ("-dirty" if dirty else "")


def _table(df, metadata: dict[bytes, bytes] | None = None) -> pa.Table:
    # nthreads=1: a thread pool per frame costs more than it saves on frames of a few columns
    table = pa.Table.from_pandas(df, preserve_index=False, nthreads=1)
    meta = dict(table.schema.metadata or {}) | (metadata or {})
    meta[b"teachersim_schema_version"] = str(SCHEMA_VERSION).encode()
    return table.replace_schema_metadata(meta)


KEY_COLUMNS = ("scenario", "point", "replicate", "seed", "year")  # min/max statistics kept: readers filter on them
DICTIONARY_SPAN = 2**16  # integer columns spanning more values than this are written plain


def _write_table(table: pa.Table, where) -> None:
    """Write `table` to a path or sink as every teachersim Parquet file is written (same table, same
    bytes). Dictionary encoding only where it pays: not for floats (measurements rarely repeat)
    nor for wide-ranging integers such as teacher ids; min/max statistics only for the key columns.
    At Beijing the three run files encode in about 0.05 s instead of 0.09 s, 4.5 % smaller in all
    (4 % larger at Dongcheng; benchmarks/README.md, branch `write`)."""
    pq.write_table(table, where, use_dictionary=_dictionary_columns(table),
                   write_statistics=[name for name in KEY_COLUMNS if name in table.column_names])


def _dictionary_columns(table: pa.Table) -> list[str]:
    """The columns worth a dictionary: all but floats and integers spanning DICTIONARY_SPAN or more."""
    found = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_floating(column.type):
            continue
        if pa.types.is_integer(column.type) and column.null_count < len(column):
            span = pc.min_max(column).as_py()
            if span["max"] - span["min"] >= DICTIONARY_SPAN:
                continue
        found.append(name)
    return found


def write_tables(tables: dict[str, pa.Table], folder: Path) -> dict[str, str]:
    """Each table (name -> Arrow table) as folder/<name>.parquet; file name -> SHA-256."""
    files = {}
    for name, table in tables.items():
        _write_table(table, folder / f"{name}.parquet")
        files[f"{name}.parquet"] = sha256(folder / f"{name}.parquet")
    return files


def write_run_folder(result, out: str | Path, extra=None, force: bool = False) -> Path:
    """Write a RunResult to `out` and return the folder. `extra(tmp)`, when given, writes the files
    a higher layer makes into the folder being built and returns those the manifest lists.

    An earlier folder there is replaced only when it is a teachersim run of the same resolved
    scenario (or `force`); anything else raises OutputRefused before a file is written.
    """
    identity = result.scenario.model_dump(mode="json")

    def fill(tmp: Path) -> None:
        # The Parquet files are encoded in a thread while `extra` draws the figures and the summary:
        # Arrow encodes without the GIL, so on two cores most of a Beijing run's writing is hidden.
        # The thread is handed Arrow tables (made here), never the frames `extra` reads; leaving
        # the `with` waits for it, so a failure of either fails the build (a second Ctrl-C during
        # the wait can leave a hidden build folder, which the next run's `tidy_leftovers` removes).
        from concurrent.futures import ThreadPoolExecutor  # loaded by pandas already

        tables = {name: _table(df) for name, df in result.frames().items()}
        with ThreadPoolExecutor(max_workers=1) as pool:
            written = pool.submit(write_tables, tables, tmp)
            listed = list(extra(tmp)) if extra is not None else []
            files = written.result()
        for path in listed:
            files[str(path.relative_to(tmp))] = sha256(path)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "kind": "run",
            "scenario": identity,
            "seeds": result.seeds,
            "versions": versions(),
            "git_commit": git_commit(),
            "timings": result.timings,
            "files": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")

    return build_folder(out, fill, "run", identity, force)


def build_folder(out: str | Path, fill, kind: str, identity=None, force: bool = False) -> Path:
    """Fill a hidden folder beside `out` with `fill(tmp)`, then swap it into place.

    The folder is claimed first (`sim.storage.folders.claim`: locked, checked to be ours to replace); a
    failure or an interruption leaves the earlier folder (or none), never a half-written one.
    """
    out = Path(out)
    check_writable(out)
    with claim(out, kind, identity, force) as claimed:
        tmp = new_build_folder(claimed.out)
        try:
            fill(tmp)
            swap_into_place(tmp, claimed.out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a result folder, read as untrusted input: a regular file of bounded size,
    every field checked (`sim.storage.manifests`); a ValueError with one line naming the file otherwise."""
    from sim.storage.manifests import read_manifest as read

    return read(Path(folder))


# ------------------------------------------------------------------ sweeps: one file per run

RUNS = "runs"  # one Parquet file per finished run
FAILED = "failed"  # one JSON record per failed run
TMP = ".tmp"  # files being written; renamed into runs/ or failed/ when complete
TMP_SUFFIX = ".teachersim-tmp"  # what clear_tmp may remove: only files we named
LOCK = ".lock"
CHECKSUM = ".sha256"  # runs/<run id>.parquet.sha256: the run file's SHA-256, in sha256sum's format


def run_id(scenario: str, point: int, replicate: int) -> str:
    """The name of a run: base scenario, design point and replicate (zero-padded so names sort)."""
    return f"{scenario}__p{point:06d}__r{replicate:04d}"


def _tmp_path(folder: Path, final: Path) -> Path:
    """A new empty file in folder/.tmp, created exclusively (O_EXCL: a planted file or link there
    is never written through)."""
    tmp = Path(folder) / TMP
    if tmp.is_symlink():
        raise OSError(f"{tmp}: is a symbolic link; refusing to write through it")
    tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{final.name}.", suffix=TMP_SUFFIX, dir=tmp)
    os.close(fd)
    return Path(name)


def replace_atomically(folder: Path, final: Path, write) -> None:
    """Call `write(tmp_path)`, then rename the temporary file onto `final` (readers never see half a file).

    The temporary file lives in `folder/.tmp`, on the same file system as `final`, so the rename is
    atomic; two writers of the same run leave one complete file, whichever renames last.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(folder, final)
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write one file through a new temporary file beside it (created exclusively, never through
    a planted link) renamed onto `path`."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path


def write_derived(folder: str | Path, path: str | Path, data: bytes) -> Path:
    """`write_bytes_atomic`, for a report or an export: when `path` is one of the result folder
    `folder`'s DERIVED files, it is noted as teachersim's (`derived_note`), so a new result may
    replace it; a file the user writes or changes there is kept."""
    written = write_bytes_atomic(path, data)
    record = derived_note(Path(folder), written, hashlib.sha256(data).hexdigest())
    if record is not None:
        write_bytes_atomic(Path(folder) / DERIVED_RECORD, json.dumps(record, indent=1, sort_keys=True).encode())
    return written


def write_json_atomic(obj, path: Path, folder: Path | None = None) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, default=str)
    replace_atomically(folder or path.parent, path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_run_file(df, folder: Path, rid: str, sweep: str, metadata: dict[bytes, bytes] | None = None) -> Path:
    """A finished run's tidy rows as runs/<run id>.parquet, written atomically, with the run id and
    the sweep's fingerprint (and `metadata`) in its metadata and its SHA-256 in runs/<run id>.parquet.sha256.

    The checksum file is renamed into place first, so a run file never exists without it (a
    writer stopped between the two renames leaves a checksum file alone, which is not a run).
    """
    folder = Path(folder)
    final = folder / RUNS / f"{rid}.parquet"
    sidecar = final.with_name(final.name + CHECKSUM)

    def write(tmp: Path) -> None:
        table = _table(df, metadata)
        meta = table.schema.metadata | {b"teachersim_run": rid.encode(), b"teachersim_sweep": sweep.encode()}
        _write_table(table.replace_schema_metadata(meta), tmp)
        line = f"{sha256(tmp)}  {final.name}\n"
        replace_atomically(folder, sidecar, lambda t: t.write_text(line, encoding="utf-8"))

    existed = final.exists()
    try:
        replace_atomically(folder, final, write)
    except BaseException:
        if not existed and not final.exists():  # stopped between the renames: no checksum without its file
            sidecar.unlink(missing_ok=True)
        raise
    return final


def clear_tmp(folder: Path) -> None:
    """Remove what interrupted writers left in folder/.tmp (only called while holding the lock):
    our own temporary files only (named *.teachersim-tmp); the folder goes when nothing else is in it."""
    tmp = Path(folder) / TMP
    if tmp.is_symlink() or not tmp.is_dir():
        return
    for path in tmp.glob(f"*{TMP_SUFFIX}"):
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        tmp.rmdir()  # only when empty: a user's file there stays


class FolderBusy(OSError):
    """Another process holds the folder's lock."""


class folder_lock:  # noqa: N801 - used as a context manager, reads like one
    """An exclusive lock on a result folder, so two sweeps never write into one folder at once.

    It is an flock on folder/.lock: the system drops it when the process dies, so a killed client
    never leaves a stale lock behind.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK
        self.fd: int | None = None

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise FolderBusy(f"{self.path.parent}: another sweep is writing into this folder") from None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def write_folder(out: Path, files: dict[str, bytes | str], kind: str, identity=None, force: bool = False) -> Path:
    """Write small files (relative name -> content) as the folder `out`, through `build_folder`."""
    def fill(tmp: Path) -> None:
        for name, content in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")

    return build_folder(out, fill, kind, identity, force)


def parquet_bytes(df, metadata: dict[bytes, bytes] | None = None) -> bytes:
    """A frame as Parquet bytes, with the schema version and `metadata` (for write_folder)."""
    sink = pa.BufferOutputStream()
    _write_table(_table(df, metadata), sink)
    return sink.getvalue().to_pybytes()


def provenance() -> dict:
    """Versions, commit, host and time: what a manifest records about where a result came from."""
    import datetime as dt

    return {"versions": versions() | _extra_versions(), "git_commit": git_commit(), "host": platform.node(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def _extra_versions() -> dict[str, str]:
    found = {}
    for name in ("dask", "distributed", "SALib", "dask-jobqueue"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_comparison_folder(comparison, out: str | Path, figures: dict[str, bytes] | None = None,
                            force: bool = False) -> Path:
    """Write a Comparison to `out`: the table as CSV and Markdown, the paired statistics of every
    year, every replicate's metrics, the given figure files (name -> PNG bytes) and a manifest. An
    earlier comparison of the same scenarios there is replaced (any, with `force`); anything else
    raises OutputRefused."""
    out = Path(out)
    identity = [s.model_dump(mode="json") for s in comparison.scenarios]
    files: dict[str, bytes | str] = {
        "comparison.csv": comparison.table.to_csv(index=False, float_format="%.10g"),
        "comparison.md": comparison.markdown(),
        "averages.csv": comparison.averages.to_csv(index=False, float_format="%.10g"),
        "trajectories.parquet": parquet_bytes(comparison.trajectories),
        "metrics.parquet": parquet_bytes(comparison.metrics),
    }
    files.update(figures or {})
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "kind": "compare",
        "baseline": comparison.baseline,
        "scenarios": identity,
        "seeds": comparison.seeds,
        "outcomes": [f"{m}:{g}" for m, g in comparison.outcomes],
        "at": comparison.at,
        "timings": comparison.timings,
        "files": {name: hashlib.sha256(c if isinstance(c, bytes) else c.encode()).hexdigest()
                  for name, c in files.items()},
    } | provenance()
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True)
    return write_folder(out, files, "compare", identity, force)
