"""`teachersim run` and `compare` draw their figures in a forked child (sim/present/figure_process.py,
issue 20): the same bytes as drawing in-process (`write_run`, the reference path), one line and
nothing kept when the child fails or dies, no child left behind when the command is interrupted,
and no child at all with --no-figures. Each case runs the command as its own process
(`main(..., process_ends=True)`, as the console script does), with `os.fork` counted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DONGCHENG_2021, REPO, SCENARIOS

import sim
from sim.config.scenario import load_scenario
from sim.present.outputs import write_comparison, write_run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the figure process is Linux only")

TINY = ("--set", "world.scale=0.3", "--years", "2", "--quiet")

# MODE: "ok"; "raise" / "die" / "hang": the child's drawing raises, kills the child, or sleeps
# (patched before the fork, so the child inherits the patch); "orphan": the command is killed
# (SIGKILL) right after starting the child. The parent's forks and whether it imported
# matplotlib are recorded as it exits; "hang" writes the child's pid to WHERE.drawing. "pids":
# each figure's drawing process is written to WHERE.<figure>; "die_second": the second figure's
# process kills itself.
PROBE = """
import atexit, json, os, signal, sys, time
record, mode, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
forks = []
real_fork = os.fork
def fork():
    pid = real_fork()
    if pid:
        forks.append(pid)
    return pid
os.fork = fork
if mode in ("raise", "die", "hang"):
    import sim.present.run_figures as rf
    def broken(data, folder, name):
        if mode == "raise":
            raise RuntimeError("no ink")
        if mode == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        open(record + ".drawing", "w").write(str(os.getpid()))
        time.sleep(60)
    rf.write_run_figure = broken
if mode in ("pids", "die_second"):
    import sim.present.run_figures as rf
    real_figure = rf.write_run_figure
    def recorded(data, folder, name):
        if mode == "die_second" and name == "rotation_activity":
            os.kill(os.getpid(), signal.SIGKILL)
        open(record + "." + name, "w").write(str(os.getpid()))
        return real_figure(data, folder, name)
    rf.write_run_figure = recorded
if mode == "orphan":
    import sim.present.figure_process as fp
    real_start = fp.start
    def start(preload):
        process = real_start(preload)
        open(record + ".child", "w").write(str(process.process.pid))
        os.kill(os.getpid(), signal.SIGKILL)
    fp.start = start
