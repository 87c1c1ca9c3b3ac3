"""The garbage collector during a run (issue 20): paused while a model is built and run, so its
full collections stop walking every agent again and again, and put back as it was afterwards,
also when a run fails, so a notebook that runs a scenario is left as it was."""

from __future__ import annotations

import gc
import sys

import pytest
from conftest import DONGCHENG, SMALL_DONGCHENG, scenario

from sim.experiments.run import simulate


def small():
    return scenario(DONGCHENG, *SMALL_DONGCHENG)


def gc_state() -> tuple:
    return gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()


def test_the_collector_is_paused_during_the_years_and_back_after():
    before = gc_state()
    assert before[0]
    during = []
    simulate(small(), seed=1, years=2, on_year=lambda: during.append(gc.isenabled()))
    assert during == [False, False]
    assert gc_state() == before


def test_a_failing_run_leaves_the_collector_as_it_was():
    before = gc_state()

    def fail():
        raise RuntimeError("stopped by the test")

    with pytest.raises(RuntimeError, match="stopped by the test"):
        simulate(small(), seed=1, years=2, on_year=fail)
    assert gc_state() == before


def test_a_process_that_turned_the_collector_off_keeps_it_off():
    gc.disable()
    try:
        simulate(small(), seed=1, years=1)
        assert not gc.isenabled()
    finally:
        gc.enable()


GARBAGE_PROBE = """
import gc, sys
sys.path.insert(0, sys.argv[1])
from conftest import DONGCHENG, SMALL_DONGCHENG, scenario
from sim.experiments.run import simulate
simulate(scenario(DONGCHENG, *SMALL_DONGCHENG), seed=0, years=1)  # first imports: modules and classes are cycles
gc.collect()
gc.disable()
model = simulate(scenario(DONGCHENG, *SMALL_DONGCHENG), seed=1, years=3)
print(gc.collect(), model.world.n_schools)
"""


def test_running_makes_almost_no_cyclic_garbage():
    """Why pausing is safe for memory: what the years drop (removed teachers, old arrays) is freed
    by reference counting. The model itself is one cycle (agents and model point at each other),
    collected once the caller drops it, with the collector back on. Measured in a fresh process,
    so that what other tests left behind is not counted."""
    import subprocess
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", GARBAGE_PROBE, str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    collected, n_schools = map(int, done.stdout.split())
    assert collected < 100  # about 24 here; 18 for a 36,000-teacher Beijing world over 3 years
    assert n_schools == 20


def test_the_command_freezes_the_heap_before_its_process_exits_and_main_does_not(monkeypatch, capsys):
    """`teachersim` (sim.cli.entry) skips the interpreter's last collections; `main`, which a
    notebook may call, leaves the collector alone."""
    import sim.cli

    calls = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    assert sim.cli.main(["scenarios"]) == 0
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["teachersim", "scenarios"])
    with pytest.raises(SystemExit) as done:
        sim.cli.entry()
    assert done.value.code == 0 and calls == ["freeze"]
    assert "dongcheng_2021" in capsys.readouterr().out


def test_the_run_command_pauses_the_collector_from_its_start_and_puts_it_back(tmp_path, monkeypatch):
    """`teachersim run`: off already while the scenario is read (its imports: pydantic, then Mesa
    and pandas) and through the writing, on again when the command returns."""
    import sim.config.scenario
    from sim.cli import main

    seen = []
    real = sim.config.scenario.load_scenario

    def load(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(sim.config.scenario, "load_scenario", load)
    before = gc_state()
    code = main(["run", str(DONGCHENG), *[a for s in SMALL_DONGCHENG for a in ("--set", s)], "--years", "1", "--quiet",
                 "--no-figures", "--out", str(tmp_path / "out")])
    assert code == 0 and seen == [False]
    assert gc_state() == before


def test_a_run_whose_process_ends_next_freezes_what_is_alive_before_the_collector_is_back(tmp_path):
    """`entry` (the console script) tells the run the process ends next: the run's objects are
    frozen, not walked by a collection as the pause ends; `main` as a notebook calls it freezes nothing."""
    from sim.cli import main

    args = ["run", str(DONGCHENG), *[a for s in SMALL_DONGCHENG for a in ("--set", s)], "--years", "1", "--quiet",
            "--no-figures", "--force"]
    frozen = gc.get_freeze_count()
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert gc.get_freeze_count() == frozen
    try:
        assert main([*args, "--out", str(tmp_path / "b")], process_ends=True) == 0
        assert gc.get_freeze_count() > frozen + 10_000 and gc.isenabled()  # the run's objects, not a handful
    finally:
        gc.unfreeze()  # a test process goes on: its objects are collectable again


def test_the_run_command_frees_each_replicates_model_before_the_next(tmp_path, monkeypatch):
    """The command's pause would keep every finished replicate's model (reference cycles: model,
    agents, cells) until the exit, a Beijing decade's worth of memory each; it collects between."""
    import weakref

    import sim.experiments.run
    from sim.cli import main

    made, alive_at_start = [], []
    real = sim.experiments.run.simulate

    def spied(*args, **kwargs):
        alive_at_start.append(sum(ref() is not None for ref in made))
        model = real(*args, **kwargs)
        made.append(weakref.ref(model))
        return model

    monkeypatch.setattr(sim.experiments.run, "simulate", spied)
    code = main(["run", str(DONGCHENG), *[a for s in SMALL_DONGCHENG for a in ("--set", s)], "--years", "1",
                 "--reps", "3", "--quiet", "--no-figures", "--out", str(tmp_path / "out")])
    assert code == 0 and alive_at_start == [0, 0, 0]


def test_the_lazy_api_names_are_listed():
    import sim

    assert set(sim.__all__) <= set(dir(sim))
