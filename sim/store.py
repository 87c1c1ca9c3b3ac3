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


def write_parquet(df, path: Path) -> None:
    """One frame as Parquet with the schema version in its metadata (deterministic bytes)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"teachersim_schema_version"] = str(SCHEMA_VERSION).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_run(result, out: str | Path, figures: bool = True) -> Path:
    """Write a RunResult to `out` (replacing an earlier result there) and return the folder."""
    from sim.report import summary_markdown

    out = Path(out)
    check_writable(out)
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.resolve().parent))
    try:
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
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a result folder, checked for a known schema version."""
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read manifest: {exc}") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    return manifest