atexit.register(lambda: json.dump({"forks": forks, "matplotlib": "matplotlib" in sys.modules}, open(record, "w")))
from sim.cli import main
sys.exit(main(argv, process_ends=True))
"""


def command(tmp_path: Path, mode: str, *args: str, wait: bool = True):
    """Run `teachersim ARGS` through PROBE; (completed process or Popen, record file)."""
    record = tmp_path / f"{mode}.json"
    cmd = [sys.executable, "-c", PROBE, str(record), mode, *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), record
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False), record


def gone(pid: int, within: float = 10.0) -> bool:
    """True once `pid` has ended (no such process, or a zombie waiting for its reaper)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def files(folder: Path) -> dict[str, bytes]:
    """Every file of a result folder by relative path; the manifest without its timings, start time and commit."""
    found = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    manifest = json.loads(found.pop("manifest.json"))
    for key in ("timings", "git_commit", "started"):
        manifest.pop(key, None)
    found["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
    return found


def test_the_command_draws_in_a_child_the_bytes_write_run_draws(tmp_path):
    done, record = command(tmp_path, "ok", "run", DONGCHENG_2021, *TINY, "--out", tmp_path / "cli")
    assert done.returncode == 0, done.stderr
    seen = json.loads(record.read_text())
    assert len(seen["forks"]) == 1 and not seen["matplotlib"], seen  # drawn by the child, not here
    scenario = load_scenario(DONGCHENG_2021, ["world.scale=0.3"])
    api = write_run(sim.run(scenario, years=2), tmp_path / "api")
    assert {"figures/cv_trajectories.png", "figures/rotation_activity.png"} <= set(files(api))
    assert files(tmp_path / "cli") == files(api)  # every file, the PNGs included, byte for byte


def test_the_two_figures_are_drawn_by_two_processes_neither_the_command(tmp_path):
    """The second figure is drawn by a fork of the child (its imports done), beside the first."""
    done, record = command(tmp_path, "pids", "run", DONGCHENG_2021, *TINY, "--out", tmp_path / "cli")
    assert done.returncode == 0, done.stderr
    drawers = {name: int(Path(f"{record}.{name}").read_text()) for name in ("cv_trajectories", "rotation_activity")}
    assert len(set(drawers.values())) == 2 and json.loads(record.read_text())["forks"] == [drawers["cv_trajectories"]]
    assert gone(drawers["rotation_activity"], 1)
    written = {p.name for p in (tmp_path / "cli" / "figures").iterdir()}
    assert written == {"cv_trajectories.png", "rotation_activity.png"}


def test_no_child_and_no_matplotlib_without_figures(tmp_path):
    done, record = command(tmp_path, "ok", "run", DONGCHENG_2021, *TINY, "--no-figures", "--out", tmp_path / "cli")
    assert done.returncode == 0, done.stderr
    assert json.loads(record.read_text()) == {"forks": [], "matplotlib": False}
    assert not (tmp_path / "cli" / "figures").exists()


@pytest.mark.parametrize(("mode", "fragment"), [("raise", "could not draw the figures: RuntimeError: no ink"),
                                                ("die", "ended before drawing the figures (exit code -9)"),
                                                ("die_second", "a drawing process ended before its figure "
                                                               "(exit code -9)")])
def test_a_failing_or_dying_child_is_one_line_and_keeps_the_earlier_folder(tmp_path, mode, fragment):
    out = tmp_path / "run"
    scenario = load_scenario(DONGCHENG_2021, ["world.scale=0.3"])
    write_run(sim.run(scenario, years=2), out, figures=False)  # an earlier run of the same scenario
    before = files(out)
    done, record = command(tmp_path, mode, "run", DONGCHENG_2021, *TINY, "--out", out)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("teachersim: warning:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert fragment in lines[0] and str(out) in lines[0] and "nothing was kept" in lines[0], lines[0]
    assert files(out) == before  # nothing swapped into place
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no build folder left
    assert all(gone(pid, 1) for pid in json.loads(record.read_text())["forks"])


def test_an_interrupted_command_stops_its_drawing_child(tmp_path):
    out = tmp_path / "run"
    proc, record = command(tmp_path, "hang", "run", DONGCHENG_2021, *TINY, "--out", out, wait=False)
    drawing = Path(f"{record}.drawing")
    end = time.monotonic() + 120
    while not drawing.exists() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    assert drawing.exists(), proc.communicate()
    time.sleep(0.1)  # the pid is written
    child = int(drawing.read_text())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert gone(child), "the figure process outlived the command"
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_killed_command_leaves_no_child(tmp_path):
    done, record = command(tmp_path, "orphan", "run", DONGCHENG_2021, *TINY, "--out", tmp_path / "run")
    assert done.returncode == -signal.SIGKILL
    assert gone(int(Path(f"{record}.child").read_text())), "the figure process outlived its killed parent"


def test_compare_draws_in_a_child_the_bytes_write_comparison_draws(tmp_path):
    args = ("--reps", "2", "--years", "2", "--set", "world.scale=0.3", "--quiet")
    pair = (DONGCHENG_2021, SCENARIOS / "baseline_drift.yaml")
    done, record = command(tmp_path, "ok", "compare", *pair, *args, "--out", tmp_path / "cli")
    assert done.returncode == 0, done.stderr
    seen = json.loads(record.read_text())
    assert len(seen["forks"]) == 1 and not seen["matplotlib"], seen
    result = sim.compare([load_scenario(p, ["world.scale=0.3"]) for p in pair], reps=2, years=2)
    api = write_comparison(result, tmp_path / "api")
    assert {"figures/trajectories.png", "figures/differences.png"} <= set(files(api))
    assert files(tmp_path / "cli") == files(api)
    assert os.path.getsize(tmp_path / "cli" / "figures" / "trajectories.png") > 1000
