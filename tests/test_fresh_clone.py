"""The README's main-job command, exactly as written, in a fresh clone with a new venv.

The test command itself (`scripts/test`) cannot run inside the suite it starts; CI runs it on a
clean checkout (.ci/run), and tests/test_readme.py checks that CI and the README agree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]


def readme_main_job() -> str:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    return next(x for x in lines if x.startswith("PYENV_VERSION") and "teachersim run" in x)


def test_the_readme_main_job_runs_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "clone"
    done = subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO}", str(clone)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # the shell a new user has: no venv active, nothing of this test process's Python on the path
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not p.startswith(str(REPO)))
    env["MPLBACKEND"] = "Agg"
    assert shutil.which("python3.12", path=env["PATH"]) or shutil.which("pyenv", path=env["PATH"]), \
        "python3.12 is needed on PATH (or pyenv) for the README's command"
    command = readme_main_job()
    done = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (command, done.stderr[-3000:])
    out = clone / "results" / "dongcheng_2021"
    assert {"metrics.parquet", "schools.parquet", "moves.parquet", "manifest.json", "summary.md"} <= \
        {p.name for p in out.iterdir()}
    assert any((out / "figures").glob("*.png"))
    assert pq.read_metadata(out / "metrics.parquet").num_rows > 0
