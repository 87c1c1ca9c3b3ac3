"""Helpers shared by the sweep, compare and cluster tests: tiny sweep files, the CLI, run files."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from conftest import REPO

SCENARIOS = REPO / "scenarios"
SWEEP_BASE = REPO / "tests" / "data" / "sweep_base.yaml"  # scenario name 'exchange', one program
# Worlds small enough that a run takes well under 0.1 s.
TINY = ["world.schools_per_district=12", "world.teachers_per_school=15"]
# A bit larger (about 0.12 s a run), so a sweep lasts long enough to be interrupted on purpose.
SMALL = ["world.schools_per_district=30", "world.teachers_per_school=30"]


def write_sweep(folder: Path, name: str = "tiny", bases=(SWEEP_BASE,), parameters=None,
                design=None, replicates: int = 2, years: int = 2, outcomes=("cv_quality", "rotations"),
                sets=TINY, **extra) -> Path:
    """A sweep file in `folder` whose bases are the repository's scenarios (absolute paths)."""
    spec = {"name": name, "bases": [str(b if Path(b).is_absolute() else SCENARIOS / b) for b in bases],
            "set": list(sets), "parameters": parameters if parameters is not None else
            {"careers.drift_rate": {"low": 0.0, "high": 0.08}},
            "design": design or {"kind": "lhs", "points": 3, "seed": 1}, "replicates": replicates,
            "years": years, "outcomes": list(outcomes)} | extra
    path = Path(folder) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def cli(*args, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=env, check=False, **popen)


def cli_process(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) -> subprocess.Popen:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "sim", *map(str, args)], cwd=REPO, stdout=stdout,
                            stderr=stderr, text=True, env=env)


def run_files(folder: Path) -> dict[str, bytes]:
    """name -> bytes of every finished run file of a sweep folder."""
    return {p.name: p.read_bytes() for p in sorted((Path(folder) / "runs").glob("*.parquet"))}


def forget_run(folder: Path, rid: str) -> None:
    """Edit a sweep's manifest as if run `rid` had never finished (what a killed sweep leaves)."""
    import json

    path = Path(folder) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["done_runs"].remove(rid)
    manifest["status"]["done"] -= 1
    manifest["status"]["missing"] += 1
    path.write_text(json.dumps(manifest), encoding="utf-8")


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    return lines[0]


_KEEP = tempfile.mkdtemp(prefix="teachersim-sweep-ref-")
atexit.register(shutil.rmtree, _KEEP, True)


INTERRUPTIBLE_RUNS = 24


def interruptible_sweep(folder: Path) -> Path:
    """A sweep of 24 runs of about 0.12 s each (3 s serially): long enough to kill something mid-way."""
    return write_sweep(folder, name="interruptible", sets=SMALL, years=4, replicates=4,
                       parameters={"policy.programs.0.quota.min_count": {"values": list(range(100, 700, 100))}},
                       design={"kind": "grid"}, outcomes=["cv_quality", "cv_backbone", "rotations"])


@functools.cache
def serial_reference(kind: str) -> Path:
    """The uninterrupted serial result of a helper sweep, computed once per test session."""
    from sim.experiments.run import sweep

    folder = Path(_KEEP) / kind
    folder.mkdir()
    path = {"interruptible": interruptible_sweep}[kind](folder)
    summary = sweep(path, folder / "out", serial=True)
    assert summary.done == summary.total and summary.failed == 0
    return folder / "out"
