"""Start-up: each command imports only the heavy libraries it uses (issue 20). Each case runs the
command in a fresh interpreter and reads `sys.modules` as the process exits, so an import added
at the top of a module cannot slip these back in unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

HEAVY = ("mesa", "pandas", "scipy", "scipy.stats", "networkx", "pyarrow", "matplotlib", "seaborn", "sim.core.model",
         "sim.present.html_report")

PROBE = """
import atexit, json, sys
def dump():
    with open(sys.argv[1], "w") as f:
        json.dump(sorted(m for m in HEAVY if m in sys.modules), f)
atexit.register(dump)
from sim.cli import main
sys.exit(main(sys.argv[2:]))
""".replace("HEAVY", repr(HEAVY))


def loaded(tmp_path: Path, *args: str) -> set[str]:
    """The heavy modules in sys.modules when `teachersim ARGS` exits (it must succeed)."""
    record = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", PROBE, str(record), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(record.read_text()))


def test_validate_imports_no_model_and_no_heavy_library(tmp_path):
    mods = loaded(tmp_path, "validate", "scenarios/dongcheng_2021.yaml")
    assert not mods & {"mesa", "pandas", "sim.core.model", "scipy", "networkx", "pyarrow", "matplotlib",
                       "seaborn"}, mods


def test_listing_the_scenarios_imports_nothing_heavy(tmp_path):
    assert not loaded(tmp_path, "scenarios")


def test_a_run_without_figures_imports_no_plotting_library(tmp_path):
    mods = loaded(tmp_path, "run", "scenarios/dongcheng_2021.yaml", "--years", "2", "--quiet", "--no-figures",
                  "--out", str(tmp_path / "out"))
    assert "sim.core.model" in mods and "mesa" in mods  # the probe does see what a run imports
    assert not mods & {"matplotlib", "seaborn", "scipy.stats"}, mods
    assert "sim.present.html_report" not in mods  # only a roster run keeps a map for the report


def test_a_run_with_figures_imports_matplotlib_but_not_seaborn(tmp_path):
    mods = loaded(tmp_path, "run", "scenarios/dongcheng_2021.yaml", "--years", "2", "--quiet",
                  "--out", str(tmp_path / "out"))
    assert (tmp_path / "out" / "figures" / "cv_trajectories.png").is_file()
    assert "matplotlib" in mods
    assert not mods & {"seaborn", "scipy.stats"}, mods  # seaborn costs about 1.2 s to import, scipy.stats included


def test_importing_the_command_line_imports_no_schema_library():
    """`import sim.cli` (what `python -m sim` and the console script run first) leaves pydantic to
    the command that reads a scenario, so that the command can pause the garbage collector first."""
    done = subprocess.run([sys.executable, "-c", "import sys, sim.cli; print(sorted(m for m in ('pydantic', "
                           "'yaml', 'sim.config.scenario') if m in sys.modules))"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


STACK_PROBE = """
import json, sys
class Watch:  # sees the import of mesa.model (it reads the whole call stack as it loads) and lets it go on
    def find_spec(self, name, path=None, target=None):
        if name == "mesa.model":
            frame, files = sys._getframe(), []
            while frame is not None:
                files.append(frame.f_code.co_filename)
                frame = frame.f_back
            with open(sys.argv[1], "w") as f:
                json.dump(files, f)
        return None
sys.meta_path.insert(0, Watch())
from sim.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_run_imports_mesa_from_the_command_not_from_deep_in_the_model(tmp_path):
    """mesa.model's import reads the whole call stack twice (Mesa's module logger, `inspect`): the
    run command imports Mesa itself (`import_mesa`, which also leaves out the passes over
    sys.modules those reads make: tests/test_mesa_import.py), so that no model or runner module
    (nor their import frames) is on that stack (issue 20)."""
    record = tmp_path / "stack.json"
    done = subprocess.run([sys.executable, "-c", STACK_PROBE, str(record), "run", "scenarios/dongcheng_2021.yaml",
                           "--years", "1", "--quiet", "--no-figures", "--out", str(tmp_path / "out")],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    ours = [Path(f).relative_to(REPO).as_posix() for f in json.loads(record.read_text())
            if Path(f).is_relative_to(REPO / "sim")]
    # the command (_run, cmd_run, main, ...), import_mesa, and nothing deeper
    assert ours and set(ours) == {"sim/cli.py", "sim/core/mesa_import.py"}, ours


def test_a_sweep_on_local_workers_imports_no_model_in_the_client(tmp_path):
    """The runs are the workers' (forked from a server that imported the model): the command's own
    process imports no Mesa, the 0.9-1.2 s that would be on a sweep's critical path."""
    from sweep_helpers import write_sweep

    path = write_sweep(tmp_path, replicates=1, design={"kind": "grid"},
                       parameters={"careers.drift_rate": {"values": [0.01, 0.05]}})
    out = tmp_path / "out"
    mods = loaded(tmp_path, "sweep", str(path), "--out", str(out), "--workers", "2", "--quiet")
    assert len(list((out / "runs").glob("*.parquet"))) == 2  # the runs were done, elsewhere
    assert not mods & {"mesa", "sim.core.model"}, mods
