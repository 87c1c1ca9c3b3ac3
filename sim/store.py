"""Writing a run's results to disk: Parquet frames, a manifest, figures and a summary.

Everything is first written into a temporary folder beside the destination and renamed into
place at the end, so an interrupted or failed run never leaves a half-written result folder that
a later load would trust. Files carry a schema version; no pickle is used anywhere.
"""

from __future__ import annotations

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
import pyarrow.parquet as pq

SCHEMA_VERSION = 1
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


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("teachersim", *PACKAGES):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


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


def _table(df) -> pa.Table:
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"teachersim_schema_version"] = str(SCHEMA_VERSION).encode()
    return table.replace_schema_metadata(meta)


def write_parquet(df, path: Path) -> None:
    """One frame as Parquet with the schema version in its metadata (deterministic bytes)."""
    pq.write_table(_table(df), path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_run(result, out: str | Path, figures: bool = True) -> Path:
    """Write a RunResult to `out` (replacing an earlier result there) and return the folder."""
    from sim.report import summary_markdown

    def fill(tmp: Path) -> None:
        files = {}
        for name, df in result.frames().items():
            write_parquet(df, tmp / f"{name}.parquet")
            files[f"{name}.parquet"] = sha256(tmp / f"{name}.parquet")
        if figures:
            from sim.plots import save_run_figures
            for path in save_run_figures(result.metrics, tmp / "figures"):
                files[str(path.relative_to(tmp))] = sha256(path)
        (tmp / "summary.md").write_text(summary_markdown(result), encoding="utf-8")
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "scenario": result.scenario.model_dump(mode="json"),
            "seeds": result.seeds,
            "versions": versions(),
            "git_commit": git_commit(),
            "timings": result.timings,
            "files": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")

    return build_folder(out, fill)


def build_folder(out: str | Path, fill) -> Path:
    """Fill a temporary folder beside `out` with `fill(tmp)`, then rename it into place, replacing
    an earlier folder of that name: a failure or an interruption leaves the earlier folder (or
    none), never a half-written one."""
    out = Path(out)
    check_writable(out)
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.resolve().parent))
    old = None
    try:
        fill(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        _put_back(old, out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _put_back(old: Path | None, out: Path) -> None:
    """Interrupted between moving the earlier result aside and renaming the new one into place:
    put the earlier result back, so that no finished result is lost."""
    if old is not None and old.exists() and not out.exists():
        old.rename(out)


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a result folder, checked for a known schema version."""
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or not UTF-8
        raise ValueError(f"{path}: cannot read manifest: {exc}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: not a teachersim manifest (a JSON {type(manifest).__name__})")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    return manifest


# ------------------------------------------------------------------ sweeps: one file per run

RUNS = "runs"  # one Parquet file per finished run
FAILED = "failed"  # one JSON record per failed run
TMP = ".tmp"  # files being written; renamed into runs/ or failed/ when complete
LOCK = ".lock"


def run_id(scenario: str, point: int, replicate: int) -> str:
    """The name of a run: base scenario, design point and replicate (zero-padded so names sort)."""
    return f"{scenario}__p{point:06d}__r{replicate:04d}"


def _tmp_path(folder: Path, final: Path) -> Path:
    tmp = Path(folder) / TMP
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp / f"{final.name}.{os.getpid()}.{os.urandom(4).hex()}"


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


def write_json_atomic(obj, path: Path, folder: Path | None = None) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, default=str)
    replace_atomically(folder or path.parent, path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_run_file(df, folder: Path, rid: str) -> Path:
    """A finished run's tidy rows as runs/<run id>.parquet, written atomically."""
    final = Path(folder) / RUNS / f"{rid}.parquet"
    replace_atomically(folder, final, lambda tmp: write_parquet(df, tmp))
    return final


def valid_run_file(path: Path) -> bool:
    """True when `path` is a complete run file of this schema version (what resume may skip)."""
    try:
        meta = pq.read_metadata(path)
    except (OSError, pa.ArrowInvalid):
        return False
    version = (meta.metadata or {}).get(b"teachersim_schema_version")
    return version == str(SCHEMA_VERSION).encode() and meta.num_rows > 0


def clear_tmp(folder: Path) -> None:
    """Remove what interrupted writers left in folder/.tmp (only called while holding the lock)."""
    shutil.rmtree(Path(folder) / TMP, ignore_errors=True)


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


def write_folder(out: Path, files: dict[str, bytes | str]) -> Path:
    """Write small files (relative name -> content) as the folder `out`, through `build_folder`."""
    def fill(tmp: Path) -> None:
        for name, content in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")

    return build_folder(out, fill)


def parquet_bytes(df) -> bytes:
    """A frame as Parquet bytes, with the schema version (for write_folder)."""
    sink = pa.BufferOutputStream()
    pq.write_table(_table(df), sink)
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


def write_comparison(comparison, out: str | Path, figures: bool = True) -> Path:
    """Write a Comparison to `out` (replacing an earlier one): the table as CSV and Markdown, the
    paired statistics of every year, every replicate's metrics, figures and a manifest."""
    import io

    out = Path(out)
    files: dict[str, bytes | str] = {
        "comparison.csv": comparison.table.to_csv(index=False, float_format="%.10g"),
        "comparison.md": comparison.markdown(),
        "trajectories.parquet": parquet_bytes(comparison.trajectories),
        "metrics.parquet": parquet_bytes(comparison.metrics),
    }
    if figures:
        import matplotlib.pyplot as plt

        from sim.plots import compare_differences, compare_trajectories

        for name, make in (("trajectories", compare_trajectories), ("differences", compare_differences)):
            fig = make(comparison.trajectories, comparison.baseline)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
            plt.close(fig)
            files[f"figures/{name}.png"] = buf.getvalue()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "kind": "compare",
        "baseline": comparison.baseline,
        "scenarios": [s.model_dump(mode="json") for s in comparison.scenarios],
        "seeds": comparison.seeds,
        "outcomes": [f"{m}:{g}" for m, g in comparison.outcomes],
        "at": comparison.at,
        "timings": comparison.timings,
        "files": {name: hashlib.sha256(c if isinstance(c, bytes) else c.encode()).hexdigest()
                  for name, c in files.items()},
    } | provenance()
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True)
    return write_folder(out, files)
